package keepfed

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arvadosSetup starts an "upstream" (an embedded keepfed standing in for
// the local Arvados cluster: it lists itself as keep service and serves
// blocks like a keepstore, with the same signing key) and a keepfed of the
// same cluster with the arvados backend pointing at it.
func arvadosSetup(t *testing.T, mutate func(*config.ClusterConfig)) (arv, upstream *testCluster) {
	ucfg := testConfig(t, "zzzzz")
	if mutate != nil {
		mutate(ucfg)
	}
	upstream = startCluster(t, ucfg, Options{})
	cfg := testConfig(t, "zzzzz")
	cfg.KeepFed.Backend = "arvados"
	cfg.KeepFed.DataDir = ""
	cfg.KeepFed.Upstream = upstream.url
	if mutate != nil {
		mutate(cfg)
	}
	arv = startCluster(t, cfg, Options{})
	return arv, upstream
}

func TestArvadosBackend(t *testing.T) {
	arv, upstream := arvadosSetup(t, nil)
	data := []byte(strings.Repeat("stored upstream ", 70000))
	hash := md5hex(data)

	r := do(t, http.MethodPut, arv.url+"/"+hash, testRootToken, []byte("wrong data"))
	assertJSONError(t, r, 422, "did not match")
	_, err := os.Stat(upstream.srv.Volume().BlockPath(hash))
	assert.True(t, os.IsNotExist(err), "nothing stored upstream")

	r = do(t, http.MethodPut, arv.url+"/"+hash, "", data)
	assertJSONError(t, r, 401, "")

	r = do(t, http.MethodPut, arv.url+"/"+hash, testRootToken, data)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "1", r.header.Get("X-Keep-Replicas-Stored"))
	loc := strings.TrimSpace(string(r.body))
	require.NoError(t, arv.srv.KeyRing().Verify(loc, testRootToken, time.Now().Unix()))
	stored, err := os.ReadFile(upstream.srv.Volume().BlockPath(hash))
	require.NoError(t, err)
	assert.Equal(t, data, stored)

	r = do(t, http.MethodGet, arv.url+"/"+loc, testRootToken, nil)
	require.Equal(t, 200, r.status)
	require.NoError(t, r.readErr)
	assert.Equal(t, data, r.body)
	r = do(t, http.MethodHead, arv.url+"/"+loc, testRootToken, nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, itoa(len(data)), r.header.Get("Content-Length"))

	missing := arv.srv.KeyRing().Sign(md5hex([]byte("missing"))+"+7", testRootToken, time.Now().Add(time.Hour))
	r = do(t, http.MethodGet, arv.url+"/"+missing, testRootToken, nil)
	assertJSONError(t, r, 404, "")
	r = do(t, http.MethodGet, arv.url+"/"+loc, "someone-else", nil)
	assertJSONError(t, r, 400, "invalid signature")

	// corrupt data upstream never reaches the client complete
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	require.NoError(t, os.WriteFile(upstream.srv.Volume().BlockPath(hash), bad, 0o600))
	r = do(t, http.MethodGet, arv.url+"/"+loc, testRootToken, nil)
	assert.Error(t, r.readErr)
	assert.Less(t, len(r.body), len(data))
}

const rootV2 = "v2/zzzzz-gj3su-000000000000000/rootsecretrootsecretrootsecret"

func TestArvadosBackendLocalCopy(t *testing.T) {
	remote := startCluster(t, testConfig(t, "bbbbb"), Options{})
	arv, upstream := arvadosSetup(t, func(cfg *config.ClusterConfig) {
		cfg.SystemRootToken = rootV2
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
			"bbbbb": {Host: strings.TrimPrefix(remote.url, "http://"), Scheme: "http"},
		}
	})
	data := []byte(strings.Repeat("copy me home ", 50000))
	remote.putBlock(t, data)
	token := "v2/zzzzz-gj3su-000000000000001/usersecretusersecretusersecret"
	loc := remoteLocator(t, remote.srv.KeyRing(), "bbbbb", data, token)
	// the upstream stand-in accepts only its root token for PUT; a real
	// keepstore needs none
	r := do(t, http.MethodGet, arv.url+"/"+loc, rootV2, nil, "X-Keep-Signature", "local, time=now")
	assertJSONError(t, r, 403, "bbbbb") // signed for another token
	loc = remoteLocator(t, remote.srv.KeyRing(), "bbbbb", data, rootV2)
	r = do(t, http.MethodGet, arv.url+"/"+loc, rootV2, nil, "X-Keep-Signature", "local, time=now")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, data, r.body)
	local := r.header.Get("X-Keep-Locator")
	require.NoError(t, arv.srv.KeyRing().Verify(local, rootV2, time.Now().Unix()))
	stored, err := os.ReadFile(upstream.srv.Volume().BlockPath(md5hex(data)))
	require.NoError(t, err)
	assert.Equal(t, data, stored)
}

// TestArvadosBackendListsItself: in front of a real cluster, keepfed still
// answers keep service discovery itself (as a proxy service), so that
// clients send their block requests, +R ones included, through it.
func TestArvadosBackendListsItself(t *testing.T) {
	arv, upstream := arvadosSetup(t, nil)
	r := do(t, http.MethodGet, arv.url+remotes.KeepServicesPath, "", nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Contains(t, string(r.body), `"service_type":"proxy"`)
	host := strings.TrimPrefix(arv.url, "http://")
	upHost := strings.TrimPrefix(upstream.url, "http://")
	assert.Contains(t, string(r.body), strings.Split(host, ":")[1], "lists its own port")
	assert.NotContains(t, string(r.body), strings.Split(upHost, ":")[1], "not the upstream's")
}

// TestArvadosBackendPassthrough: with the arvados backend every request
// keepfed does not answer itself reaches Upstream, path, query and token
// unchanged, so a client can use keepfed as its API host; the bootstrap
// documents, keep services, health and block paths stay local, and a
// websocket upgrade is refused rather than half-proxied.
func TestArvadosBackendPassthrough(t *testing.T) {
	type seen struct{ method, uri, auth string }
	var mu sync.Mutex
	var got []seen
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization")})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream":%q}`, r.URL.Path)
	}))
	defer up.Close()
	cfg := testConfig(t, "zzzzz")
	cfg.KeepFed.Backend = "arvados"
	cfg.KeepFed.DataDir = ""
	cfg.KeepFed.Upstream = up.URL
	arv := startCluster(t, cfg, Options{})
	const tok = "v2/zzzzz-gj3su-000000000000001/secret"
	cases := []struct {
		method, path string
		upstream     bool
		status       int
	}{
		{"GET", "/login?return_to=https%3A%2F%2Fwb.example%2F", true, 200},
		{"GET", "/arvados/v1/container_requests?limit=1", true, 200},
		{"POST", "/arvados/v1/containers/zzzzz-dz642-000000000000001/lock", true, 200},
		{"GET", "/auth/joshid?return_to=x", true, 200},
		{"GET", "/arvados/v1/virtual_machines", true, 200},
		{"GET", DiscoveryPath, false, 200},
		{"GET", ConfigPath, false, 200},
		{"GET", VocabularyPath, false, 200},
		{"GET", "/arvados/v1/keep_services/accessible", false, 200},
		{"GET", "/_health/ping", false, 401},
	}
	for _, c := range cases {
		mu.Lock()
		got = nil
		mu.Unlock()
		r := do(t, c.method, arv.url+c.path, tok, nil)
		assert.Equal(t, c.status, r.status, "%s %s: %s", c.method, c.path, r.body)
		mu.Lock()
		if c.upstream {
			if assert.Len(t, got, 1, "%s %s reaches Upstream", c.method, c.path) {
				assert.Equal(t, seen{c.method, c.path, "Bearer " + tok}, got[0])
			}
			assert.Contains(t, string(r.body), `"upstream"`)
		} else {
			assert.Empty(t, got, "%s %s is answered by keepfed", c.method, c.path)
		}
		mu.Unlock()
	}
	r := do(t, "GET", arv.url+"/websocket", tok, nil, "Connection", "Upgrade", "Upgrade", "websocket")
	assertJSONError(t, r, http.StatusNotImplemented, "websocket")
}
