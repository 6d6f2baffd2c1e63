package manifest

import (
	"bytes"
	"strings"
	"testing"
)

// addVectorSeeds adds every manifest text of the vectors to f.
func addVectorSeeds(f *testing.F) {
	v := loadVectors(f)
	for _, c := range v.Cases {
		f.Add([]byte(c.Manifest))
		f.Add([]byte(c.Signed))
		f.Add([]byte(c.RemoteRewritten))
	}
}

// FuzzParse: Check, Parse, Normalize, PortableDataHash and the escapes
// never panic, and agree with each other on valid input.
func FuzzParse(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, m []byte) {
		checkErr := Check(m)
		streams, parseErr := Parse(m)
		if (checkErr == nil) != (parseErr == nil) {
			t.Fatalf("Check %v, Parse %v", checkErr, parseErr)
		}
		if checkErr != nil {
			if _, ok := checkErr.(*SyntaxError); !ok {
				t.Fatalf("Check error %T, want *SyntaxError", checkErr)
			}
		} else if len(streams) != bytes.Count(m, []byte{'\n'}) {
			t.Fatalf("Parse: %d streams for %d lines", len(streams), bytes.Count(m, []byte{'\n'}))
		}
		pdh := PortableDataHash(m)
		if len(pdh) < 34 || pdh[32] != '+' {
			t.Fatalf("PortableDataHash = %q", pdh)
		}
		norm, normErr := Normalize(m)
		if checkErr == nil && normErr != nil && !strings.Contains(normErr.Error(), errFileExists.Error()) &&
			!strings.Contains(normErr.Error(), errIsDirectory.Error()) {
			t.Fatalf("valid manifest %q: Normalize: %v", m, normErr)
		}
		if normErr == nil {
			again, err := Normalize(norm)
			if err != nil || !bytes.Equal(again, norm) {
				t.Fatalf("Normalize not idempotent on %q:\n%q\n%q (%v)", m, norm, again, err)
			}
		}
		s := string(m)
		if got := Unescape(Escape(s)); got != s {
			t.Fatalf("Unescape(Escape(%q)) = %q", s, got)
		}
		_ = Unescape(s)
	})
}

// FuzzSignStrip: strip(sign(m)) == strip(m), signing twice is signing
// once, and batch (AVX-512) signing gives the same bytes as scalar.
func FuzzSignStrip(f *testing.F) {
	addVectorSeeds(f)
	ring, token, expiry, remote := vectorRing(f)
	batch, strip := Sign(ring, token, expiry), Strip(false)
	sign := batch.WithoutBatch()
	toBatch := ToRemoteSigned(remote, ring, token, expiry)
	toSigned := toBatch.WithoutBatch()
	f.Fuzz(func(t *testing.T, m []byte) {
		signed := sign.AppendSerial(nil, m)
		if got := batch.AppendSerial(nil, m); !bytes.Equal(got, signed) {
			t.Fatalf("batch sign(%q) = %q, want %q", m, got, signed)
		}
		if got, want := toBatch.AppendSerial(nil, m), toSigned.AppendSerial(nil, m); !bytes.Equal(got, want) {
			t.Fatalf("batch to-remote-signed(%q) = %q, want %q", m, got, want)
		}
		if got, want := strip.AppendSerial(nil, signed), strip.AppendSerial(nil, m); !bytes.Equal(got, want) {
			t.Fatalf("strip(sign(%q)) = %q, want strip(m) = %q", m, got, want)
		}
		if again := sign.AppendSerial(nil, signed); !bytes.Equal(again, signed) {
			t.Fatalf("sign(sign(%q)) = %q, want %q", m, again, signed)
		}
		if len(signed) > sign.MaxLen(m) {
			t.Fatalf("sign(%q): %d bytes, MaxLen %d", m, len(signed), sign.MaxLen(m))
		}
	})
}

// FuzzRemoteRoundTrip: from-remote(to-remote(m)) == m for a signed m
// without +R hints of the remote cluster, with and without a local +A.
func FuzzRemoteRoundTrip(f *testing.F) {
	addVectorSeeds(f)
	ring, token, expiry, remote := vectorRing(f)
	sign := Sign(ring, token, expiry)
	to, toSigned, from := ToRemote(remote), ToRemoteSigned(remote, ring, token, expiry), FromRemote(remote)
	f.Fuzz(func(t *testing.T, m []byte) {
		signed := sign.AppendSerial(nil, m)
		if bytes.Contains(signed, []byte("+R"+remote+"-")) {
			return
		}
		for _, r := range []Rewriter{to, toSigned} {
			out := r.AppendSerial(nil, signed)
			if len(out) > r.MaxLen(signed) {
				t.Fatalf("to-remote of %q: %d bytes, MaxLen %d", signed, len(out), r.MaxLen(signed))
			}
			if back := from.AppendSerial(nil, out); !bytes.Equal(back, signed) {
				t.Fatalf("from-remote(to-remote(%q)):\n via  %q\n got  %q", signed, out, back)
			}
		}
	})
}

// FuzzParallel: splitting across goroutines never changes the output, nor
// does the AVX2 scan.
func FuzzParallel(f *testing.F) {
	addVectorSeeds(f)
	ring, token, expiry, remote := vectorRing(f)
	rewriters := []Rewriter{
		Sign(ring, token, expiry), Strip(false), Strip(true), ToRemote(remote),
		ToRemoteSigned(remote, ring, token, expiry), FromRemote(remote),
		Sign(ring, token, expiry),
	}
	par := newParallelism(1, 3)
	masked := haveWSMasks
	f.Fuzz(func(t *testing.T, m []byte) {
		for i, r := range rewriters {
			haveWSMasks = false
			want := r.AppendSerial(nil, m)
			haveWSMasks = masked
			if got := r.AppendSerial(nil, m); !bytes.Equal(got, want) {
				t.Fatalf("rewriter %d on %q: AVX2 scan\n %q\nportable scan\n %q", i, m, got, want)
			}
			if got := r.WithParallelism(1, 3).Append(nil, m); !bytes.Equal(got, want) {
				t.Fatalf("rewriter %d on %q: parallel\n %q\nserial\n %q", i, m, got, want)
			}
		}
		if got, want := string(par.appendPDH(nil, m)), string(appendPDHSerial(nil, m)); got != want {
			t.Fatalf("PDH of %q: parallel %s, serial %s", m, got, want)
		}
	})
}
