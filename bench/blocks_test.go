package bench

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

const (
	blockSize  = 64 << 20
	rootToken  = "benchroottoken0123456789abcdefghijklmnopqrstuvwxyz"
	userToken  = "v2/aaaaa-gj3su-000000000000001/benchusersecretbenchusersecret"
	streams    = 32
	remoteID   = "bbbbb"
	homeID     = "aaaaa"
	readBuffer = 64 << 10
)

type cluster struct {
	srv *keepfed.Server
	url string
}

func start(b *testing.B, id string, remotes string) *cluster {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	yml := fmt.Sprintf(`
Clusters:
  %s:
    SystemRootToken: %s
    Collections: {BlobSigningKey: bench-key-of-%s-0123456789abcdefghijklmnopqrstuvwxyz}
    API: {MaxConcurrentRequests: 256}
    RemoteClusters: {%s}
    KeepFed:
      Listen: %q
      ExternalURL: %q
      DataDir: %q
`, id, rootToken, id, remotes, ln.Addr().String(), "http://"+ln.Addr().String(), b.TempDir())
	cfg, _, err := keepfed.ParseConfig([]byte(yml), id)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := keepfed.New(cfg, keepfed.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)                                //nolint:errcheck // stopped by Shutdown
	b.Cleanup(func() { srv.Shutdown(b.Context()) }) //nolint:errcheck // bench cleanup
	return &cluster{srv: srv, url: "http://" + ln.Addr().String()}
}

var client = &fasthttp.Client{
	ReadBufferSize:            readBuffer,
	WriteBufferSize:           readBuffer,
	MaxIdemponentCallAttempts: 1,
	MaxConnsPerHost:           4 * streams,
	StreamResponseBody:        true,
	MaxResponseBodySize:       blockSize + 1,
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, readBuffer); return &b }}

// get fetches url and discards the body, returning its length.
func get(url, token string) (int64, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.Set("Authorization", "Bearer "+token)
	if err := client.Do(req, resp); err != nil {
		return 0, err
	}
	if resp.StatusCode() != 200 {
		return 0, fmt.Errorf("status %d", resp.StatusCode())
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var n int64
	body := resp.BodyStream()
	for {
		m, err := body.Read(*bp)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	resp.CloseBodyStream() //nolint:errcheck // bench
	if n != blockSize {
		return n, fmt.Errorf("got %d bytes", n)
	}
	return n, nil
}

// setup starts remote cluster bbbbb holding one 64 MiB block and home
// cluster aaaaa that knows it, and returns the URLs for fetching the block
// directly from the remote (with the salted token the remote signed for)
// and through home (the +R locator with the user's token).
func setup(b *testing.B) (direct, via, salted string) {
	remote := start(b, remoteID, "")
	host := strings.TrimPrefix(remote.url, "http://")
	home := start(b, homeID, fmt.Sprintf("%s: {Host: %q, Scheme: http}", remoteID, host))
	data := make([]byte, blockSize)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	sum := md5.Sum(data)
	hash := hex.EncodeToString(sum[:])
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(remote.url + "/" + hash)
	req.Header.SetMethod("PUT")
	req.Header.Set("Authorization", "Bearer "+rootToken)
	req.SetBody(data)
	if err := (&fasthttp.Client{}).Do(req, resp); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("PUT: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
	salted, err := signing.SaltToken(userToken, remoteID)
	if err != nil {
		b.Fatal(err)
	}
	signed := remote.srv.KeyRing().Sign(hash+"+"+strconv.Itoa(blockSize), salted, time.Now().Add(time.Hour))
	rloc := string(signing.AppendToRemote(nil, signed, remoteID))
	return remote.url + "/" + signed, home.url + "/" + rloc, salted
}

// BenchmarkFederatedBlock streams a 64 MiB block directly from a remote
// keepfed and through a home keepfed that fetches it from that remote,
// alternating, and reports both throughputs and their ratio (target
// ≥ 0.85).
func BenchmarkFederatedBlock(b *testing.B) {
	direct, via, salted := setup(b)
	var dDirect, dVia time.Duration
	var n int
	for b.Loop() {
		t0 := time.Now()
		if _, err := get(direct, salted); err != nil {
			b.Fatal("direct: ", err)
		}
		t1 := time.Now()
		if _, err := get(via, userToken); err != nil {
			b.Fatal("via keepfed: ", err)
		}
		dDirect += t1.Sub(t0)
		dVia += time.Since(t1)
		n++
	}
	mb := float64(n) * blockSize / (1 << 20)
	b.ReportMetric(mb/dDirect.Seconds(), "direct-MiB/s")
	b.ReportMetric(mb/dVia.Seconds(), "via-MiB/s")
	b.ReportMetric(dDirect.Seconds()/dVia.Seconds(), "ratio")
}

// BenchmarkFederatedBlock32Streams runs 32 concurrent streams of the block
// through the home keepfed and reports the peak heap growth (sampled every
// millisecond) over the idle baseline, for the whole process: client, home
// and remote keepfed together (target for keepfed: ≤ 64 MiB).
func BenchmarkFederatedBlock32Streams(b *testing.B) {
	_, via, _ := setup(b)
	if _, err := get(via, userToken); err != nil { // warm up connections
		b.Fatal(err)
	}
	runtime.GC()
	base := heapInUse()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if h := heapInUse(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	var total time.Duration
	var n int
	for b.Loop() {
		t0 := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, streams)
		for i := 0; i < streams; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := get(via, userToken); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		total += time.Since(t0)
		n++
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	close(stop)
	<-sampled
	extra := float64(0)
	if p := peak.Load(); p > base {
		extra = float64(p-base) / (1 << 20)
	}
	b.ReportMetric(extra, "peak-extra-heap-MiB")
	b.ReportMetric(float64(n*streams)*blockSize/(1<<20)/total.Seconds(), "aggregate-MiB/s")
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func heapInUse() uint64 {
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}
