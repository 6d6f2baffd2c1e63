package keepfed

import (
	"bufio"
	"bytes"
	"fmt"
	"encoding/base64"
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
			io.Copy(io.Discard, conn)                            //nolint:errcheck // until the server closes
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
// never read take a slot each only until KeepFed.WriteIdleTimeout; then
// their connections are cut and everyone else is served again.
func TestStalledReaderLosesItsSlot(t *testing.T) {
	cfg := secDoSConfig(t, "xhome", 4)
	cfg.KeepFed.MaxConcurrentRequestsPerClient = -1 // the global limit alone
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
	}, 5*time.Second, 50*time.Millisecond, "a client that stopped reading keeps its slot")
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
