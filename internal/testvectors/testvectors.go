// Package testvectors loads the vectors generated from Arvados itself
// (testdata/vectors at the repository root) for the tests of every package,
// wherever the test runs from.
package testvectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Path returns the path of the vector file name (e.g. "signatures.json").
func Path(name string) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "testdata", "vectors", name)
}

// Load decodes the vector file name into v, failing tb if it cannot: a
// vector test never passes by skipping its vectors.
func Load(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := os.ReadFile(Path(name))
	if err != nil {
		tb.Fatalf("reading vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("decoding vectors %s: %v", name, err)
	}
}
