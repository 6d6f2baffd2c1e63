package bench

import (
	"crypto/sha1"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepfed/keepfed/internal/testvectors"
	"github.com/keepfed/keepfed/signing"
)

const (
	sigKey     = "l0tntutgm4vgeuk4u20rndc439kv2bw9h4u1h4qxt214r2vf910jm5dlpwwtmpg2"
	sigToken   = "v2/7risu-gj3su-ah2bebz8hlo5g0q/hcvkrtrdil8dp5c2mzfxxcwl9run0wq4zbuzwslht4tp101eyu"
	sigLocator = "3576d701bc29a0b7ead690cc262a29a7+67108864"
	sigTTL     = 336 * time.Hour
)

var (
	sigExpiry = time.Unix(2881198729, 0)
	sigNow    = time.Unix(1800000000, 0)
)

// TestBaselinesAgreeWithVectors keeps the baselines honest: they must give
// the same answers as Arvados on the shared vectors, or the benchmark
// ratios would compare different work.
func TestBaselinesAgreeWithVectors(t *testing.T) {
	var v struct {
		Sign []struct {
			ID, Key, Token, Locator, Expected string
			ExpiryUnix                        int64 `json:"expiry_unix"`
			TTL                               int64 `json:"ttl_nanoseconds"`
		} `json:"sign_cases"`
	}
	testvectors.Load(t, "signatures.json", &v)
	require.NotEmpty(t, v.Sign)
	for _, c := range v.Sign {
		got := BaselineSign([]byte(c.Key), c.Locator, c.Token, time.Unix(c.ExpiryUnix, 0), time.Duration(c.TTL))
		assert.Equal(t, c.Expected, got, c.ID)
	}
	signed := BaselineSign([]byte(sigKey), sigLocator, sigToken, sigExpiry, sigTTL)
	assert.NoError(t, BaselineVerify([]byte(sigKey), signed, sigToken, sigNow, sigTTL))
	want, err := signing.SaltToken(sigToken, "zzzzz")
	require.NoError(t, err)
	got, err := BaselineSalt(sigToken, "zzzzz")
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// BenchmarkSigning runs keepfed and the baseline side by side; read the
// ratios from one run (see `make bench`).
func BenchmarkSigning(b *testing.B) {
	ring := signing.NewKeyRing(sigTTL, []byte(sigKey))
	signed := BaselineSign([]byte(sigKey), sigLocator, sigToken, sigExpiry, sigTTL)
	buf := make([]byte, 0, 256)
	b.Run("sign/baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = BaselineSign([]byte(sigKey), sigLocator, sigToken, sigExpiry, sigTTL)
		}
	})
	b.Run("sign/keepfed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = ring.AppendSigned(buf[:0], sigLocator, sigToken, sigExpiry.Unix())
		}
	})
	b.Run("verify/baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := BaselineVerify([]byte(sigKey), signed, sigToken, sigNow, sigTTL); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify/keepfed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := ring.Verify(signed, sigToken, sigNow.Unix()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("salt/baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := BaselineSalt(sigToken, "zzzzz"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("salt/keepfed", func(b *testing.B) {
		b.ReportAllocs()
		salt := make([]byte, 0, 64)
		tok := signing.ParseToken(sigToken)
		for b.Loop() {
			salt = signing.AppendSalt(salt[:0], tok.Secret, "zzzzz")
		}
	})
	// The physical floor: the four SHA-1 block compressions one v2-token
	// signature needs (three for the inner hash, one for the outer).
	b.Run("floor/sha1-4-blocks", func(b *testing.B) {
		var msg [4*64 - 9]byte
		for b.Loop() {
			s := sha1.Sum(msg[:])
			msg[0] = s[0]
		}
	})
}
