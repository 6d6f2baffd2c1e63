package keepfed

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// identClock is a settable clock for the identity layer's cache.
type identClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *identClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *identClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// identCluster is a keepfed with the embedded identity layer and records
// API, listening on 127.0.0.1.
type identCluster struct {
	cfg   *config.ClusterConfig
	srv   *Server
	id    *identity.Identity
	st    *store.Store
	url   string
	clock *identClock
}

// identListen reserves a loopback port, so that clusters can name each
// other in RemoteClusters before they start.
func identListen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// identStart starts cluster id on ln; mutate adjusts its config first.
func identStart(t testing.TB, clusterID string, ln net.Listener, mutate func(*config.ClusterConfig)) *identCluster {
	t.Helper()
	cfg := testConfig(t, clusterID)
	cfg.KeepFed.Listen = ln.Addr().String()
	cfg.KeepFed.ExternalURL = "http://" + ln.Addr().String()
	if mutate != nil {
		mutate(cfg)
	}
	st, err := identity.OpenEmbeddedStore(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	ic := &identCluster{cfg: cfg, st: st, url: cfg.KeepFed.ExternalURL, clock: &identClock{t: time.Now()}}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ic.id, err = identity.New(cfg, identity.Options{Store: st, Logger: log, Now: ic.clock.now})
	require.NoError(t, err)
	ic.srv, err = New(cfg, Options{Logger: log, TokenValidator: ic.id, TokenUpgrader: ic.id})
	require.NoError(t, err)
	ic.srv.EnableEmbeddedIdentity(ic.id)
	done := make(chan error, 1)
	go func() { done <- ic.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ic.srv.Shutdown(ctx) //nolint:errcheck // test cleanup
		<-done
	})
	return ic
}

// identPeers starts two clusters that know each other; mutate adjusts
// each config.
func identPeers(t testing.TB, a, b string, mutate func(*config.ClusterConfig)) (*identCluster, *identCluster) {
	t.Helper()
	la, lb := identListen(t), identListen(t)
	remotes := func(cfg *config.ClusterConfig) {
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
			a: {Host: la.Addr().String(), Scheme: "http", Proxy: true},
			b: {Host: lb.Addr().String(), Scheme: "http", Proxy: true},
		}
		if mutate != nil {
			mutate(cfg)
		}
	}
	return identStart(t, a, la, remotes), identStart(t, b, lb, remotes)
}

// newUserToken creates a local user and a token for it.
func (ic *identCluster) newUserToken(t testing.TB, email string) (store.User, string) {
	t.Helper()
	u, err := ic.st.CreateUser(email, false)
	require.NoError(t, err)
	tok, err := ic.st.CreateToken(u.UUID, nil)
	require.NoError(t, err)
	return u, tok.V2()
}

// getJSON sends a request and decodes a JSON object answer.
func identJSON(t testing.TB, r result) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), string(r.body))
	return m
}

func TestIdentityLocalTokens(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	u, v2 := a.newUserToken(t, "alice@example.com")
	v1 := signing.ParseToken(v2).Secret
	revokedUser, revoked := a.newUserToken(t, "rita@example.com")
	require.NoError(t, a.st.RevokeToken(signing.ParseToken(revoked).UUID))
	past := time.Now().Add(-time.Hour)
	expiredTok, err := a.st.CreateToken(u.UUID, &past)
	require.NoError(t, err)
	salted, err := signing.SaltToken(v2, "zzzzb")
	require.NoError(t, err)

	for _, tc := range []struct {
		name, token, query string
		status             int
		user               string
		apiTokenNull       bool
	}{
		{"v2", v2, "", 200, u.UUID, false},
		{"v1", v1, "", 200, u.UUID, false},
		{"root", testRootToken, "", 200, a.st.SystemUserUUID(), false},
		{"none", "", "", 401, "", false},
		{"garbage", "garbage", "", 401, "", false},
		{"wrong secret", "v2/" + signing.ParseToken(v2).UUID + "/" + strings.Repeat("x", 50), "", 401, "", false},
		{"revoked", revoked, "", 401, revokedUser.UUID, false},
		{"expired", expiredTok.V2(), "", 401, "", false},
		{"salted without remote", salted, "", 401, "", false},
		{"salted with remote", salted, "?remote=zzzzb", 200, u.UUID, true},
		{"salted for another remote", salted, "?remote=zzzzc", 401, "", false},
		{"raw with remote", v2, "?remote=zzzzb", 200, u.UUID, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodGet, a.url+"/arvados/v1/users/current"+tc.query, tc.token, nil)
			if tc.status != 200 {
				assertJSONError(t, r, tc.status, "Not logged in")
				return
			}
			require.Equal(t, 200, r.status, string(r.body))
			assert.Equal(t, tc.user, identJSON(t, r)["uuid"])
			r = do(t, http.MethodGet, a.url+"/arvados/v1/api_client_authorizations/current"+tc.query, tc.token, nil)
			require.Equal(t, 200, r.status, string(r.body))
			m := identJSON(t, r)
			assert.Equal(t, tc.user, m["owner_uuid"])
			assert.Equal(t, "arvados#apiClientAuthorization", m["kind"])
			if tc.apiTokenNull {
				assert.Nil(t, m["api_token"])
			} else {
				assert.NotEmpty(t, m["api_token"])
			}
		})
	}
}

// Salted tokens work at home only on the three GET routes of spec 2.4.
func TestIdentitySaltedRoutes(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	_, v2 := a.newUserToken(t, "alice@example.com")
	salted, err := signing.SaltToken(v2, "zzzzb")
	require.NoError(t, err)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/arvados/v1/users/current?remote=zzzzb", 200},
		{"GET", "/arvados/v1/api_client_authorizations/current?remote=zzzzb", 200},
		{"GET", "/arvados/v1/groups?remote=zzzzb", 200},
		{"GET", "/arvados/v1/collections?remote=zzzzb", 401},
		{"GET", "/arvados/v1/users?remote=zzzzb", 401},
		{"POST", "/arvados/v1/groups?remote=zzzzb", 401},
		{"GET", "/arvados/v1/groups", 401},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			r := do(t, tc.method, a.url+tc.path, salted, nil)
			assert.Equal(t, tc.status, r.status, string(r.body))
		})
	}
}

func TestIdentityFederation(t *testing.T) {
	a, b := identPeers(t, "zzzza", "zzzzb", func(cfg *config.ClusterConfig) {
		rc := cfg.RemoteClusters["zzzza"]
		rc.ActivateUsers = true
		cfg.RemoteClusters["zzzza"] = rc
	})
	u, tok := a.newUserToken(t, "alice@example.com")

	// A's token at B: validated at A, user mirrored with its own uuid.
	r := do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	require.Equal(t, 200, r.status, string(r.body))
	m := identJSON(t, r)
	assert.Equal(t, u.UUID, m["uuid"])
	assert.Equal(t, "alice@example.com", m["email"])
	assert.Equal(t, true, m["is_active"])
	mirrored, err := b.st.User(u.UUID)
	require.NoError(t, err)
	assert.True(t, mirrored.IsActive)
	assert.False(t, mirrored.IsAdmin)
	hits := a.id.CurrentHits()
	assert.Equal(t, int64(2), hits, "token and user asked once each")

	// Cached: no more requests at A, whatever route at B.
	for _, p := range []string{"/arvados/v1/users/current", "/arvados/v1/api_client_authorizations/current", "/arvados/v1/collections"} {
		r = do(t, http.MethodGet, b.url+p, tok, nil)
		require.Equal(t, 200, r.status, p+": "+string(r.body))
	}
	assert.Equal(t, hits, a.id.CurrentHits())
	// B answers the token record without a secret.
	r = do(t, http.MethodGet, b.url+"/arvados/v1/api_client_authorizations/current", tok, nil)
	m = identJSON(t, r)
	assert.Equal(t, signing.ParseToken(tok).UUID, m["uuid"])
	assert.Nil(t, m["api_token"])

	// The already-salted form (as another peer would forward it) works too
	// and is sent as it is.
	salted, err := signing.SaltToken(tok, "zzzzb")
	require.NoError(t, err)
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", salted, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, hits+2, a.id.CurrentHits())

	// Block writes at B with A's token (an active user).
	data := []byte("federated block")
	r = do(t, http.MethodPut, b.url+"/"+md5hex(data), tok, data)
	assert.Equal(t, 200, r.status, string(r.body))

	// Cache expiry: B asks again after RemoteTokenRefresh.
	b.clock.advance(config.DefaultRemoteTokenRefresh + time.Second)
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, hits+4, a.id.CurrentHits())

	// Revocation at A: still cached at B until the refresh period ends,
	// then refused, and the entry is gone.
	require.NoError(t, a.st.RevokeToken(signing.ParseToken(tok).UUID))
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	assert.Equal(t, 200, r.status)
	b.clock.advance(config.DefaultRemoteTokenRefresh + time.Second)
	for range 2 {
		r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
		assertJSONError(t, r, 401, "Not logged in")
	}
	assert.Equal(t, hits+6, a.id.CurrentHits(), "a refused token is asked again, not cached")
	ok, err := b.id.ValidateToken(context.Background(), tok)
	require.NoError(t, err)
	assert.False(t, ok)

	// B's own tokens at A, in the other direction (not activated there).
	ub, tb := b.newUserToken(t, "bob@example.com")
	r = do(t, http.MethodGet, a.url+"/arvados/v1/users/current", tb, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, ub.UUID, identJSON(t, r)["uuid"])
	assert.Equal(t, false, identJSON(t, r)["is_active"])
	ok, err = a.id.ValidateToken(context.Background(), tb)
	require.NoError(t, err)
	assert.False(t, ok, "inactive mirrored user may not write blocks")

	// A's system user at B is "root from cluster zzzza", not an admin.
	rootTok, err := a.st.CreateToken(a.st.SystemUserUUID(), nil)
	require.NoError(t, err)
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", rootTok.V2(), nil)
	require.Equal(t, 200, r.status, string(r.body))
	m = identJSON(t, r)
	assert.Equal(t, a.st.SystemUserUUID(), m["uuid"])
	assert.Equal(t, "root from cluster zzzza", m["full_name"])
	assert.Equal(t, false, m["is_admin"])

	// A token of a cluster nobody knows: 401, nothing contacted.
	before := a.id.CurrentHits()
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", "v2/zzzzq-gj3su-000000000000001/"+strings.Repeat("s", 50), nil)
	assertJSONError(t, r, 401, "Not logged in")
	assert.Equal(t, before, a.id.CurrentHits())
}

// identFakeHome is a remote cluster's API written for the tests: it records the
// Authorization headers and answers as told.
type identFakeHome struct {
	srv    *httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	auths  []string
	status int
	// userStatus, when not 0, is the status of users/current alone.
	userStatus int
	token      string // token uuid to answer
	user       string // user uuid to answer
	delay      time.Duration
}

func newIdentFakeHome(t testing.TB, tokenUUID, userUUID string) *identFakeHome {
	f := &identFakeHome{status: 200, token: tokenUUID, user: userUUID}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		f.auths = append(f.auths, r.Header.Get("Authorization")+" "+r.URL.RawQuery)
		status, delay, tokenUUID, userUUID := f.status, f.delay, f.token, f.user
		if f.userStatus != 0 && r.URL.Path == "/arvados/v1/users/current" {
			status = f.userStatus
		}
		f.mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		if status != 200 {
			w.WriteHeader(status)
			writeJSON(w, map[string]any{"errors": []string{"home is broken"}})
			return
		}
		switch r.URL.Path {
		case "/arvados/v1/api_client_authorizations/current":
			writeJSON(w, map[string]any{"uuid": tokenUUID, "owner_uuid": userUUID, "api_token": nil, "scopes": []string{"all"}})
		case "/arvados/v1/users/current":
			writeJSON(w, map[string]any{"uuid": userUUID, "email": "h@example.com", "is_active": true, "is_admin": true})
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *identFakeHome) host() string { u, _ := url.Parse(f.srv.URL); return u.Host }

func (f *identFakeHome) set(status int) {
	f.mu.Lock()
	f.status = status
	f.mu.Unlock()
}

func (f *identFakeHome) lastAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auths) == 0 {
		return ""
	}
	return f.auths[len(f.auths)-1]
}

func TestIdentityRemoteFailures(t *testing.T) {
	home := newIdentFakeHome(t, "zzzzh-gj3su-000000000000001", "zzzzh-tpzed-000000000000001")
	dead := identListen(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	b := identStart(t, "zzzzb", identListen(t), func(cfg *config.ClusterConfig) {
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
			"zzzzh": {Host: home.host(), Scheme: "http"},
			"zzzzd": {Host: deadAddr, Scheme: "http"},
		}
	})
	tok := "v2/zzzzh-gj3su-000000000000001/" + strings.Repeat("a", 50)

	// 5xx: the remote's status and messages.
	home.set(503)
	r := do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	assert.Equal(t, 503, r.status, string(r.body))
	assert.JSONEq(t, `{"errors":["failed to validate remote token","home is broken"]}`, string(r.body))
	// 4xx: not logged in.
	home.set(403)
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	assertJSONError(t, r, 401, "Not logged in")
	// Unreachable: 502.
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", "v2/zzzzd-gj3su-000000000000001/"+strings.Repeat("a", 50), nil)
	assertJSONError(t, r, 502, "failed to validate remote token")
	// Success, sent salted for us.
	home.set(200)
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	require.Equal(t, 200, r.status, string(r.body))
	want, _ := signing.SaltToken(tok, "zzzzb")
	assert.Equal(t, "Bearer "+want+" remote=zzzzb", home.lastAuth())
	m := identJSON(t, r)
	assert.Equal(t, false, m["is_admin"], "never an admin here")
	assert.Equal(t, false, m["is_active"], "not activated without ActivateUsers")

	// users/current failing: the local copy of the user is used; a user
	// without one fails with the remote status.
	home.mu.Lock()
	home.userStatus = 500
	home.mu.Unlock()
	b.id.Forget()
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "zzzzh-tpzed-000000000000001", identJSON(t, r)["uuid"])
	home.mu.Lock()
	home.user = "zzzzh-tpzed-000000000000002"
	home.mu.Unlock()
	b.id.Forget()
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
	assertJSONError(t, r, 500, "failed to validate remote token")
	home.mu.Lock()
	home.userStatus = 0
	home.user = "zzzzh-tpzed-000000000000001"
	home.mu.Unlock()

	// Answers naming another cluster's uuids, or another token, are refused.
	for _, answer := range []string{"zzzzx-gj3su-000000000000001", "zzzzh-gj3su-000000000000002"} {
		home.mu.Lock()
		home.token = answer
		home.mu.Unlock()
		b.id.Forget()
		r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", tok, nil)
		assertJSONError(t, r, 401, "Not logged in")
	}
}

func TestIdentityCoalescing(t *testing.T) {
	home := newIdentFakeHome(t, "zzzzh-gj3su-000000000000001", "zzzzh-tpzed-000000000000001")
	home.delay = 100 * time.Millisecond
	b := identStart(t, "zzzzb", identListen(t), func(cfg *config.ClusterConfig) {
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"zzzzh": {Host: home.host(), Scheme: "http"}}
	})
	tok := "v2/zzzzh-gj3su-000000000000001/" + strings.Repeat("a", 50)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.id.Authenticate(tok, "")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(2), home.hits.Load(), "one validation (token + user) for 16 concurrent requests")
}

func TestIdentityLoginCluster(t *testing.T) {
	home := newIdentFakeHome(t, "zzzzl-gj3su-000000000000001", "zzzzl-tpzed-000000000000001")
	c := identStart(t, "zzzzc", identListen(t), func(cfg *config.ClusterConfig) {
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"zzzzl": {Host: home.host(), Scheme: "http", Proxy: true}}
		cfg.Login.LoginCluster = "zzzzl"
	})
	tok := "v2/zzzzl-gj3su-000000000000001/" + strings.Repeat("a", 50)
	r := do(t, http.MethodGet, c.url+"/arvados/v1/users/current", tok, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "Bearer "+tok+" remote=zzzzc", home.lastAuth(), "sent to the login cluster as is")
	m := identJSON(t, r)
	assert.Equal(t, "zzzzl-tpzed-000000000000001", m["uuid"])
	assert.Equal(t, true, m["is_active"], "activation forced for the login cluster's users")
	ok, err := c.id.ValidateToken(context.Background(), tok)
	require.NoError(t, err)
	assert.True(t, ok)

	// An opaque (OIDC-like) token is also the login cluster's to judge.
	_, err = c.id.Authenticate("opaque.jwt.token", "")
	require.NoError(t, err)
	assert.Equal(t, "Bearer opaque.jwt.token remote=zzzzc", home.lastAuth())

	_, local := c.newUserToken(t, "carol@example.com")
	for _, tc := range []struct {
		token string
		ok    bool
	}{
		{local, false},
		{"v2/zzzzc-gj3su-anonymouspublic/" + strings.Repeat("a", 30), true},
		{tok, true},
	} {
		err := c.id.CheckLoginClusterForward(tc.token)
		if tc.ok {
			assert.NoError(t, err)
		} else {
			assert.Equal(t, 401, request.StatusOf(err))
			assert.Contains(t, err.Error(), "cannot use a locally issued token to forward a request to our login cluster")
		}
	}
}

// A real keepfed as the login cluster: its tokens work at C, activated.
func TestIdentityLoginClusterPeers(t *testing.T) {
	l, c := identPeers(t, "zzzzl", "zzzzc", func(cfg *config.ClusterConfig) {
		cfg.Login.LoginCluster = "zzzzl"
	})
	u, tok := l.newUserToken(t, "lena@example.com")
	r := do(t, http.MethodGet, c.url+"/arvados/v1/users/current", tok, nil)
	require.Equal(t, 200, r.status, string(r.body))
	m := identJSON(t, r)
	assert.Equal(t, u.UUID, m["uuid"])
	assert.Equal(t, true, m["is_active"])
	data := []byte("written at C by a user of L")
	r = do(t, http.MethodPut, c.url+"/"+md5hex(data), tok, data)
	assert.Equal(t, 200, r.status, string(r.body))
	_, local := c.newUserToken(t, "carl@example.com")
	assert.Error(t, c.id.CheckLoginClusterForward(local))
	assert.NoError(t, c.id.CheckLoginClusterForward(tok))
}

func TestIdentityUpgradeAndValidate(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	_, v2 := a.newUserToken(t, "alice@example.com")
	v1 := signing.ParseToken(v2).Secret
	got, ok, err := a.id.UpgradeV1(context.Background(), v1)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, v2, got)
	for _, tok := range []string{strings.Repeat("q", 50), v2, "short"} {
		_, ok, err = a.id.UpgradeV1(context.Background(), tok)
		require.NoError(t, err)
		assert.False(t, ok, tok)
	}

	inactive, err := a.st.CreateUser("ina@example.com", false)
	require.NoError(t, err)
	_, err = a.st.Update(store.Users, inactive.UUID, store.Record{"is_active": false}, a.st.System())
	require.NoError(t, err)
	inTok, err := a.st.CreateToken(inactive.UUID, nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		token string
		ok    bool
	}{
		{v2, true}, {v1, true}, {testRootToken, true}, {inTok.V2(), false}, {"", false}, {"garbage", false},
	} {
		ok, err := a.id.ValidateToken(context.Background(), tc.token)
		require.NoError(t, err)
		assert.Equal(t, tc.ok, ok, tc.token)
	}

	// Block PUT through the server's blocks.TokenValidator.
	data := []byte("local user block")
	r := do(t, http.MethodPut, a.url+"/"+md5hex(data), v2, data)
	assert.Equal(t, 200, r.status, string(r.body))
	r = do(t, http.MethodPut, a.url+"/"+md5hex(data), inTok.V2(), data)
	assert.Equal(t, 403, r.status, string(r.body))
}

func TestIdentityUpstreamBackend(t *testing.T) {
	up := newIdentFakeHome(t, "zzzzu-gj3su-000000000000001", "zzzzu-tpzed-000000000000001")
	cfg := testConfig(t, "zzzzu")
	cfg.KeepFed.Backend = "arvados"
	cfg.KeepFed.Upstream = up.srv.URL
	clock := &identClock{t: time.Now()}
	id, err := identity.New(cfg, identity.Options{Now: clock.now})
	require.NoError(t, err)
	tok := "v2/zzzzu-gj3su-000000000000001/" + strings.Repeat("a", 50)
	for range 3 {
		ok, err := id.ValidateToken(context.Background(), tok)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Equal(t, int64(2), up.hits.Load(), "cached")
	assert.Equal(t, "Bearer "+tok+" ", up.lastAuth(), "sent as is")
	clock.advance(config.DefaultRemoteTokenRefresh + time.Second)
	up.set(401)
	ok, err := id.ValidateToken(context.Background(), tok)
	require.NoError(t, err)
	assert.False(t, ok)
	up.set(200)
	v1 := strings.Repeat("b", 50)
	v2, ok, err := id.UpgradeV1(context.Background(), v1)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v2/zzzzu-gj3su-000000000000001/"+v1, v2)
}

// A v1 token of B's user reads a block of A through B: B upgrades it to
// its v2 form and salts that for A (blocks.TokenUpgrader).
func TestIdentityV1UpgradeOnFederatedRead(t *testing.T) {
	a, b := identPeers(t, "zzzza", "zzzzb", nil)
	_, v2 := b.newUserToken(t, "bob@example.com")
	v1 := signing.ParseToken(v2).Secret
	data := []byte("block at A")
	a.putBlockRoot(t, data)
	salted, err := signing.SaltToken(v2, "zzzza")
	require.NoError(t, err)
	// What A's controller would hand out for A's block, rewritten to +R.
	signedAtA := a.srv.KeyRing().Sign(md5hex(data)+"+"+itoa(len(data)), salted, time.Now().Add(time.Hour))
	remoteLoc := strings.Replace(signedAtA, "+A", "+Rzzzza-", 1)
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"v1", v1, 200},
		{"v2", v2, 200},
		// a token this cluster cannot validate never drives a remote fetch
		{"unknown v1", strings.Repeat("z", 50), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodGet, b.url+"/"+remoteLoc, tc.token, nil)
			assert.Equal(t, tc.status, r.status, string(r.body))
			if tc.status == 200 {
				assert.Equal(t, data, r.body)
			}
		})
	}
}

func (ic *identCluster) putBlockRoot(t testing.TB, data []byte) {
	t.Helper()
	r := do(t, http.MethodPut, ic.url+"/"+md5hex(data), testRootToken, data)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
}

// BenchmarkIdentityCachedRemote measures a cache hit for a remote token,
// the per-request cost of federation after the first request.
func BenchmarkIdentityCachedRemote(b *testing.B) {
	home := newIdentFakeHome(b, "zzzzh-gj3su-000000000000001", "zzzzh-tpzed-000000000000001")
	c := identStart(b, "zzzzb", identListen(b), func(cfg *config.ClusterConfig) {
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"zzzzh": {Host: home.host(), Scheme: "http"}}
	})
	tok := "v2/zzzzh-gj3su-000000000000001/" + strings.Repeat("a", 50)
	_, err := c.id.Authenticate(tok, "")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.id.Authenticate(tok, ""); err != nil {
			b.Fatal(err)
		}
	}
}
