package bench

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

const benchMgmtToken = "bench-management-token"

// cacheSetup starts remote bbbbb and home aaaaa with the remote block
// cache on (1 GiB), both in child processes.
func cacheSetup(b *testing.B) (remote, home *cluster) {
	mgmt := "    ManagementToken: " + benchMgmtToken + "\n"
	remote = startWith(b, remoteID, "", mgmt, "")
	host := strings.TrimPrefix(remote.url, "http://")
	home = startWith(b, homeID, fmt.Sprintf("%s: {Host: %q, Scheme: http}", remoteID, host), mgmt,
		"      RemoteBlockCache: {MaxSize: 1GiB}\n")
	return remote, home
}

// putNew stores a new 64 MiB block (pattern seed) on c and returns its
// hash.
func putNew(b *testing.B, c *cluster, seed int) string {
	data := make([]byte, blockSize)
	for i := range data {
		data[i] = byte(i*7 + i>>12 + seed*131)
	}
	sum := md5.Sum(data)
	hash := hex.EncodeToString(sum[:])
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.url + "/" + hash)
	req.Header.SetMethod("PUT")
	req.Header.Set("Authorization", "Bearer "+rootToken)
	req.SetBody(data)
	if err := (&fasthttp.Client{}).Do(req, resp); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("PUT: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	return hash
}

// remoteLoc returns home's URL for a block of remote signed for userToken.
func remoteLoc(b *testing.B, remote, home *cluster, hash string) string {
	salted, err := signing.SaltToken(userToken, remoteID)
	if err != nil {
		b.Fatal(err)
	}
	signed := remote.cfg.KeyRing().Sign(hash+"+"+strconv.Itoa(blockSize), salted, time.Now().Add(time.Hour))
	return home.url + "/" + string(signing.AppendToRemote(nil, signed, remoteID))
}

// blockGets returns how many block GETs c answered 200 (its metrics).
func blockGets(b *testing.B, c *cluster) int {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.url + "/metrics")
	req.Header.Set("Authorization", "Bearer "+benchMgmtToken)
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("metrics: %v %d", err, resp.StatusCode())
	}
	const key = `keepfed_http_requests_total{route="block_get",code="2xx"} `
	for _, line := range strings.Split(string(resp.Body()), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// BenchmarkRemoteCache measures the remote block cache (both keepfeds are
// child processes):
//
//   - reads: per round, a new 64 MiB block on the remote read through home
//     twice — first read (fetched from the remote, written to the cache
//     while streaming) and second read (from the cache) — and a 64 MiB
//     block on home's own volume. Reported: each read's milliseconds,
//     second/first and second/local time ratios, and home's CPU seconds
//     per GB on cache hits and on local reads.
//   - cold-N: N readers at once of a new (uncached) block: the remote GETs
//     it received per round (1: one fetch shared by all), the aggregate
//     MB/s and home's CPU seconds per GB delivered.
func BenchmarkRemoteCache(b *testing.B) {
	b.Run("reads", func(b *testing.B) {
		b.ReportAllocs()
		remote, home := cacheSetup(b)
		local := putNew(b, home, 0)
		localSigned := home.cfg.KeyRing().Sign(local+"+"+strconv.Itoa(blockSize), rootToken, time.Now().Add(time.Hour))
		getN(b, 1, home.url+"/"+localSigned, rootToken) // warm the page cache
		var first, second, loc, hitCPU, localCPU time.Duration
		rounds := 0
		for b.Loop() {
			b.StopTimer()
			url := remoteLoc(b, remote, home, putNew(b, remote, rounds+1))
			b.StartTimer()
			t0 := time.Now()
			getN(b, 1, url, userToken)
			t1, h1 := time.Now(), home.cpu(b)
			getN(b, 1, url, userToken)
			t2, h2 := time.Now(), home.cpu(b)
			getN(b, 1, home.url+"/"+localSigned, rootToken)
			t3, h3 := time.Now(), home.cpu(b)
			first, second, loc = first+t1.Sub(t0), second+t2.Sub(t1), loc+t3.Sub(t2)
			hitCPU, localCPU = hitCPU+h2-h1, localCPU+h3-h2
			rounds++
		}
		gb := float64(rounds) * blockSize / 1e9
		ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(rounds) }
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(ms(first), "first-ms")
		b.ReportMetric(ms(second), "second-ms")
		b.ReportMetric(ms(loc), "local-ms")
		b.ReportMetric(second.Seconds()/first.Seconds(), "second/first")
		b.ReportMetric(second.Seconds()/loc.Seconds(), "second/local")
		b.ReportMetric(hitCPU.Seconds()/gb, "hit-cpu-s/GB")
		b.ReportMetric(localCPU.Seconds()/gb, "local-cpu-s/GB")
	})
	for _, n := range []int{8, 32} {
		b.Run(fmt.Sprint("cold-", n), func(b *testing.B) {
			b.ReportAllocs()
			remote, home := cacheSetup(b)
			var d, cpu time.Duration
			gets, rounds := 0, 0
			for b.Loop() {
				b.StopTimer()
				url := remoteLoc(b, remote, home, putNew(b, remote, 1000+rounds))
				g0 := blockGets(b, remote)
				b.StartTimer()
				t0, h0 := time.Now(), home.cpu(b)
				getN(b, n, url, userToken)
				d, cpu = d+time.Since(t0), cpu+home.cpu(b)-h0
				b.StopTimer()
				gets += blockGets(b, remote) - g0
				b.StartTimer()
				rounds++
			}
			mb := float64(rounds*n) * blockSize / 1e6
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(gets)/float64(rounds), "remote-GETs/op")
			b.ReportMetric(mb/d.Seconds(), "MB/s")
			b.ReportMetric(cpu.Seconds()/(mb/1e3), "home-cpu-s/GB")
		})
	}
}
