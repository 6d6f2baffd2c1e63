package keepfed

import (
	"strings"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

// Router dispatches requests to Handlers by path and method, and renders
// the errors they return (RenderError). Routes, most specific first:
//
//  1. exact paths registered with Handle;
//  2. path prefixes registered with HandlePrefix (longest first), for the
//     record proxy (/arvados/v1/...) and similar subtrees;
//  3. Keep block paths, "/<32 lowercase hex>..." (also "//<locator>" for
//     GET and HEAD, as keepstore), given to the handler set by HandleBlocks.
//
// OPTIONS on any path answers 200 with an empty body (Keep's CORS
// preflight). Anything else is 404. A Router is configured before the
// server starts and is read-only afterwards.
type Router struct {
	exact    map[string]map[string]request.Handler
	prefixes []prefixRoute
	blocks   request.Handler
}

type prefixRoute struct {
	prefix string
	h      request.Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{exact: map[string]map[string]request.Handler{}}
}

// Handle routes method (GET, HEAD, PUT, ...) on exactly path to h. GET
// routes also answer HEAD unless HEAD is routed separately.
func (r *Router) Handle(method, path string, h request.Handler) {
	m := r.exact[path]
	if m == nil {
		m = map[string]request.Handler{}
		r.exact[path] = m
	}
	m[method] = h
}

// HandlePrefix routes every method on paths starting with prefix to h; the
// handler checks the method itself. The longest matching prefix wins.
func (r *Router) HandlePrefix(prefix string, h request.Handler) {
	r.prefixes = append(r.prefixes, prefixRoute{prefix, h})
	for i := len(r.prefixes) - 1; i > 0 && len(r.prefixes[i].prefix) > len(r.prefixes[i-1].prefix); i-- {
		r.prefixes[i], r.prefixes[i-1] = r.prefixes[i-1], r.prefixes[i]
	}
}

// HandleBlocks routes Keep block paths to h.
func (r *Router) HandleBlocks(h request.Handler) { r.blocks = h }

// HasExact reports whether a route was registered for exactly path.
func (r *Router) HasExact(path []byte) bool {
	_, ok := r.exact[string(path)]
	return ok
}

// ServeFastHTTP is the router as a fasthttp.RequestHandler.
func (r *Router) ServeFastHTTP(ctx *fasthttp.RequestCtx) {
	if err := r.dispatch(ctx); err != nil {
		request.RenderError(ctx, err)
	}
}

var errNotFound = request.NewError(fasthttp.StatusNotFound, "not found")
var errMethod = request.NewError(fasthttp.StatusMethodNotAllowed, "method not allowed")

func (r *Router) dispatch(ctx *fasthttp.RequestCtx) error {
	path := ctx.Path()
	method := ctx.Method()
	if m, ok := r.exact[string(path)]; ok {
		h, ok := m[string(method)]
		if !ok && string(method) == fasthttp.MethodHead {
			h, ok = m[fasthttp.MethodGet]
		}
		if ok {
			return h(ctx)
		}
		if string(method) == fasthttp.MethodOptions {
			return nil
		}
		return errMethod
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(string(path), p.prefix) {
			return p.h(ctx)
		}
	}
	if r.blocks != nil && blocks.IsBlockPath(path, method) {
		return r.blocks(ctx)
	}
	if string(method) == fasthttp.MethodOptions {
		blocks.SetCORS(&ctx.Response.Header)
		return nil
	}
	// browsers (and arvados-client diagnostics) read even a 404 only
	// with this header
	ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
	return errNotFound
}
