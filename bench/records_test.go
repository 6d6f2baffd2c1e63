package bench

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Record proxy benchmark: small-record GETs from cluster zrcaa for records
// of cluster zrcbb, through keepfed's records middleware (a fasthttp server)
// and through net/http/httputil.ReverseProxy, both in front of the same
// origin, under the same concurrent load, in one run. Each proxy runs in
// its own child process, so its CPU time per request is measured too:
//
//	go test ./bench -run '^$' -bench BenchmarkRecordsProxy -benchtime 20000x -count 1
//
// Each iteration of b.N is one request per proxy. Reported: req/s, p50 and
// p99 latency (µs) and CPU µs per request for each, and the ratios
// keepfed/ReverseProxy.
const (
	recordsLocalID    = "zrcaa"
	recordsRemoteID   = "zrcbb"
	recordsWorkers    = 32
	recordsUUID       = "zrcbb-7fd4e-000000000000001"
	recordsUserToken  = "v2/zrcaa-gj3su-000000000000001/benchrecordssecretbenchrecordssecret01"
	recordsOriginBody = `{"kind":"arvados#workflow","uuid":"zrcbb-7fd4e-000000000000001",` +
		`"owner_uuid":"zrcbb-tpzed-000000000000001","name":"bench workflow",` +
		`"description":null,"definition":"cwlVersion: v1.2\nclass: CommandLineTool\n",` +
		`"created_at":"2026-01-01T00:00:00.000000000Z","modified_at":"2026-01-01T00:00:00.000000000Z"}`
)

// recordsServe runs a fasthttp server on 127.0.0.1 until the benchmark ends.
func recordsServe(b *testing.B, h fasthttp.RequestHandler) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h, Concurrency: 4096}
	done := make(chan struct{})
	go func() { _ = srv.Serve(l); close(done) }()
	b.Cleanup(func() { _ = srv.Shutdown(); _ = l.Close(); <-done })
	return l.Addr().String()
}

// recordsSetup starts the origin (in this process) and the keepfed proxy
// and the ReverseProxy (each in a child process, see child_test.go).
func recordsSetup(b *testing.B) (keepfedAddr, reverseAddr string, kf, rp *child) {
	origin := recordsServe(b, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(recordsOriginBody)
	})
	proxy := func(role string) (string, *child) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := l.Addr().String()
		return addr, startChild(b, l, []string{childEnvRole + "=" + role, childEnvOrigin + "=" + origin})
	}
	keepfedAddr, kf = proxy("records-keepfed")
	reverseAddr, rp = proxy("records-rproxy")
	return keepfedAddr, reverseAddr, kf, rp
}

// recordsLoad accumulates the latencies and wall time of load runs
// against one proxy.
type recordsLoad struct {
	lat     []time.Duration
	elapsed time.Duration
	cpu     time.Duration // the proxy process's CPU time
	self    time.Duration // this process's (load driver and origin)
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPerReq is the proxy's CPU time per request in µs.
func (l *recordsLoad) cpuPerReq() float64 {
	return float64(l.cpu.Nanoseconds()) / 1e3 / float64(len(l.lat))
}

func (l *recordsLoad) reqPerSec() float64 { return float64(len(l.lat)) / l.elapsed.Seconds() }

// quantile returns the q-quantile latency in µs.
func (l *recordsLoad) quantile(q float64) float64 {
	slices.Sort(l.lat)
	n := len(l.lat)
	return float64(l.lat[min(n-1, int(q*float64(n)))].Nanoseconds()) / 1e3
}

// run sends n GETs to hc from recordsWorkers goroutines and records their
// latencies and the wall time.
func (l *recordsLoad) run(b *testing.B, hc *fasthttp.HostClient, proxy *child, n int) {
	b.Helper()
	cpu0, self0 := proxy.cpu(b), selfCPU()
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range recordsWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + hc.Addr + "/arvados/v1/workflows/" + recordsUUID)
			req.Header.Set("Authorization", "Bearer "+recordsUserToken)
			req.Header.Set("X-Request-Id", "req-bench0000000000000000")
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				err := hc.Do(req, resp)
				lat[i] = time.Since(t0)
				if err != nil || resp.StatusCode() != 200 || len(resp.Body()) != len(recordsOriginBody) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	l.elapsed += time.Since(start)
	l.cpu += proxy.cpu(b) - cpu0
	l.self += selfCPU() - self0
	if f := failed.Load(); f > 0 {
		b.Fatalf("%s: %d of %d requests failed", hc.Addr, f, n)
	}
	l.lat = append(l.lat, lat...)
}

func recordsClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: addr, MaxConns: 2 * recordsWorkers, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
}

// BenchmarkRecordsProxy compares keepfed's record proxy (token salted for
// the remote, api_token/hop-by-hop handling, Via mark) with
// httputil.ReverseProxy (plain forwarding) for small-record GETs. The b.N
// requests per proxy are sent in 10 alternating rounds so that both see
// the same background load on a shared machine.
func BenchmarkRecordsProxy(b *testing.B) {
	kfAddr, rpAddr, kf, rp := recordsSetup(b)
	kc, rc := recordsClient(kfAddr), recordsClient(rpAddr)
	defer kc.CloseIdleConnections()
	defer rc.CloseIdleConnections()
	var warm recordsLoad
	warm.run(b, kc, kf, min(b.N, 500))
	warm.run(b, rc, rp, min(b.N, 500))
	var k, r recordsLoad
	const rounds = 10
	b.ResetTimer()
	for i := range rounds {
		n := b.N / rounds
		if i == 0 {
			n += b.N % rounds
		}
		if n == 0 {
			continue
		}
		if i%2 == 0 {
			k.run(b, kc, kf, n)
			r.run(b, rc, rp, n)
		} else {
			r.run(b, rc, rp, n)
			k.run(b, kc, kf, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(k.reqPerSec(), "keepfed-req/s")
	b.ReportMetric(k.quantile(0.50), "keepfed-p50-µs")
	b.ReportMetric(k.quantile(0.99), "keepfed-p99-µs")
	b.ReportMetric(r.reqPerSec(), "rproxy-req/s")
	b.ReportMetric(r.quantile(0.50), "rproxy-p50-µs")
	b.ReportMetric(r.quantile(0.99), "rproxy-p99-µs")
	b.ReportMetric(k.cpuPerReq(), "keepfed-cpu-µs/req")
	b.ReportMetric(r.cpuPerReq(), "rproxy-cpu-µs/req")
	// This process (the load driver and the origin) runs in both paths; the
	// whole path's CPU per request bounds the req/s ratio on saturated CPUs.
	b.ReportMetric(float64(k.self.Nanoseconds())/1e3/float64(len(k.lat)), "keepfed-path-driver-cpu-µs/req")
	b.ReportMetric(float64(r.self.Nanoseconds())/1e3/float64(len(r.lat)), "rproxy-path-driver-cpu-µs/req")
	b.ReportMetric(k.reqPerSec()/r.reqPerSec(), "req/s-ratio")
	b.ReportMetric(k.quantile(0.99)/r.quantile(0.99), "p99-ratio")
}
