// Package bench holds side-by-side benchmarks: each keepfed hot path runs
// next to a baseline written the straightforward way (the way the protocol
// spec describes the reference implementation) in the same `go test -bench`
// run, so the ratio between the two comes from one run on one machine.
//
// The baselines live in non-test files so that they are compiled, vetted
// and unit-tested against the same vectors as keepfed itself: a baseline
// that computes something else would make every ratio meaningless.
package bench
