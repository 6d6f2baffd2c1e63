package manifest

import (
	"bytes"
	"testing"
)

func TestSplitPoints(t *testing.T) {
	m := genSmallFiles(50, 3, 10)
	for _, after := range []bool{false, true} {
		for _, n := range []int{1, 2, 7, 100, len(m)} {
			b := splitPoints(nil, m, n, after)
			if b[0] != 0 || b[len(b)-1] != len(m) {
				t.Fatalf("n %d: bounds %v do not cover the manifest", n, b)
			}
			for i := 1; i < len(b)-1; i++ {
				if b[i] <= b[i-1] {
					t.Fatalf("n %d: bounds not increasing: %v", n, b)
				}
				sp := b[i]
				if after {
					sp--
				}
				if m[sp] != ' ' {
					t.Fatalf("n %d, after %v: boundary %d is not at a space", n, after, b[i])
				}
			}
		}
	}
	if b := splitPoints(nil, []byte("no-spaces-at-all"), 4, false); len(b) != 2 {
		t.Errorf("a manifest without spaces was split: %v", b)
	}
}

func TestParallelMatchesSerialLarge(t *testing.T) {
	ring, token, expiry, remote := vectorRing(t)
	signed := Sign(ring, token, expiry).Rewrite(genSmallFiles(400, 3, 20))
	one := genOneStream(3000)
	for _, r := range []Rewriter{Sign(ring, token, expiry).WithoutBatch(), Sign(ring, token, expiry), Strip(true),
		ToRemote(remote), ToRemoteSigned(remote, ring, token, expiry), ToRemoteSigned(remote, ring, token, expiry).WithoutBatch(), FromRemote(remote)} {
		for _, m := range [][]byte{signed, one} {
			want := r.AppendSerial(nil, m)
			for _, w := range []int{2, 3, 5} {
				par := r.WithParallelism(1, w)
				if got := par.Append(nil, m); !bytes.Equal(got, want) {
					t.Fatalf("%d workers: output differs from serial", w)
				}
				dst := make([]byte, 3, 3+r.MaxLen(m))
				if got := par.Append(dst, m); !bytes.Equal(got[3:], want) {
					t.Fatalf("%d workers into a pre-sized buffer: output differs", w)
				}
			}
		}
	}
}

func TestParallelSegments(t *testing.T) {
	saved := segmentSize
	defer func() { segmentSize = saved }()
	segmentSize = 3000
	ring, token, expiry, remote := vectorRing(t)
	m := Sign(ring, token, expiry).Rewrite(genSmallFiles(100, 3, 20))
	for _, r := range []Rewriter{Sign(ring, token, expiry), Strip(false), ToRemoteSigned(remote, ring, token, expiry)} {
		want := r.AppendSerial(nil, m)
		par := r.WithParallelism(1, 2)
		if got := par.Append(nil, m); !bytes.Equal(got, want) {
			t.Fatal("segmented parallel output differs from serial")
		}
		if got := par.Append([]byte("x"), m); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatal("segmented parallel output after a prefix differs from serial")
		}
		// One goroutine per segment (one allocation each) and one output.
		segments := len(m)/segmentSize + 1
		if n := testing.AllocsPerRun(5, func() { par.Append(nil, m) }); !raceEnabled && n > float64(segments+2) {
			t.Errorf("segmented parallel rewrite into nil: %v allocations for %d segments", n, segments)
		}
	}
	if got, want := string(newParallelism(1, 3).appendPDH(nil, m)), string(appendPDHSerial(nil, m)); got != want {
		t.Fatalf("segmented parallel PDH %s, want %s", got, want)
	}
}
