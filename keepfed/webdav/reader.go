package webdav

import (
	"errors"
	"fmt"
	"io"

	"github.com/keepfed/keepfed/keepfed/blocks"
)

// fileReader streams a file's segments. Each segment's block is read
// whole through blocks.OpenVerified (bytes outside the segment are
// dropped), and the segment's last byte is given out only once the whole
// block has been read and its md5 matched: a corrupt or missing block ends
// the body early, so the client never sees a complete, successful file
// made of bad data (fasthttp then closes the connection).
type fileReader struct {
	b    blocks.Backend
	segs []segment
	free func() // frees the request's concurrency slot

	cur     io.ReadCloser
	left    int64 // bytes of the current segment not yet given out, the last byte included
	last    [1]byte
	hasLast bool
	err     error
	closed  bool
}

var errBlockMissing = errors.New("block not readable")

// open starts the next segment: opens its block and skips to its offset.
func (r *fileReader) open() error {
	s := r.segs[0]
	rc, err := blocks.OpenVerified(r.b, s.locator, "", s.hash, s.size)
	if err != nil {
		return fmt.Errorf("block %s: %w: %w", s.hash, errBlockMissing, err)
	}
	r.cur = rc
	if _, err := io.CopyN(io.Discard, rc, s.offset); err != nil {
		return fmt.Errorf("block %s: %w", s.hash, err)
	}
	r.left = s.length
	return nil
}

// finishSegment reads the segment's last byte, then the rest of the block
// (which verifies it), and closes the block.
func (r *fileReader) finishSegment() error {
	if _, err := io.ReadFull(r.cur, r.last[:]); err != nil {
		return fmt.Errorf("block %s: %w", r.segs[0].hash, err)
	}
	if _, err := io.Copy(io.Discard, r.cur); err != nil {
		return fmt.Errorf("block %s: %w", r.segs[0].hash, err)
	}
	r.cur.Close()
	r.cur = nil
	r.hasLast = true
	return nil
}

// Read implements io.Reader.
func (r *fileReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n := 0
	for n < len(p) {
		if r.hasLast {
			p[n] = r.last[0]
			n++
			r.hasLast = false
			r.left = 0
			r.segs = r.segs[1:]
			continue
		}
		if len(r.segs) == 0 {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		if r.cur == nil {
			if err := r.open(); err != nil {
				return n, r.fail(err)
			}
		}
		if r.left > 1 {
			m := int(min(int64(len(p)-n), r.left-1))
			k, err := io.ReadFull(r.cur, p[n:n+m])
			n += k
			r.left -= int64(k)
			if err != nil {
				return n, r.fail(fmt.Errorf("block %s: %w", r.segs[0].hash, err))
			}
			continue
		}
		if err := r.finishSegment(); err != nil {
			return n, r.fail(err)
		}
	}
	return n, nil
}

// fail ends the stream with err.
func (r *fileReader) fail(err error) error {
	r.err = err
	r.release()
	return err
}

// release closes the current block and frees the slot, once.
func (r *fileReader) release() {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	if !r.closed {
		r.closed = true
		if r.free != nil {
			r.free()
		}
	}
}

// Close implements io.Closer; fasthttp calls it when the body is done.
func (r *fileReader) Close() error {
	r.release()
	return nil
}
