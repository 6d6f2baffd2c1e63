package blocks

import (
	"io"
	"strconv"
	"strings"
)

// rangeKind is what a Range header asks of a block read.
type rangeKind int

const (
	// rangeNone: no Range header, another unit than bytes, or several
	// ranges: the whole block is answered (200), as RFC 9110 allows.
	rangeNone rangeKind = iota
	// rangeOne: one satisfiable range: answered 206.
	rangeOne
	// rangeBad: a malformed or unsatisfiable byte range: answered 416
	// with "Content-Range: bytes */<size>".
	rangeBad
)

// byteRange is the half-open interval [start, end) of a block.
type byteRange struct{ start, end int64 }

// parseRange reads a Range header for a block of size bytes. It accepts
// "bytes=a-b", "bytes=a-" and "bytes=-n" (the unit is case-insensitive,
// spaces around the parts are allowed). b beyond the end is clamped; a at
// or beyond the end, a > b, and a suffix of 0 bytes are unsatisfiable.
func parseRange(h []byte, size int64) (byteRange, rangeKind) {
	s := strings.TrimSpace(string(h))
	if s == "" {
		return byteRange{}, rangeNone
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return byteRange{}, rangeBad
	}
	if !strings.EqualFold(strings.TrimSpace(s[:eq]), "bytes") {
		return byteRange{}, rangeNone
	}
	specs := strings.Split(s[eq+1:], ",")
	var first byteRange
	satisfiable := 0
	for i, spec := range specs {
		r, ok, sat := parseRangeSpec(strings.TrimSpace(spec), size)
		if !ok {
			return byteRange{}, rangeBad
		}
		if sat {
			satisfiable++
			if i == 0 || satisfiable == 1 {
				first = r
			}
		}
	}
	switch {
	case satisfiable == 0:
		return byteRange{}, rangeBad
	case len(specs) > 1:
		return byteRange{}, rangeNone
	}
	return first, rangeOne
}

// parseRangeSpec parses one byte-range-spec: ok is false for a malformed
// one, sat whether it is satisfiable for size.
func parseRangeSpec(spec string, size int64) (r byteRange, ok, sat bool) {
	dash := strings.IndexByte(spec, '-')
	if dash < 0 {
		return r, false, false
	}
	a, b := strings.TrimSpace(spec[:dash]), strings.TrimSpace(spec[dash+1:])
	if a == "" {
		n, ok := rangeNumber(b)
		if !ok {
			return r, false, false
		}
		if n == 0 || size == 0 {
			return r, true, false
		}
		return byteRange{max(size-n, 0), size}, true, true
	}
	start, ok := rangeNumber(a)
	if !ok {
		return r, false, false
	}
	end := size
	if b != "" {
		last, ok := rangeNumber(b)
		if !ok || last < start {
			return r, false, false
		}
		if last < size-1 {
			end = last + 1
		}
	}
	if start >= size {
		return r, true, false
	}
	return byteRange{start, end}, true, true
}

// rangeNumber parses ASCII digits; values beyond int64 saturate.
func rangeNumber(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 1<<63 - 1, true // only overflow is left
	}
	return v, true
}

// contentRange is the Content-Range value of r in a block of size bytes.
func contentRange(r byteRange, size int64) string {
	return "bytes " + strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.end-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// sectionBody streams a section of a file to the client in large chunks
// and calls release (once) when the response is done.
type sectionBody struct {
	r       *io.SectionReader
	release func(error)
	done    bool
}

func (s *sectionBody) Read(p []byte) (int, error) { return s.r.Read(p) }

// WriteTo copies the section through a pooled buffer.
func (s *sectionBody) WriteTo(w io.Writer) (int64, error) {
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	n, err := io.CopyBuffer(onlyWriter{w}, onlyReader{s.r}, *bp)
	s.finish(err)
	return n, err
}

func (s *sectionBody) finish(err error) {
	if !s.done {
		s.done = true
		s.release(err)
	}
}

// Close releases the file.
func (s *sectionBody) Close() error {
	s.finish(nil)
	return nil
}

// onlyWriter and onlyReader hide ReadFrom and WriteTo so that CopyBuffer
// uses the given buffer.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }
