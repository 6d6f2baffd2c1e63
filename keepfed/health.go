package keepfed

import (
	"crypto/subtle"
	"strconv"

	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

// Management endpoints: GET /_health/ping and GET /metrics, both behind
// "Authorization: Bearer <ManagementToken>".
//
// When ManagementToken is empty the endpoints are disabled and answer 404,
// as Arvados services do; a missing or wrong token answers 401.

var healthOK = []byte(`{"health":"OK"}` + "\n")

// managementAuth wraps h with the management token check.
func (s *Server) managementAuth(h request.Handler) request.Handler {
	want := []byte("Bearer " + s.cfg.ManagementToken)
	return func(ctx *fasthttp.RequestCtx) error {
		if s.cfg.ManagementToken == "" {
			return request.NewError(fasthttp.StatusNotFound, "management endpoints are disabled (ManagementToken is not set)")
		}
		got := ctx.Request.Header.Peek("Authorization")
		if len(got) == 0 {
			return request.NewError(fasthttp.StatusUnauthorized, "management token required")
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return request.NewError(fasthttp.StatusUnauthorized, "invalid management token")
		}
		return h(ctx)
	}
}

// handlePing answers {"health":"OK"}, with "remote_cache_bytes" (the
// bytes the remote block cache holds) when the cache is on.
func (s *Server) handlePing(ctx *fasthttp.RequestCtx) error {
	ctx.SetContentType("application/json")
	if c := s.blocks.Cache(); c != nil {
		b := append(ctx.Response.Body()[:0], `{"health":"OK","remote_cache_bytes":`...)
		b = strconv.AppendInt(b, c.Bytes(), 10)
		ctx.Response.SetBody(append(b, "}\n"...))
		return nil
	}
	ctx.SetBody(healthOK)
	return nil
}

// handleMetrics answers the metrics in the Prometheus text format.
func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) error {
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.Response.SetBody(s.metrics.AppendText(ctx.Response.Body()[:0]))
	return nil
}
