// Package remotes is keepfed's view of other clusters: which cluster ids
// may be contacted and where (RemoteClusters, or DNS mode), each one's live
// state (HTTP client, discovered keep services, request slots), keep
// service probe order, and asking a cluster's keep services for a block.
package remotes

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Registry is the registry of remote clusters: their configuration
// (RemoteClusters, or the "*" entry with RemoteDNSSuffix) and, apart from
// it, their live state (a client, the discovered keep services), created on
// first use and keyed by cluster id.
type Registry struct {
	local     string
	conf      map[string]config.RemoteClusterConfig
	star      config.RemoteClusterConfig
	dnsSuffix string
	ttl       time.Duration
	idle      time.Duration
	reqTO     time.Duration
	maxReqs   int
	minRate   int64
	rateWin   time.Duration
	metrics   *metrics.Metrics

	mu   sync.Mutex
	live map[string]*Remote
}

// defaultIdleTimeout is used when API.KeepServiceRequestTimeout is unset.
const defaultIdleTimeout = 15 * time.Second

// maxDNSRemotes bounds the live state kept for clusters found by DNS.
const maxDNSRemotes = 256

// Config is what New needs.
type Config struct {
	// Local is this cluster's id.
	Local string
	// Clusters is RemoteClusters (the "*" entry included).
	Clusters map[string]config.RemoteClusterConfig
	// DNSSuffix is KeepFed.RemoteDNSSuffix.
	DNSSuffix string
	// DiscoveryTTL is how long discovered keep services are trusted.
	DiscoveryTTL time.Duration
	// IdleTimeout bounds every network wait (connect, and each read or
	// write) talking to a remote cluster.
	IdleTimeout time.Duration
	// RequestTimeout, when > 0, bounds each whole block request to a
	// remote keep service, body included (API.RequestTimeout), so that
	// a remote that answers a byte at a time cannot hold a request.
	RequestTimeout time.Duration
	// MaxRequests, when > 0, bounds the block requests in flight to one
	// remote cluster (KeepFed.MaxRequestsPerRemote).
	MaxRequests int
	// MinRate, when > 0, is the least a remote keep service must send
	// of a block body, in bytes per second averaged over each
	// MinRateWindow (KeepFed.RemoteMinRate): a slower body is cut, so a
	// remote that drips cannot hold a request slot for long.
	MinRate int64
	// MinRateWindow is the window of MinRate (KeepFed.RemoteMinRateWindow).
	MinRateWindow time.Duration
	// Metrics receives per-cluster counters (may be nil).
	Metrics *metrics.Metrics
}

// New returns a registry.
func New(c Config) *Registry {
	r := &Registry{
		local:     c.Local,
		conf:      map[string]config.RemoteClusterConfig{},
		dnsSuffix: strings.Trim(c.DNSSuffix, "."),
		ttl:       c.DiscoveryTTL,
		idle:      c.IdleTimeout,
		reqTO:     c.RequestTimeout,
		maxReqs:   c.MaxRequests,
		minRate:   c.MinRate,
		rateWin:   c.MinRateWindow,
		metrics:   c.Metrics,
		live:      map[string]*Remote{},
	}
	if r.metrics == nil {
		r.metrics = metrics.NewMetrics()
	}
	if r.idle <= 0 {
		r.idle = defaultIdleTimeout
	}
	for id, rc := range c.Clusters {
		if id == "*" {
			r.star = rc
			continue
		}
		r.conf[id] = rc
	}
	return r
}

// resolve returns the scheme, host and TLS setting for cluster id, and
// whether it may be contacted at all. Only configured clusters and, in DNS
// mode ("*" has Proxy: true and a suffix is set), well-formed cluster ids
// as "<id>.<suffix>" are ever contacted.
func (r *Registry) resolve(id string) (scheme, host string, insecure, dns, ok bool) {
	if !signing.IsClusterID(id) {
		return "", "", false, false, false
	}
	if rc, found := r.conf[id]; found {
		return SchemeOr(rc.Scheme), rc.Host, rc.Insecure, false, true
	}
	if r.star.Proxy && r.dnsSuffix != "" && id != r.local {
		return SchemeOr(r.star.Scheme), id + "." + r.dnsSuffix, r.star.Insecure, true, true
	}
	return "", "", false, false, false
}

// SchemeOr returns s, or "https" when s is empty (RemoteClusters.<id>.Scheme).
func SchemeOr(s string) string {
	if s == "" {
		return "https"
	}
	return s
}

// Known reports whether cluster id can be contacted (see Lookup).
func (r *Registry) Known(id string) bool {
	_, _, _, _, ok := r.resolve(id)
	return ok
}

// Lookup returns the live state of cluster id, or false when the id is not
// one this keepfed may contact.
func (r *Registry) Lookup(id string) (*Remote, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm, ok := r.live[id]; ok {
		rm.touch()
		return rm, true
	}
	scheme, host, insecure, dns, ok := r.resolve(id)
	if !ok {
		return nil, false
	}
	rm := NewRemote(id, scheme, host, insecure, dns, r.ttl, r.idle, r.metrics)
	rm.reqTO = r.reqTO
	rm.minRate, rm.rateWin = r.minRate, r.rateWin
	if r.maxReqs > 0 {
		rm.sem = make(chan struct{}, r.maxReqs)
	}
	rm.touch()
	if dns && !r.makeRoomLocked() {
		// every entry is in use: serve this request with state of its
		// own rather than break one of them or grow past the bound
		return rm, true
	}
	r.live[id] = rm
	return rm, true
}

// makeRoomLocked makes room for one more cluster found by DNS: below
// maxDNSRemotes there is room; else the least recently used entry with
// nothing in flight is dropped (its idle connections closed). An entry in
// use is never dropped, so its request slots keep counting; false when
// every entry is in use.
func (r *Registry) makeRoomLocked() bool {
	n := 0
	var victim string
	var oldest int64
	for k, v := range r.live {
		if !v.dns {
			continue
		}
		n++
		if v.inUse.Load() == 0 {
			if t := v.lastUse.Load(); victim == "" || t < oldest {
				victim, oldest = k, t
			}
		}
	}
	if n < maxDNSRemotes {
		return true
	}
	if victim == "" {
		return false
	}
	r.live[victim].client.CloseIdleConnections()
	delete(r.live, victim)
	return true
}

// Remote is the live state of one remote cluster.
type Remote struct {
	// ID is the cluster id.
	ID string
	// BaseURL is "<scheme>://<host>" of its API server.
	BaseURL string

	host    string
	exclude string // a base URL never used as a keep service (ourselves)
	dns     bool
	ttl     time.Duration
	idle    time.Duration
	reqTO   time.Duration // 0: no overall bound
	sem     chan struct{} // nil: unbounded
	minRate int64         // bytes per second over rateWin; 0: none
	rateWin time.Duration
	inUse   atomic.Int64 // requests in flight (Acquire, Fetch, Get, Do, Services)
	lastUse atomic.Int64 // useClock at the last use (lookup or request)
	client  *fasthttp.Client
	metrics *metrics.Metrics

	mu          sync.Mutex // held during discovery, coalescing concurrent ones
	services    []KeepService
	expires     time.Time
	discoveries atomic.Int64
}

func NewRemote(id, scheme, host string, insecure, dns bool, ttl, idle time.Duration, m *metrics.Metrics) *Remote {
	rm := &Remote{ID: id, BaseURL: scheme + "://" + host, host: host, dns: dns, ttl: ttl, idle: idle, metrics: m}
	rm.client = &fasthttp.Client{
		Name:                     "keepfed",
		NoDefaultUserAgentHeader: false,
		Dial:                     idleDialer(idle),
		TLSConfig:                &tls.Config{InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // operator's choice (RemoteClusters.<id>.Insecure)
		// block reads are larger than the buffer and bypass it
		ReadBufferSize:            16 << 10,
		WriteBufferSize:           8 << 10,
		MaxIdleConnDuration:       30 * time.Second,
		MaxIdemponentCallAttempts: 1,
		MaxResponseBodySize:       4 << 20,
		DisablePathNormalizing:    true,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	return rm
}

// Acquire takes one of the remote's request slots and returns its
// release (safe to call more than once), or nil when all are taken.
func (rm *Remote) Acquire() func() {
	if rm.sem != nil {
		select {
		case rm.sem <- struct{}{}:
		default:
			return nil
		}
	}
	done := rm.use()
	var once sync.Once
	return func() {
		once.Do(func() {
			done()
			if rm.sem != nil {
				<-rm.sem
			}
		})
	}
}

// use marks the remote in use until the returned function is called, so
// that the registry does not drop it meanwhile.
func (rm *Remote) use() func() {
	rm.inUse.Add(1)
	rm.touch()
	return func() { rm.inUse.Add(-1) }
}

// Discoveries returns how many times the keep services were fetched.
func (rm *Remote) Discoveries() int64 { return rm.discoveries.Load() }

// Invalidate forgets the discovered services, so the next request asks the
// remote again.
func (rm *Remote) Invalidate() {
	rm.mu.Lock()
	rm.expires = time.Time{}
	rm.mu.Unlock()
}

// Services returns the remote's keep services, from the cache while it is
// fresh, else from <BaseURL>/arvados/v1/keep_services/accessible. The
// returned slice must not be modified.
func (rm *Remote) Services() ([]KeepService, error) {
	defer rm.use()()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.services != nil && time.Now().Before(rm.expires) {
		return rm.services, nil
	}
	if rm.host == "" {
		return nil, fmt.Errorf("remote cluster %s has no Host configured", rm.ID)
	}
	rm.discoveries.Add(1)
	svcs, err := rm.discover()
	if err != nil {
		rm.metrics.RemoteError(rm.ID, metrics.ErrClassDiscovery)
		return nil, err
	}
	rm.services, rm.expires = svcs, time.Now().Add(rm.ttl)
	return svcs, nil
}

func (rm *Remote) discover() ([]KeepService, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	u := rm.BaseURL + KeepServicesPath
	req.SetRequestURI(u)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("Accept", "application/json")
	req.Header.SetBytesV("X-Request-Id", request.AppendID(nil))
	if err := rm.client.DoTimeout(req, resp, rm.idle); err != nil {
		return nil, fmt.Errorf("discovering keep services of %s at %s: %w", rm.ID, u, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("discovering keep services of %s at %s: status %d", rm.ID, u, resp.StatusCode())
	}
	var list KeepServiceList
	if err := json.Unmarshal(resp.Body(), &list); err != nil {
		return nil, fmt.Errorf("discovering keep services of %s at %s: %w", rm.ID, u, err)
	}
	out := list.Items[:0]
	for _, s := range list.Items {
		if s.Host != "" && s.Port > 0 && s.Port < 65536 && s.BaseURL() != rm.exclude {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("discovering keep services of %s at %s: no usable keep services listed", rm.ID, u)
	}
	return out, nil
}

// idleDialer returns a dialer whose connections time out when a connect,
// read or write waits longer than idle, so a stalled remote is detected
// however long the whole block transfer takes.
func idleDialer(idle time.Duration) fasthttp.DialFunc {
	d := &net.Dialer{Timeout: idle, KeepAlive: 30 * time.Second}
	return func(addr string) (net.Conn, error) {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: idle}, nil
	}
}

// idleConn moves its deadline forward before every read and write, but
// never past a deadline the client set (DoDeadline, DoTimeout): that one
// bounds the whole exchange.
type idleConn struct {
	net.Conn
	idle                time.Duration
	hardRead, hardWrite atomic.Int64 // Unix ns; 0: none
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.hardRead.Store(unixNano(t))
	c.hardWrite.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.hardRead.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetWriteDeadline(t time.Time) error {
	c.hardWrite.Store(unixNano(t))
	return c.Conn.SetWriteDeadline(t)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (c *idleConn) next(hard int64) time.Time {
	d := time.Now().Add(c.idle)
	if hard != 0 && hard < d.UnixNano() {
		return time.Unix(0, hard)
	}
	return d
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(c.next(c.hardRead.Load())); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(c.next(c.hardWrite.Load())); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// ErrorClass classifies a transport error for metrics and status mapping.
func ErrorClass(err error) string {
	var ne net.Error
	if errors.Is(err, ErrTooSlow) || errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
		return metrics.ErrClassTimeout
	}
	return metrics.ErrClassUnreachable
}

// Get sends an authenticated GET to the cluster's API server (path with
// its query) and returns the status and a copy of the body. Every wait is
// bounded by the idle timeout, and the body by the client's limit.
func (rm *Remote) Get(path, token string) (int, []byte, error) {
	defer rm.use()()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(rm.BaseURL + path)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.SetBytesV("X-Request-Id", request.AppendID(nil))
	if err := rm.client.DoTimeout(req, resp, rm.idle); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// Do sends req to the cluster with its HTTP client (bounded by the idle
// timeout on every wait), for callers that build their own request, such
// as a block PUT to an upstream keepstore.
func (rm *Remote) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	defer rm.use()()
	return rm.client.Do(req, resp)
}

// SetExclude makes discovery skip the keep service at base URL u (a
// keepfed never lists itself as one of its upstream's keep services).
func (rm *Remote) SetExclude(u string) { rm.exclude = u }

// DefaultIdleTimeout is used when API.KeepServiceRequestTimeout is unset.
const DefaultIdleTimeout = defaultIdleTimeout

// Local returns this cluster's id.
func (r *Registry) Local() string { return r.local }

// Endpoint returns the base URL ("<scheme>://<host>") of cluster id's API
// server and whether TLS verification is off for it, or ok false when id
// is this cluster or one this keepfed may not contact.
func (r *Registry) Endpoint(id string) (baseURL string, insecure, ok bool) {
	if id == r.local {
		return "", false, false
	}
	scheme, host, insecure, _, ok := r.resolve(id)
	if !ok {
		return "", false, false
	}
	return scheme + "://" + host, insecure, true
}

// Live returns how many clusters have live state (a client): a cluster
// without it has never been contacted.
func (r *Registry) Live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// useClock orders uses of remotes for the DNS registry's least recently
// used eviction: a counter, not the time, so that no two uses tie.
var useClock atomic.Int64

// touch records a use of rm.
func (rm *Remote) touch() { rm.lastUse.Store(useClock.Add(1)) }
