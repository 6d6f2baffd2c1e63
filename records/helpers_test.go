package records

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Pooled keep-alive connections are reaped by a per-client
		// goroutine that only notices an empty pool after its next tick.
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		// A shut-down fasthttp.Server's worker pool cleaner sleeps out its tick.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// fasthttp's default dialer keeps a DNS cache cleaner for the process.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's gzip helpers keep a process-wide worker pool.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp/stackless.funcWorker"),
	)
}

// quietLogger drops fasthttp's server log (the TLS test makes it noisy).
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

const (
	localID = "zaaaa"
	idB     = "zbbbb"
	idC     = "zcccc"
)

// Tokens issued by each cluster (secrets are not 40 bytes: not salted).
var (
	tokA = "v2/zaaaa-gj3su-000000000000001/" + strings.Repeat("a", 45)
	tokB = "v2/zbbbb-gj3su-000000000000002/" + strings.Repeat("b", 45)
	tokC = "v2/zcccc-gj3su-000000000000003/" + strings.Repeat("c", 45)
)

func mustSalt(t testing.TB, tok, cluster string) string {
	t.Helper()
	s, err := signing.SaltToken(tok, cluster)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// captured is one request a fake cluster received.
type captured struct {
	Method, Path, Query, Auth, Via, ReqID, ContentType, Cookie, Host string
	Headers                                                          map[string]string
	Body                                                             []byte
}

// fakeCluster is a small Arvados API on 127.0.0.1: it serves collections
// with manifests signed (its own key) for the presented token, looks
// collections up by PDH, answers uuid lists, echoes everything else, and
// records every request.
type fakeCluster struct {
	id   string
	keys *signing.KeyRing
	ln   *countingListener
	srv  *fasthttp.Server
	url  string

	mu    sync.Mutex
	reqs  []captured
	colls map[string]string          // uuid → unsigned manifest
	recs  map[string]json.RawMessage // uuid → record
	// override, when set, answers instead of the Arvados behaviour.
	override fasthttp.RequestHandler
}

func newFakeCluster(t testing.TB, id string) *fakeCluster {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCluster{
		id:    id,
		keys:  signing.NewKeyRing(time.Hour, []byte("key-of-"+id+"-0123456789012345678901234567890123456789")),
		ln:    &countingListener{Listener: l},
		url:   "http://" + l.Addr().String(),
		colls: map[string]string{},
		recs:  map[string]json.RawMessage{},
	}
	f.srv = &fasthttp.Server{Handler: f.handle, ReadTimeout: 5 * time.Second, Logger: quietLogger{}}
	done := make(chan struct{})
	go func() { _ = f.srv.Serve(f.ln); close(done) }()
	t.Cleanup(func() {
		_ = f.srv.Shutdown()
		_ = f.ln.Close() // in case Serve had not registered it yet
		<-done
	})
	return f
}

func (f *fakeCluster) target() Target { return Target{ID: f.id, BaseURL: f.url} }

func (f *fakeCluster) requests() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]captured(nil), f.reqs...)
}

func (f *fakeCluster) last(t testing.TB) captured {
	t.Helper()
	r := f.requests()
	if len(r) == 0 {
		t.Fatalf("cluster %s received no request", f.id)
	}
	return r[len(r)-1]
}

func (f *fakeCluster) addCollection(uuid, m string) {
	f.mu.Lock()
	f.colls[uuid] = m
	f.mu.Unlock()
}

func (f *fakeCluster) setOverride(h fasthttp.RequestHandler) {
	f.mu.Lock()
	f.override = h
	f.mu.Unlock()
}

func bearer(ctx *fasthttp.RequestCtx) string {
	a := string(ctx.Request.Header.Peek("Authorization"))
	return strings.TrimPrefix(a, "Bearer ")
}

func (f *fakeCluster) handle(ctx *fasthttp.RequestCtx) {
	c := captured{
		Method:      string(ctx.Method()),
		Path:        string(ctx.Path()),
		Query:       string(ctx.QueryArgs().QueryString()),
		Auth:        string(ctx.Request.Header.Peek("Authorization")),
		Via:         string(ctx.Request.Header.Peek("Via")),
		ReqID:       string(ctx.Request.Header.Peek("X-Request-Id")),
		ContentType: string(ctx.Request.Header.ContentType()),
		Cookie:      string(ctx.Request.Header.Peek("Cookie")),
		Host:        string(ctx.Host()),
		Headers:     map[string]string{},
		Body:        append([]byte(nil), ctx.Request.Body()...),
	}
	for k, v := range ctx.Request.Header.All() {
		c.Headers[string(k)] = string(v)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, c)
	override := f.override
	f.mu.Unlock()
	if override != nil {
		override(ctx)
		return
	}
	ctx.SetContentType("application/json")
	rest, _ := strings.CutPrefix(c.Path, "/arvados/v1/")
	typ, id, _ := strings.Cut(rest, "/")
	method := c.Method
	if method == "POST" {
		if m := ctx.PostArgs().Peek("_method"); len(m) > 0 {
			method = string(m)
		}
	}
	switch {
	case typ == "collections" && id != "" && method == "GET":
		f.serveCollection(ctx, id)
	case id == "" && method == "GET" && (ctx.QueryArgs().Has("filters") || ctx.PostArgs().Has("filters")):
		f.serveList(ctx, typ)
	default:
		f.echo(ctx, c)
	}
}

func (f *fakeCluster) signed(m, token string) string {
	return string(manifest.Sign(f.keys, token, time.Now().Add(time.Hour).Unix()).Rewrite([]byte(m)))
}

func (f *fakeCluster) serveCollection(ctx *fasthttp.RequestCtx, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := bearer(ctx)
	if m, ok := f.colls[id]; ok {
		writeJSON(ctx, 200, f.collectionRecord(id, m, tok))
		return
	}
	for _, m := range f.colls {
		if pdh := manifest.PortableDataHash([]byte(m)); strings.HasPrefix(id, pdh) {
			writeJSON(ctx, 200, map[string]any{"uuid": pdh, "portable_data_hash": pdh,
				"manifest_text": f.signed(m, tok)})
			return
		}
	}
	writeJSON(ctx, 404, map[string]any{"errors": []string{"Path not found"}})
}

func (f *fakeCluster) collectionRecord(uuid, m, tok string) map[string]any {
	return map[string]any{"kind": "arvados#collection", "uuid": uuid,
		"portable_data_hash": manifest.PortableDataHash([]byte(m)),
		"manifest_text":      f.signed(m, tok), "unsigned_manifest_text": m}
}

func (f *fakeCluster) serveList(ctx *fasthttp.RequestCtx, typ string) {
	raw := ctx.QueryArgs().Peek("filters")
	if len(raw) == 0 {
		raw = ctx.PostArgs().Peek("filters")
	}
	var filters [][]json.RawMessage
	_ = json.Unmarshal(raw, &filters)
	var uuids []string
	for _, fl := range filters {
		if len(fl) == 3 {
			var us []string
			if json.Unmarshal(fl[2], &us) != nil {
				var u string
				_ = json.Unmarshal(fl[2], &u)
				us = []string{u}
			}
			uuids = append(uuids, us...)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	items := []any{}
	for _, u := range uuids {
		if m, ok := f.colls[u]; ok {
			items = append(items, f.collectionRecord(u, m, bearer(ctx)))
		} else if r, ok := f.recs[u]; ok {
			items = append(items, r)
		}
	}
	writeJSON(ctx, 200, map[string]any{"kind": "arvados#" + strings.TrimSuffix(typ, "s") + "List", "items": items})
}

func (f *fakeCluster) echo(ctx *fasthttp.RequestCtx, c captured) {
	writeJSON(ctx, 200, map[string]any{"cluster": f.id, "method": c.Method, "path": c.Path,
		"query": c.Query, "body": string(c.Body)})
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// localBackend is the next handler: it counts calls and answers status with
// a small JSON body (or runs fn).
type localBackend struct {
	calls  atomic.Int64
	status int
	fn     fasthttp.RequestHandler
}

func (l *localBackend) handle(ctx *fasthttp.RequestCtx) {
	l.calls.Add(1)
	if l.fn != nil {
		l.fn(ctx)
		return
	}
	st := l.status
	if st == 0 {
		st = 200
	}
	writeJSON(ctx, st, map[string]any{"local": true, "path": string(ctx.Path())})
}

// env is a proxy for zaaaa in front of a local backend, with remotes.
type env struct {
	proxy *Proxy
	h     fasthttp.RequestHandler
	local *localBackend
}

func newEnv(t testing.TB, cfg Config, remotes ...*fakeCluster) *env {
	t.Helper()
	if cfg.LocalID == "" {
		cfg.LocalID = localID
	}
	if cfg.Resolver == nil {
		res := StaticResolver{}
		for _, r := range remotes {
			res[r.id] = r.target()
		}
		cfg.Resolver = res
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	lb := &localBackend{}
	return &env{proxy: p, h: p.Middleware(lb.handle), local: lb}
}

// call runs one request through h in-process; hdr are name, value pairs.
func call(h fasthttp.RequestHandler, method, uri string, body []byte, hdr ...string) *fasthttp.Response {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("keepfed.test")
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Content-Type") {
			req.Header.SetContentType(hdr[i+1])
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	if body != nil {
		req.SetBody(body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	h(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

// errorsOf decodes an {"errors":[...]} body.
func errorsOf(t testing.TB, resp *fasthttp.Response) []string {
	t.Helper()
	var b struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body(), &b); err != nil {
		t.Fatalf("error body %q: %v", resp.Body(), err)
	}
	if ct := string(resp.Header.ContentType()); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	return b.Errors
}

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

func formBody(kv ...string) []byte {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return []byte(v.Encode())
}

func urlq(s string) string { return url.QueryEscape(s) }
