package keepfed

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The fault matrix: every operation that may reach a remote cluster, run
// against a remote cluster that misbehaves in one way. Adding a fault is
// one line in faultTable; adding an operation is one line in faultOps.

const (
	faultCluster  = "xfalt" // the misbehaving remote
	faultHome     = "xhome" // the keepfed under test
	faultTokenID  = faultCluster + "-gj3su-000000000000001"
	faultUserUUID = faultCluster + "-tpzed-000000000000001"
)

// faultToken is a token the misbehaving cluster "issued".
var faultToken = "v2/" + faultTokenID + "/" + strings.Repeat("f", 45)

// faultBlock is the block the remote serves (small: the drip fault sends
// it one byte a second).
var faultBlock = []byte("ok!")

// A fault says what the remote does with a request. Discovery
// (keep_services/accessible) is answered correctly unless onDiscovery is
// set, so that block faults reach the block path.
type fault struct {
	name        string
	onDiscovery bool
	// serve answers one request given the correct answer (status, body);
	// nil with refused.
	serve   func(f *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte)
	refused bool
}

var faultTable = []fault{
	{name: "ok", serve: serveOK},
	{name: "refused", refused: true},
	{name: "hang", serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
		f.wait(10 * time.Second)
	}},
	{name: "drip", serve: serveDrip},
	{name: "reset", serve: serveCut(true)},
	{name: "short", serve: serveCut(false)},
	{name: "flip", serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte) {
		b := append([]byte(nil), body...)
		if len(b) > 0 {
			b[len(b)-1] ^= 0x20
		}
		serveOK(f, w, r, status, b)
	}},
	{name: "badlen", serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte) {
		// Content-Length one less than the body it then sends whole
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		writeRawHeadStatus(bw, status, len(body)-1)
		if r.Method != http.MethodHead {
			bw.Write(body)
		}
		bw.Flush()
		f.wait(2 * time.Second)
	}},
	// headers at once, then the body a byte every dripEvery: slower than
	// KeepFed.RemoteMinRate, so the block body is cut by the rate check
	{name: "slowbody", serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		writeRawHeadStatus(bw, status, len(body))
		bw.Flush()
		if r.Method == http.MethodHead {
			return
		}
		for _, c := range body {
			if _, err := conn.Write([]byte{c}); err != nil {
				return
			}
			f.wait(dripEvery)
			if !f.alive() {
				return
			}
		}
	}},
	// every answer gzip-encoded although nobody asked: a block is refused
	{name: "gzip", serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte) {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(body)
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(zb.Len()))
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			w.Write(zb.Bytes())
		}
	}},
	// a 503 whose HTML body holds a secret: a block error never echoes it
	{name: "leak", serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(503)
		io.WriteString(w, "<html>"+leakSecret+"</html>")
	}},
	{name: "500", serve: serveStatus(500)},
	{name: "503", serve: serveStatus(503)},
	{name: "429", serve: serveStatus(429)},
	{name: "404", serve: serveStatus(404)},
	{name: "401", serve: serveStatus(401)},
	{name: "badjson", onDiscovery: true, serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		io.WriteString(w, `{"items":[{"uuid":`)
	}},
	{name: "hugejson", onDiscovery: true, serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		io.WriteString(w, `{"items":[`)
		chunk := []byte(strings.Repeat(`"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",`, 1000))
		for i := 0; i < 3000 && f.alive(); i++ { // ~200 MB unless cut off
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `""]}`)
	}},
	{name: "redirectloop", serve: func(f *faultRemote, w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
		http.Redirect(w, r, r.URL.String(), http.StatusFound)
	}},
}

// A faultOp is one operation sent to the keepfed under test. want gives,
// for a fault, the statuses allowed (an empty set skips the cell, with
// the reason). named says whether a keepfed-made error must name the
// remote cluster.
type faultOp struct {
	name string
	head bool // no body to check
	do   func(t *testing.T, e *faultEnv) result
	// check verifies a 200 answer's body is the right data
	check func(t *testing.T, e *faultEnv, r result)
	want  func(f fault) (statuses []int, skip string)
}

var faultOps = []faultOp{
	{
		name: "remote block GET",
		do: func(t *testing.T, e *faultEnv) result {
			return fdo(t, http.MethodGet, e.home.url+"/"+e.remoteLoc, e.homeToken, nil)
		},
		check: func(t *testing.T, e *faultEnv, r result) {
			assert.NoError(t, r.readErr)
			assert.Equal(t, faultBlock, r.body, "a complete 200 body must be the right data")
		},
		want: blockWant,
	},
	{
		name: "remote block HEAD",
		head: true,
		do: func(t *testing.T, e *faultEnv) result {
			return fdo(t, http.MethodHead, e.home.url+"/"+e.remoteLoc, e.homeToken, nil)
		},
		want: func(f fault) ([]int, string) {
			switch f.name {
			case "flip", "short", "reset", "drip", "slowbody":
				// a HEAD has no body to damage: the remote's headers are
				// all keepfed reads
				return []int{200, 502}, ""
			}
			return blockWant(f)
		},
	},
	{
		name: "local block GET",
		do: func(t *testing.T, e *faultEnv) result {
			return fdo(t, http.MethodGet, e.home.url+"/"+e.localLoc, testRootToken, nil)
		},
		check: func(t *testing.T, e *faultEnv, r result) { assert.Equal(t, e.localData, r.body) },
		want:  func(fault) ([]int, string) { return []int{200}, "" }, // never touches the remote
	},
	{
		name: "local block PUT",
		do: func(t *testing.T, e *faultEnv) result {
			d := []byte("local put " + e.fault)
			return fdo(t, http.MethodPut, e.home.url+"/"+md5hex(d), testRootToken, d)
		},
		want: func(fault) ([]int, string) { return []int{200}, "" },
	},
	{
		name: "record proxy GET",
		do: func(t *testing.T, e *faultEnv) result {
			return fdo(t, http.MethodGet, e.home.url+"/arvados/v1/collections/"+faultCluster+"-4zz18-000000000000001", e.homeToken, nil)
		},
		check: recordCheck,
		want:  recordWant,
	},
	{
		name: "record proxy POST",
		do: func(t *testing.T, e *faultEnv) result {
			return fdo(t, http.MethodPost, e.home.url+"/arvados/v1/collections?cluster_id="+faultCluster, e.homeToken,
				[]byte(`{"collection":{"name":"x","manifest_text":""}}`), "Content-Type", "application/json")
		},
		check: recordCheck,
		want:  recordWant,
	},
	{
		// a user of the misbehaving cluster writes a block here: keepfed
		// validates the token with its issuer
		name: "remote token validation",
		do: func(t *testing.T, e *faultEnv) result {
			d := []byte("remote user put " + e.fault)
			return fdo(t, http.MethodPut, e.home.url+"/"+md5hex(d), faultToken, d)
		},
		want: func(f fault) ([]int, string) {
			switch f.name {
			case "ok":
				return []int{200}, ""
			case "500", "503":
				// spec 2.4: a 5xx from the issuer is passed on
				s, _ := strconv.Atoi(f.name)
				return []int{s}, ""
			case "leak":
				return []int{503}, ""
			case "429", "404", "401":
				// any 4xx from the issuer: the token is not valid here
				return []int{401, 403}, ""
			case "flip":
				// the JSON's last byte flipped: undecodable
				return []int{502}, ""
			case "redirectloop":
				return []int{401, 403}, ""
			}
			return []int{502}, ""
		},
	},
}

// recordCheck: a 200 record is the right one, or not JSON at all (a
// damaged body a client cannot take for data).
func recordCheck(t *testing.T, e *faultEnv, r result) {
	var c map[string]any
	if json.Unmarshal(r.body, &c) != nil {
		assert.NotEqual(t, "ok", e.fault, "a healthy remote's record must parse: %q", r.body)
		return
	}
	assert.Equal(t, faultCluster+"-4zz18-000000000000001", c["uuid"])
	assert.Equal(t, "", c["manifest_text"])
}

func blockWant(f fault) ([]int, string) {
	switch f.name {
	case "ok":
		return []int{200}, ""
	case "404":
		// every service answered 404 (fetch.go: all 404 → 404)
		return []int{404}, ""
	case "401":
		// the remote refused the signature or token
		return []int{403}, ""
	case "flip", "reset", "short":
		// keepfed sends the 200 before the body (the size is known); the
		// damage is found while streaming and the body is cut, so the
		// client never gets a complete 200 body with wrong data
		return []int{200, 502}, ""
	case "drip":
		// the 3-byte body drips within the idle timeout: it arrives,
		// slowly but whole; only the headers are bounded by the deadline
		return []int{200, 502}, ""
	case "slowbody":
		// the 200 goes out with the headers; the body is cut by
		// RemoteMinRate
		return []int{200}, ""
	}
	// gzip and leak included: 502 naming the cluster
	return []int{502}, ""
}

func recordWant(f fault) ([]int, string) {
	switch f.name {
	case "ok":
		return []int{200}, ""
	case "500", "503", "429", "404", "401":
		// spec 7.2: the remote's status and body are copied verbatim
		s, _ := strconv.Atoi(f.name)
		return []int{s}, ""
	case "redirectloop":
		// spec 7.2: redirects are not followed; the 302 is passed on
		return []int{302}, ""
	case "flip", "badjson", "badlen":
		// records carry no checksum and are copied verbatim (spec 7.2):
		// a damaged body may pass, but only as JSON no client parses
		// (checked by recordCheck), or keepfed refuses it
		return []int{200, 502}, ""
	case "drip", "slowbody":
		return []int{502, 504}, ""
	case "gzip":
		// records may be encoded: decoded (and bounded) by the record
		// proxy, or refused
		return []int{200, 502}, ""
	case "leak":
		// spec 7.2: the API server's answer is copied verbatim (it is the
		// configured host, not an address a remote named)
		return []int{503}, ""
	}
	return []int{502, 504}, ""
}

// faultRemote is a remote cluster on 127.0.0.1 that applies one fault to
// every request (but discovery, unless the fault says so).
type faultRemote struct {
	srv    *httptest.Server
	host   string
	fault  fault
	stopCh chan struct{}
	hits   atomic.Int64
}

func newFaultRemote(t *testing.T, f fault) *faultRemote {
	fr := &faultRemote{fault: f, stopCh: make(chan struct{})}
	if f.refused {
		fr.host = "127.0.0.1:" + strconv.Itoa(closedPort(t))
		return fr
	}
	fr.srv = httptest.NewServer(http.HandlerFunc(fr.serve))
	fr.host = strings.TrimPrefix(fr.srv.URL, "http://")
	return fr
}

func (fr *faultRemote) close() {
	close(fr.stopCh)
	if fr.srv != nil {
		fr.srv.CloseClientConnections()
		fr.srv.Close()
	}
}

func (fr *faultRemote) alive() bool {
	select {
	case <-fr.stopCh:
		return false
	default:
		return true
	}
}

func (fr *faultRemote) wait(d time.Duration) {
	select {
	case <-fr.stopCh:
	case <-time.After(d):
	}
}

// answer is what a healthy cluster answers.
func (fr *faultRemote) answer(r *http.Request) (int, []byte, bool) {
	p := r.URL.Path
	switch {
	case p == "/arvados/v1/keep_services/accessible":
		host, port, _ := net.SplitHostPort(fr.host)
		pn, _ := strconv.Atoi(port)
		b, _ := json.Marshal(remotes.KeepServiceList{Kind: "arvados#keepServiceList", ItemsAvailable: 1,
			Items: []remotes.KeepService{{Kind: "arvados#keepService", UUID: faultCluster + "-bi6l4-000000000000001", Host: host, Port: pn, Type: "disk"}}})
		return 200, b, true
	case p == "/arvados/v1/api_client_authorizations/current":
		return 200, []byte(`{"kind":"arvados#apiClientAuthorization","uuid":"` + faultTokenID + `","owner_uuid":"` + faultUserUUID + `","scopes":["all"]}`), false
	case p == "/arvados/v1/users/current":
		return 200, []byte(`{"kind":"arvados#user","uuid":"` + faultUserUUID + `","email":"f@example.com","is_active":true}`), false
	case strings.HasPrefix(p, "/arvados/v1/collections"):
		return 200, []byte(`{"kind":"arvados#collection","uuid":"` + faultCluster + `-4zz18-000000000000001","manifest_text":"","portable_data_hash":"d41d8cd98f00b204e9800998ecf8427e+0"}`), false
	case len(p) > 33 && signing.KeepstoreRouteMatch(p[1:]):
		return 200, faultBlock, false
	}
	return 404, []byte(`{"errors":["not found"]}`), false
}

func (fr *faultRemote) serve(w http.ResponseWriter, r *http.Request) {
	fr.hits.Add(1)
	status, body, discovery := fr.answer(r)
	if discovery && !fr.fault.onDiscovery {
		serveOK(fr, w, r, status, body)
		return
	}
	fr.fault.serve(fr, w, r, status, body)
}

func serveOK(_ *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte) {
	if body[0] == '{' {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func serveStatus(code int) func(*faultRemote, http.ResponseWriter, *http.Request, int, []byte) {
	return func(_ *faultRemote, w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, `{"errors":["fault `+strconv.Itoa(code)+`"]}`)
	}
}

// serveDrip sends the whole response, status line and headers included,
// one byte every dripEvery: faster than the idle timeout (1s), so only an
// overall deadline stops it.
const dripEvery = 400 * time.Millisecond

func serveDrip(f *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nContent-Type: application/octet-stream\r\n\r\n")
	if r.Method != http.MethodHead {
		b.Write(body)
	}
	for _, c := range b.Bytes() {
		if _, err := conn.Write([]byte{c}); err != nil {
			return
		}
		f.wait(dripEvery)
		if !f.alive() {
			return
		}
	}
}

// serveCut sends the headers with the full Content-Length and half the
// body, then resets (rst) or closes the connection.
func serveCut(rst bool) func(*faultRemote, http.ResponseWriter, *http.Request, int, []byte) {
	return func(_ *faultRemote, w http.ResponseWriter, r *http.Request, status int, body []byte) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		writeRawHeadStatus(bw, status, len(body))
		if r.Method != http.MethodHead {
			bw.Write(body[:len(body)/2])
		}
		bw.Flush()
		if rst {
			conn.(*net.TCPConn).SetLinger(0)
		}
		conn.Close()
	}
}

func writeRawHeadStatus(bw *bufio.ReadWriter, status, n int) {
	bw.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " OK\r\nContent-Length: " + strconv.Itoa(n) + "\r\nContent-Type: application/json\r\n\r\n")
}

// faultEnv is one row of the matrix: a keepfed (NewCluster) whose remote
// cluster faultCluster is a faultRemote.
type faultEnv struct {
	fault     string
	remote    *faultRemote
	home      *testCluster
	homeToken string
	remoteLoc string // a +R locator naming faultCluster
	localLoc  string
	localData []byte
}

// faultConfig is the keepfed under test: small timeouts so the matrix is
// quick.
func faultConfig(t *testing.T, remoteHost string) *config.ClusterConfig {
	cfg := testConfig(t, faultHome)
	cfg.API.KeepServiceRequestTimeout = config.Duration(time.Second)
	cfg.API.RequestTimeout = config.Duration(time.Second)
	// well under a byte per dripEvery: the slowbody fault is cut by it
	cfg.KeepFed.RemoteMinRate = 1 << 10
	cfg.KeepFed.RemoteMinRateWindow = config.Duration(300 * time.Millisecond)
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
		faultCluster: {Host: remoteHost, Scheme: "http", Proxy: true, ActivateUsers: true},
	}
	return cfg
}

// startFullCluster is startCluster with NewCluster (identity, records).
func startFullCluster(t testing.TB, cfg *config.ClusterConfig, logs io.Writer) *testCluster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.KeepFed.Listen = ln.Addr().String()
	cfg.KeepFed.ExternalURL = "http://" + ln.Addr().String()
	tc := &testCluster{t: t, cfg: cfg, url: cfg.KeepFed.ExternalURL, logs: &syncBuffer{}, done: make(chan error, 1)}
	if logs == nil {
		logs = tc.logs
	}
	tc.srv, err = NewCluster(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	require.NoError(t, err)
	go func() { tc.done <- tc.srv.Serve(ln) }()
	t.Cleanup(tc.stop)
	return tc
}

// issue returns a token of a new local user of tc.
func (tc *testCluster) issue(t testing.TB, email string) string {
	t.Helper()
	r := do(t, http.MethodPost, tc.url+identity.TokenManagementPath, testRootToken, []byte(`{"email":"`+email+`"}`))
	require.Equal(t, 200, r.status, string(r.body))
	var issued identity.IssuedToken
	require.NoError(t, json.Unmarshal(r.body, &issued))
	return issued.Token
}

// fasthttpLeaks are process-wide fasthttp goroutines that outlive a
// stopped server or client by one tick of their cleaner.
var fasthttpLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	// a fasthttp.Client's host map cleaner sleeps up to 10s between looks
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp/stackless.funcWorker"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
}

func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix: a few seconds per fault")
	}
	cells := 0
	for _, f := range faultTable {
		t.Run(f.name, func(t *testing.T) {
			ignore := append([]goleak.Option{goleak.IgnoreCurrent()}, fasthttpLeaks...)
			fr := newFaultRemote(t, f)
			e := &faultEnv{fault: f.name, remote: fr}
			e.home = startFullCluster(t, faultConfig(t, fr.host), nil)
			e.homeToken = e.home.issue(t, "h@example.com")
			salted, err := signing.SaltToken(e.homeToken, faultCluster)
			require.NoError(t, err)
			// the remote's signature for the salted token, as its
			// controller would write it, then the +R form
			signed := testRemoteRing().AppendSigned(nil, md5hex(faultBlock)+"+"+strconv.Itoa(len(faultBlock)), salted, time.Now().Add(time.Hour).Unix())
			e.remoteLoc = string(signing.AppendToRemote(nil, string(signed), faultCluster))
			e.localData = []byte("local data for " + f.name)
			e.localLoc = e.home.putBlock(t, e.localData)

			for _, op := range faultOps {
				want, skip := op.want(f)
				if skip != "" {
					t.Logf("skip %s × %s: %s", f.name, op.name, skip)
					continue
				}
				cells++
				start := time.Now()
				r := op.do(t, e)
				took := time.Since(start)
				assert.Contains(t, want, r.status, "%s × %s: body %q", f.name, op.name, r.body)
				assert.Less(t, took, 8*time.Second, "%s × %s took %s", f.name, op.name, took)
				if strings.HasPrefix(op.name, "remote block") {
					assert.NotContains(t, string(r.body), leakSecret, "%s × %s: a block error never echoes the remote's body", f.name, op.name)
				}
				if f.name == "slowbody" && op.name == "remote block GET" {
					assert.Error(t, r.readErr, "a body slower than RemoteMinRate is cut")
				}
				switch {
				case r.status == 200 && r.readErr == nil && op.check != nil:
					op.check(t, e, r)
				case r.status >= 400 && op.head:
					assert.Equal(t, "application/json", r.header.Get("Content-Type"))
				case r.status >= 400 && !passthrough(r, f):
					assertJSONError(t, r, r.status, "")
					if r.status == 502 || r.status == 504 || (r.status == 403 && strings.HasPrefix(op.name, "remote block")) {
						assert.Contains(t, string(r.body), faultCluster, "%s × %s: the error names the remote", f.name, op.name)
					}
				}
				if t.Failed() {
					t.Logf("%s × %s: %d %q (%s)", f.name, op.name, r.status, r.body, took)
				}
			}
			// still healthy
			r := do(t, http.MethodGet, e.home.url+"/_health/ping", testMgmtToken, nil)
			assert.Equal(t, http.StatusOK, r.status, string(r.body))

			e.home.stop()
			fr.close()
			testClient.CloseIdleConnections()
			goleak.VerifyNone(t, ignore...)
		})
	}
	t.Logf("%d faults × %d operations: %d cells run", len(faultTable), len(faultOps), cells)
}

// passthrough reports whether r is the remote's own error answer, copied
// verbatim by the record proxy (spec 7.2), rather than one keepfed made.
func passthrough(r result, f fault) bool {
	return strings.Contains(string(r.body), `"fault `) || strings.Contains(string(r.body), leakSecret)
}

// testRemoteRing is a stand-in for the remote cluster's signing key (the
// fake remote does not check signatures).
func testRemoteRing() *signing.KeyRing {
	return signing.NewKeyRing(336*time.Hour, []byte("key-of-"+faultCluster+"-0123456789abcdefghijklmnopqrstuvwxyz0123456789"))
}

// noRedirectClient is testClient without following redirects: the
// redirect fault's 302 is what the test looks at.
var noRedirectClient = &http.Client{
	Timeout:       20 * time.Second,
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// fdo is do with noRedirectClient.
func fdo(t testing.TB, method, url, token string, body []byte, hdr ...string) result {
	t.Helper()
	return doWith(t, noRedirectClient, method, url, token, body, hdr...)
}
