package keepfed

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of docs/RELIABILITY.md, "Denial of service": one client, or one
// remote cluster, must not take the server. Every client here is a raw
// net.Conn that misbehaves on purpose.

// dialFrom opens a raw connection to tc from local address ip (any
// 127.0.0.0/8 address reaches the loopback listener, so a test can play
// several clients). rcvbuf > 0 shrinks the socket's receive buffer before
// connecting, so a client that does not read stops the server's writes
// early.
func dialFrom(t testing.TB, tc *testCluster, ip string, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", strings.TrimPrefix(tc.url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// readResp reads one response from c, waiting at most d.
func readResp(c net.Conn, d time.Duration) (int, string, error) {
	c.SetReadDeadline(time.Now().Add(d)) //nolint:errcheck // test
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// secDoSConfig is testConfig with small timeouts and the given global
// limit.
func secDoSConfig(t testing.TB, id string, max int) *config.ClusterConfig {
	cfg := testConfig(t, id)
	cfg.API.MaxConcurrentRequests = max
	cfg.API.RequestTimeout = config.Duration(20 * time.Second) // longer than any test: the cuts below are the new limits'
	cfg.KeepFed.WriteIdleTimeout = config.Duration(300 * time.Millisecond)
	cfg.KeepFed.MinRequestBodyRate = 4 << 10
	cfg.KeepFed.RequestBodyGracePeriod = config.Duration(300 * time.Millisecond)
	return cfg
}

// TestFasthttpLogsNoSecrets: fasthttp's own log lines (a malformed
// request, a connection error) never hold the token the request carried,
// wherever it was.
func TestFasthttpLogsNoSecrets(t *testing.T) {
	const secret = "v2/zzzzz-gj3su-000000000000007/fasthttplogsecret0123456789"
	cookie := base64.URLEncoding.EncodeToString([]byte(secret))
	tc := startCluster(t, testConfig(t, "zzzzz"), Options{})
	cases := []struct{ name, raw string }{
		{"header without colon, Authorization", "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + secret + "\r\nno colon here\r\n\r\n"},
		{"header without colon, query", "GET /x?api_token=" + secret + " HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n"},
		{"header without colon, cookie", "GET /x HTTP/1.1\r\nHost: a\r\nCookie: arvados_api_token=" + cookie + "\r\nno colon here\r\n\r\n"},
		{"bad first line, query", "GET /x?api_token=" + secret + " HTTP/1.1 extra\r\nHost: a\r\n\r\n"},
		{"bad first line, Authorization", "GET\r\nAuthorization: Bearer " + secret + "\r\n\r\n"},
		{"bad Content-Length", "POST /x?api_token=" + secret + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + secret + "\r\nContent-Length: nonsense\r\n\r\n"},
		{"bad chunk", "POST /arvados/v1/collections?api_token=" + secret + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + secret + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"},
		{"bad Host", "GET /x?api_token=" + secret + " HTTP/1.1\r\nHost: a b\r\nAuthorization: Bearer " + secret + "\r\n\r\n"},
		{"two Content-Lengths", "POST /x?api_token=" + secret + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + secret + "\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"},
		{"oversized header", "GET /x?api_token=" + secret + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + secret + "\r\nX-Big: " + strings.Repeat("b", 64<<10) + "\r\n\r\n"},
		{"cut mid-header", "GET /x?api_token=" + secret + " HTTP/1.1\r\nAuthorization: Bearer " + secret + "\r\nX-Cut: a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := dialFrom(t, tc, "127.0.0.1", 0)
			conn.Write([]byte(c.raw)) //nolint:errcheck // the server may close early
			if cw, ok := conn.(*net.TCPConn); ok {
				cw.CloseWrite() //nolint:errcheck // test
			}
			conn.SetReadDeadline(time.Now().Add(3 * time.Second)) //nolint:errcheck // test
			io.Copy(io.Discard, conn)                             //nolint:errcheck // until the server closes
		})
	}
	time.Sleep(50 * time.Millisecond)
	logs := tc.logs.String()
	assert.Contains(t, logs, `"source":"fasthttp"`, "fasthttp logged these requests (else this test proves nothing)")
	for _, s := range []string{secret, "fasthttplogsecret", cookie} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the token (%.12s…):\n%s", s, logs)
			break
		}
	}
	t.Logf("fasthttp lines: %s", grepLines(logs, `"source":"fasthttp"`))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStalledReaderLosesItsSlot: clients that request a large block and
// never read take a slot each only until KeepFed.WriteIdleTimeout (1s
// here); then
// their connections are cut and everyone else is served again.
func TestStalledReaderLosesItsSlot(t *testing.T) {
	cfg := secDoSConfig(t, "xhome", 4)
	cfg.KeepFed.MaxConcurrentRequestsPerClient = -1 // the global limit alone
	cfg.KeepFed.WriteIdleTimeout = config.Duration(time.Second)
	tc := startCluster(t, cfg, Options{})
	data := bytes.Repeat([]byte("stalled reader "), (16<<20)/15)
	r := do(t, http.MethodPut, tc.url+"/"+md5hex(data), testRootToken, data)
	require.Equal(t, 200, r.status, string(r.body))
	loc := strings.TrimSpace(string(r.body))
	for i := 0; i < cfg.API.MaxConcurrentRequests; i++ {
		c := dialFrom(t, tc, "127.0.0.1", 4096)
		_, err := fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", loc, testRootToken)
		require.NoError(t, err)
	}
	// the slots are taken (the streams cannot finish) ...
	require.Eventually(t, func() bool {
		return do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", testRootToken, nil).status == 503
	}, 2*time.Second, 20*time.Millisecond, "the stalled readers hold every slot")
	// ... until the write idle timeout cuts them
	require.Eventually(t, func() bool {
		return do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", testRootToken, nil).status == 200
	}, 8*time.Second, 50*time.Millisecond, "a client that stopped reading keeps its slot")
	r = do(t, http.MethodGet, tc.url+"/"+loc, testRootToken, nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, len(data), len(r.body), "a reading client gets the whole block")
}

// TestWriteIdleTracksProgress: the write deadline is per window of no
// progress, not per response: a slow reader that keeps reading gets a
// write that takes many windows; one that stops reading fails within
// about one window.
func TestWriteIdleTracksProgress(t *testing.T) {
	const idle = 100 * time.Millisecond
	for _, c := range []struct {
		name     string
		stopAt   int // bytes the peer reads before it stops (-1: all)
		wantFail bool
	}{
		{"slow but steady", -1, false},
		{"stops reading", 8 << 10, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srvSide, cliSide := net.Pipe()
			defer srvSide.Close()
			defer cliSide.Close()
			mc := &markConn{Conn: srvSide, writeIdle: idle}
			go func() {
				buf := make([]byte, 2<<10)
				read := 0
				for c.stopAt < 0 || read < c.stopAt {
					time.Sleep(idle / 4)
					n, err := cliSide.Read(buf)
					read += n
					if err != nil {
						return
					}
				}
			}()
			payload := make([]byte, 64<<10) // 32 reads of 2 KiB, 8 windows at least
			start := time.Now()
			n, err := mc.Write(payload)
			if c.wantFail {
				require.Error(t, err)
				assert.Less(t, n, len(payload))
				assert.Less(t, time.Since(start), 5*time.Second)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, len(payload), n)
			assert.Greater(t, time.Since(start), idle, "the write spanned several idle windows")
		})
	}
}

// drip sends head and the first preRead bytes of body (what fasthttp reads
// before it calls a handler), then the rest one byte every 50ms until stop
// is closed or the server closes the connection.
func drip(c net.Conn, head, body string, stop <-chan struct{}) {
	pre := min(len(body), preReadBody)
	if _, err := io.WriteString(c, head+body[:pre]); err != nil {
		return
	}
	body = body[pre:]
	for i := 0; i < len(body); i++ {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := c.Write([]byte{body[i]}); err != nil {
			return
		}
	}
}

// TestSlowBodyCut: a body that arrives slower than
// KeepFed.MinRequestBodyRate (after the grace period) is cut with 408, on
// block PUTs and record requests alike, and the slot is free again.
func TestSlowBodyCut(t *testing.T) {
	cfg := secDoSConfig(t, "xhome", 8)
	tc := startFullCluster(t, cfg, nil)
	token := tc.issue(t, "slow@example.com")
	body := strings.Repeat("z", 20000)
	for _, c := range []struct {
		name, head, body string
	}{
		{"block PUT", "PUT /" + md5hex([]byte(body)) + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 20000\r\n\r\n", body},
		{"record POST", "POST /arvados/v1/collections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n", body},
		{"chunked record POST", "POST /arvados/v1/collections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4e20\r\n", body},
		// fasthttp reads these first bytes before any handler
		{"first bytes of a body", "POST /arvados/v1/collections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dialFrom(t, tc, "127.0.0.1", 0)
			stop := make(chan struct{})
			defer close(stop)
			if c.body == "" {
				go func() {
					conn.Write([]byte(c.head)) //nolint:errcheck // test
					for i := 0; i < 200; i++ {
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond):
						}
						conn.Write([]byte("y")) //nolint:errcheck // test
					}
				}()
			} else {
				go drip(conn, c.head, c.body, stop)
			}
			start := time.Now()
			status, msg, err := readResp(conn, 5*time.Second)
			require.NoError(t, err, "no answer to a dripped body within 5s")
			assert.Equal(t, http.StatusRequestTimeout, status, msg)
			t.Logf("cut after %s", time.Since(start))
		})
	}
	r := do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", token, nil)
	assert.Equal(t, 200, r.status)
	// a body at a normal pace is untouched
	r = do(t, http.MethodPost, tc.url+"/arvados/v1/collections", token, []byte(`{"collection":{"name":"fine"}}`), "Content-Type", "application/json")
	assert.Equal(t, 200, r.status, string(r.body))
}

// TestUnauthenticatedDripsTakeNoSlots: connections that stall in a body
// without a valid token never hold the server's slots: bad tokens on block
// PUTs and record writes are refused before the body is read (the body is
// then drained for the answer, holding no slot), anonymous requests share
// a small budget, so an authenticated client is still served.
func TestUnauthenticatedDripsTakeNoSlots(t *testing.T) {
	cfg := secDoSConfig(t, "xhome", 8)
	cfg.KeepFed.MaxConcurrentRequestsPerClient = -1 // the attackers share the test's address
	cfg.KeepFed.RequestBodyGracePeriod = config.Duration(20 * time.Second)
	tc := startFullCluster(t, cfg, nil)
	token := tc.issue(t, "good@example.com")
	const bogus = "v2/xhome-gj3su-000000000000bad/bogusbogusbogusbogusbogusbogus"
	hash := md5hex([]byte("whatever"))
	const size = 20000
	type attack struct {
		name, head, body string
		status           []int // what the attacker may get once its body is sent
	}
	block := strings.Repeat("d", size)
	// a record body that is valid JSON, so that the one that may get the
	// anonymous place is answered for its missing token (an invalid one
	// is a 400, its token still possibly in the body)
	record := `{"collection":{"name":"` + strings.Repeat("d", size-len(`{"collection":{"name":""}}`)) + `"}}`
	var attacks []attack
	for i := 0; i < 8; i++ {
		attacks = append(attacks,
			attack{"bad token PUT", "PUT /" + hash + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bogus + "\r\nContent-Length: 20000\r\n\r\n", block, []int{403}},
			// 503 once the anonymous budget is taken
			attack{"no token PUT", "PUT /" + hash + " HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n", block, []int{401, 503}},
			attack{"bad token record write", "POST /arvados/v1/collections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bogus + "\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n", record, []int{401}},
			attack{"anonymous record write", "POST /arvados/v1/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n", record, []int{401, 503}},
		)
	}
	conns := make([]net.Conn, len(attacks))
	for i, a := range attacks {
		conns[i] = dialFrom(t, tc, "127.0.0.1", 0)
		// the headers and what fasthttp reads before any handler, then
		// a stall
		_, err := io.WriteString(conns[i], a.head+a.body[:preReadBody])
		require.NoError(t, err)
	}
	adm := tc.srv.admission
	slots := func() int { adm.mu.Lock(); defer adm.mu.Unlock(); return adm.global }
	time.Sleep(500 * time.Millisecond) // let every attacker reach admission
	assert.LessOrEqual(t, slots(), 1, "only the anonymous budget (max(1, 8/8)) may hold a slot")
	r := do(t, http.MethodPost, tc.url+"/arvados/v1/collections", token, []byte(`{"collection":{"name":"served"}}`), "Content-Type", "application/json")
	assert.Equal(t, 200, r.status, string(r.body))
	r = do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", token, nil)
	assert.Equal(t, 200, r.status, string(r.body))
	// the attackers finish their bodies and get their answers
	for i, a := range attacks {
		conns[i].Write([]byte(a.body[preReadBody:])) //nolint:errcheck // a 503 may have closed it
		status, msg, err := readResp(conns[i], 5*time.Second)
		require.NoError(t, err, a.name)
		assert.Contains(t, a.status, status, "%s: %s", a.name, msg)
	}
	assert.Zero(t, slots())
}

// TestPerClientShare: one client address holds at most
// KeepFed.MaxConcurrentRequestsPerClient (default max(1, max/4)) slots;
// another address is still served.
func TestPerClientShare(t *testing.T) {
	cfg := secDoSConfig(t, "xhome", 8)
	cfg.KeepFed.RequestBodyGracePeriod = config.Duration(20 * time.Second)
	tc := startCluster(t, cfg, Options{})
	stop := make(chan struct{})
	defer close(stop)
	head := "PUT /" + md5hex([]byte("x")) + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testRootToken + "\r\nContent-Length: 20000\r\n\r\n"
	for i := 0; i < 2; i++ {
		go drip(dialFrom(t, tc, "127.0.0.2", 0), head, strings.Repeat("d", 20000), stop)
	}
	var third int
	require.Eventually(t, func() bool {
		c := dialFrom(t, tc, "127.0.0.2", 0)
		fmt.Fprintf(c, "GET /arvados/v1/keep_services/accessible HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testRootToken) //nolint:errcheck // test
		third, _, _ = readResp(c, 2*time.Second)
		return third == 503
	}, 3*time.Second, 20*time.Millisecond, "a third request from the busy address: %d", third)
	c := dialFrom(t, tc, "127.0.0.3", 0)
	fmt.Fprintf(c, "GET /arvados/v1/keep_services/accessible HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testRootToken) //nolint:errcheck // test
	status, msg, err := readResp(c, 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 200, status, msg)
}

// TestAnonymousBodyLimit: without a token a body larger than
// KeepFed.MaxAnonymousRequestSize is refused from its Content-Length,
// before it is sent, and a chunked one once the limit is passed.
func TestAnonymousBodyLimit(t *testing.T) {
	cfg := secDoSConfig(t, "xhome", 8)
	tc := startCluster(t, cfg, Options{})
	t.Run("Content-Length", func(t *testing.T) {
		c := dialFrom(t, tc, "127.0.0.1", 0)
		// with the first bytes fasthttp reads before any handler
		fmt.Fprintf(c, "POST /arvados/v1/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat("b", preReadBody)) //nolint:errcheck // test
		status, msg, err := readResp(c, 2*time.Second)
		require.NoError(t, err, "answered before the body")
		assert.Equal(t, 413, status, msg)
	})
	t.Run("chunked", func(t *testing.T) {
		big := strings.Repeat("c", 100<<10)
		r := do(t, http.MethodPost, tc.url+"/arvados/v1/collections", "", []byte(big), "Content-Type", "application/json", "Transfer-Encoding", "chunked")
		assertJSONError(t, r, 413, "")
	})
	t.Run("with a token the API limit applies", func(t *testing.T) {
		big := `{"collection":{"name":"` + strings.Repeat("c", 100<<10) + `"}}`
		r := do(t, http.MethodPost, tc.url+"/arvados/v1/collections", testRootToken, []byte(big), "Content-Type", "application/json")
		assert.NotEqual(t, 413, r.status, string(r.body))
	})
}

// TestRemoteReadShare: +R reads of one remote cluster hold at most
// max(1, API.MaxConcurrentRequests/4) slots whatever
// KeepFed.MaxRequestsPerRemote says, so a remote that hangs (or drips)
// leaves the other slots to everyone else.
func TestRemoteReadShare(t *testing.T) {
	hang := faultTable[2]
	require.Equal(t, "hang", hang.name)
	fr := newFaultRemote(t, hang)
	defer fr.close()
	cfg := faultConfig(t, fr.host)
	cfg.API.MaxConcurrentRequests = 8
	cfg.API.RequestTimeout = config.Duration(4 * time.Second)
	cfg.API.KeepServiceRequestTimeout = config.Duration(4 * time.Second)
	cfg.KeepFed.MaxRequestsPerRemote = 100
	cfg.KeepFed.MaxConcurrentRequestsPerClient = -1
	home := startFullCluster(t, cfg, nil)
	token := home.issue(t, "u@example.com")
	loc := faultRemoteLocator(t, token)
	done := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() { done <- do(t, http.MethodGet, home.url+"/"+loc, token, nil).status }()
	}
	require.Eventually(t, func() bool { return fr.hits.Load() >= 3 }, 3*time.Second, 10*time.Millisecond, "discovery + 2 block requests")
	// 503 naming the cluster is the share's answer: past it the read
	// would reach the hanging remote and end in 502
	r := do(t, http.MethodGet, home.url+"/"+loc, token, nil)
	assertJSONError(t, r, http.StatusServiceUnavailable, "remote cluster "+faultCluster)
	r = do(t, http.MethodHead, home.url+"/"+loc, token, nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.status, "HEAD counts too")
	r = do(t, http.MethodGet, home.url+"/arvados/v1/keep_services/accessible", token, nil)
	assert.Equal(t, 200, r.status, "the other slots serve everyone else")
	<-done
	<-done
}

// TestAdmissionShares: the admission counts, table-driven: each class's
// share, that refusals take nothing, and that every place comes back.
func TestAdmissionShares(t *testing.T) {
	l := limitsOf(16, 0, 0, 0, 0, 0)
	require.Equal(t, Limits{Global: 16, PerClient: 4, Anonymous: 2, PerRemote: 4, Remote: 12}, l)
	type step struct {
		client  string
		anon    bool
		cluster string
		ok      bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"per client", []step{{"a", false, "", true}, {"a", false, "", true}, {"a", false, "", true}, {"a", false, "", true}, {"a", false, "", false}, {"b", false, "", true}}},
		{"anonymous", []step{{"a", true, "", true}, {"b", true, "", true}, {"c", true, "", false}, {"c", false, "", true}}},
		{"per remote", []step{{"a", false, "r1", true}, {"b", false, "r1", true}, {"c", false, "r1", true}, {"d", false, "r1", true}, {"e", false, "r1", false}, {"e", false, "r2", true}}},
		{"all remotes", func() []step {
			var s []step
			for i := 0; i < 12; i++ {
				s = append(s, step{fmt.Sprint("c", i), false, fmt.Sprint("r", i/4), true})
			}
			return append(s, step{"x", false, "r9", false}, step{"x", false, "", true})
		}()},
		{"global", func() []step {
			var s []step
			for i := 0; i < 16; i++ {
				s = append(s, step{fmt.Sprint("c", i), false, "", true})
			}
			return append(s, step{"x", false, "", false})
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newAdmission(l)
			var frees []func()
			for i, s := range c.steps {
				leave, err := a.enter(s.client, s.anon)
				if err == nil {
					var free func()
					if free, err = a.admit(s.cluster); err == nil {
						frees = append(frees, func() { free(); leave() })
					} else {
						leave()
					}
				}
				assert.Equal(t, s.ok, err == nil, "step %d: %v", i, err)
			}
			for _, f := range frees {
				f()
			}
			assert.Zero(t, a.global+a.anon+a.remote)
			assert.Empty(t, a.byClient)
			assert.Empty(t, a.byRemote)
		})
	}
}
