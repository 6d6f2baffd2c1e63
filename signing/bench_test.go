package signing

import (
	"crypto/sha1"
	"testing"
	"time"
)

// Realistic inputs: a v2 token, a 64 MiB block locator, a 2-week TTL.
const (
	benchKey     = "l0tntutgm4vgeuk4u20rndc439kv2bw9h4u1h4qxt214r2vf910jm5dlpwwtmpg2"
	benchToken   = "v2/7risu-gj3su-ah2bebz8hlo5g0q/hcvkrtrdil8dp5c2mzfxxcwl9run0wq4zbuzwslht4tp101eyu"
	benchLocator = "3576d701bc29a0b7ead690cc262a29a7+67108864"
	benchExpiry  = int64(2881198729)
	benchNow     = int64(1800000000)
)

func benchRing() *KeyRing { return NewKeyRing(336*time.Hour, []byte(benchKey)) }

func TestSignAndVerifyDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items); make test runs this package again without -race")
	}
	ring := benchRing()
	buf := make([]byte, 0, 256)
	signed := string(ring.AppendSigned(nil, benchLocator, benchToken, benchExpiry))
	salted := make([]byte, 0, 128)
	tok := ParseToken(benchToken)
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendSigned", func() { buf = ring.AppendSigned(buf[:0], benchLocator, benchToken, benchExpiry) }},
		{"Verify", func() {
			if err := ring.Verify(signed, benchToken, benchNow); err != nil {
				t.Fatal(err)
			}
		}},
		{"ParseLocator", func() {
			if _, err := ParseLocator(signed); err != nil {
				t.Fatal(err)
			}
		}},
		{"KeepstoreLocatorInfo", func() {
			if _, err := KeepstoreLocatorInfo(signed); err != nil {
				t.Fatal(err)
			}
		}},
		{"AppendToRemote", func() { buf = AppendToRemote(buf[:0], signed, "zzzzz") }},
		{"ParseToken", func() { tok = ParseToken(benchToken) }},
		{"appendSalted", func() { salted = appendSalted(salted[:0], tok, "zzzzz") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn() // warm pools
			if n := testing.AllocsPerRun(200, tc.fn); n != 0 {
				t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	ring := benchRing()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = ring.AppendSigned(buf[:0], benchLocator, benchToken, benchExpiry)
	}
}

func BenchmarkVerify(b *testing.B) {
	ring := benchRing()
	signed := string(ring.AppendSigned(nil, benchLocator, benchToken, benchExpiry))
	b.ReportAllocs()
	for b.Loop() {
		if err := ring.Verify(signed, benchToken, benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRotated verifies a signature made with the previous key:
// the cost of a rotation window is one more HMAC for old signatures.
func BenchmarkVerifyRotated(b *testing.B) {
	old := benchRing()
	signed := string(old.AppendSigned(nil, benchLocator, benchToken, benchExpiry))
	ring := NewKeyRing(336*time.Hour, []byte("a-new-key"), []byte(benchKey))
	b.ReportAllocs()
	for b.Loop() {
		if err := ring.Verify(signed, benchToken, benchNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSalt(b *testing.B) {
	tok := ParseToken(benchToken)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendSalted(buf[:0], tok, "zzzzz")
	}
}

func BenchmarkSaltToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SaltToken(benchToken, "zzzzz"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA1FourBlocks is the physical floor of one signature: the
// message of a v2-token signature plus the outer hash take four SHA-1
// block compressions (247 bytes + padding = 4 blocks).
func BenchmarkSHA1FourBlocks(b *testing.B) {
	var msg [4*64 - 9]byte
	b.ReportAllocs()
	for b.Loop() {
		sum := sha1.Sum(msg[:])
		msg[0] = sum[0]
	}
}

func BenchmarkParseLocator(b *testing.B) {
	signed := string(benchRing().AppendSigned(nil, benchLocator, benchToken, benchExpiry))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLocator(signed); err != nil {
			b.Fatal(err)
		}
	}
}
