package keepfed

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const (
	testRootToken = "roottoken0123456789abcdefghijklmnopqrstuvwxyz"
	testMgmtToken = "mgmt-token-for-tests"
)

// testCluster is a keepfed (embedded backend) listening on 127.0.0.1.
type testCluster struct {
	t    testing.TB
	srv  *Server
	cfg  *config.ClusterConfig
	url  string
	logs *syncBuffer
	done chan error
	once sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig returns a parsed config for cluster id with a fresh DataDir.
func testConfig(t testing.TB, id string) *config.ClusterConfig {
	t.Helper()
	yml := `
Clusters:
  ` + id + `:
    SystemRootToken: ` + testRootToken + `
    ManagementToken: ` + testMgmtToken + `
    Collections:
      BlobSigningKey: key-of-` + id + `-0123456789abcdefghijklmnopqrstuvwxyz0123456789
      BlobSigningTTL: 336h
    API:
      KeepServiceRequestTimeout: 2s
    KeepFed:
      Listen: 127.0.0.1:0
      DataDir: ` + t.TempDir() + `
`
	cfg, warnings, err := config.ParseConfig([]byte(yml), id)
	require.NoError(t, err)
	require.Empty(t, warnings)
	return cfg
}

// startCluster starts a keepfed for cfg (after mutate) on a loopback port.
func startCluster(t testing.TB, cfg *config.ClusterConfig, opts Options) *testCluster {
	t.Helper()
	return startClusterAs(t, cfg, "", opts)
}

func (tc *testCluster) stop() { tc.once.Do(tc.doStop) }

func (tc *testCluster) doStop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tc.srv.Shutdown(ctx) //nolint:errcheck // test cleanup
	select {
	case <-tc.done:
	case <-time.After(5 * time.Second):
		tc.t.Errorf("server %s did not stop", tc.cfg.ClusterID)
	}
}

// do sends a request with net/http (a real, independent client) and
// returns the response with its body read; readErr is the error reading
// the body (a cut connection shows up there).
type result struct {
	status  int
	header  http.Header
	body    []byte
	readErr error
}

var testClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func do(t testing.TB, method, url, token string, body []byte, hdr ...string) result {
	t.Helper()
	return doWith(t, testClient, method, url, token, body, hdr...)
}

// doWith is do with the given client.
func doWith(t testing.TB, client *http.Client, method, url, token string, body []byte, hdr ...string) result {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, readErr: rerr}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// putBlock stores data on tc with the root token and returns the signed
// locator it answers (for the root token).
func (tc *testCluster) putBlock(t testing.TB, data []byte) string {
	t.Helper()
	r := do(t, http.MethodPut, tc.url+"/"+md5hex(data), testRootToken, data)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	return strings.TrimSuffix(string(r.body), "\n")
}

func assertJSONError(t testing.TB, r result, status int, contains string) {
	t.Helper()
	assert.Equal(t, status, r.status, string(r.body))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	assert.True(t, strings.HasPrefix(string(r.body), `{"errors":["`), string(r.body))
	if contains != "" {
		assert.Contains(t, string(r.body), contains)
	}
}

func TestServerStartsAndStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// process-wide fasthttp goroutines: the Date header ticker and the
		// worker pool's cleaner, which sleeps before noticing the stop
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	r := do(t, http.MethodGet, tc.url+"/_health/ping", testMgmtToken, nil)
	assert.Equal(t, http.StatusOK, r.status)
	tc.stop()
	testClient.CloseIdleConnections()
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	cfg := testConfig(t, "zzzzz")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.KeepFed.ExternalURL = "http://" + ln.Addr().String()
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(t, err)
	started := make(chan struct{})
	srv.Router().Handle(http.MethodGet, "/slow", func(ctx *fasthttpCtx) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		ctx.SetBodyString("finished")
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	resc := make(chan result, 1)
	go func() { resc <- do(t, http.MethodGet, cfg.KeepFed.ExternalURL+"/slow", "", nil) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	r := <-resc
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "finished", string(r.body))
	require.NoError(t, <-done)
	// no longer accepting
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	assert.Error(t, err)
}
