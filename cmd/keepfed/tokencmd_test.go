package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runTokenCmd(args ...string) (int, string, string) {
	var out, errb lockedBuffer
	code := run(append([]string{"token"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

func tokenTestConfig(t *testing.T, dataDir, listen string) string {
	t.Helper()
	return writeConfig(t, `
Clusters:
  zzzzt:
    SystemRootToken: root-token-0123456789abcdefghijklmnopqrstuvwxyz
    ManagementToken: mgmt-token-for-token-tests
    Collections:
      BlobSigningKey: key-0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdef
    KeepFed:
      Listen: `+listen+`
      DataDir: `+dataDir+`
`)
}

// lookupTokens opens the store (no server running) and returns each
// token's user.
func lookupTokens(t *testing.T, dataDir string, tokens ...string) []store.User {
	t.Helper()
	st, err := store.Open(filepath.Join(dataDir, identity.EmbeddedStoreFile), "zzzzt")
	require.NoError(t, err)
	defer st.Close()
	var out []store.User
	for _, tok := range tokens {
		a, err := st.LookupToken(tok, "")
		require.NoError(t, err, tok)
		u, err := st.User(a.User.UUID)
		require.NoError(t, err)
		out = append(out, u)
	}
	return out
}

func TestTokenCreateWithoutServer(t *testing.T) {
	dataDir := t.TempDir()
	cfg := tokenTestConfig(t, dataDir, "127.0.0.1:1")
	var tokens []string
	for _, tc := range []struct {
		args  []string
		email string
		admin bool
	}{
		{nil, "root", true},
		{[]string{"-user", "ann@example.com"}, "ann@example.com", false},
		{[]string{"-user", "ann@example.com", "-admin"}, "ann@example.com", true},
		{[]string{"-user", "bo@example.com", "-ttl", "1h", "-cluster", "zzzzt"}, "bo@example.com", false},
	} {
		code, out, errOut := runTokenCmd(append([]string{"create", "-config", cfg}, tc.args...)...)
		require.Equal(t, 0, code, errOut)
		tok := strings.TrimSpace(out)
		assert.Regexp(t, `^v2/zzzzt-gj3su-[0-9a-z]{15}/[0-9a-z]{50}$`, tok)
		u := lookupTokens(t, dataDir, tok)[0]
		assert.Equal(t, tc.email, u.Email)
		assert.Equal(t, tc.admin, u.IsAdmin)
		tokens = append(tokens, tok)
	}
	assert.Len(t, tokens, 4)
}

func TestTokenCreateUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"list"}, 2, "usage"},
		{[]string{"create"}, 2, "usage"},
		{[]string{"create", "-config", "/nonexistent/config.yml"}, 1, "reading config"},
		{[]string{"create", "-bogus"}, 2, "flag provided but not defined"},
		{[]string{"create", "-config", "x", "-ttl", "-1h"}, 2, "negative"},
	} {
		code, _, errOut := runTokenCmd(tc.args...)
		assert.Equal(t, tc.code, code, tc.args)
		assert.Contains(t, errOut, tc.msg, tc.args)
	}
}

// With a server holding the store, the CLI asks it.
func TestTokenCreateWithRunningServer(t *testing.T) {
	dataDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	path := tokenTestConfig(t, dataDir, ln.Addr().String())
	cfg, _, err := config.LoadConfig(path, "")
	require.NoError(t, err)
	st, err := identity.OpenEmbeddedStore(cfg)
	require.NoError(t, err)
	defer st.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	id, err := identity.New(cfg, identity.Options{Store: st, Logger: log})
	require.NoError(t, err)
	srv, err := keepfed.New(cfg, keepfed.Options{Logger: log, TokenValidator: id, TokenUpgrader: id})
	require.NoError(t, err)
	srv.EnableEmbeddedIdentity(id)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // test cleanup
		<-done
	}()

	code, out, errOut := runTokenCmd("create", "-config", path, "-user", "cy@example.com", "-admin")
	require.Equal(t, 0, code, errOut)
	tok := strings.TrimSpace(out)
	a, err := st.LookupToken(tok, "")
	require.NoError(t, err)
	assert.Equal(t, "cy@example.com", a.User.Email)
	assert.True(t, a.User.IsAdmin)
	ok, err := id.ValidateToken(context.Background(), tok)
	require.NoError(t, err)
	assert.True(t, ok)
}
