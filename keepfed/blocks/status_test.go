package blocks

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/internal/testvectors"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type verifyVectors struct {
	Now    int64 `json:"verify_now_unix"`
	Verify []struct {
		ID         string `json:"id"`
		Locator    string `json:"locator"`
		Token      string `json:"token"`
		Key        string `json:"key"`
		TTLNanos   int64  `json:"ttl_nanoseconds"`
		GetStatus  int    `json:"keepstore_get_status"`
		HeadStatus int    `json:"keepstore_head_status"`
		Reason     string `json:"keepstore_reason"`
	} `json:"verify_cases"`
}

// TestBlockReadStatusVectors checks the status decision against every
// verify case, for GET and HEAD (0 = remote path).
func TestBlockReadStatusVectors(t *testing.T) {
	var v verifyVectors
	testvectors.Load(t, "signatures.json", &v)
	require.NotEmpty(t, v.Verify)
	for _, c := range v.Verify {
		ring := signing.NewKeyRing(time.Duration(c.TTLNanos), []byte(c.Key))
		get, reason := BlockReadStatus(http.MethodGet, c.Locator, c.Token, ring, true, v.Now)
		assert.Equal(t, c.GetStatus, get, "%s GET %s (%s)", c.ID, c.Locator, c.Reason)
		if c.GetStatus != 200 && c.GetStatus != 0 && !strings.HasPrefix(c.Reason, "GET:") {
			assert.Equal(t, c.Reason, reason, c.ID)
		}
		head, _ := BlockReadStatus(http.MethodHead, c.Locator, c.Token, ring, true, v.Now)
		assert.Equal(t, c.HeadStatus, head, "%s HEAD %s (%s)", c.ID, c.Locator, c.Reason)
	}
}

func TestBlockReadStatusSigningOff(t *testing.T) {
	ring := signing.NewKeyRing(time.Hour, []byte("k"))
	st, _ := BlockReadStatus(http.MethodGet, "acbd18db4cc2f85cedef654fccc4a4d8+3", "", ring, false, 0)
	assert.Equal(t, 200, st)
	st, _ = BlockReadStatus(http.MethodGet, "acbd18db4cc2f85cedef654fccc4a4d8+3", "", ring, true, 0)
	assert.Equal(t, 401, st)
}

func TestBlockReadStatusAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	ring := signing.NewKeyRing(time.Hour, []byte("key"))
	loc := ring.Sign("acbd18db4cc2f85cedef654fccc4a4d8+3", "tok", time.Unix(2e9, 0))
	allocs := testing.AllocsPerRun(100, func() {
		BlockReadStatus(http.MethodGet, loc, "tok", ring, true, 1.9e9)
	})
	assert.Zero(t, allocs)
}

func FuzzBlockReadStatus(f *testing.F) {
	ring := signing.NewKeyRing(time.Hour, []byte("fuzz-key"))
	f.Add("GET", "acbd18db4cc2f85cedef654fccc4a4d8+3", "tok")
	f.Add("HEAD", ring.Sign("acbd18db4cc2f85cedef654fccc4a4d8+3", "tok", time.Unix(2e9, 0)), "tok")
	f.Add("GET", "acbd18db4cc2f85cedef654fccc4a4d8+3+Rzzzzz-89118b78732c33104a4d6231e8b5a5fa1e4301e3@7fffffff", "")
	f.Add("GET", "acbd18db4cc2f85cedef654fccc4a4d8++", "")
	f.Add("GET", "", "")
	f.Fuzz(func(t *testing.T, method, locator, token string) {
		st, _ := BlockReadStatus(method, locator, token, ring, true, 1.9e9)
		switch st {
		case 0, 200, 400, 401, 405:
		default:
			t.Fatalf("unexpected status %d for %q", st, locator)
		}
		if st == 200 && token == "" {
			t.Fatalf("200 without a token for %q", locator)
		}
		if n, ok := sizeHint(locator); ok && n < 0 {
			t.Fatalf("negative size hint %d", n)
		}
		wantsLocalCopy([]byte(token))
	})
}
