package webdav

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pdh0 = "d41d8cd98f00b204e9800998ecf8427e+0"

func TestParsePath(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Target
		err  bool
	}{
		{"/c=zzzzz-4zz18-0123456789abcde/a.txt", Target{Collection: "zzzzz-4zz18-0123456789abcde", Path: "a.txt"}, false},
		{"/c=zzzzz-4zz18-0123456789abcde", Target{Collection: "zzzzz-4zz18-0123456789abcde", Path: "", Dir: true}, false},
		{"/c=zzzzz-4zz18-0123456789abcde/", Target{Collection: "zzzzz-4zz18-0123456789abcde", Dir: true}, false},
		{"/c=" + pdh0 + "/_/foo", Target{Collection: pdh0, IsPDH: true, Attachment: true, Path: "foo"}, false},
		{"/c=d41d8cd98f00b204e9800998ecf8427e-0/_/foo", Target{Collection: pdh0, IsPDH: true, Attachment: true, Path: "foo"}, false},
		{"/c=d41d8cd98f00b204e9800998ecf8427e-0-Kzzzzz/x", Target{Collection: pdh0 + "+Kzzzzz", IsPDH: true, Path: "x"}, false},
		{"/c=zzzzz-4zz18-0123456789abcde/t=secret/_/d/e/", Target{Collection: "zzzzz-4zz18-0123456789abcde", Token: "secret", Attachment: true, Path: "d/e", Dir: true}, false},
		{"/c=zzzzz-4zz18-0123456789abcde//d//e", Target{Collection: "zzzzz-4zz18-0123456789abcde", Path: "d/e"}, false},
		{"/c=zzzzz-4zz18-0123456789abcde/_/_/x", Target{Collection: "zzzzz-4zz18-0123456789abcde", Attachment: true, Path: "_/x"}, false},
		{"/c=zzzzz-4zz18-0123456789abcde/../x", Target{}, true},
		{"/c=zzzzz-4zz18-0123456789abcde/./x", Target{}, true},
		{"/c=ZZZZZ-4zz18-0123456789abcde/x", Target{}, true},
		{"/c=D41D8CD98F00B204E9800998ECF8427E+0/x", Target{}, true},
		{"/c=d41d8cd98f00b204e9800998ecf8427e/x", Target{}, true},
		{"/c=/x", Target{}, true},
		{"/x", Target{}, true},
		{"c=zzzzz-4zz18-0123456789abcde", Target{}, true},
	} {
		got, err := ParsePath(tt.in)
		if tt.err {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

// FuzzParsePath checks that ParsePath never panics and that what it
// accepts is consistent: a uuid or PDH collection, a path without empty,
// "." or ".." components, and Dir for the root.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/c=zzzzz-4zz18-0123456789abcde/a.txt",
		"/c=" + pdh0 + "/_/foo",
		"/c=d41d8cd98f00b204e9800998ecf8427e-0/t=tok/_/d/",
		"/c=zzzzz-4zz18-0123456789abcde/../x",
		"/c=",
		"/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePath(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, Prefix) {
			t.Fatalf("accepted %q without the prefix", s)
		}
		if got.IsPDH != !isUUID(got.Collection) {
			t.Fatalf("%q: IsPDH %v for %q", s, got.IsPDH, got.Collection)
		}
		if got.Path == "" && !got.Dir {
			t.Fatalf("%q: root not a directory", s)
		}
		if got.Path != "" {
			for _, c := range strings.Split(got.Path, "/") {
				if c == "" || c == "." || c == ".." {
					t.Fatalf("%q: bad component in %q", s, got.Path)
				}
			}
		}
	})
}
