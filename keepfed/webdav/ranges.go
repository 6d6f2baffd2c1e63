package webdav

import (
	"strconv"
	"strings"

	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

var errRange = request.NewError(fasthttp.StatusRequestedRangeNotSatisfiable, "requested range not satisfiable")

// parseRange reads a Range header for a body of size bytes: the byte range
// [start, end) to send and whether it is partial. One range
// ("bytes=a-b", "bytes=a-", "bytes=-n") is honoured; a header that is not a
// single byte range is ignored (the whole body, as RFC 9110 allows); a
// single range that starts at or past the end is errRange (416).
func parseRange(h string, size int64) (start, end int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	if a == "" {
		n, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || n < 0 || b[0] == '+' {
			return 0, size, false, nil
		}
		if n == 0 {
			return 0, 0, false, errRange
		}
		return max(0, size-n), size, true, nil
	}
	s, perr := strconv.ParseInt(a, 10, 64)
	if perr != nil || s < 0 || a[0] == '+' {
		return 0, size, false, nil
	}
	e := size - 1
	if b != "" {
		v, perr := strconv.ParseInt(b, 10, 64)
		if perr != nil || v < s || b[0] == '+' {
			return 0, size, false, nil
		}
		e = min(v, size-1)
	}
	if s >= size {
		return 0, 0, false, errRange
	}
	return s, e + 1, true, nil
}
