package records

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fasthttp"
)

func decompress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	switch enc {
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case "zstd":
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return b
}

func TestCompress(t *testing.T) {
	big := `{"items":[` + strings.Repeat(`{"uuid":"zbbbb-4zz18-000000000000001"},`, 100) + `{}]}`
	small := `{"a":1}`
	cases := []struct {
		name, ae, ct, body string
		preEncoded         bool
		head               bool
		wantEnc            string
		wantVary           bool
	}{
		{name: "zstd preferred", ae: "gzip, deflate, br, zstd", ct: "application/json", body: big, wantEnc: "zstd", wantVary: true},
		{name: "gzip", ae: "gzip, deflate", ct: "application/json; charset=utf-8", body: big, wantEnc: "gzip", wantVary: true},
		{name: "zstd refused", ae: "zstd;q=0, gzip;q=0.5", ct: "application/json", body: big, wantEnc: "gzip", wantVary: true},
		{name: "star", ae: "*", ct: "application/json", body: big, wantEnc: "zstd", wantVary: true},
		{name: "star but not zstd", ae: "zstd;q=0, *", ct: "application/json", body: big, wantEnc: "gzip", wantVary: true},
		{name: "identity only", ae: "identity", ct: "application/json", body: big, wantVary: true},
		{name: "no header", ct: "application/json", body: big, wantVary: true},
		{name: "small", ae: "gzip", ct: "application/json", body: small},
		{name: "not json", ae: "gzip", ct: "text/plain", body: big},
		{name: "already encoded", ae: "gzip", ct: "application/json", body: big, preEncoded: true},
		{name: "head", ae: "gzip", ct: "application/json", body: big, head: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := Compress(func(ctx *fasthttp.RequestCtx) {
				ctx.SetContentType(tc.ct)
				if tc.preEncoded {
					ctx.Response.Header.Set("Content-Encoding", "br")
				}
				ctx.SetBodyString(tc.body)
			})
			method := "GET"
			if tc.head {
				method = "HEAD"
			}
			var hdr []string
			if tc.ae != "" {
				hdr = []string{"Accept-Encoding", tc.ae}
			}
			resp := call(h, method, "/arvados/v1/x", nil, hdr...)
			enc := string(resp.Header.ContentEncoding())
			if tc.preEncoded {
				if enc != "br" || string(resp.Body()) != tc.body {
					t.Errorf("pre-encoded body touched: %q", enc)
				}
				return
			}
			if enc != tc.wantEnc {
				t.Fatalf("Content-Encoding %q want %q", enc, tc.wantEnc)
			}
			if vary := string(resp.Header.Peek("Vary")); (vary == "Accept-Encoding") != tc.wantVary {
				t.Errorf("Vary %q", vary)
			}
			if tc.head {
				return
			}
			if got := decompress(t, enc, resp.Body()); string(got) != tc.body {
				t.Errorf("round trip: %.100q", got)
			}
			if enc != "" && len(resp.Body()) >= len(tc.body) {
				t.Errorf("not smaller: %d >= %d", len(resp.Body()), len(tc.body))
			}
		})
	}
}

// TestCompressProxied: a proxied JSON answer is compressed once, by the
// outer Compress middleware.
func TestCompressProxied(t *testing.T) {
	b := newFakeCluster(t, idB)
	body := `{"uuid":"` + wfB + `","definition":"` + strings.Repeat("y", 4000) + `"}`
	b.setOverride(answer(200, body))
	e := newEnv(t, Config{}, b)
	h := Compress(e.h)
	for _, enc := range []string{"gzip", "zstd"} {
		resp := call(h, "GET", "/arvados/v1/workflows/"+wfB, nil, "Accept-Encoding", enc)
		if got := string(resp.Header.ContentEncoding()); got != enc {
			t.Fatalf("Content-Encoding %q", got)
		}
		if string(decompress(t, enc, resp.Body())) != body {
			t.Errorf("%s round trip failed", enc)
		}
	}
}
