package keepfed

import (
	"strings"
	"sync"
	"time"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/records"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Limits is the server's fairness model (docs/RELIABILITY.md, "Denial of
// service"): how many requests may be handled at once, in all and per
// class of request. Every count covers a request from the moment it is
// admitted until its handler returns or, for a streamed block, until the
// stream ends.
type Limits struct {
	// Global is API.MaxConcurrentRequests.
	Global int
	// PerClient bounds the requests of one client IP address; <= 0: none.
	PerClient int
	// Anonymous bounds the requests without a token in the Authorization
	// header, the api_token query parameter or the cookie.
	Anonymous int
	// PerRemote bounds the +R block reads of one remote cluster, and
	// Remote those of all remote clusters together, so that slow remotes
	// cannot take every slot.
	PerRemote, Remote int
	// MaxAnonymousBody is the largest body accepted without such a token.
	MaxAnonymousBody int
	// MinBodyRate (bytes per second, <= 0: no check) and BodyGrace: a
	// request body must arrive at MinBodyRate on average once BodyGrace
	// has passed, or it is cut with 408.
	MinBodyRate int
	BodyGrace   time.Duration
}

// limitsOf works out the limits and their defaults from the config.
func limitsOf(max, perClient, anon, anonBody, rate int, grace time.Duration) Limits {
	l := Limits{
		Global:           max,
		PerClient:        perClient,
		Anonymous:        anon,
		PerRemote:        maxInt(1, max/4),
		Remote:           maxInt(1, max*3/4),
		MaxAnonymousBody: anonBody,
		MinBodyRate:      rate,
		BodyGrace:        grace,
	}
	if l.PerClient == 0 {
		l.PerClient = maxInt(1, max/4)
	}
	if l.Anonymous <= 0 {
		l.Anonymous = maxInt(1, max/8)
	}
	return l
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// admission counts the requests being handled against Limits. One mutex
// guards every count, so a request takes all its places or none; the maps
// hold only keys with requests in flight, so their size is bounded by the
// number of requests being handled.
type admission struct {
	l        Limits
	mu       sync.Mutex
	global   int
	anon     int
	remote   int
	byClient map[string]int
	byRemote map[string]int
}

func newAdmission(l Limits) *admission {
	return &admission{l: l, byClient: map[string]int{}, byRemote: map[string]int{}}
}

var (
	errBusy       = request.NewError(fasthttp.StatusServiceUnavailable, "server is busy: too many concurrent requests")
	errClientBusy = request.NewError(fasthttp.StatusServiceUnavailable, "server is busy: too many concurrent requests from this client address")
	errAnonBusy   = request.NewError(fasthttp.StatusServiceUnavailable, "server is busy: too many concurrent requests without a token")
)

// enter takes the request's per-client place (and its anonymous place
// when anon), before anything about the request is checked that costs
// more than its headers. It returns the function that gives them back.
func (a *admission) enter(client string, anon bool) (func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.l.PerClient > 0 && a.byClient[client] >= a.l.PerClient {
		return nil, errClientBusy
	}
	if anon && a.anon >= a.l.Anonymous {
		return nil, errAnonBusy
	}
	a.byClient[client]++
	if anon {
		a.anon++
	}
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.byClient[client]--; a.byClient[client] <= 0 {
			delete(a.byClient, client)
		}
		if anon {
			a.anon--
		}
	}, nil
}

// admit takes a global place (and a remote cluster's share for a +R read
// of cluster, when cluster is not "").
func (a *admission) admit(cluster string) (func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.global >= a.l.Global {
		return nil, errBusy
	}
	if cluster != "" && (a.remote >= a.l.Remote || a.byRemote[cluster] >= a.l.PerRemote) {
		return nil, request.Errorf(fasthttp.StatusServiceUnavailable, "too many requests in flight to remote cluster %s", cluster)
	}
	a.global++
	if cluster != "" {
		a.remote++
		a.byRemote[cluster]++
	}
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.global--
		if cluster != "" {
			a.remote--
			if a.byRemote[cluster]--; a.byRemote[cluster] <= 0 {
				delete(a.byRemote, cluster)
			}
		}
	}, nil
}

// WithAdmission admits requests under s's Limits, in this order, each
// refusal answered before any of the body is read (a refused write's body
// is then read and dropped, see refuse):
//
//  1. management endpoints (/_health/ping, /metrics) are exempt, so an
//     overloaded server can still be observed;
//  2. the client's per-address place, and for a request without a token
//     in its headers, query or cookie (anonymous) an anonymous place and
//     a small body limit (Limits.MaxAnonymousBody, 413 from the
//     Content-Length alone);
//  3. block PUTs and record writes (POST, PUT, PATCH, DELETE under
//     /arvados/v1/) are authenticated: a block PUT as the PUT handler
//     would (401, 403), a record write with the identity layer (401 for
//     an unknown token);
//  4. a global place, and for a +R block read its remote cluster's share
//     (503 when full);
//  5. the body, read inside the slot, must then arrive at
//     Limits.MinBodyRate, or the request ends with 408.
//
// All places are freed when the handler returns, or when a streamed block
// body ends (request.HoldSlot).
func (s *Server) WithAdmission() Middleware {
	a := s.admission
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if isManagementPath(ctx.Path()) {
				next(ctx)
				return
			}
			token := records.ExtractHeaderToken(&ctx.Request)
			anon := token == ""
			leave, err := a.enter(string(ctx.RemoteIP().To16()), anon)
			if err != nil {
				request.RenderError(ctx, err) // fasthttp drains what it can
				return
			}
			if err := s.authenticateWrite(ctx, token); err != nil {
				s.refuse(ctx, err)
				leave()
				return
			}
			if anon && a.l.MaxAnonymousBody > 0 && ctx.Request.Header.ContentLength() > a.l.MaxAnonymousBody {
				s.refuse(ctx, request.Errorf(fasthttp.StatusRequestEntityTooLarge, "request body larger than %d bytes without a token", a.l.MaxAnonymousBody))
				leave()
				return
			}
			free, err := a.admit(remoteReadCluster(ctx))
			if err != nil {
				request.RenderError(ctx, err)
				leave()
				return
			}
			slot := request.NewSlot(ctx, func() { free(); leave() })
			defer slot.Done()
			mc, _ := ctx.Conn().(*markConn)
			if mc != nil && a.l.MinBodyRate > 0 && ctx.RequestBodyStream() != nil && ctx.Request.Header.ContentLength() != 0 {
				mc.beginBody(a.l.MinBodyRate, a.l.BodyGrace, ctx.Time().Add(s.cfg.API.RequestTimeout.D()))
				defer mc.endBody()
			}
			next(ctx)
			if mc != nil && mc.bodyTooSlow() {
				id := string(ctx.Response.Header.Peek("X-Request-Id"))
				ctx.Response.Reset()
				ctx.Response.Header.Set("X-Request-Id", id)
				request.RenderError(ctx, request.Errorf(fasthttp.StatusRequestTimeout, "request body arrived slower than %d bytes per second", a.l.MinBodyRate))
				ctx.SetConnectionClose()
			}
		}
	}
}

// refuse answers a request turned away before its body was read, then
// reads and drops the body (up to request.MaxDiscard, at the minimum body
// rate), so that a client that sends it all before reading gets the
// answer, not a reset connection. The caller still holds the request's
// per-client (and anonymous) place, which bounds how many such drains one
// address, and all anonymous clients, can have at once; no slot is held.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, err error) {
	request.RenderError(ctx, err)
	if ctx.Request.Header.ContentLength() == 0 || ctx.RequestBodyStream() == nil {
		return
	}
	if mc, _ := ctx.Conn().(*markConn); mc != nil && s.admission.l.MinBodyRate > 0 {
		mc.beginBody(s.admission.l.MinBodyRate, s.admission.l.BodyGrace, ctx.Time().Add(s.cfg.API.RequestTimeout.D()))
		defer mc.endBody()
	}
	request.DiscardBody(ctx)
}

// authenticateWrite checks the token of a block PUT or a record write
// before the request takes a slot; other requests pass.
func (s *Server) authenticateWrite(ctx *fasthttp.RequestCtx, token string) error {
	path, method := ctx.Path(), string(ctx.Method())
	if blocks.IsBlockPath(path, ctx.Method()) {
		if method != fasthttp.MethodPut {
			return nil
		}
		if _, err := signing.KeepstoreLocatorInfo(string(blocks.Locator(path))); err != nil {
			return nil // the handler answers 400
		}
		return s.blocks.AuthorizeWrite(ctx, token)
	}
	if s.authenticate == nil || token == "" || !strings.HasPrefix(string(path), "/arvados/v1/") {
		return nil
	}
	switch method {
	case fasthttp.MethodPost, fasthttp.MethodPut, fasthttp.MethodPatch, fasthttp.MethodDelete:
		// the identity layer is the API's own: a token it refuses here
		// it would refuse there. ?remote= may widen what it accepts
		// (tokens salted for that cluster); a narrower check is the
		// API's.
		return s.authenticate(token, string(ctx.QueryArgs().Peek("remote")))
	}
	return nil
}

// remoteReadCluster is the remote cluster a +R block read (GET or HEAD of
// a locator with a +R hint and no +A hint) goes to, or "".
func remoteReadCluster(ctx *fasthttp.RequestCtx) string {
	m := string(ctx.Method())
	if (m != fasthttp.MethodGet && m != fasthttp.MethodHead) || !blocks.IsBlockPath(ctx.Path(), ctx.Method()) {
		return ""
	}
	loc := string(blocks.Locator(ctx.Path()))
	info, err := signing.KeepstoreLocatorInfo(loc)
	if err != nil || !info.Remote || info.Signed {
		return ""
	}
	id, _ := signing.RemoteCluster(loc)
	return id
}
