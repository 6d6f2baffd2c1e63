//go:build race

package records

// raceEnabled: sync.Pool drops items at random under the race detector,
// so allocation counts are meaningless.
const raceEnabled = true
