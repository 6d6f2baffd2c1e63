//go:build race

package bench

// raceEnabled: the race detector slows the regexp baselines on the
// full-size benchmark inputs twentyfold; those checks run without it.
const raceEnabled = true
