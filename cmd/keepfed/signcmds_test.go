package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepfed/keepfed/internal/testvectors"
)

// runCLI runs the CLI in-process with the given environment.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb, getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

var loadVectors = testvectors.Load

func writeKey(t *testing.T, dir, name, key string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(key+"\n"), 0o600))
	return p
}

func TestCLISignVectors(t *testing.T) {
	var v struct {
		Sign []struct {
			ID, Key, Token, Locator, Expected string
			ExpiryUnix                        int64 `json:"expiry_unix"`
			TTL                               int64 `json:"ttl_nanoseconds"`
		} `json:"sign_cases"`
	}
	loadVectors(t, "signatures.json", &v)
	require.NotEmpty(t, v.Sign)
	dir := t.TempDir()
	for i, c := range v.Sign {
		t.Run(c.ID, func(t *testing.T) {
			kf := writeKey(t, dir, "k"+strconv.Itoa(i), c.Key)
			args := []string{"sign", "-key-file", kf, "-ttl", strconv.FormatInt(c.TTL, 10) + "ns",
				"-expiry", strconv.FormatInt(c.ExpiryUnix, 10), "-token", c.Token, "--", c.Locator}
			// the environment token must lose to -token, even an empty one
			code, out, errs := runCLI(t, map[string]string{"ARVADOS_API_TOKEN": "env-token"}, "", args...)
			require.Equal(t, 0, code, errs)
			assert.Equal(t, c.Expected+"\n", out)
		})
	}
}

func TestCLIVerifyVectors(t *testing.T) {
	var v struct {
		Now    int64 `json:"verify_now_unix"`
		Verify []struct {
			ID, Key, Token, Locator string
			TTL                     int64   `json:"ttl_nanoseconds"`
			ExpectedError           *string `json:"expected_error"`
		} `json:"verify_cases"`
	}
	loadVectors(t, "signatures.json", &v)
	require.NotEmpty(t, v.Verify)
	dir := t.TempDir()
	for i, c := range v.Verify {
		t.Run(c.ID, func(t *testing.T) {
			kf := writeKey(t, dir, "k"+strconv.Itoa(i), c.Key)
			want, wantCode := "ok", 0
			if c.ExpectedError != nil {
				want, wantCode = *c.ExpectedError, 1
			}
			// token from the environment this time
			code, out, errs := runCLI(t, map[string]string{"ARVADOS_API_TOKEN": c.Token}, "",
				"verify", "-key-file", kf, "-ttl", strconv.FormatInt(c.TTL, 10)+"ns", "-now", strconv.FormatInt(v.Now, 10), "--", c.Locator)
			assert.Equal(t, wantCode, code, errs)
			assert.Equal(t, want+"\n", out)
		})
	}
}

func TestCLISaltVectors(t *testing.T) {
	var v struct {
		Cases []struct {
			ID, Token, Remote string
			Expected          *string `json:"expected"`
			Error             *string `json:"error"`
		} `json:"cases"`
	}
	loadVectors(t, "salt.json", &v)
	require.NotEmpty(t, v.Cases)
	for _, c := range v.Cases {
		t.Run(c.ID, func(t *testing.T) {
			if c.Remote == "" {
				// -remote is required on the command line; the empty
				// remote is covered by the library test.
				code, _, _ := runCLI(t, nil, "", "salt", "-remote", "", "--", c.Token)
				assert.Equal(t, 2, code)
				return
			}
			code, out, errs := runCLI(t, map[string]string{"ARVADOS_API_TOKEN": c.Token}, "", "salt", "-remote", c.Remote)
			if c.Error != nil {
				assert.Equal(t, 1, code)
				assert.Equal(t, *c.Error+"\n", out)
				assert.True(t, strings.HasPrefix(errs, *c.Error+": "), errs)
				return
			}
			assert.Equal(t, 0, code, errs)
			assert.Equal(t, *c.Expected+"\n", out)
		})
	}
}

func TestCLIKeyRingAndConfig(t *testing.T) {
	dir := t.TempDir()
	const tok = "v2/zzzzz-gj3su-077z32aux8dg2s1/3kg6k6lzmp9kj5cpkcoxie963cmvjahbt2fod9zru30k1jqdmi"
	const loc = "acbd18db4cc2f85cedef654fccc4a4d8+3"
	oldKey := writeKey(t, dir, "old", "old-key-material")
	newKey := writeKey(t, dir, "new", "new-key-material")
	cfg := filepath.Join(dir, "config.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("Clusters:\n  zzzzz:\n    Collections:\n      BlobSigningKey: old-key-material\n      BlobSigningTTL: 336h\n    Services: {}\n"), 0o600))

	code, signedOld, errs := runCLI(t, nil, "", "sign", "-key-file", oldKey, "-token", tok, "-ttl", "336h", "-expiry", "2000000000", loc)
	require.Equal(t, 0, code, errs)
	signedOld = strings.TrimSpace(signedOld)
	// -config gives the same signature as the key file with the same TTL
	code, viaConfig, errs := runCLI(t, nil, "", "sign", "-config", cfg, "-token", tok, "-expiry", "2000000000", loc)
	require.Equal(t, 0, code, errs)
	assert.Equal(t, signedOld, strings.TrimSpace(viaConfig))

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"new key alone rejects old signature", []string{"-key-file", newKey}, 1, "invalid\n"},
		{"ring with previous key accepts it", []string{"-key-file", newKey, "-key-file", oldKey}, 0, "ok\n"},
		{"config key accepts it", []string{"-config", cfg}, 0, "ok\n"},
		{"after expiry", []string{"-key-file", oldKey, "-now", "2000000001"}, 1, "expired\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"verify", "-token", tok, "-ttl", "336h"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "-now") {
				args = append(args, "-now", "1900000000")
			}
			code, out, errs := runCLI(t, nil, "", append(args, signedOld)...)
			assert.Equal(t, tc.wantCode, code, errs)
			assert.Equal(t, tc.wantOut, out)
		})
	}
}

func TestCLIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	kf := writeKey(t, dir, "k", "key")
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
		{"sign without key", []string{"sign", "-ttl", "1h", "x"}},
		{"sign without ttl", []string{"sign", "-key-file", kf, "x"}},
		{"sign bad ttl", []string{"sign", "-key-file", kf, "-ttl", "fortnight", "x"}},
		{"sign bad expiry", []string{"sign", "-key-file", kf, "-ttl", "1h", "-expiry", "soon", "x"}},
		{"sign no locator", []string{"sign", "-key-file", kf, "-ttl", "1h"}},
		{"verify bad now", []string{"verify", "-key-file", kf, "-ttl", "1h", "-now", "x", "y"}},
		{"unknown flag", []string{"verify", "-bogus"}},
		{"salt without remote", []string{"salt", "tok"}},
		{"salt two tokens", []string{"salt", "-remote", "zzzzz", "a", "b"}},
		{"config and key file", []string{"sign", "-config", "x.yml", "-key-file", kf, "-ttl", "1h", "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, nil, "", tc.args...)
			assert.Equal(t, 2, code)
			assert.NotEmpty(t, errs)
		})
	}
	code, _, errs := runCLI(t, nil, "", "sign", "-key-file", filepath.Join(dir, "missing"), "-ttl", "1h", "x")
	assert.Equal(t, 1, code, "a missing key file is an error, not a usage error")
	assert.Contains(t, errs, "key file")
}
