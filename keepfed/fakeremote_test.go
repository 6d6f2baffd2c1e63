package keepfed

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/remotes"
)

// fakeKeep is a misbehaving keep service written for the tests: a real
// HTTP server on 127.0.0.1 that serves one block in the chosen way and
// counts the requests it receives.
type fakeKeep struct {
	srv    *httptest.Server
	uuid   string
	data   []byte
	mode   atomic.Value // string
	hits   atomic.Int64
	accEnc atomic.Value // string: the last request's Accept-Encoding
	onHit  func(uuid string)
	stopCh chan struct{}
}

// Fake keep service behaviours.
const (
	modeOK      = "ok"
	modeStall   = "stall"   // headers, half the body, then silence
	modeStallH  = "stallh"  // silence before the headers
	modeReset   = "reset"   // headers, part of the body, then a TCP reset
	modeFlip    = "flip"    // the whole body with its last byte flipped
	modeShort   = "short"   // full Content-Length, body cut short, close
	mode5xx     = "5xx"     // 503
	mode404     = "404"     // not found
	mode403     = "403"     // refuses the signature
	modeBadLen  = "badlen"  // Content-Length differs from the size
	modeRefused = "refused" // (not served: the listed port is closed)
	modeDrip    = "drip"    // headers at once, then the body a byte every 20ms
	modeGzip    = "gzip"    // Content-Encoding: gzip, a gzip body padded to the size
	modeLeak    = "leak"    // 503 with a non-JSON body holding a secret
)

// leakSecret is what modeLeak's body holds: it must never reach a client.
const leakSecret = "internal-secret-7f3a"

func newFakeKeep(t testing.TB, uuid string, data []byte, mode string) *fakeKeep {
	f := &fakeKeep{uuid: uuid, data: data, stopCh: make(chan struct{})}
	f.mode.Store(mode)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.stopCh)
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

func (f *fakeKeep) service() remotes.KeepService {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	return remotes.KeepService{Kind: "arvados#keepService", UUID: f.uuid, Host: host, Port: p, Type: "disk"}
}

func (f *fakeKeep) serve(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	f.accEnc.Store(r.Header.Get("Accept-Encoding"))
	if f.onHit != nil {
		f.onHit(f.uuid)
	}
	data := f.data
	half := len(data) / 2
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	switch f.mode.Load().(string) {
	case modeOK:
		w.WriteHeader(200)
		if r.Method == http.MethodGet {
			w.Write(data)
		}
	case modeFlip:
		w.WriteHeader(200)
		if r.Method == http.MethodGet {
			bad := append([]byte(nil), data...)
			bad[len(bad)-1] ^= 0x20
			w.Write(bad)
		}
	case modeStall:
		w.WriteHeader(200)
		w.Write(data[:half])
		w.(http.Flusher).Flush()
		f.wait(5 * time.Second)
	case modeStallH:
		f.wait(5 * time.Second)
	case modeReset, modeShort:
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		writeRawHead(bw, len(data))
		bw.Write(data[:half])
		bw.Flush()
		if f.mode.Load() == modeReset {
			conn.(*net.TCPConn).SetLinger(0)
		}
		conn.Close()
	case mode5xx:
		w.Header().Del("Content-Length")
		http.Error(w, "keepstore is sick", http.StatusServiceUnavailable)
	case mode404:
		w.Header().Del("Content-Length")
		http.Error(w, "block not found", http.StatusNotFound)
	case mode403:
		w.Header().Del("Content-Length")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":["signature rejected by fake"]}`))
	case modeDrip:
		w.WriteHeader(200)
		if r.Method != http.MethodGet {
			return
		}
		for _, c := range data {
			if _, err := w.Write([]byte{c}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-f.stopCh:
				return
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	case modeGzip:
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(data)
		zw.Close()
		body := make([]byte, len(data)) // gzip(data) zero padded to the size, so Content-Length matches
		copy(body, zb.Bytes())
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(200)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	case modeLeak:
		w.Header().Del("Content-Length")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("<html>" + leakSecret + "</html>"))
	case modeBadLen:
		w.Header().Set("Content-Length", strconv.Itoa(len(data)-1))
		w.WriteHeader(200)
		if r.Method == http.MethodGet {
			w.Write(data[:len(data)-1])
		}
	}
}

func writeRawHead(bw *bufio.ReadWriter, n int) {
	bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(n) + "\r\nContent-Type: application/octet-stream\r\n\r\n")
}

func (f *fakeKeep) wait(d time.Duration) {
	select {
	case <-f.stopCh:
	case <-time.After(d):
	}
}

// fakeCluster is a fake remote cluster API: it lists keep services at
// /arvados/v1/keep_services/accessible and counts the discoveries.
type fakeCluster struct {
	srv         *httptest.Server
	mu          sync.Mutex
	services    []remotes.KeepService
	discoveries atomic.Int64
	other       atomic.Int64
}

func newFakeCluster(t testing.TB, services ...remotes.KeepService) *fakeCluster {
	fc := &fakeCluster{services: services}
	fc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/arvados/v1/keep_services/accessible" {
			fc.other.Add(1)
			http.NotFound(w, r)
			return
		}
		fc.discoveries.Add(1)
		fc.mu.Lock()
		list := remotes.KeepServiceList{Kind: "arvados#keepServiceList", ItemsAvailable: len(fc.services), Items: fc.services}
		fc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		writeJSON(w, list)
	}))
	t.Cleanup(fc.srv.Close)
	return fc
}

func (fc *fakeCluster) host() string { return strings.TrimPrefix(fc.srv.URL, "http://") }

// closedPort returns a loopback port nobody listens on.
func closedPort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}
