package blocks

import (
	"io"
	"os"
	"strconv"

	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

// The shared tier of the remote block cache, with the arvados backend: a
// remote block fetched and verified by one keepfed replica is also stored
// in the local cluster's keepstores (as X-Keep-Signature: local copies
// are), and a replica that misses its own cache directory reads it from
// there instead of from the remote. Permission stays the remote's: a block
// found in the keepstores is served only after the remote confirmed the
// (token, signature) pair. Keepstore requests use the SystemRootToken with
// a locator this cluster signs for it; without a SystemRootToken the tier
// is off.

// maxSharedStores bounds the background stores into the keepstores; a
// block that finds every slot taken is not stored.
const maxSharedStores = 2

// sharedBackend returns the arvados backend when the shared tier is on.
func (h *Handler) sharedBackend() (*arvadosBackend, bool) {
	ab, ok := h.backend.(*arvadosBackend)
	return ab, ok && h.cache != nil && h.cfg.SystemRootToken != ""
}

// sharedLocator is the block's locator signed for the SystemRootToken.
func (h *Handler) sharedLocator(hash string, size int64) string {
	var lb [64]byte
	hs := strconv.AppendInt(append(lb[:0], hash+"+"...), size, 10)
	return string(h.ring.AppendSigned(nil, string(hs), h.cfg.SystemRootToken, h.now().Add(h.ring.TTL()).Unix()))
}

// sharedRead opens the block in the local keepstores, if they hold it.
// Any failure (404 included) means: fetch it from the remote.
func (h *Handler) sharedRead(hash string, size int64) (io.Reader, func(error), bool) {
	ab, ok := h.sharedBackend()
	if !ok || size <= 0 {
		return nil, nil, false
	}
	src, n, release, err := ab.Read(h.sharedLocator(hash, size), h.cfg.SystemRootToken, hash, size)
	if err != nil {
		if request.StatusOf(err) != fasthttp.StatusNotFound {
			h.log.Warn("reading a remote block from the local keepstores failed", "hash", hash, "error", err.Error())
		}
		return nil, nil, false
	}
	if n != size {
		release(errNotCacheable)
		return nil, nil, false
	}
	return src, release, true
}

// sharedStore stores a cached block in the local keepstores in the
// background, unless maxSharedStores are under way.
func (h *Handler) sharedStore(hash string, size int64) {
	ab, ok := h.sharedBackend()
	if !ok {
		return
	}
	select {
	case h.cache.storeSlots <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-h.cache.storeSlots }()
		f, err := os.Open(h.cache.Path(hash))
		if err != nil {
			return // evicted meanwhile
		}
		defer f.Close()
		w, err := ab.NewWriter(hash, size, h.cfg.SystemRootToken)
		if err != nil {
			h.log.Warn("storing a remote block in the local keepstores failed", "hash", hash, "error", err.Error())
			return
		}
		bp := streamBufs.Get().(*[]byte)
		_, err = io.CopyBuffer(onlyWriter{w}, onlyReader{f}, *bp)
		streamBufs.Put(bp)
		if err != nil {
			w.Abort()
		} else {
			err = w.Commit()
		}
		if err != nil {
			h.log.Warn("storing a remote block in the local keepstores failed", "hash", hash, "error", err.Error())
			return
		}
		h.cache.m.SharedStores.Add(1)
	}()
}
