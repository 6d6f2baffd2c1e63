package blocks

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseRange(t *testing.T) {
	cases := []struct {
		h          string
		size       int64
		kind       rangeKind
		start, end int64
	}{
		{"", 100, rangeNone, 0, 0},
		{"bytes=0-0", 100, rangeOne, 0, 1},
		{"bytes=0-99", 100, rangeOne, 0, 100},
		{"bytes=0-1000", 100, rangeOne, 0, 100},
		{"bytes=50-", 100, rangeOne, 50, 100},
		{"bytes=-10", 100, rangeOne, 90, 100},
		{"bytes=-1000", 100, rangeOne, 0, 100},
		{"Bytes = 3 - 4 ", 100, rangeOne, 3, 5},
		{"bytes=0-99999999999999999999999", 100, rangeOne, 0, 100},
		{"bytes=100-", 100, rangeBad, 0, 0},
		{"bytes=99999999999999999999999-", 100, rangeBad, 0, 0},
		{"bytes=-0", 100, rangeBad, 0, 0},
		{"bytes=-1", 0, rangeBad, 0, 0},
		{"bytes=0-", 0, rangeBad, 0, 0},
		{"bytes=5-4", 100, rangeBad, 0, 0},
		{"bytes=", 100, rangeBad, 0, 0},
		{"bytes=-", 100, rangeBad, 0, 0},
		{"bytes=a-b", 100, rangeBad, 0, 0},
		{"bytes=+1-2", 100, rangeBad, 0, 0},
		{"bytes=1-2,", 100, rangeBad, 0, 0},
		{"bytes0-1", 100, rangeBad, 0, 0},
		{"bytes=0-1,5-6", 100, rangeNone, 0, 0},
		{"bytes=200-300,5-6", 100, rangeNone, 0, 0},
		{"bytes=200-300,300-", 100, rangeBad, 0, 0},
		{"items=0-1", 100, rangeNone, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.h, func(t *testing.T) {
			r, k := parseRange([]byte(c.h), c.size)
			assert.Equal(t, c.kind, k)
			if k == rangeOne {
				assert.Equal(t, byteRange{c.start, c.end}, r)
			}
		})
	}
}

// FuzzParseRange checks that parseRange never panics and that a single
// range it accepts lies inside the block and is not empty.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=0-1,2-3", "bytes=9-1", "items=1-2", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 || size > MaxBlockSize {
			return
		}
		r, k := parseRange([]byte(h), size)
		if k == rangeOne && (r.start < 0 || r.start >= r.end || r.end > size) {
			t.Fatalf("parseRange(%q, %d) = %+v", h, size, r)
		}
		if k == rangeOne && !strings.Contains(contentRange(r, size), "/") {
			t.Fatal("bad Content-Range")
		}
	})
}

func TestSignatureExpiry(t *testing.T) {
	cases := []struct {
		loc  string
		want int64
		ok   bool
	}{
		{"acbd18db4cc2f85cedef654fccc4a4d8+3+A" + strings.Repeat("a", 40) + "@65f0e1a2", 0x65f0e1a2, true},
		{"acbd18db4cc2f85cedef654fccc4a4d8+3+Kzzzzz+A" + strings.Repeat("a", 40) + "@1f", 0x1f, true},
		{"acbd18db4cc2f85cedef654fccc4a4d8+3+Anosig+A" + strings.Repeat("b", 40) + "@10", 0x10, true},
		{"acbd18db4cc2f85cedef654fccc4a4d8+3", 0, false},
		{"acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@", 0, false},
		{"acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@XYZ", 0, false},
		{"acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@1234567890abcdef0", 0, false},
	}
	for _, c := range cases {
		got, ok := signatureExpiry(c.loc)
		assert.Equal(t, c.ok, ok, c.loc)
		assert.Equal(t, c.want, got, c.loc)
	}
}

// FuzzSignatureExpiry checks that signatureExpiry never panics and never
// returns a negative time.
func FuzzSignatureExpiry(f *testing.F) {
	for _, s := range []string{"acbd18db4cc2f85cedef654fccc4a4d8+3+Aabc@65f0e1a2", "x+A@", "+A+A@ff", "+Aa@fffffffffffffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := signatureExpiry(s); ok && v < 0 {
			t.Fatalf("signatureExpiry(%q) = %d", s, v)
		}
	})
}

func TestConfirmationsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newConfirmations(5*time.Minute, 100)
	far := now.Add(time.Hour).Unix()
	k := confirmKey("v2/aaaaa-gj3su-000000000000001/salted", "loc")
	assert.NotEqual(t, k, confirmKey("v2/aaaaa-gj3su-000000000000001/salted", "loc2"))
	c.add(k, far, now)
	assert.True(t, c.ok(k, now.Add(4*time.Minute)))
	assert.False(t, c.ok(k, now.Add(5*time.Minute)), "the token refresh bounds it")
	c.add(k, now.Add(time.Minute).Unix(), now)
	assert.False(t, c.ok(k, now.Add(time.Minute)), "the signature's expiry bounds it")
	c.add(k, now.Add(-time.Second).Unix(), now)
	assert.False(t, c.ok(k, now), "an expired signature is never remembered")
	for i := 0; i < 1000; i++ {
		c.add(confirmKey("t", strings.Repeat("x", i)), far, now)
		assert.LessOrEqual(t, c.len(), 100)
	}
	assert.True(t, c.ok(confirmKey("t", strings.Repeat("x", 999)), now), "the newest stays")
}
