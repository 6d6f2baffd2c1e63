//go:build !race

package keepfed

const raceEnabled = false
