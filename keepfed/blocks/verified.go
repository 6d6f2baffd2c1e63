package blocks

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"

	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

// OpenVerified opens the block hash (32 lowercase hex) of size bytes from
// b as a stream with the guarantees of the block read path: its md5 and
// size are checked while it is read, the last HoldBack bytes (the whole
// block when smaller) are held back until they match, and a mismatch ends
// the stream with ErrChecksum, ErrShortBody or ErrLongBody. locator and
// token are passed to b.Read. Close releases the source; it must be called
// once whether or not the stream was read to its end.
func OpenVerified(b Backend, locator, token, hash string, size int64) (io.ReadCloser, error) {
	src, n, release, err := b.Read(locator, token, hash, size)
	if err != nil {
		return nil, err
	}
	bs, err := newBlockStream(src, hash, n, release)
	if err != nil {
		bs.finish(err)
		return nil, request.WrapError(fasthttp.StatusBadRequest, reasonInvalidLocator, err)
	}
	return verifiedReader{bs}, nil
}

// verifiedReader gives a blockStream's Read and Close only: its WriteTo
// assumes a stream not yet read from, and io.Copy would use it after
// partial reads.
type verifiedReader struct{ s *blockStream }

func (r verifiedReader) Read(p []byte) (int, error) { return r.s.Read(p) }
func (r verifiedReader) Close() error               { return r.s.Close() }

// StoreBlock stores data (at most MaxBlockSize bytes) as one block in b
// and returns its md5 in hex. Storage failures are mapped as on PUT of a
// block (StorageError).
func StoreBlock(b Backend, data []byte, token string) (string, error) {
	if len(data) > MaxBlockSize {
		return "", request.Errorf(fasthttp.StatusRequestEntityTooLarge, "block is larger than %d bytes", MaxBlockSize)
	}
	sum := md5.Sum(data)
	hash := hex.EncodeToString(sum[:])
	w, err := b.NewWriter(hash, int64(len(data)), token)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		w.Abort()
		return "", StorageError(err)
	}
	if err := w.Commit(); err != nil {
		return "", StorageError(err)
	}
	return hash, nil
}
