package manifest

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/keepfed/keepfed/signing"
)

func itoa(n int) string { return strconv.Itoa(n) }

// vectorRingOnly returns the arguments of Sign for the vectors.
func vectorRingOnly(tb testing.TB) (*signing.KeyRing, string, int64) {
	ring, token, expiry, _ := vectorRing(tb)
	return ring, token, expiry
}

func TestRewriteVectors(t *testing.T) {
	v := loadVectors(t)
	ring, token, expiry, remote := vectorRing(t)
	type op struct {
		name    string
		r       Rewriter
		in, out func(vectorCase) string
	}
	ops := []op{
		{"sign", Sign(ring, token, expiry), func(c vectorCase) string { return c.Manifest }, func(c vectorCase) string { return c.Signed }},
		{"resign", Sign(ring, token, expiry), func(c vectorCase) string { return c.Signed }, func(c vectorCase) string { return c.Signed }},
		{"strip", Strip(false), func(c vectorCase) string { return c.Manifest }, func(c vectorCase) string { return c.Stripped }},
		{"strip-signed", Strip(false), func(c vectorCase) string { return c.Signed }, func(c vectorCase) string { return c.Stripped }},
		{"sign-no-token", Sign(ring, "", expiry), func(c vectorCase) string { return c.Manifest }, func(c vectorCase) string { return c.Stripped }},
		{"to-remote", ToRemote(remote), func(c vectorCase) string { return c.Signed }, func(c vectorCase) string { return c.RemoteRewritten }},
		{"to-remote-input", ToRemote(remote), func(c vectorCase) string { return c.Manifest }, func(c vectorCase) string { return c.RemoteRewrittenInput }},
		{"from-remote", FromRemote(remote), func(c vectorCase) string { return c.RemoteRewritten }, func(c vectorCase) string { return c.Signed }},
	}
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			for _, o := range ops {
				in, want := o.in(c), o.out(c)
				if o.name == "from-remote" && bytes.Contains([]byte(c.Signed), []byte("+R"+remote+"-")) {
					continue
				}
				if got := string(o.r.AppendSerial(nil, []byte(in))); got != want {
					t.Errorf("%s:\n in   %q\n got  %q\n want %q", o.name, in, got, want)
				}
				par := o.r.WithParallelism(1, 3)
				if got := string(par.Append(nil, []byte(in))); got != want {
					t.Errorf("%s (parallel):\n got  %q\n want %q", o.name, got, want)
				}
			}
			// to-remote with local sign: the remote rewrite of the signed
			// manifest plus a local +A; from-remote undoes both.
			local := string(ToRemoteSigned(remote, ring, token, expiry).Rewrite([]byte(c.Signed)))
			if got := string(Strip(false).Rewrite([]byte(local))); got != string(Strip(false).Rewrite([]byte(c.RemoteRewritten))) {
				t.Errorf("to-remote with local sign, local +A stripped:\n got  %q\n want %q", got, c.RemoteRewritten)
			}
			if got := string(FromRemote(remote).Rewrite([]byte(local))); got != c.Signed {
				t.Errorf("from-remote(to-remote with local sign):\n got  %q\n want %q", got, c.Signed)
			}
		})
	}
}

func TestStripRemoteHints(t *testing.T) {
	in := ". cb7813a4037ab312aa7c45f823f31c07+3+R3bo3b-548b35b7029d09a561383427ef3bdbeb6428552c@f3ee8262+K@x+Aabc@1 0:3:r\n"
	want := ". cb7813a4037ab312aa7c45f823f31c07+3+K@x 0:3:r\n"
	if got := string(Strip(true).Rewrite([]byte(in))); got != want {
		t.Errorf("Strip(true) = %q, want %q", got, want)
	}
	want = ". cb7813a4037ab312aa7c45f823f31c07+3+R3bo3b-548b35b7029d09a561383427ef3bdbeb6428552c@f3ee8262+K@x 0:3:r\n"
	if got := string(Strip(false).Rewrite([]byte(in))); got != want {
		t.Errorf("Strip(false) = %q, want %q", got, want)
	}
}

func TestToRemoteSignedLocalSignatureVerifies(t *testing.T) {
	ring, token, expiry, remote := vectorRing(t)
	in := []byte(". acbd18db4cc2f85cedef654fccc4a4d8+3+A89118b78732c33104a4d6231e8b5a5fa1e4301e3@7fffffff 0:3:foo\n")
	out := ToRemoteSigned(remote, ring, token, expiry).Rewrite(in)
	toks := bytes.Fields(out)
	loc := string(toks[1])
	wantPrefix := "acbd18db4cc2f85cedef654fccc4a4d8+3+R" + remote + "-89118b78732c33104a4d6231e8b5a5fa1e4301e3@7fffffff+A"
	if len(loc) < len(wantPrefix) || loc[:len(wantPrefix)] != wantPrefix {
		t.Fatalf("got %q, want prefix %q", loc, wantPrefix)
	}
	// The local +A is a valid signature of hash+size for the reader.
	local := "acbd18db4cc2f85cedef654fccc4a4d8+3" + loc[len(wantPrefix)-2:]
	if err := ring.Verify(local, token, expiry-10); err != nil {
		t.Errorf("local signature %q: %v", local, err)
	}
}

func TestRewriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	ring, token, expiry, remote := vectorRing(t)
	m := genSmallFiles(20, 3, 10)
	for _, tc := range []struct {
		name string
		r    Rewriter
	}{
		{"sign", Sign(ring, token, expiry).WithoutBatch()},
		{"strip", Strip(true)},
		{"to-remote", ToRemote(remote)},
		{"to-remote-signed", ToRemoteSigned(remote, ring, token, expiry).WithoutBatch()},
		{"from-remote", FromRemote(remote)},
		{"sign-batch", Sign(ring, token, expiry)},
		{"to-remote-signed-batch", ToRemoteSigned(remote, ring, token, expiry)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, 0, tc.r.MaxLen(m))
			tc.r.Append(dst, m) // warm pools
			if n := testing.AllocsPerRun(50, func() { dst = tc.r.AppendSerial(dst[:0], m) }); n != 0 {
				t.Errorf("serial into a pre-sized buffer: %v allocations, want 0", n)
			}
			if n := testing.AllocsPerRun(50, func() { _ = tc.r.AppendSerial(nil, m) }); n > 1 {
				t.Errorf("serial into nil: %v allocations, want at most 1", n)
			}
			if len(m) >= DefaultParallelThreshold {
				t.Fatalf("test manifest unexpectedly large")
			}
		})
	}
}

func TestMaxLenIsABound(t *testing.T) {
	ring, token, expiry, remote := vectorRing(t)
	inputs := [][]byte{
		[]byte("d41d8cd98f00b204e9800998ecf8427e d41d8cd98f00b204e9800998ecf8427e\n"),
		[]byte(" d41d8cd98f00b204e9800998ecf8427e+A+A+A+A+A"),
		genSmallFiles(3, 2, 2),
	}
	for _, r := range []Rewriter{Sign(ring, token, expiry), ToRemoteSigned(remote, ring, token, expiry), ToRemote("longclusterid")} {
		for _, in := range inputs {
			if got, bound := len(r.Rewrite(in)), r.MaxLen(in); got > bound {
				t.Errorf("rewrite of %q is %d bytes, MaxLen says %d", in, got, bound)
			}
		}
	}
}

func TestAppendToRemoteMatchesSigning(t *testing.T) {
	v := loadVectors(t)
	toks := []string{
		"acbd18db4cc2f85cedef654fccc4a4d8+3", "acbd18db4cc2f85cedef654fccc4a4d8+A", "acbd18db4cc2f85cedef654fccc4a4d8+",
		"acbd18db4cc2f85cedef654fccc4a4d8+3+A+A++A+Ax+K@x+A", "acbd18db4cc2f85cedef654fccc4a4d8A+A", "short+A",
	}
	for _, c := range v.Cases {
		for _, f := range bytes.Fields([]byte(c.Signed)) {
			toks = append(toks, string(f))
		}
	}
	for _, tok := range toks {
		want := signing.AppendToRemote(nil, tok, "cuwyk")
		if got := appendToRemote(nil, []byte(tok), "cuwyk"); !bytes.Equal(got, want) {
			t.Errorf("appendToRemote(%q) = %q, want %q", tok, got, want)
		}
	}
}

func TestPieceLen(t *testing.T) {
	cases := []struct {
		m    string
		max  int
		want int
	}{
		{"", 4, 0},
		{"abc", 4, 3},
		{"ab cd ef", 6, 5},
		{"ab cd ef", 4, 2},
		{"abcdef gh", 3, 6},
		{"abcdefgh", 3, 8},
		{" abcdef", 3, 7},
	}
	for _, c := range cases {
		if got := PieceLen([]byte(c.m), c.max); got != c.want {
			t.Errorf("PieceLen(%q, %d) = %d, want %d", c.m, c.max, got, c.want)
		}
	}
	// rewriting the pieces one after another is rewriting the whole
	ring := signing.NewKeyRing(time.Hour, []byte("a key for the piece test"))
	m := []byte(". d41d8cd98f00b204e9800998ecf8427e+0 acbd18db4cc2f85cedef654fccc4a4d8+3+Afeedfeedfeedfeedfeedfeedfeedfeedfeedfeed@12345678 0:3:a 3:0:b\\040c\n./s acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:d\n")
	for name, rw := range map[string]Rewriter{"sign": Sign(ring, "tok", 1<<31), "strip": Strip(false), "to remote": ToRemote("zzzzz")} {
		whole := rw.AppendSerial(nil, m)
		for max := 1; max <= len(m); max++ {
			var got []byte
			for rest := m; len(rest) > 0; {
				n := PieceLen(rest, max)
				got = rw.AppendSerial(got, rest[:n])
				rest = rest[n:]
			}
			if string(got) != string(whole) {
				t.Fatalf("%s in pieces of %d:\n%q\nwhole:\n%q", name, max, got, whole)
			}
		}
	}
}
