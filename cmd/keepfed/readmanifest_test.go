package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keepfed/keepfed/internal/manifestgen"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"

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

// TestRewriteStreamSameAsWhole checks that rewriting chunk by chunk (cut
// before spaces) gives exactly the rewrite of the whole manifest, for
// every rewrite, chunk sizes down to a few bytes (tokens longer than the
// chunk), and input that arrives in small reads.
func TestRewriteStreamSameAsWhole(t *testing.T) {
	ring := signing.NewKeyRing(time.Hour, []byte("a-key"))
	remoteRing := signing.NewKeyRing(time.Hour, []byte("remote-key"))
	signed := manifest.Sign(remoteRing, "v2/zzzzz-gj3su-000000000000000/secret", 1900000000)
	manifests := map[string][]byte{
		"one stream":  signed.Rewrite(manifestgen.OneStream(3000)),
		"small files": signed.Rewrite(manifestgen.SmallFiles(40, 3, 20)),
		"remote":      manifest.ToRemote("zzzzz").Rewrite(signed.Rewrite(manifestgen.SmallFiles(20, 3, 5))),
		"odd spacing": []byte(". acbd18db4cc2f85cedef654fccc4a4d8+3+Afoo@1  \t0:3:a\n\n./b  37b51d194a7513e45b56f6524f2d51f2+3 0:3:b \n"),
		"empty":       {},
		"no newline":  []byte(". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:a"),
	}
	rewrites := map[string]manifest.Rewriter{
		"sign":        manifest.Sign(ring, "v2/aaaaa-gj3su-000000000000001/abcdef", 1900000000),
		"strip":       manifest.Strip(true),
		"to-remote":   manifest.ToRemote("zzzzz"),
		"to-remote+A": manifest.ToRemoteSigned("zzzzz", ring, "v2/aaaaa-gj3su-000000000000001/abcdef", 1900000000),
		"from-remote": manifest.FromRemote("zzzzz"),
	}
	for mname, m := range manifests {
		for rname, r := range rewrites {
			want := r.Rewrite(m)
			for _, chunk := range []int{1, 7, 100, 4096, 1 << 20} {
				var out bytes.Buffer
				require.NoError(t, rewriteStream(r, iotest.HalfReader(bytes.NewReader(m)), &out, chunk))
				require.Equal(t, string(want), out.String(), "%s %s chunk %d", mname, rname, chunk)
			}
		}
	}
}
