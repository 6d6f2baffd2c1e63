package keepfed

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingProxy sits in front of a real remote keepfed (which lists the
// proxy as its keep service, so block requests pass here too), counts the
// block requests it receives by method, and can misbehave on block GETs.
type countingProxy struct {
	srv    *httptest.Server
	target atomic.Pointer[url.URL]
	rp     *httputil.ReverseProxy

	mu     sync.Mutex
	counts map[string]int // method -> block requests

	corrupt atomic.Bool // flip the last byte of block GET bodies
	noStore atomic.Bool // add Cache-Control: no-store to block GETs
	down    atomic.Bool // close every connection without answering
	gate    atomic.Pointer[chan struct{}]
}

func newCountingProxy(t testing.TB) *countingProxy {
	p := &countingProxy{counts: map[string]int{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(p.target.Load()); r.Out.Host = r.In.Host },
		FlushInterval: -1,
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() { p.srv.CloseClientConnections(); p.srv.Close() })
	return p
}

func (p *countingProxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *countingProxy) count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[method]
}

func (p *countingProxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	isBlock := len(path) >= 32 && signing.KeepstoreRouteMatch(path)
	if !isBlock {
		p.rp.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	p.counts[r.Method]++
	p.mu.Unlock()
	if r.Method != http.MethodGet {
		p.rp.ServeHTTP(w, r)
		return
	}
	req, _ := http.NewRequest(r.Method, p.target.Load().String()+r.URL.Path, nil)
	req.Header = r.Header.Clone()
	resp, err := testClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if p.noStore.Load() {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(resp.StatusCode)
	if resp.StatusCode != 200 {
		w.Write(body) //nolint:errcheck // test
		return
	}
	if p.corrupt.Load() && len(body) > 0 {
		body[len(body)-1] ^= 1
	}
	if g := p.gate.Load(); g != nil {
		// half the body, then wait for the test
		w.Write(body[:len(body)/2]) //nolint:errcheck // test
		w.(http.Flusher).Flush()
		select {
		case <-*g:
		case <-time.After(10 * time.Second):
		}
		body = body[len(body)/2:]
	}
	w.Write(body) //nolint:errcheck // test
}

// startClusterAs is startCluster with ExternalURL set to external (what
// the cluster lists as its keep service); "" means its own address.
func startClusterAs(t testing.TB, cfg *config.ClusterConfig, external string, opts Options) *testCluster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.KeepFed.Listen = ln.Addr().String()
	if external == "" {
		external = "http://" + ln.Addr().String()
	}
	cfg.KeepFed.ExternalURL = external
	tc := &testCluster{t: t, cfg: cfg, url: "http://" + ln.Addr().String(), logs: &syncBuffer{}, done: make(chan error, 1)}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(tc.logs, nil))
	}
	tc.srv, err = New(cfg, opts)
	require.NoError(t, err)
	go func() { tc.done <- tc.srv.Serve(ln) }()
	t.Cleanup(tc.stop)
	return tc
}

// cacheEnv is home cluster aaaaa with the remote block cache on, and
// remote cluster bbbbb (a real keepfed) behind a counting proxy.
type cacheEnv struct {
	home, remote *testCluster
	proxy        *countingProxy
	homeCfg      *config.ClusterConfig
	clock        *testClock
}

// testClock is a settable clock that otherwise follows time.Now.
type testClock struct{ skew atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *testClock) advance(d time.Duration) { c.skew.Add(int64(d)) }

func newCacheEnv(t *testing.T, mutate func(*config.ClusterConfig)) *cacheEnv {
	e := &cacheEnv{proxy: newCountingProxy(t), clock: &testClock{}}
	e.remote = startClusterAs(t, testConfig(t, "bbbbb"), e.proxy.srv.URL, Options{})
	u, _ := url.Parse(e.remote.url)
	e.proxy.target.Store(u)
	cfg := testConfig(t, "aaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"bbbbb": {Host: e.proxy.host(), Scheme: "http"}}
	cfg.KeepFed.RemoteBlockCache = config.RemoteBlockCacheConfig{
		Dir: filepath.Join(cfg.KeepFed.DataDir, "remote-cache"), MaxSize: 1 << 30,
	}
	if mutate != nil {
		mutate(cfg)
	}
	e.homeCfg = cfg
	e.home = startCluster(t, cfg, Options{Now: e.clock.now, TokenValidator: fedUsers})
	return e
}

// restartHome stops home and starts a new one on the same config.
func (e *cacheEnv) restartHome(t *testing.T) {
	e.home.stop()
	e.home = startCluster(t, e.homeCfg, Options{Now: e.clock.now, TokenValidator: fedUsers})
}

func (e *cacheEnv) counts() (get, head int) {
	return e.proxy.count(http.MethodGet), e.proxy.count(http.MethodHead)
}

// block stores n bytes (pattern seed) at the remote and returns them and
// the +R locator for userToken.
func (e *cacheEnv) block(t *testing.T, n, seed int) ([]byte, string) {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*seed + i>>11 + seed)
	}
	e.remote.putBlock(t, data)
	return data, remoteLocator(t, e.remote.srv.KeyRing(), "bbbbb", data, userToken)
}

func (e *cacheEnv) metric(t *testing.T, name string) string {
	r := do(t, http.MethodGet, e.home.url+"/metrics", testMgmtToken, nil)
	require.Equal(t, 200, r.status)
	for _, line := range strings.Split(string(r.body), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

func TestRemoteCacheSecondReadFromCache(t *testing.T) {
	e := newCacheEnv(t, nil)
	data, loc := e.block(t, 3*1<<20+5, 7)
	r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status, string(r.body))
	require.NoError(t, r.readErr)
	require.Equal(t, data, r.body)
	get, head := e.counts()
	assert.Equal(t, [2]int{1, 0}, [2]int{get, head})
	require.True(t, e.home.srv.RemoteCache().Contains(md5hex(data)))

	for i := 0; i < 3; i++ {
		r = do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
		require.Equal(t, 200, r.status)
		require.NoError(t, r.readErr)
		assert.Equal(t, data, r.body)
	}
	r = do(t, http.MethodHead, e.home.url+"/"+loc, userToken, nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, itoa(len(data)), r.header.Get("Content-Length"))
	get, head = e.counts()
	assert.Equal(t, [2]int{1, 0}, [2]int{get, head}, "the first GET confirmed the pair; the rest came from the cache")

	assert.Equal(t, "4", e.metric(t, "keepfed_remote_cache_hits_total"))
	assert.Equal(t, "1", e.metric(t, "keepfed_remote_cache_misses_total"))
	assert.Equal(t, itoa(3*len(data)), e.metric(t, "keepfed_remote_cache_served_bytes_total"))
	assert.Equal(t, itoa(len(data)), e.metric(t, "keepfed_remote_cache_bytes"))
	r = do(t, http.MethodGet, e.home.url+"/_health/ping", testMgmtToken, nil)
	assert.JSONEq(t, `{"health":"OK","remote_cache_bytes":`+itoa(len(data))+`}`, string(r.body))

	// a cached file corrupted on disk is caught by the verified stream,
	// cut, and dropped from the cache
	path := e.home.srv.RemoteCache().Path(md5hex(data))
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	require.NoError(t, os.WriteFile(path, bad, 0o600))
	r = do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
	assert.Error(t, r.readErr)
	assert.False(t, e.home.srv.RemoteCache().Contains(md5hex(data)))
	r = do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
	require.NoError(t, r.readErr)
	assert.Equal(t, data, r.body)
	get, _ = e.counts()
	assert.Equal(t, 2, get)
}

func TestRemoteCacheSurvivesRestart(t *testing.T) {
	e := newCacheEnv(t, nil)
	data, loc := e.block(t, 1<<20, 3)
	r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status)
	dir := e.homeCfg.KeepFed.RemoteBlockCache.Dir
	// leftovers a crash could leave, and foreign files
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp", md5hex(data)+"-123"), []byte("partial"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("not a block"), 0o600))

	e.restartHome(t)
	c := e.home.srv.RemoteCache()
	assert.True(t, c.Contains(md5hex(data)))
	assert.Equal(t, int64(len(data)), c.Bytes())
	left, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	assert.Empty(t, left, "temporary files are removed at start")

	r = do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status)
	require.NoError(t, r.readErr)
	assert.Equal(t, data, r.body)
	get, head := e.counts()
	// the memo of confirmations does not survive: one HEAD, no GET
	assert.Equal(t, [2]int{1, 1}, [2]int{get, head})
	assert.Equal(t, "1", e.metric(t, `keepfed_remote_cache_confirmations_total{result="accepted"}`))
}

func TestRemoteCacheEviction(t *testing.T) {
	const size = 1 << 20
	e := newCacheEnv(t, func(c *config.ClusterConfig) {
		c.KeepFed.RemoteBlockCache.MaxSize = config.ByteSize(2*size + size/2)
	})
	var datas [][]byte
	var locs []string
	for i := 0; i < 4; i++ {
		d, l := e.block(t, size, 11+i)
		datas, locs = append(datas, d), append(locs, l)
	}
	c := e.home.srv.RemoteCache()
	dir := e.homeCfg.KeepFed.RemoteBlockCache.Dir
	read := func(i int) {
		t.Helper()
		r := do(t, http.MethodGet, e.home.url+"/"+locs[i], userToken, nil)
		require.Equal(t, 200, r.status)
		require.NoError(t, r.readErr)
		require.Equal(t, datas[i], r.body)
		assert.LessOrEqual(t, c.Bytes(), int64(2*size+size/2))
		assert.LessOrEqual(t, dirBytes(t, dir), int64(2*size+size/2))
	}
	steps := []struct {
		read     int
		cached   []int
		wantGets int
	}{
		{0, []int{0}, 1},
		{1, []int{0, 1}, 2},
		{0, []int{0, 1}, 2}, // hit: 0 is now the most recent
		{2, []int{0, 2}, 3}, // evicts 1, the least recently used
		{1, []int{1, 2}, 4}, // from the remote again; evicts 0
		{3, []int{1, 3}, 5}, // evicts 2
		{1, []int{1, 3}, 5}, // hit
		{0, []int{0, 1}, 6}, // evicts 3
	}
	for i, s := range steps {
		read(s.read)
		get, _ := e.counts()
		require.Equal(t, s.wantGets, get, "step %d", i)
		for b := 0; b < 4; b++ {
			want := false
			for _, x := range s.cached {
				want = want || x == b
			}
			require.Equal(t, want, c.Contains(md5hex(datas[b])), "step %d block %d", i, b)
		}
	}
	assert.Equal(t, "4", e.metric(t, "keepfed_remote_cache_evictions_total"))

	// a block larger than MaxSize is served, never cached
	big, bigLoc := e.block(t, 3*size, 5)
	r := do(t, http.MethodGet, e.home.url+"/"+bigLoc, userToken, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, big, r.body)
	assert.False(t, c.Contains(md5hex(big)))

	// a smaller MaxSize at restart evicts down to it
	e.homeCfg.KeepFed.RemoteBlockCache.MaxSize = size
	e.restartHome(t)
	assert.Equal(t, 1, e.home.srv.RemoteCache().Blocks())
	assert.LessOrEqual(t, dirBytes(t, dir), int64(size))
}

func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	require.NoError(t, filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	}))
	return n
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// concurrentReads starts n reads of loc while the proxy holds the remote
// body at its half, releases it once n-1 reads have joined the first one's
// fetch, and returns the results.
func (e *cacheEnv) concurrentReads(t *testing.T, loc string, n int) []result {
	g := make(chan struct{})
	e.proxy.gate.Store(&g)
	defer e.proxy.gate.Store(nil)
	m := &e.home.srv.Metrics().Cache
	before := m.Coalesced.Load()
	out := make([]result, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
		}()
	}
	waitFor(t, "readers to join the fetch", func() bool { return m.Coalesced.Load()-before == uint64(n-1) })
	close(g)
	wg.Wait()
	return out
}

func TestRemoteCacheCoalescing(t *testing.T) {
	e := newCacheEnv(t, nil)
	data, loc := e.block(t, 4<<20+321, 13)
	for _, r := range e.concurrentReads(t, loc, 8) {
		require.Equal(t, 200, r.status)
		require.NoError(t, r.readErr)
		assert.Equal(t, data, r.body)
	}
	get, head := e.counts()
	assert.Equal(t, [2]int{1, 0}, [2]int{get, head}, "8 readers of a cold block: one remote GET, and no HEAD for the same pair")
	assert.Equal(t, "7", e.metric(t, "keepfed_remote_cache_coalesced_total"))
	assert.True(t, e.home.srv.RemoteCache().Contains(md5hex(data)))
}

func TestRemoteCacheCorruptFetchWithWaiters(t *testing.T) {
	e := newCacheEnv(t, nil)
	data, loc := e.block(t, 2<<20+99, 17)
	e.proxy.corrupt.Store(true)
	for i, r := range e.concurrentReads(t, loc, 4) {
		require.Equal(t, 200, r.status, "the status went out before the corruption showed")
		assert.Error(t, r.readErr, "reader %d must be cut", i)
		assert.Less(t, len(r.body), len(data), "reader %d", i)
		assert.Equal(t, data[:len(r.body)], r.body, "reader %d got only verified-so-far bytes", i)
	}
	c := e.home.srv.RemoteCache()
	assert.False(t, c.Contains(md5hex(data)))
	assert.Equal(t, int64(0), c.Bytes())
	assert.Equal(t, int64(0), dirBytes(t, e.homeCfg.KeepFed.RemoteBlockCache.Dir), "nothing left on disk")
	get, _ := e.counts()
	assert.Equal(t, 1, get)

	e.proxy.corrupt.Store(false)
	r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
	require.NoError(t, r.readErr)
	assert.Equal(t, data, r.body)
	assert.True(t, c.Contains(md5hex(data)))
}

func TestRemoteCacheNoStoreAndClusters(t *testing.T) {
	t.Run("no-store", func(t *testing.T) {
		e := newCacheEnv(t, nil)
		e.proxy.noStore.Store(true)
		data, loc := e.block(t, 300000, 19)
		for i := 0; i < 2; i++ {
			r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
			require.NoError(t, r.readErr)
			assert.Equal(t, data, r.body)
		}
		get, _ := e.counts()
		assert.Equal(t, 2, get)
		assert.False(t, e.home.srv.RemoteCache().Contains(md5hex(data)))
	})
	t.Run("other clusters only", func(t *testing.T) {
		e := newCacheEnv(t, func(c *config.ClusterConfig) { c.KeepFed.RemoteBlockCache.Clusters = []string{"ccccc"} })
		data, loc := e.block(t, 300000, 23)
		for i := 0; i < 2; i++ {
			r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
			require.NoError(t, r.readErr)
			assert.Equal(t, data, r.body)
		}
		get, _ := e.counts()
		assert.Equal(t, 2, get)
		assert.Equal(t, 0, e.home.srv.RemoteCache().Blocks())
	})
}

func TestRemoteCachePermission(t *testing.T) {
	e := newCacheEnv(t, nil)
	data, loc := e.block(t, 700000, 29)
	r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status)
	require.True(t, e.home.srv.RemoteCache().Contains(md5hex(data)))

	const otherToken = "v2/aaaaa-gj3su-000000000000002/anothersecretanothersecret"
	sigAt := strings.Index(loc, "+Rbbbbb-") + len("+Rbbbbb-")
	forged := loc[:sigAt] + strings.Repeat("0", 40) + loc[sigAt+40:]
	otherPair := remoteLocator(t, e.remote.srv.KeyRing(), "bbbbb", data, otherToken)
	cases := []struct {
		name, loc, token string
		status           int
		get, head        int // remote requests this case adds
	}{
		{"forged signature", forged, userToken, 403, 0, 1},
		{"forged again: refusals are not remembered", forged, userToken, 403, 0, 1},
		{"expired signature: refused without asking", expiredRemote(t, e.remote, data), userToken, 403, 0, 0},
		{"token the remote refuses for this signature", loc, otherToken, 403, 0, 1},
		{"another pair the remote accepts", otherPair, otherToken, 200, 0, 1},
		{"that pair again: remembered", otherPair, otherToken, 200, 0, 0},
		{"the first pair: remembered", loc, userToken, 200, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g0, h0 := e.counts()
			r := do(t, http.MethodGet, e.home.url+"/"+c.loc, c.token, nil)
			if c.status == 200 {
				require.Equal(t, 200, r.status, string(r.body))
				assert.Equal(t, data, r.body)
			} else {
				assertJSONError(t, r, c.status, "bbbbb")
			}
			g1, h1 := e.counts()
			assert.Equal(t, [2]int{c.get, c.head}, [2]int{g1 - g0, h1 - h0})
		})
	}

	t.Run("remote unreachable", func(t *testing.T) {
		e.proxy.down.Store(true)
		defer e.proxy.down.Store(false)
		r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
		assert.Equal(t, 200, r.status, "a confirmed pair is still served")
		assert.Equal(t, data, r.body)
		third := remoteLocator(t, e.remote.srv.KeyRing(), "bbbbb", data, "v2/aaaaa-gj3su-000000000000003/thirdsecretthirdsecretthirdsec")
		r = do(t, http.MethodGet, e.home.url+"/"+third, "v2/aaaaa-gj3su-000000000000003/thirdsecretthirdsecretthirdsec", nil)
		assertJSONError(t, r, 502, "bbbbb")
	})

	t.Run("confirmation lasts until the token refresh", func(t *testing.T) {
		g0, h0 := e.counts()
		e.clock.advance(e.homeCfg.Login.RemoteTokenRefresh.D() + time.Second)
		r := do(t, http.MethodGet, e.home.url+"/"+loc, userToken, nil)
		require.Equal(t, 200, r.status, string(r.body))
		g1, h1 := e.counts()
		assert.Equal(t, [2]int{0, 1}, [2]int{g1 - g0, h1 - h0})
	})
	assert.NotContains(t, e.home.logs.String(), "usersecret")
	assert.NotContains(t, e.home.logs.String(), "anothersecret")
}

func TestRangeReads(t *testing.T) {
	e := newCacheEnv(t, nil)
	const size = 1000
	localData := make([]byte, size)
	for i := range localData {
		localData[i] = byte(i * 7)
	}
	local := e.home.putBlock(t, localData)
	remoteData, remoteLoc := e.block(t, size, 31)
	cases := []struct {
		rng          string
		status       int
		contentRange string
		start, end   int // the body expected: data[start:end]
	}{
		{"bytes=0-9", 206, "bytes 0-9/1000", 0, 10},
		{"bytes=990-", 206, "bytes 990-999/1000", 990, size},
		{"bytes=-5", 206, "bytes 995-999/1000", 995, size},
		{"bytes=-5000", 206, "bytes 0-999/1000", 0, size},
		{"bytes=500-99999", 206, "bytes 500-999/1000", 500, size},
		{"bytes = 1-1", 206, "bytes 1-1/1000", 1, 2},
		{"bytes=1000-", 416, "bytes */1000", 0, 0},
		{"bytes=-0", 416, "bytes */1000", 0, 0},
		{"bytes=5-1", 416, "bytes */1000", 0, 0},
		{"bytes=abc", 416, "bytes */1000", 0, 0},
		{"bytes=0-1,5-6", 200, "", 0, size}, // several ranges: the whole block
		{"items=0-1", 200, "", 0, size},     // another unit: ignored
	}
	targets := []struct {
		name, loc, token string
		data             []byte
	}{{"local", local, testRootToken, localData}, {"remote", remoteLoc, userToken, remoteData}}
	for _, target := range targets {
		for _, c := range cases {
			t.Run(target.name+" "+c.rng, func(t *testing.T) {
				r := do(t, http.MethodGet, e.home.url+"/"+target.loc, target.token, nil, "Range", c.rng)
				require.Equal(t, c.status, r.status, string(r.body))
				assert.Equal(t, c.contentRange, r.header.Get("Content-Range"))
				if c.status == 416 {
					assertJSONError(t, r, 416, "range")
					return
				}
				assert.Equal(t, target.data[c.start:c.end], r.body)
			})
		}
	}
	// the +R block was fetched whole once, then every range came from
	// the cache
	get, _ := e.counts()
	assert.Equal(t, 1, get)
}

// TestRemoteCacheSharedKeepstores: with the arvados backend, a block one
// replica fetched from the remote is stored in the local keepstores, and
// another replica reads it from there (after the remote confirmed the
// reader's pair with one HEAD) instead of fetching it again.
func TestRemoteCacheSharedKeepstores(t *testing.T) {
	proxy := newCountingProxy(t)
	remote := startClusterAs(t, testConfig(t, "bbbbb"), proxy.srv.URL, Options{})
	u, _ := url.Parse(remote.url)
	proxy.target.Store(u)
	upstream := startCluster(t, testConfig(t, "zzzzz"), Options{}) // stands in for the keepstores
	replica := func() *testCluster {
		cfg := testConfig(t, "zzzzz")
		cfg.KeepFed.Backend = "arvados"
		cfg.KeepFed.DataDir = ""
		cfg.KeepFed.Upstream = upstream.url
		cfg.KeepFed.RemoteBlockCache = config.RemoteBlockCacheConfig{Dir: filepath.Join(t.TempDir(), "cache"), MaxSize: 1 << 30}
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"bbbbb": {Host: proxy.host(), Scheme: "http"}}
		return startCluster(t, cfg, Options{TokenValidator: fedUsers})
	}
	r1, r2, r3 := replica(), replica(), replica()
	data := make([]byte, 1<<20+3)
	for i := range data {
		data[i] = byte(i*5 + i>>10)
	}
	remote.putBlock(t, data)
	loc := remoteLocator(t, remote.srv.KeyRing(), "bbbbb", data, userToken)
	counts := func() [2]int { return [2]int{proxy.count(http.MethodGet), proxy.count(http.MethodHead)} }

	r := do(t, http.MethodGet, r1.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status, string(r.body))
	require.Equal(t, data, r.body)
	assert.Equal(t, [2]int{1, 0}, counts())
	waitFor(t, "the block stored in the keepstores", func() bool { return r1.srv.Metrics().Cache.SharedStores.Load() == 1 })
	stored, err := os.ReadFile(upstream.srv.Volume().BlockPath(md5hex(data)))
	require.NoError(t, err)
	assert.Equal(t, data, stored)

	r = do(t, http.MethodGet, r2.url+"/"+loc, userToken, nil)
	require.Equal(t, 200, r.status, string(r.body))
	require.NoError(t, r.readErr)
	assert.Equal(t, data, r.body)
	assert.Equal(t, [2]int{1, 1}, counts(), "the second replica confirmed the pair and read the keepstores")
	assert.Equal(t, uint64(1), r2.srv.Metrics().Cache.SharedHits.Load())
	assert.True(t, r2.srv.RemoteCache().Contains(md5hex(data)))

	sigAt := strings.Index(loc, "+Rbbbbb-") + len("+Rbbbbb-")
	forged := loc[:sigAt] + strings.Repeat("0", 40) + loc[sigAt+40:]
	r = do(t, http.MethodGet, r3.url+"/"+forged, userToken, nil)
	assertJSONError(t, r, 403, "bbbbb")
	assert.Equal(t, [2]int{1, 2}, counts(), "a forged signature is refused by the remote, the keepstores' copy is not served")
	assert.Equal(t, uint64(0), r3.srv.Metrics().Cache.SharedHits.Load())
	assert.False(t, r3.srv.RemoteCache().Contains(md5hex(data)))
}
