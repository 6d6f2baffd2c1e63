package manifest

import (
	"crypto/sha1"
	"encoding/binary"
	"testing"
)

// TestSHA1x16 checks the 16-lane compression against crypto/sha1 on
// two-block messages that differ per lane.
func TestSHA1x16(t *testing.T) {
	if !haveSHA1x16 {
		t.Skip("no AVX-512")
	}
	var msgs [16][128]byte
	for lane := range msgs {
		for i := 0; i < 119; i++ {
			msgs[lane][i] = byte(lane*31 + i*7)
		}
		// SHA-1 padding for a 119-byte message.
		msgs[lane][119] = 0x80
		binary.BigEndian.PutUint64(msgs[lane][120:], 119*8)
	}
	var state [5][16]uint32
	iv := [5]uint32{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}
	for i := range state {
		for lane := 0; lane < 16; lane++ {
			state[i][lane] = iv[i]
		}
	}
	var w [32][16]uint32
	for k := 0; k < 2; k++ {
		for tw := 0; tw < 16; tw++ {
			for lane := 0; lane < 16; lane++ {
				w[k*16+tw][lane] = binary.BigEndian.Uint32(msgs[lane][k*64+tw*4:])
			}
		}
	}
	sha1x16Blocks(&state, (*[16][16]uint32)(w[:16]), 2)
	for lane := 0; lane < 16; lane++ {
		want := sha1.Sum(msgs[lane][:119])
		for i := 0; i < 5; i++ {
			if got := state[i][lane]; got != binary.BigEndian.Uint32(want[4*i:]) {
				t.Fatalf("lane %d word %d: %08x, want %08x", lane, i, got, binary.BigEndian.Uint32(want[4*i:]))
			}
		}
	}
}

// BenchmarkSHA1x16 compresses 16 lanes of 4 blocks (one HMAC's worth
// each) per iteration.
func BenchmarkSHA1x16(b *testing.B) {
	if !haveSHA1x16 {
		b.Skip("no AVX-512")
	}
	var state [5][16]uint32
	var w [64][16]uint32
	b.SetBytes(16 * 4 * 64)
	for b.Loop() {
		sha1x16Blocks(&state, (*[16][16]uint32)(w[:16]), 4)
	}
}
