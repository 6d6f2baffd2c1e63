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

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/signing"
)

type validatorFunc = blocks.TokenValidatorFunc

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
	data := make([]byte, 3*blocks.HoldBack+1000)
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
	big := make([]byte, blocks.MaxBlockSize+1)
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
