// Package webdav is a minimal keep-web for a keepfed with the embedded
// backend: GET and HEAD of a collection's file (its bytes streamed from the
// blocks its manifest names, each block's md5 verified), PUT of a file into
// a collection (stored as blocks of at most 64 MiB and written into the
// manifest through the record store, with the caller's permissions), and
// CORS, on keep-web's paths /c=<uuid or PDH>[/t=<token>][/_]/<path>.
//
// It is what arvados-client diagnostics and simple downloads need, not a
// full WebDAV server: no PROPFIND, MKCOL, MOVE, COPY, DELETE or LOCK
// (405), no directory listings (404), no vhost-style collection ids. A
// file whose blocks belong to another cluster (+R hints) is answered with
// 501.
package webdav

import (
	"mime"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Options are what a Handler needs.
type Options struct {
	// Identity authenticates tokens; its Store holds the collections.
	Identity *identity.Identity
	// Backend stores and serves the blocks (the embedded volume).
	Backend blocks.Backend
	// Config gives Users.AnonymousUserToken and API.MaxRequestSize, the
	// bound of a PUT body.
	Config *config.ClusterConfig
	// BlockSize is the size a PUT body is split into blocks of
	// (default and maximum blocks.MaxBlockSize, as keep-web).
	BlockSize int
}

// Handler serves the WebDAV paths.
type Handler struct {
	id        *identity.Identity
	st        *store.Store
	backend   blocks.Backend
	anon      string
	maxBody   int
	blockSize int
	// writeMu serialises the read-modify-write of manifests by PUT, so
	// that two uploads into one collection through this server do not
	// lose one another's file.
	writeMu sync.Mutex
}

// New returns the WebDAV handler.
func New(o Options) *Handler {
	bs := o.BlockSize
	if bs <= 0 || bs > blocks.MaxBlockSize {
		bs = blocks.MaxBlockSize
	}
	h := &Handler{id: o.Identity, backend: o.Backend, blockSize: bs}
	if o.Identity != nil {
		h.st = o.Identity.Store()
	}
	if o.Config != nil {
		h.anon = o.Config.Users.AnonymousUserToken
		h.maxBody = o.Config.API.MaxRequestSize
	}
	if h.maxBody <= 0 {
		h.maxBody = config.DefaultMaxRequestSize
	}
	return h
}

// The CORS headers, as keep-web sends them.
const (
	corsMethods = "COPY, DELETE, GET, LOCK, MKCOL, MOVE, OPTIONS, POST, PROPFIND, PROPPATCH, PUT, RMCOL, UNLOCK"
	corsHeaders = "Authorization, Content-Type, Range, Depth, Destination, If, Lock-Token, Overwrite, Timeout, Cache-Control"
)

// keep-web's messages.
var (
	errNotFound     = request.NewError(fasthttp.StatusNotFound, "Not Found")
	errUnauthorized = request.NewError(fasthttp.StatusUnauthorized, "Unauthorized")
	errMethod       = request.NewError(fasthttp.StatusMethodNotAllowed, "method not allowed")
	errReadOnly     = request.NewError(fasthttp.StatusMethodNotAllowed, "read-only file system: a collection addressed by portable data hash cannot be written")
	errRemoteBlock  = request.NewError(fasthttp.StatusNotImplemented, "this file has blocks stored on another cluster (+R); keepfed's WebDAV serves only this cluster's blocks")
)

// Serve answers a request whose path starts with Prefix.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) error {
	hdr := &ctx.Response.Header
	// every answer, errors included, so that browsers can read them
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Access-Control-Expose-Headers", "Content-Range")
	method := string(ctx.Method())
	if method == fasthttp.MethodOptions {
		return preflight(ctx)
	}
	switch method {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPut:
	default:
		return errMethod
	}
	t, err := ParsePath(string(ctx.Path()))
	if err != nil {
		return errNotFound
	}
	auth, token, err := h.authenticate(ctx, t)
	if err != nil {
		return err
	}
	// A token's scopes apply as to the API requests keep-web makes for
	// it: reading the collection record, and updating it for a PUT.
	apiMethod := fasthttp.MethodGet
	if method == fasthttp.MethodPut {
		apiMethod = fasthttp.MethodPut
	}
	if err := identity.CheckScopes(auth, apiMethod, "/arvados/v1/collections/"+t.Collection); err != nil {
		return err
	}
	var rec store.Record
	if t.IsPDH {
		rec, err = h.st.FindByPDH(t.Collection, auth)
	} else {
		rec, err = h.st.Get(store.Collections, t.Collection, auth)
	}
	if err != nil {
		if store.StatusOf(err) == fasthttp.StatusNotFound {
			return errNotFound
		}
		return identity.StoreError(err)
	}
	if method == fasthttp.MethodPut {
		if t.IsPDH {
			return errReadOnly
		}
		return h.put(ctx, t, auth, token)
	}
	return h.get(ctx, t, rec)
}

// preflight answers OPTIONS as keep-web: a CORS preflight for a method
// keep-web knows gets the CORS headers, one for another method 405.
func preflight(ctx *fasthttp.RequestCtx) error {
	m := string(ctx.Request.Header.Peek("Access-Control-Request-Method"))
	if m != "" && !slices.Contains(strings.Split(corsMethods+", HEAD", ", "), m) {
		return errMethod
	}
	hdr := &ctx.Response.Header
	hdr.Set("Access-Control-Allow-Methods", corsMethods)
	hdr.Set("Access-Control-Allow-Headers", corsHeaders)
	hdr.Set("Access-Control-Max-Age", "86400")
	hdr.Set("Allow", "GET, HEAD, PUT, OPTIONS")
	return nil
}

// authenticate picks the request's token as keep-web does (the path's
// t=<token>, else the request's token, else the anonymous token) and
// validates it. Without a valid token the answer is 401 with a Basic
// challenge, or 404 for a t=<token> path (a sharing link that did not
// work). It returns the token it used.
func (h *Handler) authenticate(ctx *fasthttp.RequestCtx, t Target) (store.Authorization, string, error) {
	token := t.Token
	if token == "" {
		token = request.Token(ctx)
	}
	if token == "" {
		token = h.anon
	}
	auth, err := h.id.Authenticate(token, "")
	if err == nil {
		return auth, token, nil
	}
	if request.StatusOf(err) != fasthttp.StatusUnauthorized {
		return auth, "", err
	}
	if t.Token != "" {
		return auth, "", errNotFound
	}
	ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="collections"`)
	return auth, "", errUnauthorized
}

// segment is length bytes at offset of one block.
type segment struct {
	hash           string
	locator        string
	size           int64
	offset, length int64
}

// findFile returns the segments of the file at name in the manifest, in
// the order the Go SDK reads them, and whether there is such a file.
// A remote block among them is reported as errRemoteBlock.
func findFile(mt string, name string) ([]segment, bool, error) {
	streams, err := manifest.Parse([]byte(mt))
	if err != nil {
		return nil, false, request.WrapError(fasthttp.StatusInternalServerError, "stored manifest is invalid", err)
	}
	var segs []segment
	found := false
	for _, s := range streams {
		dir := dirOf(s.Name)
		var starts []int64
		var sizes []int64
		var pos int64
		for _, loc := range s.Locators {
			n, _ := strconv.ParseInt(sizeOf(loc), 10, 64)
			starts = append(starts, pos)
			sizes = append(sizes, n)
			pos += n
		}
		for _, f := range s.Files {
			if joinPath(dir, f.Name) != name {
				continue
			}
			found = true
			for i, loc := range s.Locators {
				lo := max(f.Pos, starts[i])
				hi := min(f.Pos+f.Size, starts[i]+sizes[i])
				if lo >= hi {
					continue
				}
				if _, remote := signing.RemoteCluster(loc); remote {
					return nil, true, errRemoteBlock
				}
				segs = append(segs, segment{
					hash: strings.ToLower(loc[:32]), locator: loc[:32] + "+" + sizeOf(loc),
					size: sizes[i], offset: lo - starts[i], length: hi - lo,
				})
			}
		}
	}
	return segs, found, nil
}

// sizeOf returns the size hint of a manifest locator.
func sizeOf(loc string) string {
	s := loc[33:]
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	return s
}

// dirOf turns a stream name ("." or "./a/b") into a path ("" or "a/b").
func dirOf(stream string) string {
	return strings.TrimPrefix(strings.TrimPrefix(stream, "."), "/")
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// isDir reports whether name is a directory of the manifest: a stream, or
// a prefix of a file's path.
func isDir(streams []manifest.Stream, name string) bool {
	if name == "" {
		return true
	}
	for _, s := range streams {
		dir := dirOf(s.Name)
		if dir == name || strings.HasPrefix(dir, name+"/") {
			return true
		}
		for _, f := range s.Files {
			if strings.HasPrefix(joinPath(dir, f.Name), name+"/") {
				return true
			}
		}
	}
	return false
}

// get answers GET and HEAD of a file.
func (h *Handler) get(ctx *fasthttp.RequestCtx, t Target, rec store.Record) error {
	mt := rec.StringAttr("manifest_text")
	if t.Dir {
		// no directory listings: what diagnostics and downloads need
		// are files
		return errNotFound
	}
	segs, found, err := findFile(mt, t.Path)
	if err != nil {
		return err
	}
	if !found {
		return errNotFound
	}
	var total int64
	for _, s := range segs {
		total += s.length
	}
	start, end, partial, err := parseRange(string(ctx.Request.Header.Peek("Range")), total)
	if err != nil {
		ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(total, 10))
		return err
	}
	hdr := &ctx.Response.Header
	ctype := mime.TypeByExtension(path.Ext(t.Path))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hdr.SetContentType(ctype)
	hdr.Set("Accept-Ranges", "bytes")
	// keepfed serves its API on the same origin: never inline content
	disp := "attachment"
	if len(ctx.URI().QueryString()) > 0 {
		disp += "; filename=" + strconv.QuoteToASCII(path.Base(t.Path))
	}
	hdr.Set("Content-Disposition", disp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if partial {
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
		hdr.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end-1, 10)+"/"+strconv.FormatInt(total, 10))
	}
	n := end - start
	if ctx.IsHead() {
		hdr.SetContentLength(int(n))
		return nil
	}
	fr := &fileReader{b: h.backend, segs: clip(segs, start, end)}
	if len(fr.segs) > 0 {
		// the first block's absence is still an error status
		if err := fr.open(); err != nil {
			fr.release()
			return request.WrapError(fasthttp.StatusBadGateway, "cannot read the file's data", err)
		}
	}
	fr.free = request.HoldSlot(ctx)
	ctx.SetBodyStream(fr, int(n))
	return nil
}

// clip returns the parts of segs between byte start and end of the file.
func clip(segs []segment, start, end int64) []segment {
	var out []segment
	var pos int64
	for _, s := range segs {
		lo, hi := max(start, pos), min(end, pos+s.length)
		if lo < hi {
			c := s
			c.offset += lo - pos
			c.length = hi - lo
			out = append(out, c)
		}
		pos += s.length
	}
	return out
}
