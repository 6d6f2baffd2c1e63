package manifest

import (
	"bytes"
	"math/bits"
	"strings"
	"testing"
)

// bothScans runs fn with the AVX2 scan (when the CPU has it) and with the
// portable one.
func bothScans(t *testing.T, fn func(t *testing.T)) {
	saved := haveWSMasks
	defer func() { haveWSMasks = saved }()
	for _, masked := range []bool{saved, false} {
		haveWSMasks = masked
		fn(t)
		if !saved {
			return
		}
	}
}

func TestRewriteVectorsPortableScan(t *testing.T) {
	bothScans(t, TestRewriteVectors)
	bothScans(t, TestBatchSigningMatchesScalar)
}

func TestMaskedScanMatchesPortable(t *testing.T) {
	if !haveWSMasks {
		t.Skip("no AVX2")
	}
	ring, token, expiry, remote := vectorRing(t)
	rewriters := []Rewriter{Sign(ring, token, expiry).WithoutBatch(), Sign(ring, token, expiry), Strip(true),
		ToRemote(remote), ToRemoteSigned(remote, ring, token, expiry), ToRemoteSigned(remote, ring, token, expiry).WithoutBatch(), FromRemote(remote)}
	big := Sign(ring, token, expiry).Rewrite(genSmallFiles(60, 3, 20))
	inputs := [][]byte{big, ToRemote(remote).Rewrite(big), genOneStream(300)}
	// Block tokens at every offset around the 64-byte word and window edges.
	for pad := 0; pad < 140; pad++ {
		in := []byte(strings.Repeat("x", pad) + " d41d8cd98f00b204e9800998ecf8427e+0+Aabc 0123456789abcdef0123456789abcdef\tacbd18db4cc2f85cedef654fccc4a4d8+3+A1@2 0:3:f\n")
		inputs = append(inputs, in, in[:len(in)-pad/2])
	}
	for _, in := range inputs {
		for i, r := range rewriters {
			haveWSMasks = false
			want := r.AppendSerial(nil, in)
			haveWSMasks = true
			if got := r.AppendSerial(nil, in); !bytes.Equal(got, want) {
				t.Fatalf("rewriter %d on %q:\n masked   %q\n portable %q", i, in, got, want)
			}
		}
	}
}

func TestRun32(t *testing.T) {
	for _, tc := range []struct{ lo, hi uint64 }{
		{^uint64(0), ^uint64(0)}, {0xffffffff, 0}, {0x7fffffff8, 0x7}, {0x0f0f0f0f0f0f0f0f, ^uint64(0)},
		{0xffffff0000000000, 0xffffff}, {0xffffff0000000000, 0x7fffff},
	} {
		var want uint64
		for p := 0; p < 64; p++ {
			all := true
			for k := p; k < p+32; k++ {
				bit := tc.lo >> k & 1
				if k >= 64 {
					bit = tc.hi >> (k - 64) & 1
				}
				all = all && bit == 1
			}
			if all {
				want |= 1 << p
			}
		}
		if got := run32(tc.lo, tc.hi); got != want {
			t.Errorf("run32(%#x, %#x) = %#x, want %#x (%d bits)", tc.lo, tc.hi, got, want, bits.OnesCount64(want))
		}
	}
}

func TestClassifyMatchesTail(t *testing.T) {
	if !haveWSMasks {
		t.Skip("no AVX2")
	}
	var b [64]byte
	for i := range b {
		b[i] = byte(i * 37)
	}
	copy(b[10:], " \t\n\f\r\v+09af:AFg")
	for shift := 0; shift < 256; shift += 7 {
		for i := range b {
			b[i] += byte(shift)
		}
		var w maskWord
		var sp spaceWord
		classify(&w, &b[0], 1)
		classifySpacePlus(&sp, &b[0], 1)
		want := classifyTail(b[:63]) // 63 bytes: the last one is judged apart
		last := classifyTail(b[63:])
		bit := uint64(1) << 63
		fix := func(m, l uint64) uint64 { return m&^bit | l<<63 }
		want = maskWord{fix(want.space, last.space&1), fix(want.ws, last.ws&1), fix(want.hex, last.hex&1), fix(want.plus, last.plus&1)}
		if w != want || sp.space != want.space || sp.plus != want.plus {
			t.Fatalf("bytes %q: classify %+v, classifySpacePlus %+v, want %+v", b, w, sp, want)
		}
	}
}
