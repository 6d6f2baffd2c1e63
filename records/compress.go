package records

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fasthttp"
)

// DefaultCompressMinSize is the smallest JSON body Compress compresses.
const DefaultCompressMinSize = 1 << 10

// Compress is CompressMin(DefaultCompressMinSize).
func Compress(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return CompressMin(DefaultCompressMinSize)(next)
}

// CompressMin returns a middleware that compresses JSON responses of at
// least minSize bytes for clients that accept it: zstd when the client's
// Accept-Encoding allows it (preferred), else gzip. Responses that already
// have a Content-Encoding, are streamed, or answer HEAD are left alone.
// Compressible responses get "Vary: Accept-Encoding".
func CompressMin(minSize int) func(fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			next(ctx)
			compressResponse(ctx, minSize)
		}
	}
}

func compressResponse(ctx *fasthttp.RequestCtx, minSize int) {
	resp := &ctx.Response
	if ctx.IsHead() || resp.IsBodyStream() || len(resp.Header.ContentEncoding()) > 0 ||
		!isJSON(resp.Header.ContentType()) {
		return
	}
	switch st := resp.StatusCode(); {
	case st < 200, st == fasthttp.StatusNoContent, st == fasthttp.StatusNotModified:
		return
	}
	body := resp.Body()
	if len(body) < minSize {
		return
	}
	addVary(&resp.Header)
	enc := chooseEncoding(ctx.Request.Header.Peek("Accept-Encoding"))
	if enc == "" {
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	switch enc {
	case "zstd":
		*buf = zstdEncoder().EncodeAll(body, (*buf)[:0])
	case "gzip":
		w := gzipPool.Get().(*gzip.Writer)
		bw := sliceWriter{b: (*buf)[:0]}
		w.Reset(&bw)
		_, err := w.Write(body)
		if err == nil {
			err = w.Close()
		}
		gzipPool.Put(w)
		if err != nil {
			return
		}
		*buf = bw.b
	}
	resp.Header.Set("Content-Encoding", enc)
	resp.SetBody(*buf)
}

// addVary adds Accept-Encoding to the Vary header unless it is there.
func addVary(h *fasthttp.ResponseHeader) {
	v := h.Peek("Vary")
	if len(v) == 0 {
		h.Set("Vary", "Accept-Encoding")
		return
	}
	if !bytes.Contains(bytes.ToLower(v), []byte("accept-encoding")) {
		h.Set("Vary", string(v)+", Accept-Encoding")
	}
}

// chooseEncoding picks zstd or gzip from an Accept-Encoding value (q=0
// refuses; "*" accepts both), "" for neither.
func chooseEncoding(ae []byte) string {
	zstdOK, gzipOK, star := false, false, false
	zstdNamed, gzipNamed := false, false
	for len(ae) > 0 {
		var item []byte
		if i := bytes.IndexByte(ae, ','); i >= 0 {
			item, ae = ae[:i], ae[i+1:]
		} else {
			item, ae = ae, nil
		}
		name, q := item, 1.0
		if i := bytes.IndexByte(item, ';'); i >= 0 {
			name = item[:i]
			params := bytes.TrimSpace(item[i+1:])
			if bytes.HasPrefix(params, []byte("q=")) {
				if f, err := strconv.ParseFloat(string(bytes.TrimSpace(params[2:])), 64); err == nil {
					q = f
				}
			}
		}
		ok := q > 0
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "zstd":
			zstdOK, zstdNamed = ok, true
		case "gzip", "x-gzip":
			gzipOK, gzipNamed = ok, true
		case "*":
			star = ok
		}
	}
	switch {
	case zstdOK:
		return "zstd"
	case gzipOK:
		return "gzip"
	case star && !zstdNamed:
		return "zstd"
	case star && !gzipNamed:
		return "gzip"
	}
	return ""
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		panic("records: zstd encoder: " + err.Error())
	}
	return e
})

// sliceWriter is an io.Writer appending to a byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// decodeBody replaces a compressed response body from cluster by its
// decoded form, never holding more than limit decoded bytes: gzip (x-gzip),
// deflate (zlib, as fasthttp and browsers send it) and zstd are decoded;
// identity and no Content-Encoding leave the body as it is. A body that
// decodes past limit, does not decode, or has another or a stacked
// encoding is a 502 naming the cluster.
func decodeBody(resp *fasthttp.Response, limit int, cluster string) error {
	ce := strings.ToLower(strings.TrimSpace(string(resp.Header.ContentEncoding())))
	if ce == "" || ce == "identity" || len(resp.Body()) == 0 {
		return nil // nothing to decode (HEAD, 204, 304 carry no body)
	}
	var r io.Reader
	src := bytes.NewReader(resp.Body())
	switch ce {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return wrapError(fasthttp.StatusBadGateway, "malformed compressed response from cluster "+cluster, err)
		}
		defer zr.Close()
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(src)
		if err != nil {
			return wrapError(fasthttp.StatusBadGateway, "malformed compressed response from cluster "+cluster, err)
		}
		defer zr.Close()
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(limit)+1), zstd.WithDecoderMaxWindow(uint64(max(limit, 1<<20))))
		if err != nil {
			return wrapError(fasthttp.StatusBadGateway, "malformed compressed response from cluster "+cluster, err)
		}
		defer zr.Close()
		r = zr
	default:
		return errorf(fasthttp.StatusBadGateway, "response from cluster %s has an unsupported Content-Encoding", cluster)
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(limit, 4*len(resp.Body())+512)))
	n, err := io.Copy(buf, io.LimitReader(r, int64(limit)+1))
	if n > int64(limit) {
		return errorf(fasthttp.StatusBadGateway, "response from cluster %s is too large (more than %d bytes decoded)", cluster, limit)
	}
	if err != nil {
		return wrapError(fasthttp.StatusBadGateway, "malformed compressed response from cluster "+cluster, err)
	}
	resp.Header.Del("Content-Encoding")
	resp.SetBody(buf.Bytes())
	return nil
}
