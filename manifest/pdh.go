package manifest

import (
	"bytes"
	"crypto/md5"
	"hash"
	"strconv"
	"sync"
)

// EmptyPDH is the portable data hash of the empty manifest.
const EmptyPDH = "d41d8cd98f00b204e9800998ecf8427e+0"

// PortableDataHash returns the portable data hash of m exactly as Arvados's
// Go SDK computes it (spec 4.4), for valid and invalid manifests alike: the
// MD5 of m with every block token cut back to hash+size, then '+' and the
// length of that text.
func PortableDataHash(m []byte) string {
	var buf [32 + 1 + 20]byte
	return string(AppendPortableDataHash(buf[:0], m))
}

// AppendPortableDataHash appends the portable data hash of m to dst (see
// PortableDataHash). Large manifests are cut back on all cores while one
// core runs the MD5 over the pieces in order.
func AppendPortableDataHash(dst, m []byte) []byte {
	return defaultParallel.appendPDH(dst, m)
}

// appendPDHSerial is AppendPortableDataHash on the calling goroutine.
func appendPDHSerial(dst, m []byte) []byte {
	w := getPDHWriter()
	w.writeStripped(m)
	dst = w.appendSum(dst)
	putPDHWriter(w)
	return dst
}

// appendPDHText appends m with the hints after the size of every block
// token removed, by Go's rule: a token (text between spaces) that is
// followed by a space, has at least 34 bytes, '+' at byte 32, no ':' in the
// first 32 bytes and does not start with '.' is cut at its second '+'.
func appendPDHText(dst, m []byte) []byte {
	last, i := 0, 0
	for {
		sp := bytes.IndexByte(m[i:], ' ')
		if sp < 0 {
			return append(dst, m[last:]...)
		}
		end := i + sp
		if cut := pdhCut(m[i:end]); cut >= 0 {
			dst = append(dst, m[last:i+cut]...)
			last = end
		}
		i = end + 1
	}
}

// pdhCut returns where Go's PDH rule cuts tok, or -1 to keep it whole.
func pdhCut(tok []byte) int {
	if len(tok) < 34 || tok[32] != '+' || tok[0] == '.' || bytes.IndexByte(tok[:32], ':') >= 0 {
		return -1
	}
	if j := bytes.IndexByte(tok[33:], '+'); j >= 0 {
		return 33 + j
	}
	return -1
}

// pdhWriter feeds cut-back manifest text to MD5 through a scratch buffer,
// so that the many short pieces between hints cost one copy each instead
// of one hash call each.
type pdhWriter struct {
	h   hash.Hash
	buf []byte
	n   int64
	sum [md5.Size]byte
}

const pdhScratch = 32 << 10

var pdhWriters = sync.Pool{New: func() any {
	return &pdhWriter{h: md5.New(), buf: make([]byte, 0, pdhScratch)}
}}

func getPDHWriter() *pdhWriter {
	w := pdhWriters.Get().(*pdhWriter)
	w.h.Reset()
	w.buf = w.buf[:0]
	w.n = 0
	return w
}

func putPDHWriter(w *pdhWriter) { pdhWriters.Put(w) }

// write hashes p, batching short pieces.
func (w *pdhWriter) write(p []byte) {
	w.n += int64(len(p))
	if len(w.buf)+len(p) <= cap(w.buf) {
		w.buf = append(w.buf, p...)
		return
	}
	w.flush()
	if len(p) >= cap(w.buf)/2 {
		w.h.Write(p)
		return
	}
	w.buf = append(w.buf, p...)
}

func (w *pdhWriter) flush() {
	if len(w.buf) > 0 {
		w.h.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

// writeStripped hashes m cut back by Go's PDH rule (see appendPDHText).
func (w *pdhWriter) writeStripped(m []byte) {
	last, i := 0, 0
	for {
		sp := bytes.IndexByte(m[i:], ' ')
		if sp < 0 {
			w.write(m[last:])
			return
		}
		end := i + sp
		if cut := pdhCut(m[i:end]); cut >= 0 {
			w.write(m[last : i+cut])
			last = end
		}
		i = end + 1
	}
}

// appendSum appends "md5hex+length" to dst.
func (w *pdhWriter) appendSum(dst []byte) []byte {
	w.flush()
	sum := w.h.Sum(w.sum[:0])
	for _, b := range sum {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	dst = append(dst, '+')
	return strconv.AppendInt(dst, w.n, 10)
}

const hexDigits = "0123456789abcdef"
