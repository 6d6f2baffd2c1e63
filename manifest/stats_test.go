package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileStats(t *testing.T) {
	const b1 = "acbd18db4cc2f85cedef654fccc4a4d8+3"
	const b2 = "37b51d194a7513e45b56f6524f2d51f2+3"
	cases := []struct {
		name  string
		m     string
		count int
		size  int64
	}{
		{"empty", "", 0, 0},
		{"one file", ". " + b1 + " 0:3:foo\n", 1, 3},
		{"two files one stream", ". " + b1 + " " + b2 + " 0:3:foo 3:3:bar\n", 2, 6},
		{"segments of one file count once", ". " + b1 + " " + b2 + " 0:3:foo 3:3:foo\n", 1, 6},
		{"same name in two streams", ". " + b1 + " 0:3:foo\n./d " + b2 + " 0:3:foo\n", 2, 6},
		{"slash in name is a directory", ". " + b1 + " 0:3:d/foo\n./d " + b2 + " 0:3:foo\n", 1, 6},
		{"empty dir placeholder", ". d41d8cd98f00b204e9800998ecf8427e+0 0:0:.\n", 0, 0},
		{"empty file counts", ". d41d8cd98f00b204e9800998ecf8427e+0 0:0:empty\n", 1, 0},
		{"escaped names", `./a\040b ` + b1 + ` 0:3:c\040d` + "\n", 1, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, size, err := FileStats([]byte(c.m))
			require.NoError(t, err)
			assert.Equal(t, c.count, n)
			assert.Equal(t, c.size, size)
		})
	}
	for _, bad := range []string{". " + b1 + " 0:3:foo", "foo\n", ". " + b1 + " 0:4:foo\n"} {
		_, _, err := FileStats([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

// FuzzFileStats: FileStats accepts exactly what Parse accepts, and its
// size is the sum of the file segments Parse reports.
func FuzzFileStats(f *testing.F) {
	f.Add([]byte(". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo 0:3:foo\n"))
	f.Add([]byte(". d41d8cd98f00b204e9800998ecf8427e+0 0:0:.\n"))
	f.Add([]byte("bad"))
	f.Fuzz(func(t *testing.T, m []byte) {
		n, size, err := FileStats(m)
		streams, perr := Parse(m)
		if (err == nil) != (perr == nil) {
			t.Fatalf("FileStats err %v, Parse err %v", err, perr)
		}
		if err != nil {
			return
		}
		var want int64
		files := 0
		for _, s := range streams {
			for _, fl := range s.Files {
				want += fl.Size
				files++
			}
		}
		if size != want || n > files || n < 0 {
			t.Fatalf("count %d size %d, want size %d and count <= %d", n, size, want, files)
		}
	})
}

func TestEachLocator(t *testing.T) {
	m := []byte(". acbd18db4cc2f85cedef654fccc4a4d8+3+Afoo@1 37b51d194a7513e45b56f6524f2d51f2+3 0:6:foo\n./d d41d8cd98f00b204e9800998ecf8427e+0 0:0:x\n")
	var got []string
	require.NoError(t, EachLocator(m, func(loc string) error { got = append(got, string([]byte(loc))); return nil }))
	streams, err := Parse(m)
	require.NoError(t, err)
	var want []string
	for _, s := range streams {
		want = append(want, s.Locators...)
	}
	assert.Equal(t, want, got)

	stop := assert.AnError
	n := 0
	assert.Equal(t, stop, EachLocator(m, func(string) error { n++; return stop }), "fn's error is returned as it is")
	assert.Equal(t, 1, n, "and ends the scan")
	assert.Error(t, EachLocator([]byte(". nothex 0:0:x\n"), func(string) error { return nil }))
	allocs := testing.AllocsPerRun(20, func() { _ = EachLocator(m, func(string) error { return nil }) })
	if !raceEnabled {
		assert.Zero(t, allocs, "no allocation per locator")
	}
}
