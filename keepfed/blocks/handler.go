// Package blocks is keepfed's Keep block path: the GET, HEAD and PUT
// handlers, verified streaming (md5 and size checked while the last bytes
// are held back), md5 lanes for concurrent streams, and the backends that
// hold this cluster's own blocks (the embedded directory volume, or the
// local Arvados keepstores).
package blocks

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// MaxBlockSize is the largest block Keep stores (64 MiB).
const MaxBlockSize = 64 << 20

// Keepstore's reason texts.
const (
	reasonInvalidLocator = "invalid locator"
	reasonMethod         = "method not allowed"
	reasonNoToken        = "no token provided in Authorization header"
	reasonExpired        = "expired signature"
	reasonInvalidSig     = "invalid signature"
)

// BlockReadStatus decides what keepstore does first with a block read
// (spec 5.2, 3.4), without touching any storage: the status to answer, or
// 200 to read the block locally, or 0 to take the remote path (+R without
// +A). method is GET or HEAD, locator the path without its leading "/",
// token the request's first token, now the Unix time. When signingOn is
// false signatures are not checked.
func BlockReadStatus(method, locator, token string, ring *signing.KeyRing, signingOn bool, now int64) (int, string) {
	if !signing.KeepstoreRouteMatch(locator) {
		return fasthttp.StatusBadRequest, reasonInvalidLocator
	}
	info, err := signing.KeepstoreLocatorInfo(locator)
	if err != nil {
		return fasthttp.StatusBadRequest, reasonInvalidLocator
	}
	if method == fasthttp.MethodGet && info.Size <= 0 && info.Hash != signing.EmptyBlockHash {
		return fasthttp.StatusMethodNotAllowed, reasonMethod
	}
	if info.Remote && !info.Signed {
		return 0, ""
	}
	if !signingOn {
		return fasthttp.StatusOK, ""
	}
	if token == "" {
		return fasthttp.StatusUnauthorized, reasonNoToken
	}
	switch ring.Verify(locator, token, now) {
	case nil:
		return fasthttp.StatusOK, ""
	case signing.ErrSignatureExpired:
		return fasthttp.StatusUnauthorized, reasonExpired
	default:
		return fasthttp.StatusBadRequest, reasonInvalidSig
	}
}

// setKeepCORS sets keepstore's CORS headers (spec 5.2).
func SetCORS(h *fasthttp.ResponseHeader) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Length, Content-Type, X-Keep-Desired-Replicas, X-Keep-Signature, X-Keep-Storage-Classes")
	h.Set("Access-Control-Expose-Headers", "X-Keep-Locator, X-Keep-Replicas-Stored, X-Keep-Storage-Classes-Confirmed")
	h.Set("Access-Control-Max-Age", "86486400")
}

// Serve serves every method on a block path.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) error {
	SetCORS(&ctx.Response.Header)
	switch string(ctx.Method()) {
	case fasthttp.MethodGet, fasthttp.MethodHead:
		ctx.Response.Header.Set("Vary", "X-Keep-Signature")
		return h.readBlock(ctx)
	case fasthttp.MethodPut:
		err := h.putBlock(ctx)
		if err != nil {
			// read (and drop) what the client still sends, so that it
			// gets the answer instead of a reset connection
			request.DiscardBody(ctx)
		}
		return err
	case fasthttp.MethodOptions:
		return nil
	}
	return request.NewError(fasthttp.StatusMethodNotAllowed, reasonMethod)
}

func (h *Handler) readBlock(ctx *fasthttp.RequestCtx) error {
	locator := string(Locator(ctx.Path()))
	method := string(ctx.Method())
	token := request.Token(ctx)
	status, reason := BlockReadStatus(method, locator, token, h.ring, *h.cfg.Collections.BlobSigning, h.now().Unix())
	switch status {
	case 0:
		return h.readRemote(ctx, locator, token)
	case fasthttp.StatusOK:
	default:
		return request.NewError(status, reason)
	}
	info, _ := signing.KeepstoreLocatorInfo(locator)
	if info.Hash == signing.EmptyBlockHash {
		ctx.Response.Header.SetContentLength(0)
		return nil
	}
	// hook: Range reads of local blocks (remotecache.go)
	if method == fasthttp.MethodGet {
		if handled, err := h.readLocalRange(ctx, info); handled {
			return err
		}
	}
	if method == fasthttp.MethodHead {
		n, err := h.backend.Head(locator, token, info.Hash, info.Size)
		if err != nil {
			return err
		}
		ctx.Response.Header.SetContentLength(int(n))
		return nil
	}
	src, n, release, err := h.backend.Read(locator, token, info.Hash, info.Size)
	if err != nil {
		return err
	}
	bs, err := newBlockStream(src, info.Hash, n, h.streamDone(ctx, "", release))
	if err != nil {
		bs.finish(err)
		return request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(bs, int(n))
	return nil
}

// streamDone wraps a stream's release: it logs a failed stream (the access
// log line was written with the headers), counts it for a remote cluster,
// and frees the request's concurrency slot, which a streamed body holds
// until it ends.
func (h *Handler) streamDone(ctx *fasthttp.RequestCtx, cluster string, release func(error)) func(error) {
	free := request.HoldSlot(ctx)
	reqID := string(ctx.Response.Header.Peek("X-Request-Id"))
	return func(err error) {
		if err != nil && !errors.Is(err, errClientGone) {
			if cluster != "" {
				h.metrics.RemoteError(cluster, classOfStreamError(err))
			}
			h.log.Warn("block stream failed", "request_id", reqID, "cluster", cluster, "error", err.Error())
		}
		release(err)
		free()
	}
}

// readRemote serves a "+R" locator from the remote cluster it names.
//
// Only a token this cluster validates may make keepfed fetch from a
// remote (authorizeRemoteRead), so that keepfed is no open relay. With
// "X-Keep-Signature: local" from a caller that may also write blocks
// (authorizeWrite, as PUT), the block is fetched, verified and committed
// to the local backend before any header is sent; only then is the
// signed X-Keep-Locator set and the block served from the stored copy.
// A caller that may not write gets the block without a local copy.
func (h *Handler) readRemote(ctx *fasthttp.RequestCtx, locator, token string) error {
	var buf [512]byte
	remoteLoc, cluster, err := signing.TranslateRemote(buf[:0], locator, h.remotes.Known)
	if err != nil {
		return request.WrapError(fasthttp.StatusBadRequest, err.Error(), err)
	}
	if token == "" {
		return request.NewError(fasthttp.StatusUnauthorized, reasonNoToken)
	}
	if err := h.authorizeRemoteRead(ctx, token); err != nil {
		return err
	}
	salted, err := h.saltFor(ctx, token, cluster)
	if err != nil {
		return err
	}
	info, _ := signing.KeepstoreLocatorInfo(locator)
	method := string(ctx.Method())
	if info.Hash == signing.EmptyBlockHash && info.Size == 0 {
		ctx.Response.Header.SetContentLength(0)
		return nil
	}
	rm, ok := h.remotes.Lookup(cluster)
	if !ok {
		return request.NewError(fasthttp.StatusBadRequest, signing.ErrRemoteNotConfigured.Error())
	}
	// hook: the remote block cache (remotecache.go)
	if h.cache.Wants(cluster) && !wantsLocalCopy(ctx.Request.Header.Peek("X-Keep-Signature")) {
		if handled, err := h.readRemoteCached(ctx, rm, string(remoteLoc), salted, cluster, info); handled {
			return err
		}
	}
	wantCopy := wantsLocalCopy(ctx.Request.Header.Peek("X-Keep-Signature"))
	if wantCopy {
		if err := h.authorizeWrite(ctx, token); err != nil {
			if request.StatusOf(err) != fasthttp.StatusForbidden {
				return err
			}
			wantCopy = false // served, but not copied
		}
	}
	free := rm.Acquire()
	if free == nil {
		return request.Errorf(fasthttp.StatusServiceUnavailable, "too many requests in flight to remote cluster %s", cluster)
	}
	if method == fasthttp.MethodHead && !wantCopy {
		defer free()
		resp, err := rm.Fetch(fasthttp.MethodHead, string(remoteLoc), salted, info.Hash, info.Size)
		if err != nil {
			return err
		}
		n := info.Size
		if n <= 0 {
			n = int64(resp.Header.ContentLength())
		}
		remotes.ReleaseResponse(resp, nil)
		ctx.Response.Header.SetContentLength(int(max(n, 0)))
		return nil
	}
	resp, err := rm.Fetch(fasthttp.MethodGet, string(remoteLoc), salted, info.Hash, info.Size)
	if err != nil {
		free()
		return err
	}
	size := info.Size
	if size <= 0 {
		size = int64(resp.Header.ContentLength())
	}
	if size < 0 || size > MaxBlockSize {
		remotes.ReleaseResponse(resp, errors.New("bad size"))
		free()
		return request.Errorf(fasthttp.StatusBadGateway, "remote cluster %s sent a block of unknown or excessive size", cluster)
	}
	release := func(err error) { remotes.ReleaseResponse(resp, err); free() }
	if wantCopy {
		return h.copyRemote(ctx, rm.Body(resp), release, cluster, info.Hash, size, token)
	}
	bs, err := newBlockStream(rm.Body(resp), info.Hash, size, h.streamDone(ctx, cluster, release))
	if err != nil {
		bs.finish(err)
		return request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	bs.onBytes = h.metrics.Remote(cluster).AddBytes
	// the status goes out at once, so a failure later shows as a cut
	// 200 body, never as a missing response a client might retry blindly
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(bs, int(size))
	return nil
}

// copyRemote stores the remote block read from src in the local backend,
// verified, before any header goes out: a remote that fails, sends a
// corrupt block or is too slow, and a local store that fails, are each
// answered with their own status and no X-Keep-Locator. Once the copy is
// committed the signed local locator is set and a GET is served from the
// stored copy (checked again while streaming). release frees the remote
// response and its request slot.
func (h *Handler) copyRemote(ctx *fasthttp.RequestCtx, src io.Reader, release func(error), cluster, hash string, size int64, token string) error {
	w, err := h.backend.NewWriter(hash, size, token)
	if err != nil {
		release(err)
		return StorageError(err)
	}
	bs, err := newBlockStream(src, hash, size, release)
	bs.copy = w
	if err != nil {
		bs.finish(err)
		return request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	bs.onBytes = h.metrics.Remote(cluster).AddBytes
	if _, err := bs.WriteTo(io.Discard); err != nil {
		if lce := (*LocalCopyError)(nil); errors.As(err, &lce) {
			return StorageError(lce.Err)
		}
		h.metrics.RemoteError(cluster, classOfStreamError(err))
		return request.WrapError(fasthttp.StatusBadGateway, "remote cluster "+cluster+" sent a corrupt, incomplete or too slow block", err)
	}
	var lb [64]byte
	hs := strconv.AppendInt(append(lb[:0], hash+"+"...), size, 10)
	signed := h.ring.AppendSigned(nil, string(hs), token, h.now().Add(h.ring.TTL()).Unix())
	if string(ctx.Method()) == fasthttp.MethodHead {
		setKeepLocator(&ctx.Response.Header, signed)
		ctx.Response.Header.SetContentLength(int(size))
		return nil
	}
	data, n, done, err := h.backend.Read(string(signed), token, hash, size)
	if err != nil {
		return err
	}
	out, err := newBlockStream(data, hash, n, h.streamDone(ctx, "", done))
	if err != nil {
		out.finish(err)
		return request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	setKeepLocator(&ctx.Response.Header, signed)
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(out, int(n))
	return nil
}

func classOfStreamError(err error) string {
	switch {
	case errors.Is(err, ErrChecksum), errors.Is(err, ErrShortBody), errors.Is(err, ErrLongBody):
		return metrics.ErrClassCorrupt
	}
	return remotes.ErrorClass(err)
}

// setKeepLocator sets X-Keep-Locator and makes sure it is not the last
// header line: the Python SDK's header parser appends a space to the last
// header's value (it reads the blank line that ends the headers as a
// continuation line), and a locator with a trailing space is not one. So
// X-Request-Id, set first by the middleware, is moved after it.
func setKeepLocator(h *fasthttp.ResponseHeader, signed []byte) {
	h.SetBytesV("X-Keep-Locator", signed)
	if id := h.Peek("X-Request-Id"); len(id) > 0 {
		id = append([]byte(nil), id...)
		h.Del("X-Request-Id")
		h.SetBytesV("X-Request-Id", id)
	}
}

// wantsLocalCopy reports whether X-Keep-Signature asks for a local copy:
// the text before the first comma is exactly "local".
func wantsLocalCopy(h []byte) bool {
	if i := strings.IndexByte(string(h), ','); i >= 0 {
		h = h[:i]
	}
	return string(h) == "local"
}

// saltFor returns token salted for cluster. A v1 token is upgraded by the
// TokenUpgrader when there is one; otherwise it is refused with 400 as
// keepstore does.
func (h *Handler) saltFor(ctx *fasthttp.RequestCtx, token, cluster string) (string, error) {
	salted, err := signing.SaltToken(token, cluster)
	if errors.Is(err, signing.ErrObsoleteToken) && h.upgrader != nil {
		v2, ok, uerr := h.upgrader.UpgradeV1(context.Background(), token)
		if uerr != nil {
			return "", request.WrapError(fasthttp.StatusBadGateway, "token lookup failed", uerr)
		}
		if ok {
			salted, err = signing.SaltToken(v2, cluster)
		}
	}
	switch {
	case err == nil:
		return salted, nil
	case errors.Is(err, signing.ErrObsoleteToken):
		return "", request.WrapError(fasthttp.StatusBadRequest, err.Error(), err)
	case errors.Is(err, signing.ErrSalted):
		return "", request.WrapError(fasthttp.StatusForbidden, "token cannot be forwarded to cluster "+cluster+": "+err.Error(), err)
	default:
		return "", request.WrapError(fasthttp.StatusBadRequest, "token cannot be forwarded to cluster "+cluster+": "+err.Error(), err)
	}
}

// putBlock stores a block in the embedded volume (spec 5.4).
func (h *Handler) putBlock(ctx *fasthttp.RequestCtx) error {
	locator := string(Locator(ctx.Path()))
	info, err := signing.KeepstoreLocatorInfo(locator)
	if err != nil {
		return request.NewError(fasthttp.StatusBadRequest, reasonInvalidLocator)
	}
	hint, hasHint := sizeHint(locator)
	token := request.Token(ctx)
	if token == "" {
		return request.NewError(fasthttp.StatusUnauthorized, reasonNoToken)
	}
	if err := h.authorizeWrite(ctx, token); err != nil {
		return err
	}
	if cl := ctx.Request.Header.ContentLength(); cl > MaxBlockSize || (hasHint && hint > MaxBlockSize) {
		return request.Errorf(fasthttp.StatusRequestEntityTooLarge, "block is larger than %d bytes", MaxBlockSize)
	}
	var body io.Reader = ctx.RequestBodyStream()
	if body == nil {
		body = strings.NewReader(string(ctx.Request.Body()))
	}
	size := int64(ctx.Request.Header.ContentLength())
	if size < 0 {
		size = -1
		if hasHint {
			size = hint
		}
	}
	w, err := h.backend.NewWriter(info.Hash, size, token)
	if err != nil {
		return StorageError(err)
	}
	digest := md5.New()
	bp := streamBufs.Get().(*[]byte)
	in := &clientReader{r: io.LimitReader(body, MaxBlockSize+1)}
	n, err := io.CopyBuffer(io.MultiWriter(w, digest), in, *bp)
	streamBufs.Put(bp)
	if err != nil {
		w.Abort()
		if in.err != nil {
			// the client's body failed: its fault, 400
			return request.WrapError(fasthttp.StatusBadRequest, "reading the block failed", err)
		}
		return StorageError(err)
	}
	if n > MaxBlockSize {
		w.Abort()
		return request.Errorf(fasthttp.StatusRequestEntityTooLarge, "block is larger than %d bytes", MaxBlockSize)
	}
	if cl := ctx.Request.Header.ContentLength(); cl >= 0 && n != int64(cl) {
		// the connection ended before the body did
		w.Abort()
		return request.Errorf(fasthttp.StatusBadRequest, "reading the block failed: %d of %d bytes received", n, cl)
	}
	var sum [md5.Size]byte
	got := hex.EncodeToString(digest.Sum(sum[:0]))
	if got != info.Hash {
		w.Abort()
		return request.Errorf(fasthttp.StatusUnprocessableEntity, "content hash %s did not match specified locator %s", got, info.Hash)
	}
	if hasHint && n != hint {
		w.Abort()
		return request.Errorf(fasthttp.StatusUnprocessableEntity, "content size %d did not match specified locator size %d", n, hint)
	}
	if err := w.Commit(); err != nil {
		return StorageError(err)
	}
	replicas := 1
	if rc, ok := w.(replicaCounter); ok {
		replicas = rc.Replicas()
	}
	var lb [64]byte
	hs := strconv.AppendInt(append(lb[:0], info.Hash+"+"...), n, 10)
	out := h.ring.AppendSigned(make([]byte, 0, 128), string(hs), token, h.now().Add(h.ring.TTL()).Unix())
	ctx.Response.Header.Set("X-Keep-Replicas-Stored", strconv.Itoa(replicas))
	ctx.Response.Header.Set("X-Keep-Storage-Classes-Confirmed", "default="+strconv.Itoa(replicas))
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(append(out, '\n'))
	return nil
}

// clientReader remembers the error of the client's request body, so that
// a failed copy can tell the client's fault (400) from the storage's.
type clientReader struct {
	r   io.Reader
	err error
}

func (c *clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// StorageError maps a failure to store a block to its answer: an
// *request.HTTPError as it is; ErrCollision 500 "hash collision" (the
// stored block is kept); a full volume or exhausted quota (ENOSPC,
// EDQUOT) 507; any other storage failure 503, so that a client may try
// another keep service.
func StorageError(err error) error {
	var he *request.HTTPError
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, ErrCollision):
		return request.WrapError(fasthttp.StatusInternalServerError, "hash collision", err)
	case IsNoSpace(err):
		return request.WrapError(fasthttp.StatusInsufficientStorage, "insufficient storage", err)
	}
	return request.WrapError(fasthttp.StatusServiceUnavailable, "volume unavailable", err)
}

// authorizeWrite accepts the SystemRootToken, or any token the
// TokenValidator accepts (with a ScopedTokenValidator, for this request's
// method and path, so that token scopes apply): 403 otherwise.
func (h *Handler) authorizeWrite(ctx *fasthttp.RequestCtx, token string) error {
	if h.cfg.SystemRootToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(h.cfg.SystemRootToken)) == 1 {
		return nil
	}
	if h.validator != nil {
		var ok bool
		var err error
		if sv, scoped := h.validator.(ScopedTokenValidator); scoped {
			ok, err = sv.ValidateTokenFor(context.Background(), token, string(ctx.Method()), string(ctx.Path()))
		} else {
			ok, err = h.validator.ValidateToken(context.Background(), token)
		}
		if err != nil {
			var he *request.HTTPError
			if errors.As(err, &he) {
				return err
			}
			return request.WrapError(fasthttp.StatusBadGateway, "token validation failed", err)
		}
		if ok {
			return nil
		}
	}
	return request.NewError(fasthttp.StatusForbidden, "token is not allowed to write blocks")
}

// authorizeRemoteRead decides whether token may have keepfed fetch a
// block from a remote cluster: the SystemRootToken, or a token the
// TokenValidator accepts (its ReadValidator answer when it has one, else
// the same answer as for a write); 403 otherwise. Without a
// TokenValidator only the SystemRootToken may.
func (h *Handler) authorizeRemoteRead(ctx *fasthttp.RequestCtx, token string) error {
	rv, ok := h.validator.(ReadValidator)
	if !ok {
		err := h.authorizeWrite(ctx, token)
		if err != nil && request.StatusOf(err) == fasthttp.StatusForbidden {
			return request.NewError(fasthttp.StatusForbidden, "token is not valid on this cluster")
		}
		return err
	}
	if h.cfg.SystemRootToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(h.cfg.SystemRootToken)) == 1 {
		return nil
	}
	ok, err := rv.ValidateReadToken(context.Background(), token)
	if err != nil {
		var he *request.HTTPError
		if errors.As(err, &he) {
			return err
		}
		return request.WrapError(fasthttp.StatusBadGateway, "token validation failed", err)
	}
	if !ok {
		return request.NewError(fasthttp.StatusForbidden, "token is not valid on this cluster")
	}
	return nil
}

// sizeHint returns the size hint of a locator (the part after the hash
// when it is a decimal number).
func sizeHint(locator string) (int64, bool) {
	if len(locator) <= signing.HashLen+1 || locator[signing.HashLen] != '+' {
		return 0, false
	}
	p := locator[signing.HashLen+1:]
	if i := strings.IndexByte(p, '+'); i >= 0 {
		p = p[:i]
	}
	v, err := strconv.ParseInt(p, 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}
