// Package manifest reads, checks, hashes, normalizes and rewrites Arvados
// collection manifests (format v1, spec sections 4.1 to 4.5).
//
// The rewrite engine (Rewriter) walks a manifest once and appends the result
// to a caller's buffer: it signs every block token with a fresh +A hint,
// strips +A (and optionally +R) hints, turns +A hints into +R remote hints
// for manifests fetched from another cluster (optionally adding a local +A),
// and turns them back for manifests sent to that cluster. It builds no
// per-token structures, uses no regexp or fmt, and splits large manifests
// between tokens across all cores with output identical to a serial run.
// On amd64 it finds block tokens 64 bytes at a time (AVX2) and, where the
// CPU has AVX-512, computes +A signatures sixteen at a
// time (AVX-512); elsewhere it falls back to portable code with the same
// output.
//
// Parse and Check implement the strict grammar; PortableDataHash, Normalize,
// Escape and Unescape reproduce Arvados's Go SDK byte for byte.
package manifest
