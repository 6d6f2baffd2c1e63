package blocks

import (
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// errNotCacheable ends a flight whose block will not be cached (the remote
// said Cache-Control: no-store, or the block does not fit): its waiters
// fetch the block themselves.
var errNotCacheable = errors.New("block is not cacheable")

// flight is one fetch of a remote block into the cache, shared by every
// read of that block while it runs. The fetch writes the block to a
// temporary file in the cache directory while hashing it; readers read
// the growing file up to the written offset, except the last HoldBack
// bytes, which they get only once the whole block's md5 and size matched.
// A corrupt or incomplete fetch fails every reader (their responses are
// cut) and caches nothing.
type flight struct {
	c    *RemoteCache
	hash string
	size int64
	key  [32]byte // confirmation key of the pair that fetches

	ready  chan struct{} // closed once the remote answered
	hdrErr error         // set before ready is closed when there is no body

	f   *os.File // the temporary file, then the cached one (renamed)
	tmp string

	mu      sync.Mutex
	cond    sync.Cond
	written int64
	state   flightState
	err     error
	refs    int // the fetch and the readers; the file closes at 0

	onCached func() // when set, called once the block is cached
}

type flightState int

const (
	flightRunning flightState = iota
	flightVerified
	flightFailed
)

// join returns the flight of a block that is not cached, starting it
// (leader true) when there is none. It returns nil when the block is
// cached by now.
func (c *RemoteCache) join(hash string, size int64, key [32]byte) (fl *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[hash]; ok {
		return nil, false
	}
	if fl = c.flights[hash]; fl != nil && fl.size == size {
		fl.mu.Lock()
		fl.refs++
		fl.mu.Unlock()
		return fl, false
	}
	fl = &flight{c: c, hash: hash, size: size, key: key, ready: make(chan struct{}), refs: 1}
	fl.cond.L = &fl.mu
	if c.flights[hash] == nil {
		c.flights[hash] = fl // a flight of another size is left alone
	}
	return fl, true
}

// abort ends a flight before its body: err says why (errNotCacheable, or
// the remote's refusal or failure), and readers that joined get it.
func (fl *flight) abort(err error) {
	c := fl.c
	c.mu.Lock()
	if c.flights[fl.hash] == fl {
		delete(c.flights, fl.hash)
	}
	c.mu.Unlock()
	fl.hdrErr = err
	close(fl.ready)
}

// begin reserves room for the block and creates its temporary file; false
// means it will not be cached (then abort the flight).
func (fl *flight) begin() bool {
	c := fl.c
	c.mu.Lock()
	ok := c.reserveLocked(fl.size)
	c.mu.Unlock()
	if !ok {
		return false
	}
	f, err := os.CreateTemp(c.tmpDir, fl.hash+"-*")
	if err != nil {
		c.log.Warn("creating a remote block cache file failed", "error", err.Error())
		c.unreserve(fl.size)
		return false
	}
	fl.f, fl.tmp = f, f.Name()
	fl.refs++ // the fetch's
	close(fl.ready)
	return true
}

func (c *RemoteCache) unreserve(size int64) {
	c.mu.Lock()
	c.used -= size
	c.gauges()
	c.mu.Unlock()
}

// run copies the remote body into the file, verifies it, and caches it or
// throws it away. release gets the outcome (it frees the remote response
// and its request slot); onBytes counts bytes received.
func (fl *flight) run(body io.Reader, release func(error), onBytes func(int64)) {
	err := fl.copy(body, onBytes)
	release(err)
	c := fl.c
	if err == nil {
		if err = fl.f.Sync(); err == nil {
			final := c.Path(fl.hash)
			if err = os.MkdirAll(filepath.Dir(final), 0o750); err == nil {
				err = os.Rename(fl.tmp, final)
			}
		}
		if err != nil {
			err = fmt.Errorf("storing the block in the remote block cache: %w", err)
		}
	}
	c.mu.Lock()
	if c.flights[fl.hash] == fl {
		delete(c.flights, fl.hash)
	}
	if err == nil {
		c.admitLocked(fl.hash, fl.size)
	} else {
		c.used -= fl.size
		c.gauges()
	}
	c.mu.Unlock()
	if err != nil {
		os.Remove(fl.tmp)
	} else if fl.onCached != nil {
		fl.onCached()
	}
	fl.mu.Lock()
	if err == nil {
		fl.state = flightVerified
	} else {
		fl.state, fl.err = flightFailed, err
	}
	fl.cond.Broadcast()
	fl.mu.Unlock()
	fl.unref()
}

// copy reads the block, writing and hashing it, and checks md5 and size.
func (fl *flight) copy(body io.Reader, onBytes func(int64)) error {
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	buf := *bp
	digest := md5.New()
	var w int64
	for w < fl.size {
		n, err := body.Read(buf[:min(int64(len(buf)), fl.size-w)])
		if n > 0 {
			if _, werr := fl.f.WriteAt(buf[:n], w); werr != nil {
				return fmt.Errorf("writing the remote block cache: %w", werr)
			}
			digest.Write(buf[:n])
			if onBytes != nil {
				onBytes(int64(n))
			}
			w += int64(n)
			fl.mu.Lock()
			fl.written = w
			fl.cond.Broadcast()
			fl.mu.Unlock()
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				if w == fl.size {
					break
				}
				return ErrShortBody
			}
			return fmt.Errorf("reading block: %w", err)
		}
	}
	var one [1]byte
	if n, _ := body.Read(one[:]); n > 0 {
		return ErrLongBody
	}
	var sum [md5.Size]byte
	if fmt.Sprintf("%x", digest.Sum(sum[:0])) != fl.hash {
		return ErrChecksum
	}
	return nil
}

// unref drops one reference; the last closes the file.
func (fl *flight) unref() {
	fl.mu.Lock()
	fl.refs--
	last := fl.refs == 0
	fl.mu.Unlock()
	if last && fl.f != nil {
		fl.f.Close()
	}
}

// available blocks until the bytes after off may be sent: it returns the
// offset up to which they may (the written offset, less the held-back
// tail until the block is verified), or the flight's error.
func (fl *flight) available(off int64) (int64, error) {
	hold := min(fl.size, HoldBack)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for {
		switch fl.state {
		case flightFailed:
			return 0, fl.err
		case flightVerified:
			return fl.size, nil
		}
		if limit := min(fl.written, fl.size-hold); limit > off {
			return limit, nil
		}
		fl.cond.Wait()
	}
}

// wait blocks until the flight is verified or failed.
func (fl *flight) wait() error {
	_, err := fl.available(fl.size)
	return err
}

// flightReader is one reader's response body from a flight: bytes
// [off, end) of the block.
type flightReader struct {
	fl       *flight
	off, end int64
	release  func(error)
	served   func(int64)
	done     bool
	err      error
}

// next reads the next chunk into buf.
func (r *flightReader) next(buf []byte) (int, error) {
	limit, err := r.fl.available(r.off)
	if err != nil {
		return 0, err
	}
	n := int(min(int64(len(buf)), min(limit, r.end)-r.off))
	m, err := r.fl.f.ReadAt(buf[:n], r.off)
	if m < n {
		return m, fmt.Errorf("reading the remote block cache: %w", err)
	}
	return m, nil
}

// WriteTo sends the reader's bytes to w as they become available.
func (r *flightReader) WriteTo(w io.Writer) (int64, error) {
	if r.done {
		return 0, r.err
	}
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	var total int64
	for r.off < r.end {
		m, err := r.next(*bp)
		if m > 0 {
			if _, werr := w.Write((*bp)[:m]); werr != nil {
				return total, r.finish(fmt.Errorf("writing to client: %w", werr))
			}
			r.off += int64(m)
			total += int64(m)
			if r.served != nil {
				r.served(int64(m))
			}
		}
		if err != nil {
			return total, r.finish(err)
		}
	}
	return total, r.finish(nil)
}

// Read implements io.Reader with the same guarantees as WriteTo.
func (r *flightReader) Read(p []byte) (int, error) {
	if r.done {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	if r.off >= r.end {
		r.finish(nil)
		return 0, io.EOF
	}
	m, err := r.next(p)
	r.off += int64(m)
	if r.served != nil {
		r.served(int64(m))
	}
	if err != nil {
		return m, r.finish(err)
	}
	return m, nil
}

func (r *flightReader) finish(err error) error {
	if r.done {
		return err
	}
	r.done, r.err = true, err
	r.fl.unref()
	if r.release != nil {
		r.release(err)
	}
	return err
}

// Close ends the reader; before the end it counts as the client gone.
func (r *flightReader) Close() error {
	if !r.done {
		r.finish(errClientGone)
	}
	return nil
}
