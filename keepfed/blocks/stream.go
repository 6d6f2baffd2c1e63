package blocks

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
)

// streamBufSize is the size of the pooled buffers blocks are copied
// through, and of the tail held back until the block's md5 is verified.
// HoldBack is how many final bytes of a block a stream holds back until
// its md5 and size have matched (the whole block when it is smaller).
const HoldBack = streamBufSize

const streamBufSize = 256 << 10

var streamBufs = sync.Pool{New: func() any { b := make([]byte, streamBufSize); return &b }}

// Block stream errors. A stream that fails ends the client response early
// (fasthttp then closes the connection), so the client never receives a
// complete body.
var (
	ErrChecksum  = errors.New("block data does not match its md5")
	ErrShortBody = errors.New("block data ended before its size")
	ErrLongBody  = errors.New("block data is longer than its size")
)

// blockStream copies a block of known hash and size from src to the
// client, computing its md5 on the way and holding back the last bytes
// (up to streamBufSize) until the whole block has been read and its md5
// and size match. Optionally it writes a local copy that is committed only
// once verified, before the tail is released.
//
// fasthttp uses its WriteTo (no extra copy); Read is there for other
// consumers. Close releases the source; fasthttp calls it when the response
// is done or the client went away.
type blockStream struct {
	src     io.Reader
	want    [md5.Size]byte
	size    int64
	md5     blockDigest // from digests, on the first bytes; closed by finish
	digests *md5Lanes
	copy    BlockWriter
	release func(err error) // releases src; err is nil on success
	onBytes func(n int64)   // counts bytes read from src (may be nil)

	sent int64 // bytes handed to the client
	tail []byte
	tpos int
	err  error
	done bool
}

// newBlockStream returns a stream of the block hash (32 hex) of size bytes.
// On error the stream is still returned, so the caller can finish it (which
// calls release).
func newBlockStream(src io.Reader, hashHex string, size int64, release func(error)) (*blockStream, error) {
	s := &blockStream{src: src, size: size, digests: blockMD5, release: release}
	if len(hashHex) != 2*md5.Size {
		return s, fmt.Errorf("block hash %q is not 32 hex digits", hashHex)
	}
	if _, err := hex.Decode(s.want[:], []byte(hashHex)); err != nil {
		return s, fmt.Errorf("block hash %q: %w", hashHex, err)
	}
	return s, nil
}

func (s *blockStream) hold() int64 { return min(s.size, streamBufSize) }

// absorb accounts for data read from the source.
func (s *blockStream) absorb(p []byte) error {
	if s.md5 == nil {
		s.md5 = s.digests.New()
	}
	s.md5.Write(p)
	if s.onBytes != nil {
		s.onBytes(int64(len(p)))
	}
	if s.copy != nil {
		if _, err := s.copy.Write(p); err != nil {
			return &LocalCopyError{err}
		}
	}
	return nil
}

// LocalCopyError is a stream's failure to write or commit its local copy
// (as opposed to a failure of its source).
type LocalCopyError struct{ Err error }

func (e *LocalCopyError) Error() string { return "local copy: " + e.Err.Error() }

// Unwrap returns the storage's error.
func (e *LocalCopyError) Unwrap() error { return e.Err }

// finishTail reads the held-back tail into buf, checks that the source has
// ended, verifies the md5 and commits the local copy.
func (s *blockStream) finishTail(buf []byte) error {
	m, err := io.ReadFull(s.src, buf)
	if aerr := s.absorb(buf[:m]); aerr != nil {
		return aerr
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return ErrShortBody
		}
		return fmt.Errorf("reading block: %w", err)
	}
	var one [1]byte
	if n, _ := s.src.Read(one[:]); n > 0 {
		return ErrLongBody
	}
	var sum [md5.Size]byte
	if !bytes.Equal(s.md5.Sum(sum[:0]), s.want[:]) {
		return ErrChecksum
	}
	if s.copy != nil {
		if err := s.copy.Commit(); err != nil {
			s.copy = nil // Commit has cleaned up
			return &LocalCopyError{err}
		}
		s.copy = nil
	}
	return nil
}

// readBody fills p from the part before the tail (fewer bytes only at an
// error), so that writes to the client go out in large chunks.
func (s *blockStream) readBody(p []byte) (int, error) {
	m, err := io.ReadFull(s.src, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	if aerr := s.absorb(p[:m]); aerr != nil {
		return m, aerr
	}
	if err == io.EOF {
		return m, ErrShortBody
	}
	if err != nil {
		return m, fmt.Errorf("reading block: %w", err)
	}
	return m, nil
}

// WriteTo writes the verified block to w.
func (s *blockStream) WriteTo(w io.Writer) (int64, error) {
	if s.done {
		return 0, s.err
	}
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	buf := *bp
	var written int64
	bodyEnd := s.size - s.hold()
	for s.sent < bodyEnd {
		n := int(min(int64(len(buf)), bodyEnd-s.sent))
		m, err := s.readBody(buf[:n])
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return written, s.finish(fmt.Errorf("writing to client: %w", werr))
			}
			s.sent += int64(m)
			written += int64(m)
		}
		if err != nil {
			return written, s.finish(err)
		}
	}
	tail := buf[:s.hold()]
	if err := s.finishTail(tail); err != nil {
		return written, s.finish(err)
	}
	if _, err := w.Write(tail); err != nil {
		return written, s.finish(fmt.Errorf("writing to client: %w", err))
	}
	s.sent += int64(len(tail))
	written += int64(len(tail))
	return written, s.finish(nil)
}

// Read implements io.Reader with the same guarantees as WriteTo.
func (s *blockStream) Read(p []byte) (int, error) {
	if s.done {
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	bodyEnd := s.size - s.hold()
	if s.sent < bodyEnd {
		n := int(min(int64(len(p)), bodyEnd-s.sent))
		m, err := s.readBody(p[:n])
		s.sent += int64(m)
		if err != nil {
			return m, s.finish(err)
		}
		return m, nil
	}
	if s.tail == nil {
		s.tail = make([]byte, s.hold())
		if err := s.finishTail(s.tail); err != nil {
			return 0, s.finish(err)
		}
	}
	n := copy(p, s.tail[s.tpos:])
	s.tpos += n
	s.sent += int64(n)
	if s.tpos == len(s.tail) {
		s.finish(nil)
	}
	return n, nil
}

// finish ends the stream once, releasing the source and discarding an
// unverified local copy. It returns err.
func (s *blockStream) finish(err error) error {
	if s.done {
		return err
	}
	s.done, s.err = true, err
	if s.md5 != nil {
		s.md5.Close()
	}
	if s.copy != nil {
		s.copy.Abort()
		s.copy = nil
	}
	if s.release != nil {
		s.release(err)
	}
	return err
}

// errClientGone is what a stream closed before its end reports.
var errClientGone = errors.New("client went away before the block was sent")

// Close releases the stream; before the end it counts as a failure.
func (s *blockStream) Close() error {
	if !s.done {
		s.finish(errClientGone)
	}
	return nil
}
