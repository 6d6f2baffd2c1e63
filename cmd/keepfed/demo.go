package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keepfed/keepfed/internal/selfsigned"
	"github.com/keepfed/keepfed/keepfed"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/signing"
)

func init() {
	register("demo", "run two federated clusters on 127.0.0.1 and read a collection across them ([-dir DIR] [-keep] [-exit])", runDemo)
}

// Demo cluster ids: x**** ids are for private clusters, so they never
// collide with a real federation.
const (
	demoHomeID   = "xhome"
	demoRemoteID = "xrmte"
	demoEmail    = "demo@example.com"
)

// demoBlockSize is the block size of the sample collection's data stream,
// small so that a ~1.7 MiB sample spans several blocks.
const demoBlockSize = 1 << 20

const demoUsage = "keepfed demo [-dir DIR] [-keep] [-exit] [-home ADDR] [-remote ADDR]"

// demoOptions are the demo's flags.
type demoOptions struct {
	dir        string // parent of the clusters' directories ("" = a temporary one)
	keep       bool   // keep the clusters' directories at exit
	exit       bool   // run the steps and exit without serving
	homeAddr   string // listen address of the home cluster
	remoteAddr string // listen address of the remote cluster
}

func runDemo(args []string, sio stdio) int {
	fs := newFlagSet("demo", sio.err)
	var o demoOptions
	fs.StringVar(&o.dir, "dir", "", "directory for the clusters' config files and data (default: a temporary directory)")
	fs.BoolVar(&o.keep, "keep", false, "keep the config files and data at exit")
	fs.BoolVar(&o.exit, "exit", false, "run the demo steps, then shut down instead of serving until Ctrl-C")
	fs.StringVar(&o.homeAddr, "home", "127.0.0.1:0", "listen address of the home cluster "+demoHomeID+" (port 0: any free port)")
	fs.StringVar(&o.remoteAddr, "remote", "127.0.0.1:0", "listen address of the remote cluster "+demoRemoteID+" (port 0: any free port)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n", demoUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fail(sio, "demo", usageError{errors.New("usage: " + demoUsage)})
	}
	d := &demo{opts: o, out: sio.out}
	err := d.run()
	if cerr := d.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(sio, "demo", err)
	}
	return 0
}

// demo is one run of "keepfed demo": two in-process clusters and the
// state of the walk-through.
type demo struct {
	opts     demoOptions
	out      io.Writer
	root     string // the directory holding both clusters' directories
	tempRoot bool   // root was created by the demo
	home     *demoCluster
	remote   *demoCluster
	client   *http.Client
	roots    *x509.CertPool  // the clusters' certificates, for client
	ctx      context.Context // cancelled by Ctrl-C during the steps
	step     int

	token    string // the home token
	salted   string // the home token salted for the remote, as clients send it there
	uuid     string
	pdh      string
	manifest string // as read through the home cluster

	uploads      int // requests sent straight to the remote
	proxiedReads int // requests the home cluster forwarded to the remote

	firstReads []demoRead // the blocks read in readBlocks, and how long each took
}

// demoRead is one block read through the home cluster.
type demoRead struct {
	locator string
	size    int
	took    time.Duration
}

// demoCluster is one keepfed of the demo.
type demoCluster struct {
	id      string
	dir     string // <root>/<id>: config.yml, keepfed.log, data/
	config  string
	cfg     *config.ClusterConfig
	srv     *keepfed.Server
	url     string
	cert    string // its TLS certificate (PEM)
	logFile *os.File
	log     *demoLog
	done    chan error
}

// demoLog keeps a cluster's JSON log lines in memory (for the "what the
// remote saw" step) until stopCapture, while writing them to its log file.
type demoLog struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
	lines   []string
	part    []byte
}

func (l *demoLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return l.w.Write(p)
	}
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
	return l.w.Write(p)
}

// stopCapture stops keeping lines in memory, so that a demo left serving
// does not grow.
func (l *demoLog) stopCapture() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped, l.lines, l.part = true, nil, nil
}

// tokenFingerprints returns how many logged requests presented each token
// fingerprint.
func (l *demoLog) tokenFingerprints() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	fps := map[string]int{}
	for _, line := range l.lines {
		var rec struct {
			Msg     string `json:"msg"`
			TokenFP string `json:"token_fp"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" && rec.TokenFP != "" {
			fps[rec.TokenFP]++
		}
	}
	return fps
}

func (d *demo) run() error {
	d.roots = x509.NewCertPool()
	d.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: d.roots, MinVersion: tls.VersionTLS12},
	}}
	var cancel context.CancelFunc
	d.ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C at any point shuts down cleanly and removes the files
	sigs, stop := serveSignals()
	defer stop()
	if err := d.start(); err != nil {
		return err
	}
	stepsDone := make(chan error, 1)
	go func() { stepsDone <- d.runSteps() }()
	select {
	case err := <-stepsDone:
		if err != nil {
			return err
		}
	case sig := <-sigs:
		cancel()
		<-stepsDone // the steps' requests are cancelled
		fmt.Fprintf(d.out, "\n%s: interrupted, shutting down\n", sig)
		return nil
	}
	if d.opts.exit {
		return nil
	}
	fmt.Fprintf(d.out, "\nBoth clusters keep serving; logs in %s and %s.\nPress Ctrl-C to stop.\n", d.home.logFile.Name(), d.remote.logFile.Name())
	select {
	case sig := <-sigs:
		fmt.Fprintf(d.out, "\n%s: shutting down\n", sig)
	case err := <-d.home.done:
		d.home.done = nil
		return fmt.Errorf("%s stopped: %w", demoHomeID, err)
	case err := <-d.remote.done:
		d.remote.done = nil
		return fmt.Errorf("%s stopped: %w", demoRemoteID, err)
	}
	return nil
}

// runSteps runs the walk-through and prints the curl commands.
func (d *demo) runSteps() error {
	steps := []struct {
		title string
		fn    func() error
	}{
		{"create a user and a token on " + demoHomeID, d.createToken},
		{"upload a sample collection to " + demoRemoteID + " with the " + demoHomeID + " token (salted for " + demoRemoteID + ", as Arvados clients send it)", d.upload},
		{"read the collection through " + demoHomeID + " (record proxy)", d.readCollection},
		{"read every file's blocks through " + demoHomeID + "'s keep proxy", d.readBlocks},
		{"read the blocks again: served from " + demoHomeID + "'s remote block cache", d.readCached},
		{"what " + demoRemoteID + " saw", d.showSalted},
	}
	for _, s := range steps {
		if err := d.runStep(s.title, s.fn); err != nil {
			return err
		}
	}
	d.printCurl()
	return nil
}

// runStep prints a numbered step, runs it and prints its duration.
func (d *demo) runStep(title string, fn func() error) error {
	d.step++
	fmt.Fprintf(d.out, "\n[%d] %s\n", d.step, title)
	t0 := time.Now()
	if err := fn(); err != nil {
		fmt.Fprintf(d.out, "    FAILED after %s\n", demoSince(t0))
		return fmt.Errorf("step %d (%s): %w", d.step, title, err)
	}
	fmt.Fprintf(d.out, "    ok (%s)\n", demoSince(t0))
	return nil
}

func demoSince(t0 time.Time) time.Duration { return demoRound(time.Since(t0)) }

// demoRound rounds a duration for display.
func demoRound(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}

// start writes both clusters' config files and starts them.
func (d *demo) start() error {
	d.step++
	fmt.Fprintf(d.out, "[%d] start %s and %s on 127.0.0.1\n", d.step, demoHomeID, demoRemoteID)
	t0 := time.Now()
	if d.opts.dir == "" {
		dir, err := os.MkdirTemp("", "keepfed-demo-")
		if err != nil {
			return fmt.Errorf("creating a temporary directory: %w", err)
		}
		d.root, d.tempRoot = dir, true
	} else {
		abs, err := filepath.Abs(d.opts.dir)
		if err != nil {
			return fmt.Errorf("-dir %s: %w", d.opts.dir, err)
		}
		if err := os.MkdirAll(abs, 0o750); err != nil {
			return fmt.Errorf("-dir is not usable: %w", err)
		}
		d.root = abs
	}
	lh, err := demoListen(demoHomeID, d.opts.homeAddr)
	if err != nil {
		return err
	}
	lr, err := demoListen(demoRemoteID, d.opts.remoteAddr)
	if err != nil {
		lh.Close()
		return err
	}
	peers := map[string]config.RemoteClusterConfig{
		// Insecure: each demo cluster has its own self-signed
		// certificate, which the other cannot verify.
		demoHomeID:   {Host: lh.Addr().String(), Scheme: "https", Insecure: true, Proxy: true, ActivateUsers: true},
		demoRemoteID: {Host: lr.Addr().String(), Scheme: "https", Insecure: true, Proxy: true, ActivateUsers: true},
	}
	if d.home, err = d.startCluster(demoHomeID, lh, peers); err != nil {
		lr.Close()
		return err
	}
	if d.remote, err = d.startCluster(demoRemoteID, lr, peers); err != nil {
		return err
	}
	for _, c := range []*demoCluster{d.home, d.remote} {
		if err := d.waitHealthy(c); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "    %s  %-22s config %s\n", c.id, c.url, c.config)
	}
	fmt.Fprintf(d.out, "    ok (%s)\n", demoSince(t0))
	return nil
}

// trust adds a cluster's certificate to the roots the demo's client
// verifies against (before the cluster serves: the pool is not changed
// while requests use it).
func (d *demo) trust(cert *x509.Certificate) { d.roots.AddCert(cert) }

// demoListen binds addr with an error that names the cluster and the flag.
func demoListen(id, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		flag := "-home"
		if id == demoRemoteID {
			flag = "-remote"
		}
		return nil, fmt.Errorf("cannot listen on %s for %s (choose another address with %s, or port 0 for any free port): %w", addr, id, flag, err)
	}
	return ln, nil
}

// demoConfig is a cluster's config file, as an operator would write it.
func demoConfig(id, listen, dataDir, certPath, keyPath string, peers map[string]config.RemoteClusterConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# keepfed demo cluster %s, written by \"keepfed demo\". Throwaway secrets.\n", id)
	fmt.Fprintf(&b, "Clusters:\n  %s:\n", id)
	fmt.Fprintf(&b, "    SystemRootToken: %s\n", demoSecret())
	fmt.Fprintf(&b, "    ManagementToken: %s\n", demoSecret())
	fmt.Fprintf(&b, "    Collections:\n      BlobSigningKey: %s\n      BlobSigningTTL: 336h\n", demoSecret())
	fmt.Fprintf(&b, "    API:\n      KeepServiceRequestTimeout: 10s\n")
	fmt.Fprintf(&b, "    RemoteClusters:\n")
	for _, pid := range []string{demoHomeID, demoRemoteID} {
		p := peers[pid]
		fmt.Fprintf(&b, "      %s:\n        Host: %s\n        Scheme: %s\n        Insecure: %t\n        Proxy: %t\n        ActivateUsers: %t\n", pid, p.Host, p.Scheme, p.Insecure, p.Proxy, p.ActivateUsers)
	}
	fmt.Fprintf(&b, "    TLS:\n      Certificate: %s\n      Key: %s\n", strconv.Quote(certPath), strconv.Quote(keyPath))
	fmt.Fprintf(&b, "    KeepFed:\n      Listen: %s\n      ExternalURL: https://%s\n      DataDir: %s\n      ShutdownTimeout: 10s\n", listen, listen, strconv.Quote(dataDir))
	if id == demoHomeID {
		fmt.Fprintf(&b, "      RemoteBlockCache:\n        MaxSize: 256MiB\n")
	}
	return b.String()
}

// demoSecret returns a random token-like secret.
func demoSecret() string {
	var b [24]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// startCluster writes id's config file under the demo directory, loads it
// back as "keepfed serve" would and serves it on ln.
func (d *demo) startCluster(id string, ln net.Listener, peers map[string]config.RemoteClusterConfig) (*demoCluster, error) {
	c := &demoCluster{id: id, dir: filepath.Join(d.root, id)}
	c.config = filepath.Join(c.dir, "config.yml")
	if err := os.MkdirAll(filepath.Join(c.dir, "data"), 0o750); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: data directory is not writable: %w", id, err)
	}
	certPath, keyPath, cert, err := selfsigned.Write(filepath.Join(c.dir, "tls"), id)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	d.trust(cert)
	c.cert = certPath
	if err := os.WriteFile(c.config, []byte(demoConfig(id, ln.Addr().String(), filepath.Join(c.dir, "data"), certPath, keyPath, peers)), 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: writing the config file: %w", id, err)
	}
	cfg, _, err := config.LoadConfig(c.config, id)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	c.cfg, c.url = cfg, cfg.KeepFed.ExternalURL
	f, err := os.OpenFile(filepath.Join(c.dir, "keepfed.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: opening the log file: %w", id, err)
	}
	c.logFile, c.log = f, &demoLog{w: f}
	srv, err := keepfed.NewCluster(cfg, keepfed.Options{Logger: slog.New(slog.NewJSONHandler(c.log, nil))})
	if err != nil {
		ln.Close()
		f.Close()
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	c.srv, c.done = srv, make(chan error, 1)
	go func() { c.done <- srv.Serve(ln) }()
	return c, nil
}

// waitHealthy polls the cluster's health check until it answers 200.
func (d *demo) waitHealthy(c *demoCluster) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, body, err := d.do("GET", c.url+"/_health/ping", c.cfg.ManagementToken, nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if d.ctx.Err() != nil {
			return d.ctx.Err()
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d: %s", code, bytes.TrimSpace(body))
			}
			return fmt.Errorf("%s did not become healthy in 10s: %w", c.id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// close shuts the clusters down and removes the demo's files unless -keep.
func (d *demo) close() error {
	var errs []error
	for _, c := range []*demoCluster{d.remote, d.home} {
		if c == nil {
			continue
		}
		if c.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			if err := c.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shutting down %s: %w", c.id, err))
			}
			cancel()
			if c.done != nil {
				if err := <-c.done; err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", c.id, err))
				}
			}
		}
		if c.logFile != nil {
			c.logFile.Close()
		}
	}
	if d.root == "" {
		return errors.Join(errs...)
	}
	switch {
	case d.opts.keep:
		fmt.Fprintf(d.out, "kept the clusters' config files and data in %s\n", d.root)
	case d.tempRoot:
		if err := os.RemoveAll(d.root); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", d.root, err))
		}
	default:
		for _, id := range []string{demoHomeID, demoRemoteID} {
			if err := os.RemoveAll(filepath.Join(d.root, id)); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", filepath.Join(d.root, id), err))
			}
		}
	}
	return errors.Join(errs...)
}

// do sends one request and returns status, headers and body.
func (d *demo) do(method, url, token string, body []byte, hdr ...string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(d.ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, nil, fmt.Errorf("reading the answer to %s %s: %w", method, url, err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// expect sends a request and fails unless the answer has status want.
func (d *demo) expect(want int, method, url, token string, body []byte, hdr ...string) (http.Header, []byte, error) {
	code, h, b, err := d.do(method, url, token, body, hdr...)
	if err != nil {
		return nil, nil, err
	}
	if code != want {
		return h, b, fmt.Errorf("%s %s: status %d, want %d: %s", method, demoShort(url), code, want, bytes.TrimSpace(b))
	}
	return h, b, nil
}

// demoShort shortens long URLs (signed locators) for messages.
func demoShort(s string) string {
	if len(s) > 100 {
		return s[:97] + "..."
	}
	return s
}

func (d *demo) createToken() error {
	req, _ := json.Marshal(identity.IssueTokenRequest{Email: demoEmail, TTL: 24 * time.Hour})
	_, body, err := d.expect(http.StatusOK, "POST", d.home.url+identity.TokenManagementPath, d.home.cfg.SystemRootToken, req, "Content-Type", "application/json")
	if err != nil {
		return err
	}
	var it identity.IssuedToken
	if err := json.Unmarshal(body, &it); err != nil {
		return fmt.Errorf("decoding the issued token: %w", err)
	}
	if !strings.HasPrefix(it.Token, "v2/"+demoHomeID+"-gj3su-") {
		return fmt.Errorf("unexpected token %q", it.Token)
	}
	d.token = it.Token
	if d.salted, err = signing.SaltToken(d.token, demoRemoteID); err != nil {
		return fmt.Errorf("salting the token for %s: %w", demoRemoteID, err)
	}
	fmt.Fprintf(d.out, "    POST %s%s (SystemRootToken) -> user %s (%s)\n", d.home.url, identity.TokenManagementPath, it.UserUUID, demoEmail)
	fmt.Fprintf(d.out, "    token %s (throwaway, expires in 24h)\n", d.token)
	return nil
}

// demoFile is one file of the sample collection.
type demoFile struct {
	stream, name string
	data         []byte
}

// demoSample returns the sample collection's files: a small text file in
// the top stream, a CSV file and a binary file in ./data.
func demoSample() []demoFile {
	var csv bytes.Buffer
	csv.WriteString("n,square,cube\n")
	for i := 1; csv.Len() < 1400<<10; i++ {
		fmt.Fprintf(&csv, "%d,%d,%d\n", i, i*i, i*i*i)
	}
	bin := make([]byte, 300<<10)
	r := mrand.NewChaCha8([32]byte{'k', 'e', 'e', 'p', 'f', 'e', 'd'})
	r.Read(bin) //nolint:errcheck // ChaCha8.Read never fails
	return []demoFile{
		{".", "README.txt", []byte("This collection lives on " + demoRemoteID + ".\nYou are reading it through " + demoHomeID + ".\n")},
		{"./data", "squares.csv", csv.Bytes()},
		{"./data", "random.bin", bin},
	}
}

// upload PUTs the sample's blocks to the remote cluster and saves the
// collection record there.
func (d *demo) upload() error {
	files := demoSample()
	var streams []string
	var mtext strings.Builder
	for _, f := range files {
		if len(streams) == 0 || streams[len(streams)-1] != f.stream {
			streams = append(streams, f.stream)
		}
	}
	nblocks, total := 0, 0
	for _, s := range streams {
		var data []byte
		for _, f := range files {
			if f.stream == s {
				data = append(data, f.data...)
			}
		}
		nblocks += (len(data) + demoBlockSize - 1) / demoBlockSize
		total += len(data)
	}
	fmt.Fprintf(d.out, "    %d files, %d blocks, %d bytes\n", len(files), nblocks, total)
	done := 0
	for _, s := range streams {
		mtext.WriteString(s)
		var data []byte
		var ftokens []string
		for _, f := range files {
			if f.stream == s {
				ftokens = append(ftokens, fmt.Sprintf("%d:%d:%s", len(data), len(f.data), f.name))
				data = append(data, f.data...)
			}
		}
		for off := 0; off < len(data); off += demoBlockSize {
			block := data[off:min(off+demoBlockSize, len(data))]
			sum := md5.Sum(block)
			hash := hex.EncodeToString(sum[:])
			t0 := time.Now()
			hdr, body, err := d.expect(http.StatusOK, "PUT", d.remote.url+"/"+hash, d.salted, block)
			if err != nil {
				return err
			}
			loc := strings.TrimSpace(string(body))
			if !strings.HasPrefix(loc, fmt.Sprintf("%s+%d+A", hash, len(block))) {
				return fmt.Errorf("PUT %s answered locator %q", hash, loc)
			}
			done++
			d.uploads++
			fmt.Fprintf(d.out, "    block %d/%d  PUT %s/%s  %7d bytes  replicas %s  (%s)\n", done, nblocks, d.remote.url, hash, len(block), hdr.Get("X-Keep-Replicas-Stored"), demoSince(t0))
			mtext.WriteString(" " + loc)
		}
		mtext.WriteString(" " + strings.Join(ftokens, " ") + "\n")
	}
	create, _ := json.Marshal(map[string]any{"collection": map[string]any{"name": "keepfed demo sample", "manifest_text": mtext.String()}})
	_, body, err := d.expect(http.StatusOK, "POST", d.remote.url+"/arvados/v1/collections", d.salted, create, "Content-Type", "application/json")
	if err != nil {
		return err
	}
	var coll struct {
		UUID string `json:"uuid"`
		PDH  string `json:"portable_data_hash"`
	}
	if err := json.Unmarshal(body, &coll); err != nil {
		return fmt.Errorf("decoding the new collection: %w", err)
	}
	if !strings.HasPrefix(coll.UUID, demoRemoteID+"-4zz18-") {
		return fmt.Errorf("the collection has uuid %q, want one of %s", coll.UUID, demoRemoteID)
	}
	d.uploads++
	d.uuid, d.pdh = coll.UUID, coll.PDH
	fmt.Fprintf(d.out, "    POST %s/arvados/v1/collections -> %s (portable data hash %s)\n", d.remote.url, d.uuid, d.pdh)
	return nil
}

// readCollection GETs the collection record through the home cluster.
func (d *demo) readCollection() error {
	_, body, err := d.expect(http.StatusOK, "GET", d.home.url+"/arvados/v1/collections/"+d.uuid, d.token, nil)
	if err != nil {
		return err
	}
	var coll struct {
		UUID string `json:"uuid"`
		PDH  string `json:"portable_data_hash"`
		MT   string `json:"manifest_text"`
	}
	if err := json.Unmarshal(body, &coll); err != nil {
		return fmt.Errorf("decoding the collection: %w", err)
	}
	if coll.UUID != d.uuid || coll.PDH != d.pdh {
		return fmt.Errorf("got collection %s with hash %s, want %s with %s", coll.UUID, coll.PDH, d.uuid, d.pdh)
	}
	n := strings.Count(coll.MT, "+R"+demoRemoteID+"-")
	if n == 0 {
		return fmt.Errorf("the manifest read through %s has no +R%s- hints:\n%s", demoHomeID, demoRemoteID, coll.MT)
	}
	d.proxiedReads++
	d.manifest = coll.MT
	fmt.Fprintf(d.out, "    GET %s/arvados/v1/collections/%s -> proxied to %s, %d locators rewritten +A -> +R%s-..., same portable data hash\n", d.home.url, d.uuid, demoRemoteID, n, demoRemoteID)
	fmt.Fprintf(d.out, "    manifest as %s serves it:\n", demoHomeID)
	for _, line := range strings.Split(strings.TrimRight(coll.MT, "\n"), "\n") {
		fmt.Fprintf(d.out, "      %s\n", line)
	}
	return nil
}

// readBlocks fetches every block of the rewritten manifest through the
// home cluster and checks every file's md5 against the uploaded sample.
func (d *demo) readBlocks() error {
	want := map[string][16]byte{}
	for _, f := range demoSample() {
		want[f.stream+"/"+f.name] = md5.Sum(f.data)
	}
	lines := strings.Split(strings.TrimRight(d.manifest, "\n"), "\n")
	nblocks := 0
	for _, line := range lines {
		for _, tok := range strings.Fields(line)[1:] {
			if demoIsLocator(tok) {
				nblocks++
			}
		}
	}
	done, checked := 0, 0
	for _, line := range lines {
		fields := strings.Fields(line)
		stream := fields[0]
		var data []byte
		for _, tok := range fields[1:] {
			if demoIsLocator(tok) {
				t0 := time.Now()
				hdr, block, err := d.expect(http.StatusOK, "GET", d.home.url+"/"+tok, d.token, nil)
				if err != nil {
					return err
				}
				hash, _, _ := strings.Cut(tok, "+")
				if sum := md5.Sum(block); hex.EncodeToString(sum[:]) != hash {
					return fmt.Errorf("block %s: md5 of the %d bytes received is %x", hash, len(block), sum)
				}
				done++
				d.proxiedReads++
				d.firstReads = append(d.firstReads, demoRead{tok, len(block), time.Since(t0)})
				fmt.Fprintf(d.out, "    block %d/%d  GET %s/%s+%d+R%s-...  %7d bytes, md5 ok, Content-Length %s  (%s)\n", done, nblocks, d.home.url, hash, len(block), demoRemoteID, len(block), hdr.Get("Content-Length"), demoSince(t0))
				data = append(data, block...)
				continue
			}
			parts := strings.SplitN(tok, ":", 3)
			if len(parts) != 3 {
				return fmt.Errorf("unexpected manifest token %q", tok)
			}
			pos, err1 := strconv.Atoi(parts[0])
			n, err2 := strconv.Atoi(parts[1])
			if err1 != nil || err2 != nil || pos < 0 || n < 0 || pos+n > len(data) {
				return fmt.Errorf("bad file segment %q in stream %s", tok, stream)
			}
			name := stream + "/" + parts[2]
			sum := md5.Sum(data[pos : pos+n])
			if w, ok := want[name]; !ok || w != sum {
				return fmt.Errorf("file %s: md5 %x does not match the uploaded file", name, sum)
			}
			checked++
			fmt.Fprintf(d.out, "    file %-20s %7d bytes  md5 %x  matches the upload\n", name, n, sum)
		}
	}
	if checked != len(want) {
		return fmt.Errorf("checked %d files, the sample has %d", checked, len(want))
	}
	return nil
}

// readCached reads every block again through the home cluster: its remote
// block cache (KeepFed.RemoteBlockCache) answers without asking the remote,
// which already confirmed this token and signature.
func (d *demo) readCached() error {
	m := &d.home.srv.Metrics().Cache
	hits0, served0, asked0 := m.Hits.Load(), m.BytesServed.Load(), m.ConfirmAccepted.Load()+m.ConfirmRefused.Load()+m.ConfirmFailed.Load()+m.Misses.Load()
	var first, second time.Duration
	for i, r := range d.firstReads {
		t0 := time.Now()
		_, block, err := d.expect(http.StatusOK, "GET", d.home.url+"/"+r.locator, d.token, nil)
		if err != nil {
			return err
		}
		took := time.Since(t0)
		hash, _, _ := strings.Cut(r.locator, "+")
		if sum := md5.Sum(block); hex.EncodeToString(sum[:]) != hash {
			return fmt.Errorf("block %s: md5 of the %d bytes received is %x", hash, len(block), sum)
		}
		first, second = first+r.took, second+took
		fmt.Fprintf(d.out, "    block %d/%d  %7d bytes  first read %-9s (from %s)  second read %-9s (from the cache)\n", i+1, len(d.firstReads), r.size, demoRound(r.took), demoRemoteID, demoSince(t0))
	}
	hits := m.Hits.Load() - hits0
	if hits != uint64(len(d.firstReads)) {
		return fmt.Errorf("%d of %d second reads came from the cache", hits, len(d.firstReads))
	}
	if asked := m.ConfirmAccepted.Load() + m.ConfirmRefused.Load() + m.ConfirmFailed.Load() + m.Misses.Load(); asked != asked0 {
		return fmt.Errorf("the second reads sent %d requests to %s", asked-asked0, demoRemoteID)
	}
	_, body, err := d.expect(http.StatusOK, "GET", d.home.url+"/_health/ping", d.home.cfg.ManagementToken, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "    %d cache hits, %d bytes from the cache, 0 requests to %s; first reads took %s in all, second reads %s\n", hits, m.BytesServed.Load()-served0, demoRemoteID, first.Round(100*time.Microsecond), second.Round(100*time.Microsecond))
	fmt.Fprintf(d.out, "    GET /_health/ping -> %s\n", bytes.TrimSpace(body))
	return nil
}

// demoIsLocator reports whether a manifest token is a block locator.
func demoIsLocator(tok string) bool {
	hash, rest, ok := strings.Cut(tok, "+")
	return ok && len(hash) == 32 && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}

// showSalted shows, by fingerprint, the tokens the remote cluster
// received: only the salted one, both from the uploads and from the home
// cluster's proxied reads.
func (d *demo) showSalted() error {
	rawFP, saltedFP := signing.Fingerprint(d.token), signing.Fingerprint(d.salted)
	// access log lines are written when a response is done: give the last
	// ones a moment
	want := d.uploads + d.proxiedReads
	var fps map[string]int
	for deadline := time.Now().Add(2 * time.Second); ; {
		fps = d.remote.log.tokenFingerprints()
		if fps[saltedFP] >= want || time.Now().After(deadline) || d.ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.remote.log.stopCapture()
	d.home.log.stopCapture()
	if fps[saltedFP] < want {
		return fmt.Errorf("%s logged %d requests with the salted token (fingerprint %s), want at least %d", demoRemoteID, fps[saltedFP], saltedFP, want)
	}
	if fps[rawFP] != 0 {
		return fmt.Errorf("%s received the unsalted %s token %d times", demoRemoteID, demoHomeID, fps[rawFP])
	}
	fmt.Fprintf(d.out, "    token issued by %s:       fingerprint %s  seen by %s: 0 times\n", demoHomeID, rawFP, demoRemoteID)
	fmt.Fprintf(d.out, "    salted for %s:            fingerprint %s  seen by %s: %d times (%d uploads, %d reads proxied by %s)\n", demoRemoteID, saltedFP, demoRemoteID, fps[saltedFP], d.uploads, fps[saltedFP]-d.uploads, demoHomeID)
	fmt.Fprintf(d.out, "    the salted token is v2/<uuid>/HMAC-SHA1(secret, %q): %s never saw the secret. If it were\n", demoRemoteID, demoRemoteID)
	fmt.Fprintf(d.out, "    compromised, it could ask %s who the user is, but not read the user's data on %s or any other cluster.\n", demoHomeID, demoHomeID)
	return nil
}

// printCurl prints copy-paste commands for the same reads.
func (d *demo) printCurl() {
	loc := ""
	for _, tok := range strings.Fields(d.manifest) {
		if demoIsLocator(tok) {
			loc = tok
			break
		}
	}
	w := bufio.NewWriter(d.out)
	defer w.Flush()
	fmt.Fprintf(w, "\nTry it yourself (the token is a throwaway local one):\n\n")
	fmt.Fprintf(w, "  export ARVADOS_API_TOKEN=%s\n\n", d.token)
	fmt.Fprintf(w, "  # the collection record, proxied by %s from %s (+R locators)\n", demoHomeID, demoRemoteID)
	fmt.Fprintf(w, "  curl -sS --cacert %s -H \"Authorization: Bearer $ARVADOS_API_TOKEN\" %s/arvados/v1/collections/%s\n\n", d.home.cert, d.home.url, d.uuid)
	fmt.Fprintf(w, "  # a block of %s, streamed and md5-checked by %s\n", demoRemoteID, demoHomeID)
	fmt.Fprintf(w, "  curl -sS --cacert %s -H \"Authorization: Bearer $ARVADOS_API_TOKEN\" '%s/%s' | md5sum\n\n", d.home.cert, d.home.url, loc)
	fmt.Fprintf(w, "  # the keep services clients of %s discover\n", demoHomeID)
	fmt.Fprintf(w, "  curl -sS --cacert %s -H \"Authorization: Bearer $ARVADOS_API_TOKEN\" %s/arvados/v1/keep_services/accessible\n\n", d.home.cert, d.home.url)
	fmt.Fprintf(w, "  # health and metrics (ManagementToken of %s)\n", demoHomeID)
	fmt.Fprintf(w, "  curl -sS --cacert %s -H 'Authorization: Bearer %s' %s/_health/ping\n", d.home.cert, d.home.cfg.ManagementToken, d.home.url)
	fmt.Fprintf(w, "  curl -sS --cacert %s -H 'Authorization: Bearer %s' %s/metrics\n", d.home.cert, d.home.cfg.ManagementToken, d.home.url)
	host := strings.TrimPrefix(d.home.url, "https://")
	env := fmt.Sprintf("ARVADOS_API_HOST=%s ARVADOS_API_HOST_INSECURE=1 ARVADOS_API_TOKEN=%s", host, d.token)
	fmt.Fprintf(w, "\n  # real Arvados clients (Python SDK: arv-get, arv-ls, arv-put; Go SDK; arvados-client), with their defaults\n")
	fmt.Fprintf(w, "  %s arv-ls %s\n", env, d.uuid)
	fmt.Fprintf(w, "  %s arv-get %s/ ./%s/\n", env, d.uuid, d.uuid)
	fmt.Fprintf(w, "  %s arv-get %s/ ./by-pdh/\n", env, d.pdh)
	fmt.Fprintf(w, "  %s arv-put FILE\n", env)
	fmt.Fprintf(w, "  %s python3 -c 'import arvados; print(arvados.api(\"v1\").collections().get(uuid=\"%s\").execute()[\"portable_data_hash\"])'\n", env, d.uuid)
}
