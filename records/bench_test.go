package records

import (
	"fmt"
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

// BenchmarkAppendManifestJSON splices a collection record whose manifest
// has 20,000 signed 64 MiB blocks (about 1.9 MB of JSON).
func BenchmarkAppendManifestJSON(b *testing.B) {
	var m []byte
	m = append(m, '.')
	for i := range 20000 {
		m = append(m, ' ')
		m = append(m, []byte(fmt.Sprintf("%032x+67108864+A0123456789abcdef0123456789abcdef01234567@65f00000", i))...)
	}
	m = append(m, " 0:1342177280000:big\\040file\n"...)
	body := mustJSON(map[string]any{"uuid": collB, "manifest_text": string(m), "portable_data_hash": pdh1})
	rw := manifest.ToRemote(idB)
	dst := make([]byte, 0, 2*len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _, _ = AppendManifestJSON(dst[:0], body, rw)
	}
}
