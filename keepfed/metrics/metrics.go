// Package metrics holds keepfed's counters and renders them in the
// Prometheus text exposition format, with bounded labels (route classes,
// status classes, at most 64 cluster ids, fixed error classes).
package metrics

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Route is a route class, the bounded "route" label.
type Route int

// Route classes.
const (
	RouteOther Route = iota
	RouteBlockGet
	RouteBlockHead
	RouteBlockPut
	RouteKeepServices
	RouteHealth
	RouteMetrics
	numRoutes
)

var routeNames = [numRoutes]string{"other", "block_get", "block_head", "block_put", "keep_services", "health", "metrics"}

// String returns the route's label value.
func (r Route) String() string {
	if r < 0 || r >= numRoutes {
		return routeNames[RouteOther]
	}
	return routeNames[r]
}

// Remote error classes, the bounded "class" label of
// keepfed_remote_errors_total.
const (
	ErrClassNotFound    = "not_found"   // remote answered 404
	ErrClassDenied      = "denied"      // remote answered 400/401/403
	ErrClassUnreachable = "unreachable" // connection refused, reset, DNS
	ErrClassTimeout     = "timeout"     // connect or read timeout
	ErrClassServer      = "server"      // remote answered 5xx
	ErrClassCorrupt     = "corrupt"     // wrong size or md5, short body
	ErrClassDiscovery   = "discovery"   // keep_services/accessible failed
	ErrClassOther       = "other"
)

var errClasses = []string{ErrClassNotFound, ErrClassDenied, ErrClassUnreachable, ErrClassTimeout, ErrClassServer, ErrClassCorrupt, ErrClassDiscovery, ErrClassOther}

// latencyBuckets are the histogram upper bounds, in seconds.
var latencyBuckets = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// maxRemoteLabels bounds the number of distinct cluster label values
// (clusters found by DNS could otherwise grow it without limit); further
// clusters share the label "_other".
const maxRemoteLabels = 64

// Metrics holds the server's counters and renders them in the Prometheus
// text exposition format. All methods are safe for concurrent use.
type Metrics struct {
	requests [numRoutes][6]atomic.Uint64 // by route and status class 0xx..5xx

	mu      sync.Mutex
	remotes map[string]*Remote

	// Cache is the remote block cache's counters.
	Cache Cache
}

// Remote is one cluster's counters.
type Remote struct {
	requests atomic.Uint64
	bytes    atomic.Uint64
	errors   sync.Map // class -> *atomic.Uint64
	buckets  [len(latencyBuckets) + 1]atomic.Uint64
	sumMicro atomic.Uint64
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{remotes: map[string]*Remote{}}
}

// CountRequest counts one handled request by route and status class.
func (m *Metrics) CountRequest(route Route, status int) {
	c := status / 100
	if c < 0 || c > 5 {
		c = 0
	}
	if route < 0 || route >= numRoutes {
		route = RouteOther
	}
	m.requests[route][c].Add(1)
}

// Remote returns the counters of a cluster, creating them under the
// bound (beyond it, clusters share the label "_other").
func (m *Metrics) Remote(cluster string) *Remote {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.remotes[cluster]
	if r == nil {
		if len(m.remotes) >= maxRemoteLabels {
			cluster = "_other"
			if r = m.remotes[cluster]; r != nil {
				return r
			}
		}
		r = &Remote{}
		m.remotes[cluster] = r
	}
	return r
}

// RemoteRequest records one request to a remote cluster's keep service.
func (m *Metrics) RemoteRequest(cluster string, d time.Duration) {
	r := m.Remote(cluster)
	r.requests.Add(1)
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	r.buckets[i].Add(1)
	r.sumMicro.Add(uint64(d / time.Microsecond))
}

// RemoteBytes records block bytes received from a remote cluster.
func (m *Metrics) RemoteBytes(cluster string, n int64) {
	if n > 0 {
		m.Remote(cluster).bytes.Add(uint64(n))
	}
}

// RemoteError records a failure of class (one of the ErrClass constants)
// talking to a remote cluster.
func (m *Metrics) RemoteError(cluster, class string) {
	m.Remote(cluster).CountError(class)
}

// AddBytes records block bytes received from the cluster.
func (r *Remote) AddBytes(n int64) {
	if n > 0 {
		r.bytes.Add(uint64(n))
	}
}

// CountError records a failure of class (one of the ErrClass constants).
func (r *Remote) CountError(class string) {
	v, ok := r.errors.Load(class)
	if !ok {
		v, _ = r.errors.LoadOrStore(class, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

// AppendText appends the metrics to b in the Prometheus text format.
func (m *Metrics) AppendText(b []byte) []byte {
	b = append(b, "# HELP keepfed_http_requests_total HTTP requests handled, by route and status class.\n# TYPE keepfed_http_requests_total counter\n"...)
	for r := Route(0); r < numRoutes; r++ {
		for c := 1; c < 6; c++ {
			n := m.requests[r][c].Load()
			if n == 0 {
				continue
			}
			b = append(b, `keepfed_http_requests_total{route="`...)
			b = append(b, routeNames[r]...)
			b = append(b, `",code="`...)
			b = strconv.AppendInt(b, int64(c), 10)
			b = append(b, "xx\"} "...)
			b = strconv.AppendUint(b, n, 10)
			b = append(b, '\n')
		}
	}
	m.mu.Lock()
	names := make([]string, 0, len(m.remotes))
	for k := range m.remotes {
		names = append(names, k)
	}
	rs := make([]*Remote, len(names))
	sort.Strings(names)
	for i, k := range names {
		rs[i] = m.remotes[k]
	}
	m.mu.Unlock()

	b = append(b, "# HELP keepfed_remote_requests_total Requests sent to remote clusters' keep services.\n# TYPE keepfed_remote_requests_total counter\n"...)
	for i, r := range rs {
		b = appendSample(b, "keepfed_remote_requests_total", names[i], "", "", r.requests.Load())
	}
	b = append(b, "# HELP keepfed_remote_bytes_total Block bytes received from remote clusters.\n# TYPE keepfed_remote_bytes_total counter\n"...)
	for i, r := range rs {
		b = appendSample(b, "keepfed_remote_bytes_total", names[i], "", "", r.bytes.Load())
	}
	b = append(b, "# HELP keepfed_remote_errors_total Failures talking to remote clusters, by class.\n# TYPE keepfed_remote_errors_total counter\n"...)
	for i, r := range rs {
		for _, class := range errClasses {
			if v, ok := r.errors.Load(class); ok {
				b = appendSample(b, "keepfed_remote_errors_total", names[i], "class", class, v.(*atomic.Uint64).Load())
			}
		}
	}
	b = append(b, "# HELP keepfed_remote_request_duration_seconds Time to response headers from remote keep services.\n# TYPE keepfed_remote_request_duration_seconds histogram\n"...)
	for i, r := range rs {
		var cum uint64
		for j := range r.buckets {
			cum += r.buckets[j].Load()
			le := "+Inf"
			if j < len(latencyBuckets) {
				le = strconv.FormatFloat(latencyBuckets[j], 'g', -1, 64)
			}
			b = appendSample(b, "keepfed_remote_request_duration_seconds_bucket", names[i], "le", le, cum)
		}
		b = append(b, `keepfed_remote_request_duration_seconds_sum{cluster="`...)
		b = append(b, names[i]...)
		b = append(b, `"} `...)
		b = strconv.AppendFloat(b, float64(r.sumMicro.Load())/1e6, 'g', -1, 64)
		b = append(b, '\n')
		b = appendSample(b, "keepfed_remote_request_duration_seconds_count", names[i], "", "", cum)
	}
	return m.Cache.appendText(b)
}

func appendSample(b []byte, name, cluster, lk, lv string, v uint64) []byte {
	b = append(b, name...)
	b = append(b, `{cluster="`...)
	b = append(b, cluster...)
	b = append(b, '"')
	if lk != "" {
		b = append(b, ',')
		b = append(b, lk...)
		b = append(b, `="`...)
		b = append(b, lv...)
		b = append(b, '"')
	}
	b = append(b, "} "...)
	b = strconv.AppendUint(b, v, 10)
	return append(b, '\n')
}
