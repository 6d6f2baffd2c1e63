package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// e2eWait bounds every wait of the end-to-end test.
const e2eWait = 30 * time.Second

// buildKeepfed builds the keepfed binary into a temporary directory, as a
// user would with "go build".
func buildKeepfed(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, serr := os.Stat(gobin); os.Getenv("GOROOT") == "" || serr != nil {
			t.Skip("the go command is neither in $PATH nor in $GOROOT/bin")
		}
	}
	bin := filepath.Join(t.TempDir(), "keepfed")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// e2eFreeAddr returns a loopback address nobody listens on right now.
func e2eFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// e2eCluster is one "keepfed serve" process and its files.
type e2eCluster struct {
	t      *testing.T
	bin    string
	id     string
	config string
	url    string
	mgmt   string
	env    []string // extra environment of the process
	cmd    *exec.Cmd
	logs   *lockedBuffer
	exited chan struct{}
	err    error // the process's exit status, once exited is closed
}

// writeE2EConfig writes the config file of cluster id, federated with the
// peers, under dir.
func writeE2EConfig(t *testing.T, dir, id, addr string, peers map[string]string) string {
	t.Helper()
	cdir := filepath.Join(dir, id)
	require.NoError(t, os.MkdirAll(cdir, 0o750))
	var b strings.Builder
	fmt.Fprintf(&b, "Clusters:\n  %s:\n    SystemRootToken: root-token-of-%s-0123456789abcdef\n    ManagementToken: mgmt-token-of-%s-0123456789abcdef\n", id, id, id)
	fmt.Fprintf(&b, "    Collections:\n      BlobSigningKey: blob-signing-key-of-%s-0123456789abcdefghijklmnopqrstuvwxyz\n      BlobSigningTTL: 336h\n", id)
	fmt.Fprintf(&b, "    API:\n      KeepServiceRequestTimeout: 5s\n      RequestTimeout: 20s\n    RemoteClusters:\n")
	for _, pid := range []string{"xhome", "xrmte"} {
		fmt.Fprintf(&b, "      %s:\n        Host: %s\n        Scheme: http\n        Proxy: true\n        ActivateUsers: true\n", pid, peers[pid])
	}
	fmt.Fprintf(&b, "    KeepFed:\n      Listen: %s\n      DataDir: %s\n      ShutdownTimeout: 10s\n      DiscoveryTTL: 1s\n", addr, filepath.Join(cdir, "data"))
	path := filepath.Join(cdir, "config.yml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

// startE2E starts "keepfed serve" for c and waits until its health check
// answers.
func (c *e2eCluster) start() {
	t := c.t
	t.Helper()
	c.logs = &lockedBuffer{}
	c.exited = make(chan struct{})
	c.cmd = exec.Command(c.bin, "serve", "-config", c.config)
	c.cmd.Env = append(os.Environ(), c.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	require.NoError(t, c.cmd.Start())
	cmd, exited := c.cmd, c.exited
	go func() {
		c.err = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill() //nolint:errcheck // cleanup
			<-exited
		}
	})
	deadline := time.Now().Add(e2eWait)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited while starting: %v\n%s", c.id, c.err, c.logs.String())
		default:
		}
		if code, _, _ := e2eDo(t, "GET", c.url+"/_health/ping", c.mgmt, nil); code == http.StatusOK {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s not healthy within %s:\n%s", c.id, e2eWait, c.logs.String())
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to the process and waits (bounded) for it to exit.
func (c *e2eCluster) signal(sig os.Signal) {
	c.t.Helper()
	require.NoError(c.t, c.cmd.Process.Signal(sig))
	select {
	case <-c.exited:
	case <-time.After(e2eWait):
		c.t.Fatalf("%s did not exit within %s of %s", c.id, e2eWait, sig)
	}
}

// e2eClient has its own bounded timeout and no connection reuse across a
// killed server.
var e2eClient = &http.Client{Timeout: e2eWait, Transport: &http.Transport{DisableKeepAlives: true}}

// e2eDo sends one request; a transport error is status 0.
func e2eDo(t *testing.T, method, url, token string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e2eClient.Do(req)
	if err != nil {
		return 0, nil, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, resp.Header, []byte(err.Error())
	}
	return resp.StatusCode, resp.Header, b
}

// TestEndToEnd builds the binary, runs two federated "keepfed serve"
// processes, reads a collection of the remote cluster through the home
// cluster, kills the remote and restarts it.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	t0 := time.Now()
	bin := buildKeepfed(t)
	t.Logf("go build: %s", time.Since(t0).Round(time.Millisecond))
	dir := t.TempDir()
	peers := map[string]string{"xhome": e2eFreeAddr(t), "xrmte": e2eFreeAddr(t)}
	newCluster := func(id string) *e2eCluster {
		return &e2eCluster{
			t: t, bin: bin, id: id,
			config: writeE2EConfig(t, dir, id, peers[id], peers),
			url:    "http://" + peers[id],
			mgmt:   "mgmt-token-of-" + id + "-0123456789abcdef",
		}
	}
	home, remote := newCluster("xhome"), newCluster("xrmte")
	// the home cluster runs as under systemd with Type=notify
	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	require.NoError(t, err)
	defer notify.Close()
	home.env = []string{"NOTIFY_SOCKET=" + notifyPath}
	home.start()
	remote.start()
	require.NoError(t, notify.SetReadDeadline(time.Now().Add(e2eWait)))
	nbuf := make([]byte, 64)
	n, err := notify.Read(nbuf)
	require.NoError(t, err, "no READY=1 from keepfed serve")
	assert.Equal(t, "READY=1", string(nbuf[:n]))

	// a token of the home cluster, from the CLI (asks the running server)
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "token", "create", "-config", home.config, "-user", "alice@example.com").Output()
	require.NoError(t, err, "token create: %s", out)
	token := strings.TrimSpace(string(out))
	require.True(t, strings.HasPrefix(token, "v2/xhome-gj3su-"), token)
	salted, err := signing.SaltToken(token, "xrmte")
	require.NoError(t, err)

	// blocks on the remote with the home token as issued (the demo sends
	// it salted); a wrong hash is 422
	blocks := [][]byte{[]byte("end to end\n"), bytes.Repeat([]byte("keepfed e2e "), 100000)}
	var locs []string
	for _, data := range blocks {
		tok := token
		sum := md5.Sum(data)
		hash := hex.EncodeToString(sum[:])
		code, hdr, body := e2eDo(t, "PUT", remote.url+"/"+hash, tok, data)
		require.Equal(t, http.StatusOK, code, string(body))
		assert.Equal(t, "1", hdr.Get("X-Keep-Replicas-Stored"))
		assert.NotEmpty(t, hdr.Get("X-Request-Id"))
		loc := strings.TrimSpace(string(body))
		require.True(t, strings.HasPrefix(loc, fmt.Sprintf("%s+%d+A", hash, len(data))), loc)
		locs = append(locs, loc)
	}
	code, _, body := e2eDo(t, "PUT", remote.url+"/"+strings.Repeat("0", 32), token, []byte("not that"))
	assert.Equal(t, http.StatusUnprocessableEntity, code, string(body))

	mtext := fmt.Sprintf(". %s %s 0:%d:a.txt %d:%d:b.txt\n", locs[0], locs[1], len(blocks[0]), len(blocks[0]), len(blocks[1]))
	create, err := json.Marshal(map[string]any{"collection": map[string]any{"name": "e2e", "manifest_text": mtext}})
	require.NoError(t, err)
	code, _, body = e2eDo(t, "POST", remote.url+"/arvados/v1/collections", token, create, "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, code, string(body))
	var coll struct {
		UUID string `json:"uuid"`
		PDH  string `json:"portable_data_hash"`
		MT   string `json:"manifest_text"`
	}
	require.NoError(t, json.Unmarshal(body, &coll))
	require.True(t, strings.HasPrefix(coll.UUID, "xrmte-4zz18-"), coll.UUID)
	uuid, pdh := coll.UUID, coll.PDH

	// through the home cluster: record proxy and +R block reads
	readAll := func() []string {
		t.Helper()
		code, hdr, body := e2eDo(t, "GET", home.url+"/arvados/v1/collections/"+uuid, token, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		assert.Contains(t, hdr.Get("Content-Type"), "application/json")
		var c struct {
			UUID string `json:"uuid"`
			PDH  string `json:"portable_data_hash"`
			MT   string `json:"manifest_text"`
		}
		require.NoError(t, json.Unmarshal(body, &c))
		assert.Equal(t, uuid, c.UUID)
		assert.Equal(t, pdh, c.PDH)
		assert.NotContains(t, c.MT, "+A")
		fields := strings.Fields(c.MT)
		require.Len(t, fields, 5, c.MT)
		for i, data := range blocks {
			loc := fields[1+i]
			require.Contains(t, loc, "+Rxrmte-")
			code, hdr, got := e2eDo(t, "GET", home.url+"/"+loc, token, nil)
			require.Equal(t, http.StatusOK, code, string(got))
			assert.Equal(t, fmt.Sprint(len(data)), hdr.Get("Content-Length"))
			assert.NotEmpty(t, hdr.Get("X-Request-Id"))
			assert.True(t, bytes.Equal(data, got), "block %d: %d bytes differ", i, len(got))
		}
		return fields[1:3]
	}
	rlocs := readAll()

	// the remote only ever saw the salted token on reads through home
	assert.Contains(t, remote.logs.String(), `"token_fp":"`+signing.Fingerprint(salted)+`"`)

	// the remote dies: both paths answer 502 through home, quickly
	remote.signal(syscall.SIGKILL)
	for _, u := range []string{home.url + "/" + rlocs[1], home.url + "/arvados/v1/collections/" + uuid} {
		start := time.Now()
		code, hdr, body := e2eDo(t, "GET", u, token, nil)
		assert.Equal(t, http.StatusBadGateway, code, "%s: %s", u, body)
		assert.Contains(t, hdr.Get("Content-Type"), "application/json")
		var e struct {
			Errors []string `json:"errors"`
		}
		assert.NoError(t, json.Unmarshal(body, &e), string(body))
		assert.NotEmpty(t, e.Errors)
		assert.Less(t, time.Since(start), 10*time.Second)
	}
	// the home cluster's own data is unaffected
	code, _, _ = e2eDo(t, "GET", home.url+"/_health/ping", home.mgmt, nil)
	assert.Equal(t, http.StatusOK, code)

	// restarted with the same config and DataDir, it serves again
	remote.start()
	deadline := time.Now().Add(e2eWait)
	for {
		code, _, _ := e2eDo(t, "GET", home.url+"/"+rlocs[1], token, nil)
		if code == http.StatusOK {
			break
		}
		require.True(t, time.Now().Before(deadline), "no recovery within %s: last status %d", e2eWait, code)
		time.Sleep(100 * time.Millisecond)
	}
	readAll()

	// SIGTERM is a graceful shutdown: exit 0
	for _, c := range []*e2eCluster{remote, home} {
		c.signal(syscall.SIGTERM)
		assert.NoError(t, c.err, "%s: %s", c.id, c.logs.String())
		assert.Contains(t, c.logs.String(), `"msg":"stopped"`)
	}
	t.Logf("end to end: %s", time.Since(t0).Round(time.Millisecond))

	t.Run("demo", func(t *testing.T) {
		// "keepfed demo" as make run starts it: serves until SIGINT, then
		// exits 0 and leaves nothing behind
		tmp := t.TempDir()
		cmd := exec.Command(bin, "demo")
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var errb lockedBuffer
		cmd.Stderr = &errb
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		ready := make(chan struct{})
		var outb lockedBuffer
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				outb.Write([]byte(sc.Text() + "\n")) //nolint:errcheck // in memory
				if strings.Contains(sc.Text(), "Press Ctrl-C") {
					close(ready)
				}
			}
			exited <- cmd.Wait()
		}()
		t.Cleanup(func() { cmd.Process.Kill() }) //nolint:errcheck // no-op once exited
		select {
		case <-ready:
		case err := <-exited:
			t.Fatalf("demo exited early: %v\n%s\n%s", err, outb.String(), errb.String())
		case <-time.After(e2eWait):
			t.Fatalf("demo not ready within %s:\n%s", e2eWait, outb.String())
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		select {
		case err := <-exited:
			assert.NoError(t, err, "stderr: %s", errb.String())
		case <-time.After(e2eWait):
			t.Fatalf("demo did not exit within %s of SIGINT", e2eWait)
		}
		left, err := os.ReadDir(tmp)
		require.NoError(t, err)
		assert.Empty(t, left, "the demo's temporary directory is removed")
	})
}
