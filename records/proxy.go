// Package records is keepfed's federated record proxy: a fasthttp
// middleware that sends API requests naming a record of another cluster
// (/arvados/v1/<type>/<uuid>, creates with cluster_id, collection lookups
// by portable data hash, uuid lists spanning clusters) to that cluster with
// a salted token, rewrites collection manifests on the way back and forth,
// and passes everything else to the local backend.
package records

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/signing"
)

// Defaults of the Config limits (Arvados's API.* defaults).
const (
	DefaultRequestTimeout          = 5 * time.Minute
	DefaultMaxRequestAmplification = 4
	DefaultMaxItemsPerResponse     = 1000
	DefaultMaxBodySize             = 128 << 20
	DefaultMaxClients              = 256
)

// viaMark is what keepfed appends to the Via header of every request it
// forwards; a request carrying it (or arvados-controller's) is never
// forwarded again.
const viaMark = "HTTP/1.1 keepfed"

// Target is one cluster's API endpoint.
type Target struct {
	// ID is the 5-character cluster id.
	ID string
	// BaseURL is "scheme://host[:port]" (http or https).
	BaseURL string
	// Insecure turns TLS certificate verification off.
	Insecure bool
}

// Resolver finds the API endpoint of a cluster. Resolve reports false for a
// cluster it does not know; the proxy then answers 404 without contacting
// anything. Implementations must be safe for concurrent use.
type Resolver interface {
	Resolve(clusterID string) (Target, bool)
}

// Lister is implemented by Resolvers that can enumerate their clusters; the
// proxy uses it for lookups by portable data hash when Config.Remotes is
// empty.
type Lister interface {
	ClusterIDs() []string
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(clusterID string) (Target, bool)

// Resolve calls f.
func (f ResolverFunc) Resolve(clusterID string) (Target, bool) { return f(clusterID) }

// StaticResolver is a Resolver (and Lister) over a fixed map keyed by
// cluster id.
type StaticResolver map[string]Target

// Resolve returns the map entry for clusterID.
func (s StaticResolver) Resolve(clusterID string) (Target, bool) {
	t, ok := s[clusterID]
	if ok && t.ID == "" {
		t.ID = clusterID
	}
	return t, ok
}

// ClusterIDs returns the map's keys, sorted.
func (s StaticResolver) ClusterIDs() []string {
	ids := make([]string, 0, len(s))
	for id := range s {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Config configures a Proxy. Zero limits take the Default* values.
type Config struct {
	// LocalID is this cluster's 5-character id.
	LocalID string
	// Resolver maps remote cluster ids to their endpoints. Nil means no
	// remote is known.
	Resolver Resolver
	// Remotes are the clusters asked, in parallel, for a collection by
	// portable data hash that the local backend does not have. Empty: the
	// Resolver's ClusterIDs when it is a Lister.
	Remotes []string
	// UpgradeV1, when set, turns an obsolete v1 token into its v2 form so
	// that it can be salted; ok is false when the token is unknown.
	UpgradeV1 func(token string) (v2 string, ok bool)
	// CheckForward, when set, may refuse to send token to cluster at all
	// (a non-nil error answers 401 with its text), for example a locally
	// issued token bound for the LoginCluster (spec 2.5).
	CheckForward func(token, cluster string) error
	// RequestTimeout bounds each request to another cluster
	// (API.RequestTimeout).
	RequestTimeout time.Duration
	// MaxRequestAmplification bounds the concurrent remote requests made
	// for one client request (API.MaxRequestAmplification).
	MaxRequestAmplification int
	// MaxItemsPerResponse bounds the uuids of a federated list
	// (API.MaxItemsPerResponse).
	MaxItemsPerResponse int
	// SignRemoteLocators adds a local +A signature (KeyRing, the reader's
	// own token, expiry now+BlobSigningTTL) beside each +R hint of
	// manifests from other clusters.
	SignRemoteLocators bool
	// KeyRing signs remote locators locally (SignRemoteLocators).
	KeyRing *signing.KeyRing
	// BlobSigningTTL is the lifetime of local signatures; zero: the key
	// ring's TTL.
	BlobSigningTTL time.Duration
	// MaxBodySize bounds the request bodies forwarded to other clusters
	// (larger: 413) and the response bodies read from them (larger: 502).
	MaxBodySize int
	// Upstream, when set, is the local Arvados API: local record requests
	// are proxied there (token unchanged) instead of calling next.
	Upstream *Target
	// LocalPaths are API paths that next always serves, even with
	// Upstream (keepfed answers keep_services/accessible itself, so that
	// clients use it as their keep service).
	LocalPaths []string
	// ServesLocally, when set with Upstream, names the other requests
	// next serves (block paths, management endpoints); every request it
	// does not claim, inside /arvados/v1/ or not, goes to Upstream, so a
	// client can use keepfed as its API host. Without it only
	// /arvados/v1/ paths go upstream.
	ServesLocally func(ctx *fasthttp.RequestCtx) bool
	// Logger receives one line per failed remote request. Nil: discard.
	Logger *slog.Logger
	// MaxClients bounds the per-endpoint HTTP clients kept (least
	// recently used beyond it are closed and forgotten; in DNS mode every
	// cluster id is an endpoint). Zero: DefaultMaxClients.
	MaxClients int
	// HoldStream, when set, is called when an answer is streamed to the
	// client after the handler returns (a large rewritten manifest), and
	// the function it returns when the stream ends: the server keeps the
	// request's concurrency slot that long. Nil: nothing is held.
	HoldStream func(ctx *fasthttp.RequestCtx) (done func())
}

// Proxy is the federated record proxy. It is safe for concurrent use.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	ttl     time.Duration
	mu      sync.Mutex
	clients map[string]*list.Element // of *remote, most recently used first
	lru     list.List
}

// remote is the pooled client of one endpoint.
type remote struct {
	key    string
	hc     *fasthttp.HostClient
	host   string // Host header and URI host: host[:port] of the base URL
	scheme string
}

// New checks cfg, fills in defaults and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if !signing.IsClusterID(cfg.LocalID) {
		return nil, fmt.Errorf("records: local cluster id %q is not 5 characters of [a-z0-9]", cfg.LocalID)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxRequestAmplification <= 0 {
		cfg.MaxRequestAmplification = DefaultMaxRequestAmplification
	}
	if cfg.MaxItemsPerResponse <= 0 {
		cfg.MaxItemsPerResponse = DefaultMaxItemsPerResponse
	}
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.SignRemoteLocators && (cfg.KeyRing == nil || !cfg.KeyRing.CanSign()) {
		return nil, errors.New("records: SignRemoteLocators needs a KeyRing with a signing key")
	}
	if cfg.Upstream != nil {
		up := *cfg.Upstream
		if up.ID == "" {
			up.ID = cfg.LocalID
		}
		if _, _, _, err := parseBaseURL(up.BaseURL); err != nil {
			return nil, fmt.Errorf("records: upstream: %w", err)
		}
		cfg.Upstream = &up
	}
	if len(cfg.Remotes) == 0 {
		if l, ok := cfg.Resolver.(Lister); ok {
			cfg.Remotes = l.ClusterIDs()
		}
	}
	cfg.Remotes = slices.DeleteFunc(slices.Clone(cfg.Remotes), func(id string) bool { return id == cfg.LocalID })
	p := &Proxy{cfg: cfg, log: cfg.Logger, clients: map[string]*list.Element{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.ttl = cfg.BlobSigningTTL
	if p.ttl <= 0 && cfg.KeyRing != nil {
		p.ttl = cfg.KeyRing.TTL()
	}
	return p, nil
}

// Close closes the idle connections to other clusters.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for e := p.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*remote).hc.CloseIdleConnections()
	}
}

// numClients is how many endpoint clients the proxy keeps.
func (p *Proxy) numClients() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}

// Middleware returns next wrapped by the proxy: record requests for other
// clusters are forwarded there; everything else goes to next (or, with
// Config.Upstream, record requests for this cluster go to the upstream
// API). Errors are answered as {"errors":[...]} JSON.
func (p *Proxy) Middleware(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	local := next
	if p.cfg.Upstream != nil {
		local = func(ctx *fasthttp.RequestCtx) {
			if p.isLocalPath(ctx.Path()) {
				next(ctx)
				return
			}
			if sl := p.cfg.ServesLocally; (sl == nil && !isAPIPath(ctx.Path())) || (sl != nil && sl(ctx)) {
				next(ctx)
				return
			}
			if isWebsocketUpgrade(&ctx.Request.Header) {
				p.fail(ctx, errorf(fasthttp.StatusNotImplemented, "websocket upgrades are not proxied: connect to Services.Websocket directly"))
				return
			}
			if err := p.forward(ctx, forwarding{target: *p.cfg.Upstream, upstream: true}); err != nil {
				p.fail(ctx, err)
			}
		}
	}
	return func(ctx *fasthttp.RequestCtx) {
		if err := p.serve(ctx, local); err != nil {
			p.fail(ctx, err)
		}
	}
}

// isLocalPath reports whether path is one of Config.LocalPaths.
func (p *Proxy) isLocalPath(path []byte) bool {
	for _, lp := range p.cfg.LocalPaths {
		if string(path) == lp {
			return true
		}
	}
	return false
}

// fail logs err (Warn for 5xx, Info otherwise; never a token) and renders
// it.
func (p *Proxy) fail(ctx *fasthttp.RequestCtx, err error) {
	level := slog.LevelInfo
	if statusOf(err) >= 500 {
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, "record proxy", "method", string(ctx.Method()),
		"path", string(ctx.Path()), "status", statusOf(err), "err", err.Error())
	renderError(ctx, err)
}

// serve routes one request.
func (p *Proxy) serve(ctx *fasthttp.RequestCtx, local fasthttp.RequestHandler) error {
	if !isAPIPath(ctx.Path()) || hasLoopMark(&ctx.Request) {
		local(ctx)
		return nil
	}
	rt, err := classify(&ctx.Request, p.cfg.LocalID, p.cfg.MaxItemsPerResponse)
	if err != nil {
		return err
	}
	if rt.kind != routeLocal && len(ctx.Request.Body()) > p.cfg.MaxBodySize {
		return errorf(fasthttp.StatusRequestEntityTooLarge, "request body larger than %d bytes", p.cfg.MaxBodySize)
	}
	switch rt.kind {
	case routeRemote:
		t, ok := p.resolve(rt.cluster)
		if !ok {
			return errorf(fasthttp.StatusNotFound, "no proxy available for cluster %s", rt.cluster)
		}
		token := ExtractToken(&ctx.Request)
		auth, err := p.saltFor(token, t.ID)
		if err != nil {
			return err
		}
		f := forwarding{target: t, token: token, auth: auth}
		if rt.collection {
			f.rewriteIn = true
			f.rewriteOut = p.toLocal(t.ID, token)
		}
		return p.forward(ctx, f)
	case routePDH:
		return p.servePDH(ctx, local, rt)
	case routeList:
		return p.serveList(ctx, local, rt)
	}
	local(ctx)
	return nil
}

func (p *Proxy) resolve(id string) (Target, bool) {
	if p.cfg.Resolver == nil || id == p.cfg.LocalID {
		return Target{}, false
	}
	t, ok := p.cfg.Resolver.Resolve(id)
	if !ok {
		return Target{}, false
	}
	if t.ID == "" {
		t.ID = id
	}
	return t, true
}

// client returns the pooled client for t's endpoint. At most MaxClients
// are kept: the least recently used one beyond that is closed (its idle
// connections; requests in flight on it finish) and forgotten.
func (p *Proxy) client(t Target) (*remote, error) {
	key := t.BaseURL
	if t.Insecure {
		key += " insecure"
	}
	p.mu.Lock()
	if e := p.clients[key]; e != nil {
		p.lru.MoveToFront(e)
		p.mu.Unlock()
		return e.Value.(*remote), nil
	}
	p.mu.Unlock()
	isTLS, addr, host, err := parseBaseURL(t.BaseURL)
	if err != nil {
		return nil, wrapError(fasthttp.StatusBadGateway, "cluster "+t.ID+" has an invalid address", err)
	}
	hc := &fasthttp.HostClient{
		Addr:                     addr,
		Name:                     "keepfed",
		IsTLS:                    isTLS,
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
		MaxResponseBodySize:      p.cfg.MaxBodySize,
		MaxIdleConnDuration:      10 * time.Second,
		MaxConns:                 1024,
	}
	c := &remote{key: key, hc: hc, host: hostHeader(t.BaseURL), scheme: "http"}
	if isTLS {
		hc.TLSConfig = newTLSConfig(host, t.Insecure)
		c.scheme = "https"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.clients[key]; e != nil {
		p.lru.MoveToFront(e)
		return e.Value.(*remote), nil
	}
	p.clients[key] = p.lru.PushFront(c)
	for len(p.clients) > p.cfg.MaxClients {
		old := p.lru.Back()
		r := p.lru.Remove(old).(*remote)
		delete(p.clients, r.key)
		r.hc.CloseIdleConnections()
	}
	return c, nil
}

// hostHeader returns the host[:port] part of a valid base URL.
func hostHeader(base string) string {
	u, _ := url.Parse(base)
	return u.Host
}

// parseBaseURL splits "scheme://host[:port]" into TLS flag, dial address
// (with the default port) and host name.
func parseBaseURL(s string) (isTLS bool, addr, host string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return false, "", "", fmt.Errorf("parse base URL %q: %w", s, err)
	}
	switch u.Scheme {
	case "https":
		isTLS = true
	case "http":
	default:
		return false, "", "", fmt.Errorf("base URL %q: scheme must be http or https", s)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return false, "", "", fmt.Errorf("base URL %q is not scheme://host[:port]", s)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if isTLS {
			port = "443"
		}
	}
	if strings.Contains(host, ":") {
		return isTLS, "[" + host + "]:" + port, host, nil
	}
	return isTLS, host + ":" + port, host, nil
}

// isAPIPath reports whether path is under /arvados/v1/ (or is it).
// isWebsocketUpgrade reports whether the request asks to switch to the
// websocket protocol.
func isWebsocketUpgrade(h *fasthttp.RequestHeader) bool {
	return bytes.EqualFold(h.Peek("Upgrade"), []byte("websocket"))
}

func isAPIPath(path []byte) bool {
	const prefix = "/arvados/v1"
	return len(path) >= len(prefix) && string(path[:len(prefix)]) == prefix &&
		(len(path) == len(prefix) || path[len(prefix)] == '/')
}
