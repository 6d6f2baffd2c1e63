package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadManifestMakesItsBuffer checks that stdin is read into buffers
// made with make, never grown by append or bytes.Buffer (whose growth
// clears the new capacity in one non-preemptible memclr that stalled the
// garbage collector for 100+ ms on an 18 MB manifest, see readManifest):
// a regular file is read into exactly one buffer of its size plus one
// byte, and a pipe into buffers that double.
func TestReadManifestMakesItsBuffer(t *testing.T) {
	data := bytes.Repeat([]byte(". d41d8cd98f00b204e9800998ecf8427e+0 0:0:f\n"), 50000)
	path := filepath.Join(t.TempDir(), "m")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	cases := []struct {
		name    string
		open    func(t *testing.T) io.Reader
		wantCap int // 0: any
	}{
		{"regular file", func(t *testing.T) io.Reader {
			f, err := os.Open(path)
			require.NoError(t, err)
			t.Cleanup(func() { f.Close() })
			return f
		}, len(data) + 1},
		{"pipe", func(t *testing.T) io.Reader {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			go func() { w.Write(data); w.Close() }() //nolint:errcheck // test
			t.Cleanup(func() { r.Close() })
			return r
		}, 0},
		{"reader", func(*testing.T) io.Reader { return bytes.NewReader(data) }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readManifest(stdio{in: c.open(t)})
			require.NoError(t, err)
			assert.Equal(t, data, got)
			if c.wantCap > 0 {
				assert.Equal(t, c.wantCap, cap(got), "one buffer of the file's size + 1")
			} else {
				// doubling from 64 KiB: a power of two times 64 KiB
				q := cap(got) / (64 << 10)
				assert.True(t, cap(got)%(64<<10) == 0 && q&(q-1) == 0, "cap %d", cap(got))
			}
		})
	}
}
