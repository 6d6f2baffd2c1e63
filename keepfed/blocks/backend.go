package blocks

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

// Backend stores and serves this cluster's own blocks: the embedded
// directory volume (KeepFed.Backend: embedded) or the local Arvados
// cluster's keepstores (KeepFed.Backend: arvados). The block handlers check
// locators, signatures, sizes and md5 themselves; a Backend only moves
// bytes. Errors are *request.HTTPError where the status matters.
type Backend interface {
	// Read opens the block for reading. locator is the request's
	// locator (signed), token the caller's token, size the size hint
	// (0 when absent). It returns the data, its size, and a release
	// function to call exactly once with the outcome.
	Read(locator, token, hash string, size int64) (data io.Reader, n int64, release func(error), err error)
	// Head checks that the block exists and is intact, and returns its
	// size.
	Head(locator, token, hash string, size int64) (int64, error)
	// NewWriter starts storing a block of the given hash; size is -1
	// when unknown. The caller verifies the data and then calls Commit or
	// Abort.
	NewWriter(hash string, size int64, token string) (BlockWriter, error)
}

// BlockWriter receives a block being stored. Exactly one of Commit (the
// data is verified: make it durable and visible) and Abort (forget it)
// must be called.
type BlockWriter interface {
	io.Writer
	Commit() error
	Abort()
}

// replicaCounter is implemented by BlockWriters that know how many
// copies Commit stored.
type replicaCounter interface{ Replicas() int }

// EmbeddedBackend serves blocks from a Volume.
type EmbeddedBackend struct{ V *Volume }

func (b EmbeddedBackend) Read(_, _, hash string, size int64) (io.Reader, int64, func(error), error) {
	f, n, err := b.V.Open(hash)
	if errors.Is(err, ErrBlockNotFound) {
		return nil, 0, nil, request.NewError(fasthttp.StatusNotFound, "block not found")
	}
	if err != nil {
		return nil, 0, nil, request.WrapError(fasthttp.StatusInternalServerError, "reading block failed", err)
	}
	if size > 0 && n != size {
		f.Close()
		return nil, 0, nil, request.Errorf(fasthttp.StatusNotFound, "block not found with size %d", size)
	}
	return f, n, func(error) { f.Close() }, nil
}

// Head reads the whole block and checks its md5, as keepstore does.
func (b EmbeddedBackend) Head(locator, token, hash string, size int64) (int64, error) {
	src, n, release, err := b.Read(locator, token, hash, size)
	if err != nil {
		return 0, err
	}
	bs, err := newBlockStream(src, hash, n, release)
	if err != nil {
		bs.finish(err)
		return 0, request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	if _, err := bs.WriteTo(io.Discard); err != nil {
		return 0, request.WrapError(fasthttp.StatusBadGateway, "checksum mismatch in stored data", err)
	}
	return n, nil
}

func (b EmbeddedBackend) NewWriter(hash string, _ int64, _ string) (BlockWriter, error) {
	w, err := b.V.NewWriter(hash)
	if err != nil {
		if IsNoSpace(err) {
			return nil, request.WrapError(fasthttp.StatusInsufficientStorage, "insufficient storage", err)
		}
		return nil, request.WrapError(fasthttp.StatusInternalServerError, "cannot store the block", err)
	}
	return w, nil
}

// arvadosBackend serves blocks from the local Arvados cluster's
// keepstores, discovered from Upstream's keep_services/accessible like a
// remote cluster's (same cache, probe order and failover), with the
// caller's own token.
type arvadosBackend struct {
	up *remotes.Remote
}

// NewArvadosBackend returns the Backend of the arvados backend: the
// keepstores of the local cluster, discovered from KeepFed.Upstream.
func NewArvadosBackend(cfg *config.ClusterConfig, m *metrics.Metrics) (*arvadosBackend, error) {
	u, err := url.Parse(cfg.KeepFed.Upstream)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("Clusters.%s.KeepFed.Upstream %q is not a URL", cfg.ClusterID, cfg.KeepFed.Upstream)
	}
	idle := cfg.API.KeepServiceRequestTimeout.D()
	if idle <= 0 {
		idle = remotes.DefaultIdleTimeout
	}
	up := remotes.NewRemote(cfg.ClusterID, remotes.SchemeOr(u.Scheme), u.Host, false, false, cfg.KeepFed.DiscoveryTTL.D(), idle, m)
	self, _ := url.Parse(cfg.KeepFed.ExternalURL)
	if self != nil {
		up.SetExclude(self.Scheme + "://" + self.Host)
	}
	return &arvadosBackend{up: up}, nil
}

func (b *arvadosBackend) Read(locator, token, hash string, size int64) (io.Reader, int64, func(error), error) {
	resp, err := b.up.Fetch(fasthttp.MethodGet, locator, token, hash, size)
	if err != nil {
		return nil, 0, nil, err
	}
	n := size
	if n <= 0 {
		n = int64(resp.Header.ContentLength())
	}
	if n < 0 || n > MaxBlockSize {
		remotes.ReleaseResponse(resp, errors.New("bad size"))
		return nil, 0, nil, request.NewError(fasthttp.StatusBadGateway, "keepstore sent a block of unknown or excessive size")
	}
	return resp.BodyStream(), n, func(err error) { remotes.ReleaseResponse(resp, err) }, nil
}

// Head asks the keepstores (which check the md5 themselves).
func (b *arvadosBackend) Head(locator, token, hash string, size int64) (int64, error) {
	resp, err := b.up.Fetch(fasthttp.MethodHead, locator, token, hash, size)
	if err != nil {
		return 0, err
	}
	n := size
	if n <= 0 {
		n = int64(resp.Header.ContentLength())
	}
	remotes.ReleaseResponse(resp, nil)
	return max(n, 0), nil
}

// NewWriter streams the block to the first keepstore in probe order that
// accepts a connection (PUT /<hash>[+size] with the caller's token).
func (b *arvadosBackend) NewWriter(hash string, size int64, token string) (BlockWriter, error) {
	svcs, err := b.up.Services()
	if err != nil {
		return nil, request.WrapError(fasthttp.StatusBadGateway, "keep service discovery failed", err)
	}
	order := make([]remotes.KeepService, 0, len(svcs))
	for _, s := range svcs {
		if !s.ReadOnly {
			order = append(order, s)
		}
	}
	if len(order) == 0 {
		return nil, request.NewError(fasthttp.StatusInsufficientStorage, "no writable keep service")
	}
	remotes.SortProbeOrder(hash, order)
	pr, pw := io.Pipe()
	w := &upstreamWriter{pw: pw, done: make(chan error, 1)}
	path := "/" + hash
	if size >= 0 {
		path += "+" + strconv.FormatInt(size, 10)
	}
	go w.run(b.up, order, path, token, size, pr)
	return w, nil
}

// upstreamWriter feeds a PUT request body through a pipe.
type upstreamWriter struct {
	pw       *io.PipeWriter
	done     chan error
	replicas int
	closed   bool
}

// countingReader counts what the HTTP client took from the pipe; it hides
// the pipe's Close so that a failed attempt does not close it for the next.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var errWriteAborted = errors.New("block write aborted")

func (w *upstreamWriter) run(up *remotes.Remote, order []remotes.KeepService, path, token string, size int64, pr *io.PipeReader) {
	body := &countingReader{r: pr}
	var err error
	for _, svc := range order {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(svc.BaseURL() + path)
		req.Header.SetMethod(fasthttp.MethodPut)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.SetContentType("application/octet-stream")
		req.Header.SetBytesV("X-Request-Id", request.AppendID(nil))
		req.SetBodyStream(body, int(size))
		err = up.Do(req, resp)
		if err == nil && resp.StatusCode() != fasthttp.StatusOK {
			err = request.Errorf(fasthttp.StatusBadGateway, "keepstore %s refused the block (%d): %s", svc.BaseURL(), resp.StatusCode(), remotes.Reason(resp))
		}
		if err == nil {
			w.replicas = 1
			if n, perr := strconv.Atoi(string(resp.Header.Peek("X-Keep-Replicas-Stored"))); perr == nil && n > 0 {
				w.replicas = n
			}
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		if err == nil || body.n > 0 {
			break // done, or data already gone: cannot retry elsewhere
		}
	}
	if err != nil {
		pr.CloseWithError(err)
	} else {
		pr.Close()
	}
	w.done <- err
}

func (w *upstreamWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Commit ends the body and waits for the keepstore's answer.
func (w *upstreamWriter) Commit() error {
	if w.closed {
		return errors.New("block writer already closed")
	}
	w.closed = true
	w.pw.Close()
	if err := <-w.done; err != nil {
		var he *request.HTTPError
		if errors.As(err, &he) {
			return err
		}
		return request.WrapError(fasthttp.StatusBadGateway, "storing the block on a keepstore failed", err)
	}
	return nil
}

// Abort cuts the body short, so the keepstore stores nothing.
func (w *upstreamWriter) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.pw.CloseWithError(errWriteAborted)
	<-w.done
}

// Replicas returns the keepstore's X-Keep-Replicas-Stored.
func (w *upstreamWriter) Replicas() int { return w.replicas }
