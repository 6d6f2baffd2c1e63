// Package keepfed is the keepfed server: configuration loading aside
// (keepfed/config), it holds the router, the middleware chain, health and
// metrics endpoints, and the assembly (New, NewCluster) that wires the
// block path (keepfed/blocks), remote clusters (keepfed/remotes), the
// identity layer (keepfed/identity), the embedded API (keepfed/api) and
// the record proxy (records) into one fasthttp server.
package keepfed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/records"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Options are the server's pluggable parts; the zero value is usable.
type Options struct {
	// Logger receives the access log and errors (default: slog.Default()).
	Logger *slog.Logger
	// TokenValidator, when set, lets tokens other than the SystemRootToken
	// write blocks (see blocks.TokenValidator).
	TokenValidator blocks.TokenValidator
	// TokenUpgrader, when set, upgrades v1 tokens before salting them for
	// a remote cluster (see blocks.TokenUpgrader).
	TokenUpgrader blocks.TokenUpgrader
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
	// CheckForward, when set, may refuse to let the record proxy send a
	// token to a cluster (see records.Config.CheckForward).
	CheckForward func(token, cluster string) error
}

// Server is one keepfed: a fasthttp server, its router and middleware,
// the remote cluster registry and the embedded block volume.
type Server struct {
	cfg       *config.ClusterConfig
	log       *slog.Logger
	ring      *signing.KeyRing
	router    *Router
	metrics   *metrics.Metrics
	remotes   *remotes.Registry
	volume    *blocks.Volume
	backend   blocks.Backend
	blocks    *blocks.Handler
	validator blocks.TokenValidator
	upgrader  blocks.TokenUpgrader
	now       func() time.Time
	checkFwd  func(token, cluster string) error

	keepServicesBody []byte
	tlsConfig        *tls.Config
	proxy            *records.Proxy
	srv              *fasthttp.Server
	admission        *admission
	// authenticate, when set (embedded identity), checks the token of a
	// record write before the request takes a slot (see WithAdmission);
	// remote is the ?remote= cluster, for tokens salted for it.
	authenticate func(token, remote string) error

	mu      sync.Mutex
	ln      net.Listener
	stopped bool
	closers []func() error
}

// onShutdown registers fn to run once Shutdown has stopped serving.
func (s *Server) onShutdown(fn func() error) {
	s.mu.Lock()
	s.closers = append(s.closers, fn)
	s.mu.Unlock()
}

// New builds a server from a validated cluster config. With the embedded
// backend it creates the volume's directory; with the arvados backend it
// serves the cluster's own blocks from the keepstores Upstream lists. It
// does not listen yet.
func New(cfg *config.ClusterConfig, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       opts.Logger,
		ring:      cfg.KeyRing(),
		router:    NewRouter(),
		metrics:   metrics.NewMetrics(),
		validator: opts.TokenValidator,
		upgrader:  opts.TokenUpgrader,
		now:       opts.Now,
		checkFwd:  opts.CheckForward,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	switch cfg.KeepFed.Backend {
	case "arvados":
		if s.backend, err = blocks.NewArvadosBackend(cfg, s.metrics); err != nil {
			return nil, err
		}
	default:
		if s.volume, err = blocks.NewVolume(cfg.KeepFed.DataDir); err != nil {
			return nil, fmt.Errorf("Clusters.%s.KeepFed.DataDir: %w", cfg.ClusterID, err)
		}
		s.backend = blocks.EmbeddedBackend{V: s.volume}
	}
	if s.keepServicesBody, err = remotes.SelfKeepServices(cfg.ClusterID, cfg.KeepFed.ExternalURL, s.now()); err != nil {
		return nil, err
	}
	s.remotes = remotes.New(remotes.Config{
		Local:        cfg.ClusterID,
		Clusters:     cfg.RemoteClusters,
		DNSSuffix:    cfg.KeepFed.RemoteDNSSuffix,
		DiscoveryTTL: cfg.KeepFed.DiscoveryTTL.D(),
		IdleTimeout:  cfg.API.KeepServiceRequestTimeout.D(),
		// bounds each whole remote block request (API.RequestTimeout)
		RequestTimeout: cfg.API.RequestTimeout.D(),
		MaxRequests:    cfg.KeepFed.MaxRequestsPerRemote,
		MinRate:        cfg.KeepFed.RemoteMinRate,
		MinRateWindow:  cfg.KeepFed.RemoteMinRateWindow.D(),
		Metrics:        s.metrics,
	})
	if s.proxy, err = s.newRecordProxy(); err != nil {
		return nil, err
	}
	var cache *blocks.RemoteCache
	if rbc := cfg.KeepFed.RemoteBlockCache; rbc.Enabled() {
		if cache, err = blocks.OpenRemoteCache(rbc, cfg.Login.RemoteTokenRefresh.D(), s.metrics, s.log, s.now); err != nil {
			return nil, fmt.Errorf("Clusters.%s.KeepFed.RemoteBlockCache: %w", cfg.ClusterID, err)
		}
	}
	s.blocks = blocks.NewHandler(blocks.Options{
		Config: cfg, KeyRing: s.ring, Backend: s.backend, Remotes: s.remotes,
		Metrics: s.metrics, Logger: s.log, Now: s.now,
		Validator: s.validator, Upgrader: s.upgrader, Cache: cache,
	})
	k := &cfg.KeepFed
	s.admission = newAdmission(limitsOf(cfg.API.MaxConcurrentRequests, k.MaxConcurrentRequestsPerClient,
		k.MaxConcurrentAnonymousRequests, k.MaxAnonymousRequestSize, k.MinRequestBodyRate, k.RequestBodyGracePeriod.D()))
	docs, err := s.newClientDocs()
	if err != nil {
		return nil, err
	}
	s.routes()
	s.clientRoutes(docs)
	if cfg.TLSEnabled() {
		if s.tlsConfig, err = loadTLS(cfg); err != nil {
			return nil, err
		}
	}
	s.srv = &fasthttp.Server{
		Handler:               s.Handler(),
		Name:                  "keepfed",
		StreamRequestBody:     true,
		MaxRequestBodySize:    cfg.API.MaxRequestSize,
		ReadBufferSize:        16 << 10,
		WriteBufferSize:       16 << 10, // block writes are larger and bypass it
		ReadTimeout:           cfg.API.RequestTimeout.D(),
		IdleTimeout:           2 * time.Minute,
		NoDefaultServerHeader: false,
		CloseOnShutdown:       true,
		Logger:                slogPrinter{s.log},
		SecureErrorLogMessage: true,
		ErrorHandler:          s.protocolError,
	}
	if l := s.admission.l; l.MinBodyRate > 0 {
		// fasthttp reads the first bytes of a body (up to preReadBody)
		// before any handler runs: they too must arrive at the minimum
		// rate, not within the whole API.RequestTimeout.
		pre := min(l.BodyGrace+time.Duration(preReadBody)*time.Second/time.Duration(l.MinBodyRate), cfg.API.RequestTimeout.D())
		s.srv.HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: pre}
		}
	}
	return s, nil
}

// routes registers the built-in routes.
func (s *Server) routes() {
	r := s.router
	r.Handle(fasthttp.MethodGet, "/_health/ping", s.managementAuth(s.handlePing))
	r.Handle(fasthttp.MethodGet, "/metrics", s.managementAuth(s.handleMetrics))
	r.HandleBlocks(s.blocks.Serve)
}

// Router returns the router, so that other layers (the record proxy) can
// add routes before the server starts: Handle for exact paths,
// HandlePrefix for subtrees such as "/arvados/v1/".
func (s *Server) Router() *Router { return s.router }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// Remotes returns the remote cluster registry.
func (s *Server) Remotes() *remotes.Registry { return s.remotes }

// RemoteCache returns the remote block cache (nil when it is off).
func (s *Server) RemoteCache() *blocks.RemoteCache { return s.blocks.Cache() }

// Volume returns the embedded block volume (nil with the arvados backend).
func (s *Server) Volume() *blocks.Volume { return s.volume }

// KeyRing returns the signing key ring.
func (s *Server) KeyRing() *signing.KeyRing { return s.ring }

// Handler returns the router wrapped in the middleware, outermost first:
// request id → panic recovery → access log and metrics → admission
// (concurrency limits, fairness shares, write authentication, body rate;
// see WithAdmission) → request body limit (not on block paths; smaller
// without a token) → JSON compression → federated
// record proxy (records for other clusters leave here, authorised by their
// own cluster) → token extraction → routes.
func (s *Server) Handler() fasthttp.RequestHandler {
	return Chain(s.router.ServeFastHTTP,
		WithRequestID(),
		WithRecover(s.log),
		WithAccessLog(s.log, s.metrics),
		s.WithAdmission(),
		WithBodyLimits(s.cfg.API.MaxRequestSize, s.admission.l.MaxAnonymousBody),
		records.Compress,
		s.proxy.Middleware,
		WithTokens(),
	)
}

// handleKeepServices answers GET /arvados/v1/keep_services/accessible. It
// needs no token: keepstores call it with a dummy one.
func (s *Server) handleKeepServices(ctx *fasthttp.RequestCtx) error {
	ctx.SetContentType("application/json")
	ctx.SetBody(s.keepServicesBody)
	return nil
}

// RecordProxy returns the federated record proxy.
func (s *Server) RecordProxy() *records.Proxy { return s.proxy }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	ln = markListener{Listener: ln, writeIdle: s.cfg.KeepFed.WriteIdleTimeout.D()}
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	s.ln = ln
	s.mu.Unlock()
	if err := s.srv.Serve(ln); err != nil {
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped && errors.Is(err, net.ErrClosed) {
			return nil
		}
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// ListenAndServe listens on KeepFed.Listen and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.KeepFed.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s (Clusters.%s.KeepFed.Listen): %w", s.cfg.KeepFed.Listen, s.cfg.ClusterID, err)
	}
	return s.Serve(ln)
}

// Shutdown stops accepting connections and waits for requests in flight
// to finish, at most until ctx is done; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	if s.ln != nil {
		// fasthttp ignores a Shutdown that comes before its Serve has
		// registered the listener; closing it ourselves ends that Serve.
		s.ln.Close()
	}
	s.mu.Unlock()
	err := s.srv.ShutdownWithContext(ctx)
	s.proxy.Close()
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for _, fn := range closers {
		if cerr := fn(); cerr != nil {
			s.log.Error("closing after shutdown", "err", cerr.Error())
		}
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return err
}

// protocolError renders the errors fasthttp finds before any handler runs
// (malformed request, oversized headers or body) as JSON like all others.
func (s *Server) protocolError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		if mc, ok := unwrapConn(ctx.Conn()).(*markConn); ok && !mc.used.Load() {
			// A new connection that sent nothing before the read
			// timeout: clients open connections ahead of need, and an
			// answer written here would be read as the answer to the
			// next request sent on it. Close it silently, as fasthttp
			// does for idle keep-alive connections.
			mc.Close()
			return
		}
		status = fasthttp.StatusRequestTimeout
	}
	request.RenderError(ctx, request.WrapError(status, "cannot parse the request", err))
}

// unwrapConn returns the connection under TLS, if c is a TLS connection.
func unwrapConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// loadTLS reads TLS.Certificate and TLS.Key.
func loadTLS(cfg *config.ClusterConfig) (*tls.Config, error) {
	certPath, err := config.TLSFile(cfg.TLS.Certificate)
	if err != nil {
		return nil, fmt.Errorf("Clusters.%s.TLS.Certificate: %w", cfg.ClusterID, err)
	}
	keyPath, err := config.TLSFile(cfg.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("Clusters.%s.TLS.Key: %w", cfg.ClusterID, err)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("Clusters.%s.TLS: loading the certificate and key: %w", cfg.ClusterID, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// markListener marks each connection once it has sent a byte (see
// protocolError), and gives its writes an idle deadline and its request
// bodies a minimum rate (see markConn).
type markListener struct {
	net.Listener
	writeIdle time.Duration
}

func (l markListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &markConn{Conn: c, writeIdle: l.writeIdle}, nil
}

// markConn is a served connection. A write that makes no progress for
// writeIdle (the client stopped reading) fails, which ends the response,
// the connection and, for a streamed block, the request's slot; a write
// that makes progress may take as long as it needs. Between beginBody and
// endBody, reads must keep up with a minimum average rate (see
// WithAdmission). Reads, and the body phase, belong to the goroutine
// serving the connection.
type markConn struct {
	net.Conn
	used      atomic.Bool
	writeIdle time.Duration

	mu           sync.Mutex
	readDeadline time.Time // as fasthttp last set it
	body         *bodyRate
}

// bodyRate is a request body's progress against its minimum rate.
type bodyRate struct {
	start   time.Time
	grace   time.Duration
	perSec  int64
	n       int64
	tripped bool
}

// due is when the body is too slow if no more bytes arrive.
func (b *bodyRate) due() time.Time {
	return b.start.Add(b.grace + time.Duration(float64(b.n)/float64(b.perSec)*float64(time.Second)))
}

func (c *markConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	b := c.body
	var due time.Time
	if b != nil {
		due = b.due()
		if !c.readDeadline.IsZero() && c.readDeadline.Before(due) {
			due = time.Time{}                      // fasthttp's deadline comes first
			c.Conn.SetReadDeadline(c.readDeadline) //nolint:errcheck // the read reports it
		} else {
			c.Conn.SetReadDeadline(due) //nolint:errcheck // the read reports it
		}
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if n > 0 && !c.used.Load() {
		c.used.Store(true)
	}
	if b != nil {
		c.mu.Lock()
		b.n += int64(n)
		if err != nil && !due.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
			b.tripped = true
		}
		c.mu.Unlock()
	}
	return n, err
}

// Write writes p, failing only when no byte could be written for
// writeIdle.
func (c *markConn) Write(p []byte) (int, error) {
	if c.writeIdle <= 0 {
		return c.Conn.Write(p)
	}
	written := 0
	for {
		c.Conn.SetWriteDeadline(time.Now().Add(c.writeIdle)) //nolint:errcheck // the write reports it
		n, err := c.Conn.Write(p[written:])
		written += n
		if err != nil && n > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // progress: a new window
		}
		return written, err
	}
}

// SetReadDeadline records fasthttp's deadline, which a body phase keeps.
func (c *markConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline records the read deadline like SetReadDeadline.
func (c *markConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	return c.Conn.SetDeadline(t)
}

// preReadBody is how much of a body of known length fasthttp reads before
// it calls the handler.
const preReadBody = 8 << 10

// beginBody starts a request body's phase: from now, reads must bring
// perSec bytes a second on average once grace has passed, and the body
// must be read by limit (the request's whole read timeout, which replaces
// the short one HeaderReceived set for the body's first bytes).
func (c *markConn) beginBody(perSec int, grace time.Duration, limit time.Time) {
	c.mu.Lock()
	c.body = &bodyRate{start: time.Now(), grace: grace, perSec: int64(perSec)}
	c.readDeadline = limit
	c.mu.Unlock()
}

// endBody ends the body phase and restores fasthttp's read deadline.
func (c *markConn) endBody() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.body != nil {
		c.body = nil
		c.Conn.SetReadDeadline(c.readDeadline) //nolint:errcheck // best effort
	}
}

// bodyTooSlow reports whether the current body phase was cut for being
// too slow.
func (c *markConn) bodyTooSlow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.body != nil && c.body.tripped
}

// slogPrinter adapts slog to fasthttp's Logger. fasthttp's messages may
// quote the request they failed on (its "error when serving connection"
// line holds the error, and parse errors hold the request buffer, with an
// Authorization header or api_token query): none of the arguments is
// logged but addresses, only fasthttp's fixed format text and the class of
// any error.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	attrs := []any{"source", "fasthttp"}
	var peer net.Addr
	for _, a := range args {
		switch v := a.(type) {
		case error:
			attrs = append(attrs, "error_class", connErrorClass(v))
		case net.Addr:
			peer = v // "serving connection local<->remote": the last is the peer
		}
	}
	if peer != nil {
		attrs = append(attrs, "remote_addr", peer.String())
	}
	msg := format
	if i := strings.IndexByte(msg, '%'); i >= 0 {
		msg = strings.TrimRight(msg[:i], " :(\"")
	}
	p.l.Warn("fasthttp: "+msg, attrs...)
}

// connErrorClass is a bounded, secret-free name for a connection error.
func connErrorClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "body_too_large"
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection_closed"
	case errors.As(err, &ne):
		return "network"
	}
	return "malformed_request"
}
