package keepfed

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestBodyLimits: record and manifest bodies larger than
// API.MaxRequestSize are refused with 413 and a JSON error, locally and
// when they would be proxied.
func TestRequestBodyLimits(t *testing.T) {
	cfg := testConfig(t, "xhome")
	cfg.API.MaxRequestSize = 256 << 10
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"xothr": {Host: "127.0.0.1:" + itoa(closedPort(t)), Scheme: "http", Proxy: true}}
	home := startFullCluster(t, cfg, nil)
	token := home.issue(t, "u@example.com")
	big := strings.Repeat("x", 300<<10)
	for _, c := range []struct{ name, path, body string }{
		{"record", "/arvados/v1/collections", `{"collection":{"name":"` + big + `"}}`},
		{"manifest", "/arvados/v1/collections", `{"collection":{"manifest_text":". d41d8cd98f00b204e9800998ecf8427e+0 0:0:` + big + `\n"}}`},
		{"proxied record", "/arvados/v1/collections?cluster_id=xothr", `{"collection":{"name":"` + big + `"}}`},
	} {
		r := do(t, http.MethodPost, home.url+c.path, token, []byte(c.body), "Content-Type", "application/json")
		assertJSONError(t, r, http.StatusRequestEntityTooLarge, "")
	}
	// just under the limit is fine
	r := do(t, http.MethodPost, home.url+"/arvados/v1/collections", token, []byte(`{"collection":{"name":"`+strings.Repeat("y", 200<<10)+`"}}`), "Content-Type", "application/json")
	assert.Equal(t, 200, r.status, string(r.body))
}

// TestHeaderTooLarge: a request header larger than the read buffer gets
// fasthttp's refusal, rendered as JSON.
func TestHeaderTooLarge(t *testing.T) {
	tc := startCluster(t, testConfig(t, "xhome"), Options{})
	r := do(t, http.MethodGet, tc.url+"/_health/ping", testMgmtToken, nil, "X-Big", strings.Repeat("h", 64<<10))
	assert.Contains(t, []int{400, 431}, r.status)
	assertJSONError(t, r, r.status, "")
	// and the server is fine
	r = do(t, http.MethodGet, tc.url+"/_health/ping", testMgmtToken, nil)
	assert.Equal(t, 200, r.status)
}

// TestSlowloris: a client sending its headers one byte every 200ms is cut
// off once API.RequestTimeout (the server's read timeout) has passed.
func TestSlowloris(t *testing.T) {
	cfg := testConfig(t, "xhome")
	cfg.API.RequestTimeout = config.Duration(time.Second)
	tc := startCluster(t, cfg, Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(tc.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	head := "GET /_health/ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testMgmtToken + "\r\nX-Pad: " + strings.Repeat("p", 200) + "\r\n\r\n"
	cut := make(chan time.Duration, 1)
	go func() {
		// the server closes the connection: reading sees EOF (after any
		// 408 it writes)
		io.Copy(io.Discard, conn) //nolint:errcheck // until closed
		cut <- time.Since(start)
	}()
	for i := 0; i < len(head); i++ {
		if _, err := conn.Write([]byte{head[i]}); err != nil {
			break
		}
		select {
		case d := <-cut:
			assert.Less(t, d, 2*time.Second, "cut after %s", d)
			t.Logf("slowloris cut after %s (%d of %d header bytes sent)", d, i+1, len(head))
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Since(start) > 5*time.Second {
			break
		}
	}
	t.Fatalf("a client dripping its headers was not cut within 5s")
}

// TestPerRemoteLimit: with KeepFed.MaxRequestsPerRemote block requests in
// flight to one remote cluster, the next +R read gets 503 at once.
func TestPerRemoteLimit(t *testing.T) {
	hang := faultTable[2]
	require.Equal(t, "hang", hang.name)
	fr := newFaultRemote(t, hang)
	defer fr.close()
	cfg := faultConfig(t, fr.host)
	cfg.API.RequestTimeout = config.Duration(2 * time.Second)
	cfg.API.KeepServiceRequestTimeout = config.Duration(2 * time.Second)
	cfg.KeepFed.MaxRequestsPerRemote = 2
	home := startFullCluster(t, cfg, nil)
	token := home.issue(t, "u@example.com")
	loc := faultRemoteLocator(t, token)
	// discovery is answered at once; the block requests hang
	var wg sync.WaitGroup
	var slow atomic.Int64
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, http.MethodGet, home.url+"/"+loc, token, nil)
			if r.status == 502 {
				slow.Add(1)
			}
		}()
	}
	require.Eventually(t, func() bool { return fr.hits.Load() >= 3 }, 2*time.Second, 10*time.Millisecond, "discovery + 2 block requests")
	start := time.Now()
	r := do(t, http.MethodGet, home.url+"/"+loc, token, nil)
	assertJSONError(t, r, http.StatusServiceUnavailable, faultCluster)
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	wg.Wait()
	assert.EqualValues(t, 2, slow.Load())
	// the slots are free again: the next request reaches the remote
	before := fr.hits.Load()
	r = do(t, http.MethodHead, home.url+"/"+loc, token, nil)
	assert.Equal(t, 502, r.status)
	assert.Greater(t, fr.hits.Load(), before)
}

func faultRemoteLocator(t testing.TB, token string) string {
	salted, err := signing.SaltToken(token, faultCluster)
	require.NoError(t, err)
	signed := testRemoteRing().AppendSigned(nil, md5hex(faultBlock)+"+"+itoa(len(faultBlock)), salted, time.Now().Add(time.Hour).Unix())
	return string(signing.AppendToRemote(nil, string(signed), faultCluster))
}

// TestBigPutRefusedUnbuffered: a PUT of more than 64 MiB is refused with
// 413, with or without a Content-Length, and the server never holds the
// body in memory (its heap stays far below the body size).
func TestBigPutRefusedUnbuffered(t *testing.T) {
	tc := startCluster(t, testConfig(t, "xhome"), Options{})
	const n = blocks.MaxBlockSize + 1<<20
	hash := md5hex([]byte("whatever"))
	for _, chunked := range []bool{false, true} {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}()
		var body io.Reader = io.LimitReader(zeroReader{}, n)
		if chunked {
			body = struct{ io.Reader }{body} // hides the length: chunked
		}
		req, err := http.NewRequest(http.MethodPut, tc.url+"/"+hash, body)
		require.NoError(t, err)
		if !chunked {
			req.ContentLength = n
		}
		req.Header.Set("Authorization", "Bearer "+testRootToken)
		resp, err := testClient.Do(req)
		close(stop)
		<-done
		if err != nil {
			// the server may close the connection once it has answered
			// 413 and stopped reading; that is a refusal too
			t.Logf("chunked=%v: client error after refusal: %v", chunked, err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(b))
			assert.True(t, bytes.HasPrefix(b, []byte(`{"errors":[`)), string(b))
		}
		grew := int64(peak.Load()) - int64(base)
		t.Logf("chunked=%v: heap grew by at most %d KiB while %d MiB were sent", chunked, grew>>10, n>>20)
		assert.Less(t, grew, int64(16<<20), "the body must not be buffered")
	}
	// nothing was stored
	r := do(t, http.MethodGet, tc.url+"/_health/ping", testMgmtToken, nil)
	assert.Equal(t, 200, r.status)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestIdleNewConnection: a connection that sends nothing until the read
// timeout (API.RequestTimeout) is closed without an answer. HTTP clients
// open connections ahead of need and park them idle; an error response
// written there is taken as the answer to the next request sent on it (a
// spurious 400, later 408, once a second under load in the soak test).
func TestIdleNewConnection(t *testing.T) {
	cfg := testConfig(t, "xhome")
	cfg.API.RequestTimeout = config.Duration(300 * time.Millisecond)
	tc := startCluster(t, cfg, Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(tc.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(3 * time.Second)) //nolint:errcheck // test
	start := time.Now()
	got, _ := io.ReadAll(conn)
	assert.Empty(t, string(got), "an answer to a request never sent")
	assert.Less(t, time.Since(start), 2*time.Second, "the idle connection is closed at the read timeout")
	// a slow request that did start still gets its 408
	conn2, err := net.Dial("tcp", strings.TrimPrefix(tc.url, "http://"))
	require.NoError(t, err)
	defer conn2.Close()
	conn2.Write([]byte("GET /_health/ping HTTP/1.1\r\nHo")) //nolint:errcheck // test
	conn2.SetReadDeadline(time.Now().Add(3 * time.Second))  //nolint:errcheck // test
	got, _ = io.ReadAll(conn2)
	assert.True(t, len(got) == 0 || strings.HasPrefix(string(got), "HTTP/1.1 408 "), "%q", got)
}
