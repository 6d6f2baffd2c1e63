package keepfed

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/valyala/fasthttp"
)

var (
	fuzzSrvOnce sync.Once
	fuzzSrv     *Server
	fuzzHandler fasthttp.RequestHandler
)

// fuzzServer is one complete keepfed (NewCluster, embedded store and
// identity) for the whole fuzz run; its only remote cluster is a closed
// loopback port, so nothing leaves the machine.
func fuzzServer(t testing.TB) fasthttp.RequestHandler {
	fuzzSrvOnce.Do(func() {
		cfg := testConfig(t, "xfuzz")
		cfg.API.KeepServiceRequestTimeout = config.Duration(200e6)
		cfg.API.RequestTimeout = config.Duration(500e6)
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
			"xrmte": {Host: "127.0.0.1:" + itoa(closedPort(t)), Scheme: "http", Proxy: true},
		}
		// testConfig's DataDir is a t.TempDir, removed with the first
		// fuzz input's test: use one that lives for the process
		dir, err := osMkdirTemp()
		if err != nil {
			t.Fatal(err)
		}
		cfg.KeepFed.DataDir = dir
		fuzzSrv, err = NewCluster(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		fuzzHandler = fuzzSrv.Handler()
	})
	if fuzzHandler == nil {
		t.Fatal("fuzz server failed to start")
	}
	return fuzzHandler
}

// FuzzHTTPRequest feeds arbitrary requests (method, URI, headers, body)
// through the complete handler in process, with no network: it must not
// panic, must answer a valid status, and every 4xx/5xx with a body must
// be a JSON {"errors":[...]} body.
func FuzzHTTPRequest(f *testing.F) {
	loc := "acbd18db4cc2f85cedef654fccc4a4d8+3"
	for _, s := range []struct{ m, uri, hdr, body string }{
		{"GET", "/_health/ping", "Authorization: Bearer " + testMgmtToken, ""},
		{"GET", "/metrics", "", ""},
		{"GET", "/" + loc, "Authorization: Bearer " + testRootToken, ""},
		{"PUT", "/" + loc[:32], "Authorization: Bearer " + testRootToken, "foo"},
		{"PUT", "/" + loc, "Authorization: OAuth2 " + testRootToken + "\nContent-Length: 99999999999", "foo"},
		{"HEAD", "/" + loc + "+Rxrmte-" + strings.Repeat("a", 40) + "@7fffffff", "Authorization: Bearer v2/xfuzz-gj3su-000000000000001/secret\nX-Keep-Signature: local", ""},
		{"GET", "//" + loc + "+Rzzzzz-x@1", "", ""},
		{"OPTIONS", "/arvados/v1/collections", "Origin: x", ""},
		{"GET", "/arvados/v1/keep_services/accessible", "", ""},
		{"POST", "/arvados/v1/collections?cluster_id=xrmte", "Content-Type: application/json\nAuthorization: Bearer " + testRootToken, `{"collection":{"manifest_text":". ` + loc + ` 0:3:a\n"}}`},
		{"POST", "/arvados/v1/collections", "Content-Type: application/x-www-form-urlencoded\nAuthorization: Bearer " + testRootToken, `collection={"name":"x"}&api_token=` + testRootToken},
		{"GET", "/arvados/v1/collections?filters=[[\"uuid\",\"in\",[\"xrmte-4zz18-000000000000001\",\"xfuzz-4zz18-000000000000001\"]]]&count=none", "Authorization: Bearer " + testRootToken, ""},
		{"GET", "/arvados/v1/users/current?api_token=v2/xrmte-gj3su-000000000000001/x", "Accept-Encoding: gzip", ""},
		{"PATCH", "/arvados/v1/collections/xfuzz-4zz18-000000000000001", "Content-Type: application/json\nContent-Encoding: gzip", "\x1f\x8b"},
		{"DELETE", "/arvados/v1/groups/" + loc, "Cookie: arvados_api_token=%%%", ""},
		{"POST", identity.TokenManagementPath, "Authorization: Bearer " + testRootToken, `{"email":"a@b"}`},
		{"GET", "/\x00/%zz?%%", "X-Request-Id: " + strings.Repeat("r", 300), ""},
		{"PUT", "/c=xfuzz-4zz18-000000000000001/a.txt", "Authorization: Bearer " + testRootToken, "hello"},
		{"GET", "/c=d41d8cd98f00b204e9800998ecf8427e-0/t=x/_/foo", "Range: bytes=0-1\nOrigin: x", ""},
	} {
		f.Add(s.m, s.uri, s.hdr, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, uri, hdr string, body []byte) {
		h := fuzzServer(t)
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(uri)
		for _, line := range strings.Split(hdr, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		if len(body) > 0 {
			req.SetBody(body)
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
		// a request must not hang: dump every goroutine if one does
		stuck := time.AfterFunc(10*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("%s %q hangs:\n%s", method, uri, buf[:n]))
		})
		h(&ctx)
		stuck.Stop()
		status := ctx.Response.StatusCode()
		if status < 100 || status > 599 {
			t.Fatalf("%s %q: status %d", method, uri, status)
		}
		out := ctx.Response.Body()     // reads a streamed body whole
		ctx.Response.CloseBodyStream() //nolint:errcheck // releases the stream
		if status >= 400 && len(out) > 0 && method != fasthttp.MethodHead {
			if ct := string(ctx.Response.Header.ContentType()); ct != "application/json" {
				t.Fatalf("%s %q: %d with Content-Type %q: %q", method, uri, status, ct, out)
			}
			if len(ctx.Response.Header.ContentEncoding()) > 0 {
				return
			}
			var e struct {
				Errors []string `json:"errors"`
			}
			if err := json.Unmarshal(out, &e); err != nil || len(e.Errors) == 0 {
				t.Fatalf("%s %q: %d body is not a JSON error: %q", method, uri, status, out)
			}
		}
	})
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "keepfed-fuzz-") }
