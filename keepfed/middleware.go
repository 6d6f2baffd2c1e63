package keepfed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/records"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Middleware wraps a request handler. Server composes its middleware in
// one place (Server.handler), outermost first.
type Middleware func(fasthttp.RequestHandler) fasthttp.RequestHandler

// Chain wraps h in mws, the first being the outermost.
func Chain(h fasthttp.RequestHandler, mws ...Middleware) fasthttp.RequestHandler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// WithRequestID keeps the incoming X-Request-Id (when it is 1 to 100
// printable ASCII characters) or makes one, "req-" and 20 base-36
// characters, and echoes it in the response.
func WithRequestID() Middleware {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			id := ctx.Request.Header.Peek("X-Request-Id")
			if !validRequestID(id) {
				var buf [24]byte
				id = request.AppendID(buf[:0])
				ctx.Request.Header.SetBytesV("X-Request-Id", id)
				id = ctx.Request.Header.Peek("X-Request-Id")
			}
			ctx.Response.Header.SetBytesV("X-Request-Id", id)
			next(ctx)
		}
	}
}

func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 100 {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// WithRecover turns a panic in the handler into a 500 JSON error (and a log
// line with the stack), keeping the request id header.
func WithRecover(log *slog.Logger) Middleware {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			defer func() {
				if p := recover(); p != nil {
					id := string(ctx.Response.Header.Peek("X-Request-Id"))
					log.Error("panic", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					ctx.Response.Reset()
					ctx.Response.Header.Set("X-Request-Id", id)
					request.RenderError(ctx, request.WrapError(fasthttp.StatusInternalServerError, "internal server error", fmt.Errorf("panic: %v", p)))
				}
			}()
			next(ctx)
		}
	}
}

// WithAccessLog writes one JSON log line per request (method, path without
// query string, status, duration, response size, request id, and a token
// fingerprint, never a token) and counts the request in m. For streamed
// bodies the line is written when the headers are ready; the size is the
// Content-Length, or -1 for a streamed body of no stated length (a large
// signed manifest): reading Response.Body to count it would build the
// whole answer in memory, which streaming it exists to avoid.
func WithAccessLog(log *slog.Logger, m *metrics.Metrics) Middleware {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			start := time.Now()
			next(ctx)
			d := time.Since(start)
			status := ctx.Response.StatusCode()
			route := routeOf(ctx)
			m.CountRequest(route, status)
			if !log.Enabled(context.Background(), slog.LevelInfo) {
				return
			}
			size := ctx.Response.Header.ContentLength()
			if size <= 0 && !ctx.Response.IsBodyStream() {
				// fasthttp sets Content-Length of a set body only as
				// it writes the answer
				size = len(ctx.Response.Body())
			}
			attrs := make([]slog.Attr, 0, 10)
			attrs = append(attrs,
				slog.String("request_id", string(ctx.Response.Header.Peek("X-Request-Id"))),
				slog.String("method", string(ctx.Method())),
				slog.String("path", string(ctx.Path())),
				slog.Int("status", status),
				slog.Int("bytes", size),
				slog.Float64("duration_s", d.Seconds()),
				slog.String("remote_addr", ctx.RemoteIP().String()),
				slog.String("route", route.String()),
			)
			if tok := request.Token(ctx); tok != "" {
				attrs = append(attrs, slog.String("token_fp", signing.Fingerprint(tok)))
			}
			if err := request.Rendered(ctx); err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
		}
	}
}

// WithConcurrencyLimit answers 503 when more than max requests are being
// handled at once (API.MaxConcurrentRequests). The management endpoints
// are not limited, so an overloaded server can still be observed. A
// handler that streams its body after returning keeps its slot until the
// stream ends (see request.HoldSlot).
func WithConcurrencyLimit(max int) Middleware {
	sem := make(chan struct{}, max)
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if isManagementPath(ctx.Path()) {
				next(ctx)
				return
			}
			s := request.TakeSlot(ctx, sem)
			if s == nil {
				request.RenderError(ctx, request.NewError(fasthttp.StatusServiceUnavailable, "server is busy: too many concurrent requests"))
				return
			}
			defer s.Done()
			next(ctx)
		}
	}
}

// WithBodyLimit is WithBodyLimits(max, max).
func WithBodyLimit(max int) Middleware { return WithBodyLimits(max, max) }

// WithBodyLimits refuses, with 413, a request body larger than max (or
// than anonMax when the request has no token in its Authorization header,
// api_token query or cookie) on every path but Keep block paths (a block
// PUT streams its body and has its own 64 MiB limit). The server streams
// request bodies, and fasthttp does not apply Server.MaxRequestBodySize to
// a streamed body, so without this a record request would be read whole
// into memory whatever its size. A body of unknown length (chunked) is
// read at most limit+1 bytes.
func WithBodyLimits(max, anonMax int) Middleware {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if max <= 0 || blocks.IsBlockPath(ctx.Path(), ctx.Method()) {
				next(ctx)
				return
			}
			limit := max
			if anonMax > 0 && anonMax < max && records.ExtractHeaderToken(&ctx.Request) == "" {
				limit = anonMax
			}
			tooLarge := func() {
				request.RenderError(ctx, request.Errorf(fasthttp.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit))
				if limit == max {
					request.DiscardBody(ctx)
				}
				// else (no token): what is left is not worth more than
				// fasthttp drains by itself before it closes
			}
			if ctx.Request.Header.ContentLength() > limit {
				tooLarge()
				return
			}
			if bs := ctx.RequestBodyStream(); bs != nil {
				// a body of known length is read into a buffer of its
				// size: no growth by doubling for a large manifest
				b, err := readBody(bs, ctx.Request.Header.ContentLength(), limit)
				if err != nil {
					request.RenderError(ctx, request.WrapError(fasthttp.StatusBadRequest, "reading the request body failed", err))
					ctx.SetConnectionClose()
					return
				}
				if len(b) > limit {
					tooLarge()
					return
				}
				request.SetOwnBody(ctx, b)
			}
			next(ctx)
		}
	}
}

// WithTokens extracts the request's API token (records.ExtractToken, the
// rule the record proxy follows too) for request.Token.
func WithTokens() Middleware {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if t := records.ExtractToken(&ctx.Request); t != "" {
				request.SetToken(ctx, t)
			}
			next(ctx)
		}
	}
}

func isManagementPath(p []byte) bool {
	s := string(p)
	return s == "/_health/ping" || s == "/metrics"
}

// routeOf is the request's route class for metrics and the access log.
func routeOf(ctx *fasthttp.RequestCtx) metrics.Route {
	p := ctx.Path()
	switch string(p) {
	case "/_health/ping":
		return metrics.RouteHealth
	case "/metrics":
		return metrics.RouteMetrics
	case remotes.KeepServicesPath:
		return metrics.RouteKeepServices
	}
	if blocks.IsBlockPath(p, ctx.Method()) {
		switch string(ctx.Method()) {
		case fasthttp.MethodGet:
			return metrics.RouteBlockGet
		case fasthttp.MethodHead:
			return metrics.RouteBlockHead
		case fasthttp.MethodPut:
			return metrics.RouteBlockPut
		}
	}
	return metrics.RouteOther
}

// readBody reads a request body of at most max+1 bytes, into a buffer of
// its Content-Length when that is known (cl >= 0), so that a large body
// is not copied through buffers of doubling sizes.
func readBody(r io.Reader, cl, max int) ([]byte, error) {
	if cl < 0 || cl > max {
		return io.ReadAll(io.LimitReader(r, int64(max)+1))
	}
	b := make([]byte, cl)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
