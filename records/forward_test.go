package records

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const wfB = "zbbbb-7fd4e-000000000000001"

// TestForwardEveryMethod sends every method through the proxy to a
// capturing remote and checks what arrives: method, path, body, salted
// token, no api_token anywhere, no raw credentials, the Via mark, the
// request id, and no hop-by-hop headers.
func TestForwardEveryMethod(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	cases := []struct {
		method, uri, ct string
		body            []byte
		wantBody        string
		wantQuery       string
	}{
		{method: "GET", uri: "/arvados/v1/workflows/" + wfB + "?api_token=" + tokA + "&select=%5B%22uuid%22%5D",
			wantQuery: "select=%5B%22uuid%22%5D"},
		{method: "HEAD", uri: "/arvados/v1/workflows/" + wfB},
		{method: "OPTIONS", uri: "/arvados/v1/workflows/" + wfB},
		{method: "DELETE", uri: "/arvados/v1/workflows/" + wfB + "?api_token=" + tokA},
		{method: "PUT", uri: "/arvados/v1/workflows/" + wfB, ct: "application/json",
			body: []byte(`{"workflow":{"name":"x"}}`), wantBody: `{"workflow":{"name":"x"}}`},
		{method: "PATCH", uri: "/arvados/v1/workflows/" + wfB, ct: "application/x-www-form-urlencoded",
			body: formBody("api_token", tokA, "workflow", `{"name":"y"}`), wantBody: string(formBody("workflow", `{"name":"y"}`))},
		{method: "POST", uri: "/arvados/v1/workflows?cluster_id=zbbbb", ct: "application/json",
			body: []byte(`{"workflow":{"name":"z"}}`), wantBody: `{"workflow":{"name":"z"}}`, wantQuery: "cluster_id=zbbbb"},
		{method: "POST", uri: "/arvados/v1/workflows", ct: "application/x-www-form-urlencoded",
			body: formBody("cluster_id", "zbbbb", "api_token", tokA), wantBody: string(formBody("cluster_id", "zbbbb"))},
		{method: "POST", uri: "/arvados/v1/links", ct: "application/json",
			body: []byte(`{"cluster_id":"zbbbb","link":{}}`), wantBody: `{"cluster_id":"zbbbb","link":{}}`},
		{method: "POST", uri: "/arvados/v1/workflows/" + wfB + "/custom?x=1", wantQuery: "x=1"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.uri[:min(len(tc.uri), 40)], func(t *testing.T) {
			before := len(b.requests())
			hdr := []string{"Authorization", "Bearer " + tokA, "X-Request-Id", "req-abc123",
				"Connection", "X-Hop", "X-Hop", "1", "Keep-Alive", "timeout=5", "Proxy-Authorization", "Basic eA==",
				"TE", "trailers", "Upgrade", "h2c", "Cookie", "arvados_api_token=" + base64.URLEncoding.EncodeToString([]byte(tokA)) + "; other=1",
				"X-Custom", "kept"}
			if tc.ct != "" {
				hdr = append(hdr, "Content-Type", tc.ct)
			}
			resp := call(e.h, tc.method, tc.uri, tc.body, hdr...)
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d body %s", resp.StatusCode(), resp.Body())
			}
			if e.local.calls.Load() != 0 {
				t.Fatal("local backend called")
			}
			reqs := b.requests()
			if len(reqs) != before+1 {
				t.Fatalf("remote got %d requests, want 1", len(reqs)-before)
			}
			r := reqs[len(reqs)-1]
			if r.Method != tc.method {
				t.Errorf("method %q", r.Method)
			}
			wantPath := tc.uri
			if i := strings.IndexByte(wantPath, '?'); i >= 0 {
				wantPath = wantPath[:i]
			}
			if r.Path != wantPath {
				t.Errorf("path %q want %q", r.Path, wantPath)
			}
			if r.Query != tc.wantQuery {
				t.Errorf("query %q want %q", r.Query, tc.wantQuery)
			}
			if string(r.Body) != tc.wantBody {
				t.Errorf("body %q want %q", r.Body, tc.wantBody)
			}
			if want := "Bearer " + mustSalt(t, tokA, idB); r.Auth != want {
				t.Errorf("Authorization %q want %q", r.Auth, want)
			}
			raw := strings.Split(tokA, "/")[2]
			for k, v := range r.Headers {
				if strings.Contains(v, raw) || strings.Contains(v, base64.URLEncoding.EncodeToString([]byte(tokA))) {
					t.Errorf("raw token leaked in header %s: %q", k, v)
				}
			}
			if strings.Contains(r.Query, "api_token") || strings.Contains(string(r.Body), "api_token") {
				t.Errorf("api_token forwarded: query %q body %q", r.Query, r.Body)
			}
			if r.Cookie != "" { // cookies are not on the header allow-list
				t.Errorf("Cookie %q forwarded", r.Cookie)
			}
			if !strings.Contains(r.Via, "keepfed") {
				t.Errorf("Via %q", r.Via)
			}
			if r.ReqID != "req-abc123" {
				t.Errorf("X-Request-Id %q", r.ReqID)
			}
			if xff := r.Headers["X-Forwarded-For"]; xff != "127.0.0.1" {
				t.Errorf("X-Forwarded-For %q", xff)
			}
			if v, ok := r.Headers["X-Custom"]; ok { // not on the allow-list
				t.Errorf("X-Custom %q forwarded", v)
			}
			for _, h := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "TE", "Upgrade"} {
				if v, ok := r.Headers[h]; ok {
					t.Errorf("hop-by-hop header %s forwarded: %q", h, v)
				}
			}
			if r.Host != strings.TrimPrefix(b.url, "http://") {
				t.Errorf("Host %q", r.Host)
			}
		})
	}
}

// TestLocalAndLoopGuard: requests for this cluster, non-record paths and
// requests already marked by keepfed or an Arvados controller go to the
// local backend and never reach a remote.
func TestLocalAndLoopGuard(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	cases := []struct {
		name, method, uri string
		hdr               []string
	}{
		{"local uuid", "GET", "/arvados/v1/workflows/zaaaa-7fd4e-000000000000001", nil},
		{"users current", "GET", "/arvados/v1/users/current", nil},
		{"block path", "GET", "/acbd18db4cc2f85cedef654fccc4a4d8+3", nil},
		{"create local", "POST", "/arvados/v1/workflows", nil},
		{"create cluster_id local", "POST", "/arvados/v1/workflows?cluster_id=zaaaa", nil},
		{"list local", "GET", "/arvados/v1/groups?filters=%5B%5B%22name%22%2C%22%3D%22%2C%22x%22%5D%5D", nil},
		{"via keepfed", "GET", "/arvados/v1/workflows/" + wfB, []string{"Via", "HTTP/1.1 keepfed"}},
		{"via controller", "DELETE", "/arvados/v1/workflows/" + wfB, []string{"Via", "1.1 proxy, HTTP/1.1 arvados-controller"}},
		{"via second header", "GET", "/arvados/v1/workflows/" + wfB, []string{"Via", "1.1 a", "Via", "HTTP/1.1 keepfed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.local.calls.Load()
			hdr := append([]string{"Authorization", "Bearer " + tokA}, tc.hdr...)
			resp := call(e.h, tc.method, tc.uri, nil, hdr...)
			if resp.StatusCode() != 200 || e.local.calls.Load() != before+1 {
				t.Fatalf("status %d, local calls %d", resp.StatusCode(), e.local.calls.Load()-before)
			}
		})
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("remote got %d requests", n)
	}
}

// TestUnknownCluster: 404 naming the cluster, and not a single connection
// is made anywhere.
func TestUnknownCluster(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	for _, uri := range []string{
		"/arvados/v1/workflows/zzzzz-7fd4e-000000000000001",
		"/arvados/v1/collections/zzzzz-4zz18-000000000000001",
		"/arvados/v1/links?cluster_id=zzzzz",
		"/arvados/v1/groups?filters=" + urlq(`[["uuid","in",["zzzzz-j7d0g-000000000000001","zbbbb-j7d0g-000000000000001"]]]`),
	} {
		method := "GET"
		if strings.Contains(uri, "cluster_id") {
			method = "POST"
		}
		resp := call(e.h, method, uri, nil, "Authorization", "Bearer "+tokA)
		if resp.StatusCode() != 404 {
			t.Fatalf("%s: status %d %s", uri, resp.StatusCode(), resp.Body())
		}
		if errs := errorsOf(t, resp); len(errs) != 1 || errs[0] != "no proxy available for cluster zzzzz" {
			t.Errorf("%s: errors %q", uri, errs)
		}
	}
	if n := b.ln.n.Load(); n != 0 {
		t.Errorf("%d connections accepted", n)
	}
	if e.local.calls.Load() != 0 {
		t.Error("local backend called")
	}
}

// rawServer accepts connections on 127.0.0.1 and hands each to fn.
func rawServer(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); fn(c) }()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// TestTransportFailures: every way of not getting an HTTP answer is a 502
// naming the remote cluster; remote error statuses pass through unchanged.
func TestTransportFailures(t *testing.T) {
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		_ = l.Close()
		return a
	}()
	hang := rawServer(t, func(c net.Conn) { _, _ = bufio.NewReader(c).ReadString(0) })
	garbage := rawServer(t, func(c net.Conn) {
		_, _ = bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("this is not HTTP\r\n\r\n"))
		_ = c.Close()
	})
	plain := newFakeCluster(t, idB)
	cases := []struct {
		name string
		t    Target
		want string
	}{
		{"refused", Target{BaseURL: "http://" + refused}, "request to cluster zbbbb failed"},
		{"timeout", Target{BaseURL: "http://" + hang}, "request to cluster zbbbb timed out"},
		{"garbage", Target{BaseURL: "http://" + garbage}, "request to cluster zbbbb failed"},
		{"tls", Target{BaseURL: "https://" + strings.TrimPrefix(plain.url, "http://"), Insecure: true}, "request to cluster zbbbb failed"},
		{"bad url", Target{BaseURL: "ftp://x"}, "cluster zbbbb has an invalid address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{RequestTimeout: 300 * time.Millisecond, Resolver: StaticResolver{idB: tc.t}})
			start := time.Now()
			for _, m := range []string{"GET", "POST"} {
				resp := call(e.h, m, "/arvados/v1/workflows/"+wfB, []byte("{}"), "Authorization", "Bearer "+tokA)
				if resp.StatusCode() != 502 {
					t.Fatalf("%s: status %d %s", m, resp.StatusCode(), resp.Body())
				}
				if errs := errorsOf(t, resp); len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
					t.Errorf("%s: errors %q want %q", m, errs, tc.want)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestRemoteStatusPassThrough: a remote's own error answers reach the
// client as they are.
func TestRemoteStatusPassThrough(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	for _, st := range []int{400, 401, 403, 404, 422, 500, 503} {
		body := `{"errors":["remote says ` + fasthttp.StatusMessage(st) + `"],"error_token":"1+ab"}`
		b.setOverride(func(ctx *fasthttp.RequestCtx) {
			ctx.SetStatusCode(st)
			ctx.SetContentType("application/json")
			ctx.Response.Header.Set("X-Remote", "yes")
			ctx.SetBodyString(body)
		})
		resp := call(e.h, "GET", "/arvados/v1/workflows/"+wfB, nil, "Authorization", "Bearer "+tokA)
		if resp.StatusCode() != st || string(resp.Body()) != body || string(resp.Header.Peek("X-Remote")) != "yes" {
			t.Errorf("%d: got %d %q", st, resp.StatusCode(), resp.Body())
		}
	}
	// Redirects are answered, not followed.
	b.setOverride(func(ctx *fasthttp.RequestCtx) { ctx.Redirect("/elsewhere", 302) })
	resp := call(e.h, "GET", "/arvados/v1/workflows/"+wfB, nil)
	if resp.StatusCode() != 302 || len(b.requests()) != 8 {
		t.Errorf("redirect: status %d, %d requests", resp.StatusCode(), len(b.requests()))
	}
}

// TestUpstream: with an upstream API, local record requests go there with
// the client's credentials unchanged; remote ones still go to the remote.
func TestUpstream(t *testing.T) {
	up := newFakeCluster(t, localID)
	b := newFakeCluster(t, idB)
	ut := up.target()
	e := newEnv(t, Config{Upstream: &ut}, b)
	resp := call(e.h, "GET", "/arvados/v1/workflows/zaaaa-7fd4e-000000000000001?api_token="+tokA, nil, "Authorization", "Bearer "+tokA)
	if resp.StatusCode() != 200 || e.local.calls.Load() != 0 {
		t.Fatalf("status %d local %d", resp.StatusCode(), e.local.calls.Load())
	}
	r := up.last(t)
	if r.Auth != "Bearer "+tokA || r.Query != "api_token="+urlq(tokA) || !strings.Contains(r.Via, "keepfed") {
		t.Errorf("upstream got auth %q query %q via %q", r.Auth, r.Query, r.Via)
	}
	resp = call(e.h, "GET", "/arvados/v1/workflows/"+wfB, nil, "Authorization", "Bearer "+tokA)
	if resp.StatusCode() != 200 || b.last(t).Auth != "Bearer "+mustSalt(t, tokA, idB) {
		t.Errorf("remote: status %d auth %q", resp.StatusCode(), b.last(t).Auth)
	}
	// Non-API paths are not the upstream's business.
	call(e.h, "GET", "/_health/ping", nil)
	if e.local.calls.Load() != 1 || len(up.requests()) != 1 {
		t.Errorf("local %d upstream %d", e.local.calls.Load(), len(up.requests()))
	}
}

// TestNetHTTPRemote: a net/http remote answering chunked reaches the
// client whole, without hop-by-hop headers.
func TestNetHTTPRemote(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Value
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Clone())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "keep-alive")
		w.WriteHeader(201)
		for i := range 3 {
			_, _ = fmt.Fprintf(w, `{"part":%d}`, i)
			w.(http.Flusher).Flush()
		}
	})}
	done := make(chan struct{})
	go func() { _ = hs.Serve(l); close(done) }()
	t.Cleanup(func() { _ = hs.Close(); <-done })
	e := newEnv(t, Config{Resolver: StaticResolver{idB: {BaseURL: "http://" + l.Addr().String()}}})
	resp := call(e.h, "POST", "/arvados/v1/workflows?cluster_id=zbbbb", []byte(`{}`), "Authorization", "Bearer "+tokC, "Content-Type", "application/json")
	if resp.StatusCode() != 201 || string(resp.Body()) != `{"part":0}{"part":1}{"part":2}` {
		t.Fatalf("%d %q", resp.StatusCode(), resp.Body())
	}
	if te := resp.Header.Peek("Transfer-Encoding"); len(te) != 0 {
		t.Errorf("Transfer-Encoding %q", te)
	}
	h := got.Load().(http.Header)
	if h.Get("Authorization") != "Bearer "+mustSalt(t, tokC, idB) || !strings.Contains(h.Get("Via"), "keepfed") {
		t.Errorf("remote saw %v", h)
	}
}
