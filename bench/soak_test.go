package bench

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/signing"
)

// The soak test is not part of `go test ./...`: run it with `make soak`,
// or `go test ./bench -run TestSoak -soak [-soak.duration 60s]`.
var (
	soakOn       = flag.Bool("soak", false, "run the soak test (TestSoak)")
	soakDuration = flag.Duration("soak.duration", 60*time.Second, "how long TestSoak runs")
	soakClients  = flag.Int("soak.clients", 64, "concurrent TestSoak clients")
)

// soakStats are the soak test's counters.
type soakStats struct {
	requests, wrongBodies atomic.Int64
	mu                    sync.Mutex
	byClass               map[string]int64
	faults                map[string]int64
}

func (s *soakStats) count(class string) {
	s.mu.Lock()
	s.byClass[class]++
	s.mu.Unlock()
}

func (s *soakStats) fault(kind string) {
	s.mu.Lock()
	s.faults[kind]++
	s.mu.Unlock()
}

// faultProxy sits between cluster A and cluster B and injects random
// faults into what B answers: 503s, cut connections, stalls longer than
// the timeouts, and (for blocks only; records carry no checksum) a byte
// flipped in the body.
func faultProxy(target, self string, st *soakStats) *http.Server {
	u, _ := url.Parse(target)
	selfHost, selfPort, _ := net.SplitHostPort(self)
	port, _ := strconv.Atoi(selfPort)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	isBlock := func(p string) bool { return len(p) > 33 && signing.KeepstoreRouteMatch(p[1:]) }
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == "/arvados/v1/keep_services/accessible" && resp.StatusCode == 200 {
			// B's keep services are reached through the proxy too
			var list remotes.KeepServiceList
			err := json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			if err != nil {
				return err
			}
			for i := range list.Items {
				list.Items[i].Host, list.Items[i].Port = selfHost, port
			}
			b, _ := json.Marshal(list)
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			resp.Header.Del("Content-Encoding")
			return nil
		}
		if resp.StatusCode == 200 && isBlock(resp.Request.URL.Path) && resp.Request.Method == "GET" && rand.IntN(100) < 2 {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if len(b) > 0 {
				b[rand.IntN(len(b))] ^= 0x01
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			st.fault("flip")
		}
		return nil
	}
	return &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := rand.IntN(100); {
		case n < 3:
			st.fault("503")
			http.Error(w, `{"errors":["injected"]}`, http.StatusServiceUnavailable)
			return
		case n < 5:
			st.fault("reset")
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0) //nolint:errcheck // best effort
				}
				c.Close()
			}
			return
		case n < 6:
			st.fault("stall")
			time.Sleep(3 * time.Second)
		}
		rp.ServeHTTP(w, r)
	})}
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return -1
}

type soakCluster struct {
	url string
	cfg *config.ClusterConfig
}

// TestSoak runs two complete clusters, A and B, with random faults
// injected between them, under 64 concurrent clients of mixed block and
// record traffic for 60 s, and reports requests, errors by class, wrong
// bodies (must be 0) and the process RSS over time.
func TestSoak(t *testing.T) {
	if !*soakOn {
		t.Skip("soak test: run with -soak (make soak)")
	}
	st := &soakStats{byClass: map[string]int64{}, faults: map[string]int64{}}
	lnA, _ := net.Listen("tcp", "127.0.0.1:0")
	lnB, _ := net.Listen("tcp", "127.0.0.1:0")
	lnF, _ := net.Listen("tcp", "127.0.0.1:0")
	fp := faultProxy("http://"+lnB.Addr().String(), lnF.Addr().String(), st)
	go fp.Serve(lnF) //nolint:errcheck // until closed
	defer fp.Close()
	peers := map[string]map[string]config.RemoteClusterConfig{
		"soaka": {"soakb": {Host: lnF.Addr().String(), Scheme: "http", Proxy: true, ActivateUsers: true}},
		"soakb": {"soaka": {Host: lnA.Addr().String(), Scheme: "http", Proxy: true, ActivateUsers: true}},
	}
	start := func(id string, ln net.Listener) soakCluster {
		yml := fmt.Sprintf(`
Clusters:
  %[1]s:
    SystemRootToken: soakroot0123456789abcdefghijklmnopqrstuvwxyz
    ManagementToken: soakmgmt
    Collections:
      BlobSigningKey: soak-key-%[1]s-0123456789abcdefghijklmnopqrstuvwxyz0123456789
    API:
      RequestTimeout: 2s
      KeepServiceRequestTimeout: 1s
      MaxConcurrentRequests: 256
    KeepFed:
      Listen: %[2]s
      DataDir: %[3]s
      MaxConcurrentRequestsPerClient: -1 # every client is 127.0.0.1
`, id, ln.Addr().String(), t.TempDir())
		cfg, _, err := config.ParseConfig([]byte(yml), id)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteClusters = peers[id]
		var logw io.Writer = io.Discard
		if os.Getenv("SOAK_LOG") != "" {
			logw = os.Stderr
		}
		srv, err := keepfed.NewCluster(cfg, keepfed.Options{Logger: slog.New(slog.NewJSONHandler(logw, nil))})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln) //nolint:errcheck // until shutdown
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx) //nolint:errcheck // test
		})
		return soakCluster{url: "http://" + ln.Addr().String(), cfg: cfg}
	}
	a, b := start("soaka", lnA), start("soakb", lnB)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableKeepAlives: os.Getenv("SOAK_NOKA") != ""}}
	req := func(method, u, tok string, body []byte, hdr ...string) (int, []byte, error) {
		r, _ := http.NewRequest(method, u, bytes.NewReader(body))
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(r)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		return resp.StatusCode, out, err
	}
	code, body, err := req("POST", a.url+identity.TokenManagementPath, "soakroot0123456789abcdefghijklmnopqrstuvwxyz", []byte(`{"email":"soak@example.com"}`))
	if err != nil || code != 200 {
		t.Fatalf("issuing a token: %d %s %v", code, body, err)
	}
	var issued identity.IssuedToken
	json.Unmarshal(body, &issued) //nolint:errcheck // checked below
	tok := issued.Token

	// blocks are regenerated from their seed for checking, so that the
	// test's own memory does not grow with what it wrote
	type stored struct {
		seed uint64
		size int
		loc  string // a locator to read it through A (signed, or +R)
	}
	gen := func(seed uint64, size int) []byte {
		r := rand.New(rand.NewPCG(seed, seed))
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		return data
	}
	var (
		mu    sync.Mutex
		known []stored
	)
	pick := func() (stored, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(known) == 0 {
			return stored{}, false
		}
		return known[rand.IntN(len(known))], true
	}
	classify := func(code int, err error) string {
		switch {
		case err != nil && code == 0:
			return "transport"
		case err != nil:
			return "cut body"
		case code < 400:
			return "ok"
		}
		return strconv.Itoa(code)
	}
	var samples, heaps []int64
	heapKiB := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapInuse >> 10)
	}
	rss0, heap0 := rssKiB(), heapKiB()
	deadline := time.Now().Add(*soakDuration)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(*soakDuration / 6):
				mu.Lock()
				samples = append(samples, rssKiB())
				heaps = append(heaps, heapKiB())
				mu.Unlock()
			}
		}
	}()
	var wg sync.WaitGroup
	for c := 0; c < *soakClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				st.requests.Add(1)
				switch op := rand.IntN(10); {
				case op < 3: // PUT a block on A or B
					seed, size := rand.Uint64(), 1+rand.IntN(256<<10)
					data := gen(seed, size)
					sum := md5.Sum(data)
					hash := hex.EncodeToString(sum[:])
					target := a
					if op == 0 {
						target = b
					}
					code, out, err := req("PUT", target.url+"/"+hash, tok, data)
					st.count("PUT " + classify(code, err))
					if code != 200 || err != nil {
						continue
					}
					loc := strings.TrimSpace(string(out))
					if target == b {
						// read it through A as a remote block: A salts the
						// token for B, and B signed for the raw one here, so
						// sign again for the salted token as B's controller
						// would, and turn +A into +R
						salted, _ := signing.SaltToken(tok, "soakb")
						signed := b.cfg.KeyRing().AppendSigned(nil, hash+"+"+strconv.Itoa(len(data)), salted, time.Now().Add(time.Hour).Unix())
						loc = string(signing.AppendToRemote(nil, string(signed), "soakb"))
					}
					mu.Lock()
					known = append(known, stored{seed: seed, size: size, loc: loc})
					mu.Unlock()
				case op < 7: // GET a block through A (local or +R)
					s, ok := pick()
					if !ok {
						continue
					}
					code, out, err := req("GET", a.url+"/"+s.loc, tok, nil)
					kind := "GET local "
					if strings.Contains(s.loc, "+R") {
						kind = "GET remote "
					}
					st.count(kind + classify(code, err))
					if code == 200 && err == nil && !bytes.Equal(out, gen(s.seed, s.size)) {
						st.wrongBodies.Add(1)
					}
				case op < 8: // create a collection on B through A
					code, _, err := req("POST", a.url+"/arvados/v1/collections?cluster_id=soakb", tok, []byte(`{"collection":{"name":"soak"}}`), "Content-Type", "application/json")
					st.count("POST remote record " + classify(code, err))
				case op < 9: // create and read a collection on A
					code, out, err := req("POST", a.url+"/arvados/v1/collections", tok, []byte(`{"collection":{"name":"soak local"}}`), "Content-Type", "application/json")
					st.count("POST local record " + classify(code, err))
					if code == 200 && err == nil {
						var rec struct{ UUID string }
						if json.Unmarshal(out, &rec) != nil || !strings.HasPrefix(rec.UUID, "soaka-4zz18-") {
							st.wrongBodies.Add(1)
						}
					}
				default: // list collections on B through A
					code, out, err := req("GET", a.url+"/arvados/v1/collections?cluster_id=soakb&limit=5", tok, nil)
					st.count("GET remote list " + classify(code, err))
					if code == 200 && err == nil && !json.Valid(out) {
						st.wrongBodies.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rss1, heap1 := rssKiB(), heapKiB()
	keys := make([]string, 0, len(st.byClass))
	for k := range st.byClass {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "  %-34s %d\n", k, st.byClass[k])
	}
	t.Logf("soak: %d clients, %s, %d requests (%.0f/s), wrong bodies %d\nby class:\n%sinjected faults: %v\nRSS KiB: start %d, samples %v, end %d\nGo heap in use KiB (after GC): start %d, samples %v, end %d",
		*soakClients, *soakDuration, st.requests.Load(), float64(st.requests.Load())/soakDuration.Seconds(), st.wrongBodies.Load(), sb.String(), st.faults, rss0, samples, rss1, heap0, heaps, heap1)
	if st.wrongBodies.Load() != 0 {
		t.Errorf("%d wrong bodies", st.wrongBodies.Load())
	}
	// health after the storm
	for _, c := range []soakCluster{a, b} {
		if code, out, err := req("GET", c.url+"/_health/ping", "soakmgmt", nil); code != 200 || err != nil {
			t.Errorf("%s unhealthy after the soak: %d %s %v", c.url, code, out, err)
		}
	}
}
