package keepfed

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const userToken = "v2/aaaaa-gj3su-000000000000001/usersecretusersecretusersecret"

// fedUsers is the home cluster's token validator in these tests (a +R
// read needs a token the home cluster validates): every token but those
// that say "unknown", so that the checks after it (salting, the remote's
// signature) are what these tests see.
var fedUsers = validatorFunc(func(_ context.Context, tok string) (bool, error) {
	return !strings.Contains(tok, "unknown"), nil
})

// remoteLocator returns the "+R" locator cluster "home" hands its user for
// a block stored at remote cluster id with key ring: signed by the remote
// for the user's token salted for it, +A turned into +R.
func remoteLocator(t testing.TB, ring *signing.KeyRing, id string, data []byte, token string) string {
	t.Helper()
	salted, err := signing.SaltToken(token, id)
	require.NoError(t, err)
	signed := ring.Sign(md5hex(data)+"+"+itoa(len(data)), salted, time.Now().Add(time.Hour))
	return string(signing.AppendToRemote(nil, signed, id))
}

// federation starts remote cluster bbbbb (a real keepfed) and home cluster
// aaaaa that knows it.
func federation(t testing.TB, mutate func(*config.ClusterConfig)) (home, remote *testCluster) {
	remote = startCluster(t, testConfig(t, "bbbbb"), Options{})
	cfg := testConfig(t, "aaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
		"bbbbb": {Host: strings.TrimPrefix(remote.url, "http://"), Scheme: "http"},
	}
	if mutate != nil {
		mutate(cfg)
	}
	home = startCluster(t, cfg, Options{TokenValidator: fedUsers})
	return home, remote
}

func TestFederatedRead(t *testing.T) {
	home, remote := federation(t, nil)
	data := make([]byte, 1<<20+17)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	remote.putBlock(t, data)
	loc := remoteLocator(t, remote.srv.KeyRing(), "bbbbb", data, userToken)

	r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status, string(r.body))
	require.NoError(t, r.readErr)
	assert.Equal(t, data, r.body)
	assert.Equal(t, "X-Keep-Signature", r.header.Get("Vary"))
	assert.Empty(t, r.header.Get("X-Keep-Locator"))

	r = do(t, http.MethodHead, home.url+"/"+loc, userToken, nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, itoa(len(data)), r.header.Get("Content-Length"))

	// the token is salted: the remote's signature is for the salted token,
	// so the raw token would be refused (the remote never sees it)
	r = do(t, http.MethodGet, home.url+"/"+loc, "v2/aaaaa-gj3su-000000000000002/anothersecretanothersecret", nil)
	assertJSONError(t, r, 403, "bbbbb")

	// statuses of the remote path
	other := remoteLocator(t, remote.srv.KeyRing(), "bbbbb", []byte("not stored there"), userToken)
	cases := []struct {
		name, method, loc, token string
		status                   int
		contains                 string
	}{
		{"remote 404", "GET", other, userToken, 404, "bbbbb"},
		{"head remote 404", "HEAD", other, userToken, 404, ""},
		{"no token", "GET", loc, "", 401, "no token"},
		{"token unknown at home", "GET", loc, "v2/aaaaa-gj3su-000000000000003/unknownunknownunknownunknown", 403, "not valid on this cluster"},
		{"head token unknown at home", "HEAD", loc, "v2/aaaaa-gj3su-000000000000003/unknownunknownunknownunknown", 403, ""},
		{"unknown cluster", "GET", strings.Replace(loc, "+Rbbbbb-", "+Rccccc-", 1), userToken, 400, "remote cluster not configured"},
		{"v1 token", "GET", loc, "abcdefghijklmnopqrstuvwxyz0123456789abcdefghij", 400, "obsolete"},
		{"salted token for another cluster", "GET", loc, "v2/ccccc-gj3su-000000000000001/0123456789012345678901234567890123456789", 403, "salted"},
		{"expired at remote", "GET", expiredRemote(t, remote, data), userToken, 403, "bbbbb"},
		{"get without size", "GET", md5hex(data) + loc[strings.Index(loc, "+R"):], userToken, 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, home.url+"/"+c.loc, c.token, nil)
			if c.method == http.MethodHead {
				assert.Equal(t, c.status, r.status)
				return
			}
			assertJSONError(t, r, c.status, c.contains)
		})
	}

	// metrics per remote cluster
	r = do(t, http.MethodGet, home.url+"/metrics", testMgmtToken, nil)
	require.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), `keepfed_remote_requests_total{cluster="bbbbb"}`)
	assert.Contains(t, string(r.body), `keepfed_remote_errors_total{cluster="bbbbb",class="not_found"}`)
	assert.Contains(t, string(r.body), `keepfed_remote_request_duration_seconds_bucket{cluster="bbbbb",le="+Inf"}`)
	assert.Contains(t, string(r.body), `keepfed_remote_bytes_total{cluster="bbbbb"} `)
	assert.NotContains(t, home.logs.String(), "usersecret")
}

func expiredRemote(t testing.TB, remote *testCluster, data []byte) string {
	salted, err := signing.SaltToken(userToken, "bbbbb")
	require.NoError(t, err)
	signed := remote.srv.KeyRing().Sign(md5hex(data)+"+"+itoa(len(data)), salted, time.Now().Add(-time.Hour))
	return string(signing.AppendToRemote(nil, signed, "bbbbb"))
}

func TestFederatedReadLocalCopy(t *testing.T) {
	home, remote := federation(t, nil)
	data := []byte(strings.Repeat("local copy please ", 10000))
	remote.putBlock(t, data)
	loc := remoteLocator(t, remote.srv.KeyRing(), "bbbbb", data, userToken)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			os.Remove(home.srv.Volume().BlockPath(md5hex(data)))
			r := do(t, method, home.url+"/"+loc, userToken, nil, "X-Keep-Signature", "local, time=2026-01-01T00:00:00Z")
			require.Equal(t, 200, r.status, string(r.body))
			if method == http.MethodGet {
				assert.Equal(t, data, r.body)
			}
			local := r.header.Get("X-Keep-Locator")
			require.NotEmpty(t, local)
			assert.True(t, strings.HasPrefix(local, md5hex(data)+"+"+itoa(len(data))+"+A"), local)
			require.NoError(t, home.srv.KeyRing().Verify(local, userToken, time.Now().Unix()))
			stored, err := os.ReadFile(home.srv.Volume().BlockPath(md5hex(data)))
			require.NoError(t, err)
			assert.Equal(t, data, stored)
			r = do(t, http.MethodGet, home.url+"/"+local, userToken, nil)
			assert.Equal(t, 200, r.status)
			assert.Equal(t, data, r.body)
		})
	}
	// only exactly "local" before the first comma asks for a copy
	for _, v := range []string{"Local", "locally", "remote, local", "local;x"} {
		r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil, "X-Keep-Signature", v)
		assert.Equal(t, 200, r.status)
		assert.Empty(t, r.header.Get("X-Keep-Locator"), v)
	}
}

// misbehaving sets up home cluster aaaaa whose remote ccccc is a fake
// cluster with one fake keep service in the given mode.
func misbehaving(t testing.TB, data []byte, mode string) (*testCluster, *fakeCluster, *fakeKeep, string) {
	fk := newFakeKeep(t, "ccccc-bi6l4-000000000000001", data, mode)
	svc := fk.service()
	if mode == modeRefused {
		svc.Port = closedPort(t)
	}
	fc := newFakeCluster(t, svc)
	cfg := testConfig(t, "aaaaa")
	cfg.API.KeepServiceRequestTimeout = config.Duration(300 * time.Millisecond)
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"ccccc": {Host: fc.host(), Scheme: "http"}}
	home := startCluster(t, cfg, Options{TokenValidator: fedUsers})
	ring := signing.NewKeyRing(time.Hour, []byte("fake"))
	return home, fc, fk, remoteLocator(t, ring, "ccccc", data, userToken)
}

func TestMisbehavingRemote(t *testing.T) {
	data := make([]byte, 2*blocks.HoldBack+4321)
	for i := range data {
		data[i] = byte(i ^ i>>8)
	}
	type want struct {
		status int  // response status
		cut    bool // 200 but the body is cut short
	}
	cases := []struct {
		mode            string
		get, head, copy want
	}{
		{modeOK, want{200, false}, want{200, false}, want{200, false}},
		{modeRefused, want{502, false}, want{502, false}, want{502, false}},
		{modeStallH, want{502, false}, want{502, false}, want{502, false}},
		{modeStall, want{200, true}, want{200, false}, want{502, false}},
		{modeReset, want{200, true}, want{200, false}, want{502, false}},
		{modeShort, want{200, true}, want{200, false}, want{502, false}},
		{modeFlip, want{200, true}, want{200, false}, want{502, false}},
		{mode5xx, want{502, false}, want{502, false}, want{502, false}},
		{mode404, want{404, false}, want{404, false}, want{404, false}},
		{mode403, want{403, false}, want{403, false}, want{403, false}},
		{modeBadLen, want{502, false}, want{502, false}, want{502, false}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			home, _, _, loc := misbehaving(t, data, c.mode)
			check := func(name string, w want, r result) {
				t.Helper()
				require.Equal(t, w.status, r.status, "%s: %s", name, r.body)
				switch {
				case w.status != 200:
					if !strings.HasPrefix(name, "head") {
						assertJSONError(t, r, w.status, "ccccc")
					}
				case w.cut:
					assert.Error(t, r.readErr, name)
					assert.Less(t, len(r.body), len(data), name)
					assert.LessOrEqual(t, len(r.body), len(data)-blocks.HoldBack, "%s: the tail is held back", name)
				default:
					assert.NoError(t, r.readErr, name)
					if name == "get" {
						assert.Equal(t, data, r.body)
					}
				}
			}
			check("get", c.get, do(t, http.MethodGet, home.url+"/"+loc, userToken, nil))
			// HEAD is forwarded as a HEAD (the fake answers headers only)
			check("head", c.head, do(t, http.MethodHead, home.url+"/"+loc, userToken, nil))
			r := do(t, http.MethodHead, home.url+"/"+loc, userToken, nil, "X-Keep-Signature", "local")
			check("head+local", c.copy, r)
			_, err := os.Stat(home.srv.Volume().BlockPath(md5hex(data)))
			if c.copy.status == 200 {
				assert.NoError(t, err, "copy stored")
				assert.NotEmpty(t, r.header.Get("X-Keep-Locator"))
			} else {
				assert.True(t, os.IsNotExist(err), "nothing stored")
			}
			if c.get.cut {
				// a local copy is verified and stored before the headers:
				// a corrupt remote is a clean 502, never a cut body after
				// a signed X-Keep-Locator
				r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil, "X-Keep-Signature", "local")
				assertJSONError(t, r, 502, "ccccc")
				assert.Empty(t, r.header.Get("X-Keep-Locator"))
				_, err := os.Stat(home.srv.Volume().BlockPath(md5hex(data)))
				assert.True(t, os.IsNotExist(err), "a corrupt copy is never stored")
			}
		})
	}
}

func TestUnknownRemoteContactsNothing(t *testing.T) {
	home, fc, fk, loc := misbehaving(t, []byte("x"), modeOK)
	for _, l := range []string{
		strings.Replace(loc, "+Rccccc-", "+Rddddd-", 1), // not configured
		strings.Replace(loc, "+Rccccc-", "+RCCCCC-", 1), // malformed id
		strings.Replace(loc, "+Rccccc-", "+Rcc.cc-", 1), // malformed id
		strings.Replace(loc, "+Rccccc-", "+Rccccc_", 1), // not a remote hint
		strings.Replace(loc, "+Rccccc-", "+Raaaaa-", 1), // ourselves
	} {
		r := do(t, http.MethodGet, home.url+"/"+l, userToken, nil)
		assert.Equal(t, 400, r.status, l)
	}
	assert.Zero(t, fc.discoveries.Load())
	assert.Zero(t, fk.hits.Load())
}

func TestFailoverInProbeOrder(t *testing.T) {
	data := []byte("failover")
	var mu sync.Mutex
	var hits []string
	record := func(uuid string) { mu.Lock(); hits = append(hits, uuid); mu.Unlock() }
	modes := []string{mode5xx, modeOK, modeOK, mode5xx}
	var svcs []remotes.KeepService
	for i, m := range modes {
		fk := newFakeKeep(t, "ccccc-bi6l4-00000000000000"+itoa(i), data, m)
		fk.onHit = record
		svcs = append(svcs, fk.service())
	}
	// one more that refuses connections
	svcs = append(svcs, remotes.KeepService{UUID: "ccccc-bi6l4-000000000000009", Host: "127.0.0.1", Port: closedPort(t)})
	fc := newFakeCluster(t, svcs...)
	cfg := testConfig(t, "aaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"ccccc": {Host: fc.host(), Scheme: "http"}}
	home := startCluster(t, cfg, Options{TokenValidator: fedUsers})
	loc := remoteLocator(t, signing.NewKeyRing(time.Hour, []byte("k")), "ccccc", data, userToken)

	order := append([]remotes.KeepService(nil), svcs...)
	remotes.SortProbeOrder(md5hex(data), order)
	var want []string
	for _, s := range order {
		if s.UUID == "ccccc-bi6l4-000000000000009" {
			continue // refused: never reaches a handler
		}
		want = append(want, s.UUID)
		if s.UUID == "ccccc-bi6l4-000000000000001" || s.UUID == "ccccc-bi6l4-000000000000002" {
			break
		}
	}
	r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, data, r.body)
	mu.Lock()
	assert.Equal(t, want, hits, "services tried in probe order until the first success")
	mu.Unlock()
}

func TestDiscoveryCaching(t *testing.T) {
	data := []byte("cache me")
	cases := []struct {
		name      string
		ttl       time.Duration
		sleep     time.Duration
		wantDisc  int64
		breakFake bool
	}{
		{"cached within ttl", time.Hour, 0, 1, false},
		// a TTL well above what three reads take on a loaded machine,
		// so that only the sleep outlasts it
		{"refreshed after ttl", time.Second, 1200 * time.Millisecond, 2, false},
		{"refreshed after a failure", time.Hour, 0, 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fk := newFakeKeep(t, "ccccc-bi6l4-000000000000001", data, modeOK)
			good := fk.service()
			fc := newFakeCluster(t, good)
			if c.breakFake {
				bad := good
				bad.Port = closedPort(t)
				fc.services = []remotes.KeepService{bad}
			}
			cfg := testConfig(t, "aaaaa")
			cfg.KeepFed.DiscoveryTTL = config.Duration(c.ttl)
			cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"ccccc": {Host: fc.host(), Scheme: "http"}}
			home := startCluster(t, cfg, Options{TokenValidator: fedUsers})
			loc := remoteLocator(t, signing.NewKeyRing(time.Hour, []byte("k")), "ccccc", data, userToken)
			r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil)
			if c.breakFake {
				assert.Equal(t, 502, r.status)
				fc.mu.Lock()
				fc.services = []remotes.KeepService{good}
				fc.mu.Unlock()
			} else {
				assert.Equal(t, 200, r.status)
			}
			time.Sleep(c.sleep)
			for i := 0; i < 3; i++ {
				r = do(t, http.MethodGet, home.url+"/"+loc, userToken, nil)
				assert.Equal(t, 200, r.status)
			}
			assert.Equal(t, c.wantDisc, fc.discoveries.Load())
		})
	}
}

func TestV1TokenUpgradeHook(t *testing.T) {
	home0, remote := federation(t, nil)
	home0.stop()
	v1 := "abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
	up := upgraderFunc(func(_ context.Context, tok string) (string, bool, error) {
		if tok == v1 {
			return userToken, true, nil
		}
		return "", false, nil
	})
	cfg := testConfig(t, "aaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"bbbbb": {Host: strings.TrimPrefix(remote.url, "http://"), Scheme: "http"}}
	home := startCluster(t, cfg, Options{TokenUpgrader: up, TokenValidator: fedUsers})
	data := []byte("upgraded")
	remote.putBlock(t, data)
	loc := remoteLocator(t, remote.srv.KeyRing(), "bbbbb", data, userToken)
	r := do(t, http.MethodGet, home.url+"/"+loc, v1, nil)
	assert.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, data, r.body)
	r = do(t, http.MethodGet, home.url+"/"+loc, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", nil)
	assertJSONError(t, r, 400, "obsolete")
}

type upgraderFunc func(ctx context.Context, token string) (string, bool, error)

func (f upgraderFunc) UpgradeV1(ctx context.Context, token string) (string, bool, error) {
	return f(ctx, token)
}

func TestStreamHoldsConcurrencySlot(t *testing.T) {
	data := make([]byte, 2*blocks.HoldBack+1)
	fk := newFakeKeep(t, "ccccc-bi6l4-000000000000001", data, modeStall)
	fc := newFakeCluster(t, fk.service())
	cfg := testConfig(t, "aaaaa")
	cfg.API.MaxConcurrentRequests = 1
	cfg.API.KeepServiceRequestTimeout = config.Duration(time.Second)
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"ccccc": {Host: fc.host(), Scheme: "http"}}
	home := startCluster(t, cfg, Options{TokenValidator: fedUsers})
	loc := remoteLocator(t, signing.NewKeyRing(time.Hour, []byte("k")), "ccccc", data, userToken)

	done := make(chan result, 1)
	go func() { done <- do(t, http.MethodGet, home.url+"/"+loc, userToken, nil) }()
	deadline := time.Now().Add(900 * time.Millisecond)
	for fk.hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	r := do(t, http.MethodGet, home.url+"/arvados/v1/keep_services/accessible", "", nil)
	assert.Equal(t, 503, r.status, "the streaming request still holds the only slot")
	r = <-done
	assert.Error(t, r.readErr, "the stalled stream is cut")
	r = do(t, http.MethodGet, home.url+"/arvados/v1/keep_services/accessible", "", nil)
	assert.Equal(t, 200, r.status, "the slot is free again")
	assert.Contains(t, home.logs.String(), "block stream failed")
}

func TestDiscoveryCoalesced(t *testing.T) {
	data := []byte("many at once")
	fk := newFakeKeep(t, "ccccc-bi6l4-000000000000001", data, modeOK)
	fc := newFakeCluster(t, fk.service())
	cfg := testConfig(t, "aaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"ccccc": {Host: fc.host(), Scheme: "http"}}
	home := startCluster(t, cfg, Options{TokenValidator: fedUsers})
	loc := remoteLocator(t, signing.NewKeyRing(time.Hour, []byte("k")), "ccccc", data, userToken)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, http.MethodGet, home.url+"/"+loc, userToken, nil)
			assert.Equal(t, 200, r.status)
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), fc.discoveries.Load(), "concurrent first requests share one discovery")
	assert.Equal(t, int64(8), fk.hits.Load())
}
