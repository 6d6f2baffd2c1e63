package bench

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/keepfed"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/records"
)

// Servers under measurement run in child processes: this test binary,
// re-executed with KEEPFED_BENCH_CHILD=<role>, serving on a listener the
// parent opened (fd 3) until its stdin ends. Their CPU time and peak RSS
// then are theirs alone, not the load driver's or the other server's.
const (
	childEnvRole    = "KEEPFED_BENCH_CHILD"
	childEnvConfig  = "KEEPFED_BENCH_CHILD_CONFIG"  // keepfed: the cluster config
	childEnvCluster = "KEEPFED_BENCH_CHILD_CLUSTER" // keepfed: the cluster id
	childEnvOrigin  = "KEEPFED_BENCH_CHILD_ORIGIN"  // records-*: the origin's address
	// KEEPFED_BENCH_PROFILE=DIR: every child writes a CPU profile to
	// DIR/<role>-<pid>.prof.
	childEnvProfile = "KEEPFED_BENCH_PROFILE"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnvRole); role != "" {
		os.Exit(childMain(role))
	}
	os.Exit(m.Run())
}

// child is a server process started by startChild.
type child struct {
	proc *os.Process
}

// startChild runs the test binary as a child with env added, serving on ln
// (which the parent closes: the child holds it), and stops it when the
// benchmark ends.
func startChild(b *testing.B, ln net.Listener, env []string) *child {
	b.Helper()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		b.Fatal(err)
	}
	ln.Close()
	defer lf.Close()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	return &child{proc: cmd.Process}
}

// cpu returns the child's user+system CPU time so far (/proc/PID/stat,
// clock ticks of 10 ms).
func (c *child) cpu(b *testing.B) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.proc.Pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// peakRSS returns the child's peak resident set size (VmHWM) in MiB.
func (c *child) peakRSS(b *testing.B) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.proc.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

// childMain is the child's side: serve role on fd 3 until stdin ends.
func childMain(role string) int {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var serve func(net.Listener) error
	switch role {
	case "keepfed":
		cfg, _, err := config.ParseConfig([]byte(os.Getenv(childEnvConfig)), os.Getenv(childEnvCluster))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv, err := keepfed.New(cfg, keepfed.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		serve = srv.Serve
	case "records-keepfed":
		p, err := records.New(records.Config{
			LocalID:  recordsLocalID,
			Resolver: records.StaticResolver{recordsRemoteID: {BaseURL: "http://" + os.Getenv(childEnvOrigin)}},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv := &fasthttp.Server{Handler: p.Middleware(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(404) }), Concurrency: 4096}
		serve = srv.Serve
	case "records-rproxy":
		u, _ := url.Parse("http://" + os.Getenv(childEnvOrigin))
		rp := httputil.NewSingleHostReverseProxy(u)
		// A fair baseline: enough idle connections for the load.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 4 * recordsWorkers
		tr.MaxIdleConnsPerHost = 4 * recordsWorkers
		rp.Transport = tr
		srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
		serve = srv.Serve
	default:
		fmt.Fprintln(os.Stderr, "unknown child role", role)
		return 2
	}
	if dir := os.Getenv(childEnvProfile); dir != "" {
		f, err := os.Create(fmt.Sprintf("%s/%s-%d.prof", dir, role, os.Getpid()))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	go serve(ln) //nolint:errcheck // ends with the process
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}
