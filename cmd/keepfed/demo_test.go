package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runDemoCmd runs "keepfed demo args..." in-process.
func runDemoCmd(args ...string) (int, string, string) {
	var out, errb lockedBuffer
	code := run(append([]string{"demo"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// TestDemoExit runs the whole walk-through with -exit: every step passes,
// the copy-paste commands are printed and the files are removed (or kept
// with -keep).
func TestDemoExit(t *testing.T) {
	cases := []struct {
		name     string
		dir      bool // pass -dir
		keep     bool
		wantKept bool
	}{
		{"temporary directory", false, false, false},
		{"given directory", true, false, false},
		{"given directory, kept", true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // where the temporary directory goes
			args := []string{"-exit"}
			dir := filepath.Join(tmp, "demo")
			if tc.dir {
				args = append(args, "-dir", dir)
			}
			if tc.keep {
				args = append(args, "-keep")
			}
			code, out, errs := runDemoCmd(args...)
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errs)
			assert.Empty(t, errs)
			for _, want := range []string{
				"[1] start xhome and xrmte", "[2] create a user and a token on xhome",
				"[3] upload a sample collection to xrmte", "[4] read the collection through xhome",
				"[5] read every file's blocks through xhome", "[6] read the blocks again: served from xhome's remote block cache",
				"[7] what xrmte saw", "(from the cache)", `"remote_cache_bytes":`, "0 requests to xrmte",
				"file ./README.txt", "file ./data/squares.csv", "file ./data/random.bin",
				"+Rxrmte-", "seen by xrmte: 0 times",
				"curl -sS --cacert ", "-H \"Authorization: Bearer $ARVADOS_API_TOKEN\" https://127.0.0.1:",
				"ARVADOS_API_HOST=127.0.0.1:", "ARVADOS_API_HOST_INSECURE=1 ARVADOS_API_TOKEN=v2/xhome-gj3su-", " arv-get xrmte-4zz18-",
				"export ARVADOS_API_TOKEN=v2/xhome-gj3su-",
			} {
				assert.Contains(t, out, want)
			}
			assert.Equal(t, 7, strings.Count(out, "    ok ("), out)
			assert.NotContains(t, out, "Press Ctrl-C")
			if tc.wantKept {
				for _, id := range []string{"xhome", "xrmte"} {
					cfg, warnings, err := config.LoadConfig(filepath.Join(dir, id, "config.yml"), id)
					require.NoError(t, err)
					assert.Empty(t, warnings)
					assert.Equal(t, filepath.Join(dir, id, "data"), cfg.KeepFed.DataDir)
					assert.FileExists(t, filepath.Join(dir, id, "data", identity.EmbeddedStoreFile))
					assert.Len(t, cfg.RemoteClusters, 2)
					assert.True(t, cfg.TLSEnabled(), "the demo serves HTTPS")
					assert.True(t, strings.HasPrefix(cfg.KeepFed.ExternalURL, "https://"), cfg.KeepFed.ExternalURL)
					assert.FileExists(t, filepath.Join(dir, id, "tls", "cert.pem"))
				}
				return
			}
			entries, err := os.ReadDir(tmp)
			require.NoError(t, err)
			if tc.dir {
				require.Len(t, entries, 1, "only -dir itself is left")
				left, err := os.ReadDir(dir)
				require.NoError(t, err)
				assert.Empty(t, left)
			} else {
				assert.Empty(t, entries, "the temporary directory is removed")
			}
		})
	}
}

// TestDemoErrors checks that setup failures are one clear line.
func TestDemoErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"port taken", []string{"-exit", "-home", taken.Addr().String()}, 1, "cannot listen on " + taken.Addr().String() + " for xhome"},
		{"remote port taken", []string{"-exit", "-remote", taken.Addr().String()}, 1, "for xrmte (choose another address with -remote"},
		{"dir not writable", []string{"-exit", "-dir", filepath.Join(file, "sub")}, 1, "-dir is not usable"},
		{"extra argument", []string{"now"}, 2, "usage: keepfed demo"},
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			code, _, errs := runDemoCmd(tc.args...)
			assert.Equal(t, tc.code, code, errs)
			assert.Contains(t, errs, tc.contains)
			if tc.code == 1 {
				assert.Equal(t, 1, strings.Count(errs, "\n"), "one line: %q", errs)
				assert.True(t, strings.HasPrefix(errs, "keepfed demo: "), errs)
			}
		})
	}
}

// TestDemoServesUntilSignal checks that without -exit the demo keeps both
// clusters serving until SIGINT, then shuts down cleanly and exits 0.
func TestDemoServesUntilSignal(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	orig := serveSignals
	serveSignals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
	defer func() { serveSignals = orig }()
	t.Setenv("TMPDIR", t.TempDir())

	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"demo"}, stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(string) string { return "" }})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		select {
		case code := <-done:
			t.Fatalf("demo exited early with %d: %s %s", code, out.String(), errb.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "demo not ready in 60s:\n%s", out.String())
		time.Sleep(20 * time.Millisecond)
	}
	// the clusters still serve: the printed health check answers
	url := ""
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "xhome" {
			url = f[1]
		}
	}
	require.NotEmpty(t, url, out.String())
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "https://"), 5*time.Second)
	require.NoError(t, err)
	conn.Close()

	sigs <- syscall.SIGINT
	select {
	case code := <-done:
		assert.Equal(t, 0, code, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30s of SIGINT")
	}
	assert.Contains(t, out.String(), "interrupt: shutting down")
	_, err = net.DialTimeout("tcp", strings.TrimPrefix(url, "https://"), 5*time.Second)
	assert.Error(t, err, "the home cluster no longer listens")
}

// TestDemoInterruptedDuringSteps checks that Ctrl-C while the steps run
// cancels them, shuts down, exits 0 and removes the files.
func TestDemoInterruptedDuringSteps(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGINT // already pending when the steps start
	orig := serveSignals
	serveSignals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
	defer func() { serveSignals = orig }()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	done := make(chan struct{})
	var code int
	var out, errs string
	go func() {
		defer close(done)
		code, out, errs = runDemoCmd()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not stop within 60s")
	}
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "interrupt: interrupted, shutting down")
	assert.NotContains(t, out, "Press Ctrl-C")
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "the temporary directory is removed")
}
