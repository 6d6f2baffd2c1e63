package bench

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
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

// cluster is a keepfed running in a child process (see child_test.go),
// so that its CPU time and peak RSS are its own and not the load driver's.
type cluster struct {
	*child
	url string
	cfg *config.ClusterConfig
}

func start(b *testing.B, id string, remotes string, env ...string) *cluster {
	b.Helper()
	return startWith(b, id, remotes, "", "", env...)
}

// startWith is start with extra YAML lines at the cluster level and in
// its KeepFed section (each line indented for its place).
func startWith(b *testing.B, id, remotes, clusterExtra, keepfedExtra string, env ...string) *cluster {
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
%s    KeepFed:
      Listen: %q
      ExternalURL: %q
      DataDir: %q
      MaxConcurrentRequestsPerClient: -1 # the load driver is one address
%s`, id, rootToken, id, remotes, clusterExtra, ln.Addr().String(), "http://"+ln.Addr().String(), b.TempDir(), keepfedExtra)
	cfg, _, err := config.ParseConfig([]byte(yml), id)
	if err != nil {
		b.Fatal(err)
	}
	ch := startChild(b, ln, append([]string{childEnvRole + "=keepfed", childEnvConfig + "=" + yml, childEnvCluster + "=" + id}, env...))
	c := &cluster{child: ch, url: "http://" + ln.Addr().String(), cfg: cfg}
	for i := 0; ; i++ { // the listener is open already; wait for the server
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(c.url + "/_health/ping")
		err := fasthttp.DoTimeout(req, resp, time.Second)
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		if err == nil {
			break
		}
		if i == 100 {
			b.Fatal("child keepfed did not start: ", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
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
func setup(b *testing.B, env ...string) (direct, via, salted string, remote, home *cluster) {
	remote = start(b, remoteID, "", env...)
	host := strings.TrimPrefix(remote.url, "http://")
	home = start(b, homeID, fmt.Sprintf("%s: {Host: %q, Scheme: http}", remoteID, host), env...)
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
	var err error
	salted, err = signing.SaltToken(userToken, remoteID)
	if err != nil {
		b.Fatal(err)
	}
	signed := remote.cfg.KeyRing().Sign(hash+"+"+strconv.Itoa(blockSize), salted, time.Now().Add(time.Hour))
	rloc := string(signing.AppendToRemote(nil, signed, remoteID))
	return remote.url + "/" + signed, home.url + "/" + rloc, salted, remote, home
}

// getN fetches url from n goroutines at once.
func getN(b *testing.B, n int, url, token string) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := get(url, token); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(url, ": ", err)
	}
}

// BenchmarkFederatedBlock streams a 64 MiB block directly from a remote
// keepfed and through a home keepfed that fetches it from that remote
// (+R locator), 1 and 32 streams at once, alternating direct and via
// rounds so that both see the same background load. Both keepfeds are
// child processes. Reported: both aggregate throughputs (MB/s) and their
// ratio (target ≥ 0.85); the CPU seconds per GB of the home keepfed on
// the via rounds and of the remote on the direct rounds, and of the whole
// path (remote, home, load driver) on each; the home keepfed's peak RSS
// (VmHWM). streams-32-crypto-md5 runs both keepfeds
// with crypto/md5 only (KEEPFED_BLOCK_MD5=crypto), to set the shared
// md5-simd lanes of the default against it.
func BenchmarkFederatedBlock(b *testing.B) {
	for _, v := range []struct {
		name string
		n    int
		env  []string
	}{
		{"streams-1", 1, nil},
		{fmt.Sprint("streams-", streams), streams, nil},
		{fmt.Sprint("streams-", streams, "-crypto-md5"), streams, []string{"KEEPFED_BLOCK_MD5=crypto"}},
	} {
		n := v.n
		b.Run(v.name, func(b *testing.B) {
			direct, via, salted, remote, home := setup(b, v.env...)
			getN(b, 1, direct, salted) // warm up the page cache and the remote's service discovery
			getN(b, 1, via, userToken)
			// CPU time per phase: d* on direct rounds, v* on via rounds;
			// client is this process (the load driver).
			var dDirect, dVia time.Duration
			var dRemote, dClient, vRemote, vHome, vClient time.Duration
			var rounds int
			for b.Loop() {
				r0, c0, t0 := remote.cpu(b), selfCPU(), time.Now()
				getN(b, n, direct, salted)
				r1, c1, h1, t1 := remote.cpu(b), selfCPU(), home.cpu(b), time.Now()
				getN(b, n, via, userToken)
				dDirect += t1.Sub(t0)
				dVia += time.Since(t1)
				dRemote += r1 - r0
				dClient += c1 - c0
				vRemote += remote.cpu(b) - r1
				vHome += home.cpu(b) - h1
				vClient += selfCPU() - c1
				rounds++
			}
			mb := float64(rounds*n) * blockSize / 1e6
			perGB := func(d time.Duration) float64 { return d.Seconds() / (mb / 1e3) }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(mb/dDirect.Seconds(), "direct-MB/s")
			b.ReportMetric(mb/dVia.Seconds(), "via-MB/s")
			b.ReportMetric(dDirect.Seconds()/dVia.Seconds(), "ratio")
			b.ReportMetric(perGB(vHome), "home-cpu-s/GB")
			b.ReportMetric(perGB(dRemote), "remote-cpu-s/GB")
			// Whole path (every process) per GB: on saturated CPUs the
			// throughput ratio cannot beat direct-path/via-path.
			b.ReportMetric(perGB(dRemote+dClient), "direct-path-cpu-s/GB")
			b.ReportMetric(perGB(vRemote+vHome+vClient), "via-path-cpu-s/GB")
			b.ReportMetric(home.peakRSS(b), "home-peak-RSS-MiB")
		})
	}
}
