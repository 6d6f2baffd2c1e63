package blocks

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Cache returns the remote block cache, or nil when it is off.
func (h *Handler) Cache() *RemoteCache { return h.cache }

// readRemoteCached serves a +R read through the remote block cache: from
// the cache when the remote has confirmed the (token, signature) pair,
// else from a fetch shared by every concurrent read of the block. It
// returns handled false when the read should take the uncached path
// (HEAD of an uncached block; a shared fetch that turned out not
// cacheable, or was refused for another pair).
func (h *Handler) readRemoteCached(ctx *fasthttp.RequestCtx, rm *remotes.Remote, remoteLoc, salted, cluster string, info signing.KeepstoreInfo) (bool, error) {
	c := h.cache
	method := string(ctx.Method())
	key := confirmKey(salted, remoteLoc)
	var rk byteRange
	rng := rangeNone
	if method == fasthttp.MethodGet {
		rk, rng = parseRange(ctx.Request.Header.Peek("Range"), info.Size)
	}
	if f, n := c.open(info.Hash, info.Size); f != nil {
		if err := h.confirmPair(rm, remoteLoc, salted, key, info); err != nil {
			f.Close()
			return true, err
		}
		c.m.Hits.Add(1)
		return true, h.serveCached(ctx, f, info.Hash, n, rk, rng)
	}
	if method == fasthttp.MethodHead {
		return false, nil
	}
	if rng == rangeBad {
		// the remote decides first whether this pair may know anything
		if err := h.confirmPair(rm, remoteLoc, salted, key, info); err != nil {
			return true, err
		}
		return true, rangeNotSatisfiable(ctx, info.Size)
	}
	fl, leader := c.join(info.Hash, info.Size, key)
	if fl == nil { // cached meanwhile
		if f, n := c.open(info.Hash, info.Size); f != nil {
			if err := h.confirmPair(rm, remoteLoc, salted, key, info); err != nil {
				f.Close()
				return true, err
			}
			c.m.Hits.Add(1)
			return true, h.serveCached(ctx, f, info.Hash, n, rk, rng)
		}
		return false, nil
	}
	c.m.Misses.Add(1)
	if leader {
		if direct, err := h.startFlight(ctx, fl, rm, remoteLoc, salted, cluster, info); direct {
			return true, err
		}
	} else {
		c.m.Coalesced.Add(1)
		<-fl.ready
		if err := fl.hdrErr; err != nil {
			fl.unref()
			if errors.Is(err, errNotCacheable) || key != fl.key {
				return false, nil // fetch it ourselves
			}
			return true, err
		}
		if key != fl.key {
			if err := h.confirmPair(rm, remoteLoc, salted, key, info); err != nil {
				fl.unref()
				return true, err
			}
		}
	}
	return true, h.serveFlight(ctx, fl, cluster, rk, rng)
}

// startFlight fetches the block for a new flight: from the local
// keepstores when they hold it (arvados backend, sharedcache.go; the pair
// is confirmed with the remote first), else from the remote. When the
// block turns out not cacheable it serves the response directly
// (direct true: the caller answers nothing more); else it starts the fetch
// into the cache and the caller serves from the flight.
func (h *Handler) startFlight(ctx *fasthttp.RequestCtx, fl *flight, rm *remotes.Remote, remoteLoc, salted, cluster string, info signing.KeepstoreInfo) (direct bool, err error) {
	if src, rel, ok := h.sharedRead(info.Hash, info.Size); ok {
		if err := h.confirmPair(rm, remoteLoc, salted, fl.key, info); err != nil {
			rel(nil)
			fl.abort(err)
			fl.unref()
			return true, err
		}
		h.cache.m.SharedHits.Add(1)
		if !fl.begin() {
			fl.abort(errNotCacheable)
			fl.unref()
			return true, h.serveDirect(ctx, src, rel, "", info.Hash, info.Size)
		}
		go fl.run(src, rel, nil)
		return false, nil
	}
	free := rm.Acquire()
	if free == nil {
		err := request.Errorf(fasthttp.StatusServiceUnavailable, "too many requests in flight to remote cluster %s", cluster)
		fl.abort(err)
		fl.unref()
		return true, err
	}
	resp, err := rm.Fetch(fasthttp.MethodGet, remoteLoc, salted, info.Hash, info.Size)
	if err != nil {
		free()
		fl.abort(err)
		fl.unref()
		return true, err
	}
	h.remember(fl.key, remoteLoc)
	release := func(err error) { remotes.ReleaseResponse(resp, err); free() }
	if noStore(resp.Header.Peek("Cache-Control")) || !fl.begin() {
		fl.abort(errNotCacheable)
		fl.unref()
		return true, h.serveDirect(ctx, resp.BodyStream(), release, cluster, info.Hash, info.Size)
	}
	fetched := func(err error) {
		if err != nil {
			h.metrics.RemoteError(cluster, classOfStreamError(err))
			h.log.Warn("remote block fetch into the cache failed", "cluster", cluster, "hash", info.Hash, "error", err.Error())
		}
		release(err)
	}
	fl.onCached = func() { h.sharedStore(info.Hash, info.Size) }
	go fl.run(resp.BodyStream(), fetched, h.metrics.Remote(cluster).AddBytes)
	return false, nil
}

// serveDirect streams a block that is not cached to the client, verified,
// as the uncached path does; release frees its source. cluster (may be
// "") is the remote the bytes come from.
func (h *Handler) serveDirect(ctx *fasthttp.RequestCtx, src io.Reader, release func(error), cluster, hash string, size int64) error {
	bs, err := newBlockStream(src, hash, size, h.streamDone(ctx, cluster, release))
	if err != nil {
		bs.finish(err)
		return request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	if cluster != "" {
		bs.onBytes = h.metrics.Remote(cluster).AddBytes
	}
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(bs, int(size))
	return nil
}

// noStore reports whether a Cache-Control value has the no-store
// directive.
func noStore(v []byte) bool {
	for _, d := range strings.Split(string(v), ",") {
		d = strings.TrimSpace(d)
		if i := strings.IndexByte(d, '='); i >= 0 {
			d = d[:i]
		}
		if strings.EqualFold(d, "no-store") {
			return true
		}
	}
	return false
}

// remember records that the remote accepted the pair.
func (h *Handler) remember(key [32]byte, remoteLoc string) {
	exp, ok := signatureExpiry(remoteLoc)
	if !ok {
		exp = 1<<62 - 1 // unsigned: the token refresh alone bounds it
	}
	h.cache.confirm.add(key, exp, h.now())
}

// confirmPair checks that the remote accepts the (salted token, signed
// locator) pair, from the memo or with one HEAD request (no body). An
// expired signature is refused without asking; when the remote cannot be
// reached no new pair is confirmed (its error, 502, is returned): a cached
// block is never served on a signature the remote has not accepted.
func (h *Handler) confirmPair(rm *remotes.Remote, remoteLoc, salted string, key [32]byte, info signing.KeepstoreInfo) error {
	c := h.cache
	now := h.now()
	if exp, ok := signatureExpiry(remoteLoc); ok && exp <= now.Unix() {
		c.m.ConfirmRefused.Add(1)
		return request.Errorf(fasthttp.StatusForbidden, "remote cluster %s: expired signature", rm.ID)
	}
	if c.confirm.ok(key, now) {
		return nil
	}
	free := rm.Acquire()
	if free == nil {
		c.m.ConfirmFailed.Add(1)
		return request.Errorf(fasthttp.StatusServiceUnavailable, "too many requests in flight to remote cluster %s", rm.ID)
	}
	defer free()
	resp, err := rm.Fetch(fasthttp.MethodHead, remoteLoc, salted, info.Hash, info.Size)
	if err != nil {
		if request.StatusOf(err) == fasthttp.StatusForbidden {
			c.m.ConfirmRefused.Add(1)
		} else {
			c.m.ConfirmFailed.Add(1)
		}
		return err
	}
	remotes.ReleaseResponse(resp, nil)
	c.m.ConfirmAccepted.Add(1)
	h.remember(key, remoteLoc)
	return nil
}

// serveCached answers a read from a cached block: HEAD with its size, a
// range with 206, a whole read verified again on the way (a block found
// corrupt is cut short and dropped from the cache).
func (h *Handler) serveCached(ctx *fasthttp.RequestCtx, f *os.File, hash string, n int64, rk byteRange, rng rangeKind) error {
	c := h.cache
	if string(ctx.Method()) == fasthttp.MethodHead {
		f.Close()
		ctx.Response.Header.SetContentLength(int(n))
		return nil
	}
	switch rng {
	case rangeBad:
		f.Close()
		return rangeNotSatisfiable(ctx, n)
	case rangeOne:
		c.m.BytesServed.Add(uint64(rk.end - rk.start))
		serveSection(ctx, f, rk, n, h.streamDone(ctx, "", func(error) { f.Close() }))
		return nil
	}
	release := h.streamDone(ctx, "", func(err error) {
		f.Close()
		if errors.Is(err, ErrChecksum) || errors.Is(err, ErrShortBody) || errors.Is(err, ErrLongBody) {
			c.drop(hash)
		}
	})
	bs, err := newBlockStream(f, hash, n, release)
	if err != nil {
		bs.finish(err)
		return request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	bs.onBytes = func(k int64) { c.m.BytesServed.Add(uint64(k)) }
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(bs, int(n))
	return nil
}

// serveFlight answers a read from a flight: a whole read streams as the
// bytes arrive (the tail once verified); a range waits for the verified
// block.
func (h *Handler) serveFlight(ctx *fasthttp.RequestCtx, fl *flight, cluster string, rk byteRange, rng rangeKind) error {
	if rng == rangeOne {
		if err := fl.wait(); err != nil {
			fl.unref()
			return request.WrapError(fasthttp.StatusBadGateway, "remote cluster "+cluster+" sent a corrupt or incomplete block", err)
		}
		serveSection(ctx, fl.f, rk, fl.size, h.streamDone(ctx, "", func(error) { fl.unref() }))
		return nil
	}
	r := &flightReader{fl: fl, end: fl.size, release: h.streamDone(ctx, "", func(error) {})}
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(r, int(fl.size))
	return nil
}

// serveSection answers 206 with bytes rk of a block of size bytes read
// from f; release is called when the response is done.
func serveSection(ctx *fasthttp.RequestCtx, f *os.File, rk byteRange, size int64, release func(error)) {
	ctx.SetStatusCode(fasthttp.StatusPartialContent)
	ctx.Response.Header.Set("Content-Range", contentRange(rk, size))
	ctx.SetBodyStream(&sectionBody{r: io.NewSectionReader(f, rk.start, rk.end-rk.start), release: release}, int(rk.end-rk.start))
}

// rangeNotSatisfiable answers 416 with the block's size.
func rangeNotSatisfiable(ctx *fasthttp.RequestCtx, size int64) error {
	ctx.Response.Header.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
	return request.NewError(fasthttp.StatusRequestedRangeNotSatisfiable, "requested range not satisfiable")
}

// readLocalRange serves a Range read of a local block from the embedded
// volume. It returns handled false when there is no usable Range header
// or the backend is not the embedded volume (the arvados backend's
// keepstores answer whole blocks, so the whole block is answered).
func (h *Handler) readLocalRange(ctx *fasthttp.RequestCtx, info signing.KeepstoreInfo) (bool, error) {
	hdr := ctx.Request.Header.Peek("Range")
	if len(hdr) == 0 {
		return false, nil
	}
	eb, ok := h.backend.(EmbeddedBackend)
	if !ok {
		return false, nil
	}
	rk, rng := parseRange(hdr, info.Size)
	if rng == rangeNone {
		return false, nil
	}
	f, n, err := eb.V.Open(info.Hash)
	if errors.Is(err, ErrBlockNotFound) || (err == nil && info.Size > 0 && n != info.Size) {
		if f != nil {
			f.Close()
		}
		return true, request.NewError(fasthttp.StatusNotFound, "block not found")
	}
	if err != nil {
		return true, request.WrapError(fasthttp.StatusInternalServerError, "reading block failed", err)
	}
	if rng == rangeBad {
		f.Close()
		return true, rangeNotSatisfiable(ctx, n)
	}
	serveSection(ctx, f, rk, n, h.streamDone(ctx, "", func(error) { f.Close() }))
	return true, nil
}
