package keepfed

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/records"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

func TestRequestID(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	r := do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", "", nil, "X-Request-Id", "req-givenbytheclient")
	assert.Equal(t, "req-givenbytheclient", r.header.Get("X-Request-Id"))
	r = do(t, http.MethodGet, tc.url+"/nowhere", "", nil)
	assert.Regexp(t, regexp.MustCompile(`^req-[0-9a-z]{20}$`), r.header.Get("X-Request-Id"))
	assertJSONError(t, r, 404, "")
}

func TestRecoverAndLimitAndLog(t *testing.T) {
	cfg := testConfig(t, "zzzzz")
	cfg.API.MaxConcurrentRequests = 2
	// the global limit alone: no per-client share (every test client is
	// 127.0.0.1), and the blocked requests carry a token (not anonymous)
	cfg.KeepFed.MaxConcurrentRequestsPerClient = -1
	tc := startCluster(t, cfg, Options{})
	release := make(chan struct{})
	var entered sync.WaitGroup
	tc.srv.Router().Handle(http.MethodGet, "/panic", func(*fasthttp.RequestCtx) error { panic("boom") })
	tc.srv.Router().Handle(http.MethodGet, "/block", func(ctx *fasthttp.RequestCtx) error {
		entered.Done()
		<-release
		return nil
	})

	r := do(t, http.MethodGet, tc.url+"/panic", "", nil, "X-Request-Id", "req-panicking")
	assertJSONError(t, r, 500, "internal server error")
	assert.Equal(t, "req-panicking", r.header.Get("X-Request-Id"))

	entered.Add(2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); do(t, http.MethodGet, tc.url+"/block", testRootToken, nil) }()
	}
	entered.Wait()
	r = do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", "", nil)
	assertJSONError(t, r, 503, "busy")
	r = do(t, http.MethodGet, tc.url+"/_health/ping", testMgmtToken, nil)
	assert.Equal(t, 200, r.status, "management endpoints are not limited")
	close(release)
	wg.Wait()
	r = do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", "", nil)
	assert.Equal(t, 200, r.status)

	// the access log never holds a token or a query string
	secret := "v2/zzzzz-gj3su-000000000000001/verysecretverysecret"
	do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible?api_token="+secret, "", nil)
	do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", secret, nil)
	time.Sleep(10 * time.Millisecond)
	logs := tc.logs.String()
	assert.NotContains(t, logs, "verysecret")
	assert.NotContains(t, logs, "api_token")
	assert.Contains(t, logs, `"token_fp":"`)
	assert.Contains(t, logs, `"panic":"boom"`)
}

func TestExtractToken(t *testing.T) {
	tok := "v2/zzzzz-gj3su-000000000000001/secret"
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + tok))
	cookie := base64.URLEncoding.EncodeToString([]byte(tok))
	cases := []struct {
		name  string
		setup func(r *fasthttp.Request)
		want  string
	}{
		{"bearer", func(r *fasthttp.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, tok},
		{"oauth2", func(r *fasthttp.Request) { r.Header.Set("Authorization", "OAuth2 "+tok) }, tok},
		{"bearer trimmed", func(r *fasthttp.Request) { r.Header.Set("Authorization", "Bearer   "+tok+"  ") }, tok},
		{"scheme is case-sensitive", func(r *fasthttp.Request) { r.Header.Set("Authorization", "bearer "+tok) }, ""},
		{"basic", func(r *fasthttp.Request) { r.Header.Set("Authorization", "Basic "+basic) }, tok},
		{"query", func(r *fasthttp.Request) { r.SetRequestURI("/x?api_token=" + tok) }, tok},
		{"header wins over query", func(r *fasthttp.Request) {
			r.SetRequestURI("/x?api_token=other")
			r.Header.Set("Authorization", "Bearer "+tok)
		}, tok},
		{"cookie", func(r *fasthttp.Request) { r.Header.SetCookie("arvados_api_token", cookie) }, tok},
		{"form", func(r *fasthttp.Request) {
			r.Header.SetMethod("POST")
			r.Header.SetContentType("application/x-www-form-urlencoded")
			r.SetBodyString("api_token=" + tok)
		}, tok},
		// Arvados ignores this one (spec 9.18); keepfed takes it, so that
		// the token it strips before forwarding is the one it salts.
		{"form with charset", func(r *fasthttp.Request) {
			r.Header.SetMethod("POST")
			r.Header.SetContentType("application/x-www-form-urlencoded; charset=utf-8")
			r.SetBodyString("api_token=" + tok)
		}, tok},
		{"none", func(*fasthttp.Request) {}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r fasthttp.Request
			r.SetRequestURI("/x")
			c.setup(&r)
			assert.Equal(t, c.want, records.ExtractToken(&r))
		})
	}
}

func TestProtocolErrorIsJSON(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(tc.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: nonsense\r\n\r\n"))
	require.NoError(t, err)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(string(body), `{"errors":[`), string(body))
}

// TestAccessLogLeavesStreamsAlone: the access log does not read a
// streamed answer to count it (which would build it whole in memory):
// the answer still streams after the log line, and the line's size is -1.
func TestAccessLogLeavesStreamsAlone(t *testing.T) {
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	const piece, pieces = 64 << 10, 64
	var written int
	tc.srv.Router().Handle(http.MethodGet, "/stream", func(ctx *fasthttp.RequestCtx) error {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			chunk := strings.Repeat("x", piece)
			for i := 0; i < pieces; i++ {
				w.WriteString(chunk) //nolint:errcheck // test stream
				w.Flush()            //nolint:errcheck // test stream
				written++
			}
		})
		return nil
	})
	r := do(t, http.MethodGet, tc.url+"/stream", testRootToken, nil)
	require.NoError(t, r.readErr)
	assert.Equal(t, 200, r.status)
	assert.Len(t, r.body, piece*pieces)
	assert.Empty(t, r.header.Get("Content-Length"), "sent chunked, as streamed")
	require.Eventually(t, func() bool { return strings.Contains(tc.logs.String(), `"path":"/stream"`) }, 5*time.Second, 10*time.Millisecond)
	assert.Regexp(t, `"path":"/stream","status":200,"bytes":-1,`, tc.logs.String())
	// an answer that is not streamed is counted
	r = do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", "", nil)
	require.Equal(t, 200, r.status)
	require.Eventually(t, func() bool {
		return strings.Contains(tc.logs.String(), `"path":"/arvados/v1/keep_services/accessible"`)
	}, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, tc.logs.String(), fmt.Sprintf(`"path":"/arvados/v1/keep_services/accessible","status":200,"bytes":%d,`, len(r.body)))
}
