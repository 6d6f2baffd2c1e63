package keepfed

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepfed/keepfed/internal/testvectors"
	"github.com/keepfed/keepfed/signing"
)

var loadVectors = testvectors.Load

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
	loadVectors(t, "signatures.json", &v)
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

type validatorFunc = TokenValidatorFunc

func TestPutAndGetLocal(t *testing.T) {
	userToken := "v2/zzzzz-gj3su-000000000000001/usersecret"
	validator := validatorFunc(func(_ context.Context, tok string) (bool, error) { return tok == userToken, nil })
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{TokenValidator: validator})
	data := []byte("foo")
	hash := md5hex(data)

	tests := []struct {
		name, path, token string
		body              []byte
		status            int
		contains          string
	}{
		{"no token", hash, "", data, 401, "no token"},
		{"unknown token", hash, "v2/zzzzz-gj3su-000000000000002/nope", data, 403, "not allowed"},
		{"md5 mismatch", hash, testRootToken, []byte("bar"), 422, "did not match"},
		{"size mismatch", hash + "+4", testRootToken, data, 422, "size"},
		{"bad locator", hash + "++", testRootToken, data, 400, "invalid locator"},
		{"too large by hint", hash + "+67108865", testRootToken, data, 413, "larger"},
		{"validator token", hash + "+3", userToken, data, 200, ""},
		{"root token", hash, testRootToken, data, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, http.MethodPut, tc.url+"/"+tt.path, tt.token, tt.body)
			if tt.status != 200 {
				assertJSONError(t, r, tt.status, tt.contains)
				return
			}
			require.Equal(t, 200, r.status, string(r.body))
			assert.Equal(t, "1", r.header.Get("X-Keep-Replicas-Stored"))
			loc := strings.TrimSuffix(string(r.body), "\n")
			assert.True(t, strings.HasSuffix(string(r.body), "\n"))
			require.NoError(t, tc.srv.KeyRing().Verify(loc, tt.token, time.Now().Unix()))
			assert.True(t, strings.HasPrefix(loc, hash+"+3+A"), loc)
		})
	}
	// a failed PUT stored nothing
	other := []byte("never stored")
	do(t, http.MethodPut, tc.url+"/"+md5hex(other), testRootToken, []byte("x"))
	_, err := os.Stat(tc.srv.Volume().BlockPath(md5hex(other)))
	assert.True(t, os.IsNotExist(err))
	_, err = os.Stat(filepath.Join(tc.cfg.KeepFed.DataDir, "keep", hash[:3], hash))
	require.NoError(t, err, "directory layout <DataDir>/keep/<3 hex>/<md5>")

	signed := tc.srv.KeyRing().Sign(hash+"+3", testRootToken, time.Now().Add(time.Hour))
	expired := tc.srv.KeyRing().Sign(hash+"+3", testRootToken, time.Now().Add(-time.Hour))
	missing := md5hex([]byte("missing"))
	signedMissing := tc.srv.KeyRing().Sign(missing+"+7", testRootToken, time.Now().Add(time.Hour))
	reads := []struct {
		name, method, path, token string
		status                    int
		body                      string
	}{
		{"get ok", "GET", signed, testRootToken, 200, "foo"},
		{"head ok", "HEAD", signed, testRootToken, 200, ""},
		{"no token", "GET", signed, "", 401, ""},
		{"wrong token", "GET", signed, "other", 400, ""},
		{"expired", "GET", expired, testRootToken, 401, ""},
		{"unsigned", "GET", hash + "+3", testRootToken, 400, ""},
		{"no size", "GET", hash + strings.TrimPrefix(signed, hash+"+3"), testRootToken, 405, ""},
		{"bad locator", "GET", hash + "+3++A", testRootToken, 400, ""},
		{"not found", "GET", signedMissing, testRootToken, 404, ""},
		{"empty block", "GET", tc.srv.KeyRing().Sign(signing.EmptyBlockLocator, testRootToken, time.Now().Add(time.Hour)), testRootToken, 200, ""},
	}
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, tc.url+"/"+tt.path, tt.token, nil)
			if tt.status != 200 {
				assertJSONError(t, r, tt.status, "")
			} else {
				assert.Equal(t, 200, r.status)
				assert.Equal(t, tt.body, string(r.body))
				require.NoError(t, r.readErr)
			}
			assert.Equal(t, "X-Keep-Signature", r.header.Get("Vary"))
			assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
			if tt.name == "head ok" {
				assert.Equal(t, "3", r.header.Get("Content-Length"))
			}
		})
	}
	r := do(t, http.MethodOptions, tc.url+"/"+signed, "", nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "GET, HEAD, PUT, OPTIONS", r.header.Get("Access-Control-Allow-Methods"))
	assert.Empty(t, r.body)
}

func TestLocalReadCorruptData(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	data := make([]byte, 3*streamBufSize+1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	loc := tc.putBlock(t, data)
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	require.NoError(t, os.WriteFile(tc.srv.Volume().BlockPath(md5hex(data)), bad, 0o600))

	r := do(t, http.MethodGet, tc.url+"/"+loc, testRootToken, nil)
	assert.Equal(t, 200, r.status)
	assert.Error(t, r.readErr, "the connection is cut")
	assert.Less(t, len(r.body), len(data))
	r = do(t, http.MethodHead, tc.url+"/"+loc, testRootToken, nil)
	assert.Equal(t, 502, r.status)
}

func TestPutTooLarge(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	big := make([]byte, MaxBlockSize+1)
	r := do(t, http.MethodPut, tc.url+"/"+md5hex(big), testRootToken, big)
	assertJSONError(t, r, 413, "larger")
}

func TestKeyRotation(t *testing.T) {
	cfg := testConfig(t, "zzzzz")
	oldKey := cfg.Collections.BlobSigningKey
	tc := startCluster(t, cfg, Options{})
	loc := tc.putBlock(t, []byte("rotate me"))
	tc.stop()

	cases := []struct {
		name     string
		previous []string
		status   int
	}{
		{"old key kept as previous", []string{oldKey}, 200},
		{"old key dropped", nil, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg2 := testConfig(t, "zzzzz")
			cfg2.KeepFed.DataDir = cfg.KeepFed.DataDir
			cfg2.Collections.BlobSigningKey = "a-brand-new-key-0123456789abcdefghijklmnopqrstuvwxyz"
			cfg2.KeepFed.PreviousBlobSigningKeys = c.previous
			tc2 := startCluster(t, cfg2, Options{})
			r := do(t, http.MethodGet, tc2.url+"/"+loc, testRootToken, nil)
			assert.Equal(t, c.status, r.status, string(r.body))
			// new signatures use the new key only
			fresh := tc2.putBlock(t, []byte("rotate me"))
			assert.Error(t, signing.NewKeyRing(cfg.Collections.BlobSigningTTL.D(), []byte(oldKey)).Verify(fresh, testRootToken, time.Now().Unix()))
		})
	}
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
