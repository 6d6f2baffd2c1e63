package records

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
)

// BenchmarkForwardGet is one small-record GET through the middleware to a
// remote on 127.0.0.1 (sequential; see bench/records_test.go for the
// concurrent comparison with httputil.ReverseProxy).
func BenchmarkForwardGet(b *testing.B) {
	r := newFakeCluster(b, idB)
	r.setOverride(answer(200, `{"kind":"arvados#workflow","uuid":"`+wfB+`","name":"w"}`))
	e := newEnv(b, Config{}, r)
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("/arvados/v1/workflows/" + wfB)
	req.Header.Set("Authorization", "Bearer "+tokA)
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Init(req, nil, nil)
		e.h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}

// benchRecordBody is a collection record whose manifest has 20,000
// signed 64 MiB blocks (about 1.9 MB of JSON).
func benchRecordBody() []byte {
	var m []byte
	m = append(m, '.')
	for i := range 20000 {
		m = append(m, ' ')
		m = append(m, []byte(fmt.Sprintf("%032x+67108864+A0123456789abcdef0123456789abcdef01234567@65f00000", i))...)
	}
	m = append(m, " 0:1342177280000:big\\040file\n"...)
	return mustJSON(map[string]any{"uuid": collB, "manifest_text": string(m), "portable_data_hash": pdh1})
}

// BenchmarkAppendManifestJSON splices benchRecordBody.
func BenchmarkAppendManifestJSON(b *testing.B) {
	body := benchRecordBody()
	rw := manifest.ToRemote(idB)
	dst := make([]byte, 0, 2*len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _, _ = AppendManifestJSON(dst[:0], body, rw)
	}
}

// BenchmarkRewriteAnswer compares, for benchRecordBody, the proxy's two
// ways of rewriting a remote's answer: built whole (AppendRecordManifests,
// the baseline, below streamRewriteMin) and streamed in pieces
// (writeRewritten, above it), to a writer that drops the bytes. The
// streamed one holds 256 KiB of pieces instead of three bodies; it should
// cost about the same time.
func BenchmarkRewriteAnswer(b *testing.B) {
	body := benchRecordBody()
	rw := manifest.ToRemote(idB)
	b.Run("whole", func(b *testing.B) {
		dst := make([]byte, 0, 2*len(body))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			dst, _, _ = AppendRecordManifests(dst[:0], body, rw)
			io.Discard.Write(dst) //nolint:errcheck // discards
		}
	})
	b.Run("streamed", func(b *testing.B) {
		var spans []manifestSpan
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			spans = spans[:0]
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
			if err := scanRecordManifests(body, "items", "", func(s, e int, esc bool) { spans = append(spans, manifestSpan{s, e, esc}) }); err != nil {
				b.Fatal(err)
			}
			if err := writeRewritten(io.Discard, body, spans, rw, streamRewritePiece); err != nil {
				b.Fatal(err)
			}
		}
	})
}
