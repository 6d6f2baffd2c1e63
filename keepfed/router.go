package keepfed

import (
	"strings"

	"github.com/keepfed/keepfed/signing"
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
	exact    map[string]map[string]Handler
	prefixes []prefixRoute
	blocks   Handler
}

type prefixRoute struct {
	prefix string
	h      Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{exact: map[string]map[string]Handler{}}
}

// Handle routes method (GET, HEAD, PUT, ...) on exactly path to h. GET
// routes also answer HEAD unless HEAD is routed separately.
func (r *Router) Handle(method, path string, h Handler) {
	m := r.exact[path]
	if m == nil {
		m = map[string]Handler{}
		r.exact[path] = m
	}
	m[method] = h
}

// HandlePrefix routes every method on paths starting with prefix to h; the
// handler checks the method itself. The longest matching prefix wins.
func (r *Router) HandlePrefix(prefix string, h Handler) {
	r.prefixes = append(r.prefixes, prefixRoute{prefix, h})
	for i := len(r.prefixes) - 1; i > 0 && len(r.prefixes[i].prefix) > len(r.prefixes[i-1].prefix); i-- {
		r.prefixes[i], r.prefixes[i-1] = r.prefixes[i-1], r.prefixes[i]
	}
}

// HandleBlocks routes Keep block paths to h.
func (r *Router) HandleBlocks(h Handler) { r.blocks = h }

// ServeFastHTTP is the router as a fasthttp.RequestHandler.
func (r *Router) ServeFastHTTP(ctx *fasthttp.RequestCtx) {
	if err := r.dispatch(ctx); err != nil {
		RenderError(ctx, err)
	}
}

var errNotFound = NewError(fasthttp.StatusNotFound, "not found")
var errMethod = NewError(fasthttp.StatusMethodNotAllowed, "method not allowed")

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
	if r.blocks != nil && isBlockPath(path, method) {
		return r.blocks(ctx)
	}
	if string(method) == fasthttp.MethodOptions {
		setKeepCORS(&ctx.Response.Header)
		return nil
	}
	return errNotFound
}

// isBlockPath reports whether path is a Keep block route: "/" then
// something keepstore's route accepts, or "//" then one for GET and HEAD.
func isBlockPath(path, method []byte) bool {
	if len(path) < 1+signing.HashLen || path[0] != '/' {
		return false
	}
	if path[1] == '/' {
		m := string(method)
		if m != fasthttp.MethodGet && m != fasthttp.MethodHead {
			return false
		}
		path = path[1:]
	}
	return len(path) >= 1+signing.HashLen && isLowerHexBytes(path[1:1+signing.HashLen])
}

// blockLocator returns the locator text of a block path.
func blockLocator(path []byte) []byte {
	if len(path) > 1 && path[1] == '/' {
		return path[2:]
	}
	return path[1:]
}

func isLowerHexBytes(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
