package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func runServeCmd(args ...string) (int, string) {
	var errb lockedBuffer
	code := run(append([]string{"serve"}, args...), stdio{in: strings.NewReader(""), out: io.Discard, err: &errb, getenv: func(string) string { return "" }})
	return code, errb.String()
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, config string
		args         []string
		code         int
		contains     string
	}{
		{"no data dir", `
Clusters:
  zzzzz:
    Collections: {BlobSigningKey: abc}
    KeepFed: {Listen: "127.0.0.1:0"}
`, nil, 1, "KeepFed.DataDir"},
		{"no signing key", `
Clusters:
  zzzzz:
    KeepFed: {Listen: "127.0.0.1:0", DataDir: ` + dir + `}
`, nil, 1, "Collections.BlobSigningKey"},
		{"bad listen", `
Clusters:
  zzzzz:
    Collections: {BlobSigningKey: abc}
    KeepFed: {Listen: "nonsense", DataDir: ` + dir + `}
`, nil, 1, "KeepFed.Listen"},
		{"bad duration", `
Clusters:
  zzzzz:
    Collections: {BlobSigningKey: abc, BlobSigningTTL: forever}
    KeepFed: {DataDir: ` + dir + `}
`, nil, 1, "duration"},
		{"bad backend", `
Clusters:
  zzzzz:
    Collections: {BlobSigningKey: abc}
    KeepFed: {Backend: s3, DataDir: ` + dir + `}
`, nil, 1, "KeepFed.Backend"},
		{"arvados backend without upstream", `
Clusters:
  zzzzz:
    Collections: {BlobSigningKey: abc}
    KeepFed: {Backend: arvados}
`, nil, 1, "KeepFed.Upstream"},
		{"listen address in use", `
Clusters:
  zzzzz:
    Collections: {BlobSigningKey: abc}
    KeepFed: {DataDir: ` + dir + `, Listen: "` + busyAddr(t) + `"}
`, nil, 1, "KeepFed.Listen"},
		{"two clusters", `
Clusters:
  zzzzz: {}
  yyyyy: {}
`, nil, 1, "-cluster"},
		{"unknown cluster", `
Clusters:
  zzzzz: {}
`, []string{"-cluster", "xxxxx"}, 1, "xxxxx"},
		{"bad remote scheme", `
Clusters:
  zzzzz:
    Collections: {BlobSigningKey: abc}
    RemoteClusters: {bbbbb: {Host: b.example, Scheme: ftp}}
    KeepFed: {DataDir: ` + dir + `}
`, nil, 1, "RemoteClusters.bbbbb.Scheme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeConfig(t, c.config)
			code, stderr := runServeCmd(append([]string{"-config", p}, c.args...)...)
			assert.Equal(t, c.code, code)
			assert.Contains(t, stderr, c.contains)
			assert.NotContains(t, stderr, "goroutine", "no stack trace")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			assert.True(t, strings.HasPrefix(lines[len(lines)-1], "keepfed serve: "), stderr)
		})
	}
	code, stderr := runServeCmd()
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "usage")
	code, stderr = runServeCmd("-config", filepath.Join(dir, "missing.yml"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "reading config")
}

// busyAddr returns a loopback address that is already taken (until the
// test ends).
func busyAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestServeRunsAndShutsDownOnSignal(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, `
Clusters:
  zzzzz:
    ManagementToken: mgmt
    Collections: {BlobSigningKey: abcdefghijklmnopqrstuvwxyz}
    NoSuchSection: {Foo: 1}
    KeepFed:
      Listen: "127.0.0.1:0"
      DataDir: `+dir+`
      ShutdownTimeout: 5s
      Frobnicate: true
`)
	sigs := make(chan os.Signal, 1)
	serveSignals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
	ready := make(chan string, 1)
	serveReady = func(addr string) { ready <- addr }
	defer func() { serveReady = nil }()

	var errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve", "-config", p}, stdio{in: strings.NewReader(""), out: io.Discard, err: &errb, getenv: func(string) string { return "" }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/_health/ping", nil)
	req.Header.Set("Authorization", "Bearer mgmt")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"health":"OK"}`, string(body))

	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	logs := errb.String()
	assert.Contains(t, logs, "Clusters.zzzzz.NoSuchSection")
	assert.Contains(t, logs, "Clusters.zzzzz.KeepFed.Frobnicate")
	assert.Contains(t, logs, "shutting down")
	http.DefaultClient.CloseIdleConnections()
}
