package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/keepfed/keepfed/internal/jsonesc"
	"github.com/keepfed/keepfed/manifest"
	"github.com/valyala/fasthttp"
)

// Above streamRewriteMin bytes a remote's answer whose manifests are
// rewritten is streamed to the client, rewritten streamRewritePiece bytes
// of manifest at a time, rather than built whole: a 22 MB manifest was
// held four times over (the remote's body, the unescaped manifest, its
// rewrite and the rewritten body) and then copied into the response.
const (
	streamRewriteMin   = 1 << 20
	streamRewritePiece = 256 << 10
)

// manifestSpan is where one record-level manifest_text string value
// (quotes included) sits in a body, and whether it has escapes.
type manifestSpan struct {
	start, end int
	escaped    bool
}

// streamRewrittenResponse answers ctx with resp (status and headers as
// copyResponse copies them) and a body streamed with every record-level
// manifest rewritten by rw: what rewriteResponse and copyResponse give,
// without building it, holding the request's slot (hold, if not nil) until
// the stream ends. It takes resp's body (resp keeps none). handled is
// false, and nothing is done, for an answer rewriteResponse would leave
// alone or that is small enough to build; a malformed answer is a 502.
func streamRewrittenResponse(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, rw manifest.Rewriter, cluster string, hold func(*fasthttp.RequestCtx) func()) (handled bool, err error) {
	if resp.StatusCode() < 200 || resp.StatusCode() >= 300 || !isJSON(resp.Header.ContentType()) ||
		len(resp.Header.ContentEncoding()) > 0 || len(resp.Body()) <= streamRewriteMin {
		return false, nil
	}
	body := resp.Body()
	if !bytes.Contains(body, []byte("manifest_text")) {
		return false, nil
	}
	if !json.Valid(body) {
		return false, wrapError(fasthttp.StatusBadGateway, "malformed response from cluster "+cluster, ErrMalformedJSON)
	}
	var spans []manifestSpan
	if err := scanRecordManifests(body, "items", "", func(start, end int, escaped bool) {
		spans = append(spans, manifestSpan{start, end, escaped})
	}); err != nil {
		return false, wrapError(fasthttp.StatusBadGateway, "malformed response from cluster "+cluster, err)
	}
	copyResponseHeader(&ctx.Response, resp)
	body = resp.SwapBody(nil) // ours now: resp goes back to its pool
	done := func() {}
	if hold != nil {
		done = hold(ctx)
	}
	ctx.Response.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer done()
		writeRewritten(w, body, spans, rw, streamRewritePiece) //nolint:errcheck // a failed write ends the stream anyway
	})
	return true, nil
}

// writeRewritten writes body to w with the manifest string at each span
// rewritten by rw, about piece bytes of its escaped text at a time
// (manifest.PieceLen), which gives the output of AppendRecordManifests.
func writeRewritten(w io.Writer, body []byte, spans []manifestSpan, rw manifest.Rewriter, piece int) error {
	var raw, out, esc []byte
	last := 0
	for _, s := range spans {
		if _, err := w.Write(body[last : s.start+1]); err != nil {
			return err
		}
		v := body[s.start+1 : s.end-1]
		for len(v) > 0 {
			cut := manifest.PieceLen(v, piece)
			p := v[:cut]
			if s.escaped {
				raw, _ = unescapeJSON(raw[:0], p) // json.Valid checked the escapes
				p = raw
			}
			out = rw.AppendSerial(out[:0], p)
			esc = jsonesc.Append(esc[:0], out)
			if _, err := w.Write(esc); err != nil {
				return err
			}
			v = v[cut:]
		}
		last = s.end - 1
	}
	_, err := w.Write(body[last:])
	return err
}
