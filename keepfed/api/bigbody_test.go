package api

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unsafe"

	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// bigManifestText is a valid manifest of more than bigParam bytes, with
// a tab and a quote in a file name (JSON escapes in the body).
func bigManifestText() string {
	var b strings.Builder
	for i := 0; b.Len() <= 2*bigParam; i++ {
		b.WriteString(". d41d8cd98f00b204e9800998ecf8427e+0 0:0:a\\011\"b\n")
	}
	return b.String()
}

// TestReadParamsLargeBodies: a large body's manifest is cut out (in the
// body itself when it is the request's own buffer, else from a copy) in
// every shape clients send it, and the attributes come out as decoding
// the whole body would give them.
func TestReadParamsLargeBodies(t *testing.T) {
	mt := bigManifestText()
	attrs, err := json.Marshal(map[string]any{"manifest_text": mt, "name": "n"})
	require.NoError(t, err)
	wrapped, err := json.Marshal(map[string]any{"collection": json.RawMessage(attrs), "ensure_unique_name": true})
	require.NoError(t, err)
	form := url.Values{"collection": {string(attrs)}, "ensure_unique_name": {"true"}}.Encode()
	const jsonCT, formCT = "application/json", "application/x-www-form-urlencoded"
	cases := []struct {
		name, ct, body string
		wantName       string
		wantParam      string // params["ensure_unique_name"]
	}{
		{"top-level JSON", jsonCT, string(attrs), "n", ""},
		{"wrapped JSON", jsonCT, string(wrapped), "n", "true"},
		{"form field", formCT, form, "n", "true"},
		{"form field, a later one counts", formCT, form + "&collection=" + url.QueryEscape(`{"name":"later"}`), "later", "true"},
	}
	for _, c := range cases {
		for _, own := range []bool{true, false} {
			name := c.name + map[bool]string{true: "/own body", false: "/pooled body"}[own]
			t.Run(name, func(t *testing.T) {
				var ctx fasthttp.RequestCtx
				ctx.Request.Header.SetMethod("POST")
				ctx.Request.Header.SetContentType(c.ct)
				body := []byte(c.body)
				if own {
					request.SetOwnBody(&ctx, body)
				} else {
					ctx.Request.SetBody(body)
				}
				p, top, cut, err := readParams(&ctx, "collection")
				require.NoError(t, err)
				assert.Equal(t, c.wantParam, p["ensure_unique_name"])
				r := &apiRequest{kind: store.Collections, params: p, body: top, cut: cut}
				rec, err := r.attrs()
				require.NoError(t, err)
				assert.Equal(t, c.wantName, rec["name"])
				if c.wantName == "later" {
					assert.NotContains(t, rec, "manifest_text", "the earlier field's manifest is not kept")
					return
				}
				assert.Equal(t, mt, rec["manifest_text"])
				got := rec.StringAttr("manifest_text")
				assert.True(t, r.ownsManifest(got), "the manifest is a buffer of the request's own, to strip in place")
				start := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
				at := uintptr(unsafe.Pointer(unsafe.StringData(got)))
				assert.Equal(t, own, at >= start && at < start+uintptr(len(body)),
					"the manifest was decoded inside the body exactly when the body was the request's own")
			})
		}
	}
}

// TestReadParamsLargeFormRefusals: a large form field that is not a JSON
// object of attributes, or repeats manifest_text, is refused with 422.
func TestReadParamsLargeFormRefusals(t *testing.T) {
	pad := strings.Repeat("x", 2*bigParam)
	cases := []struct{ name, value, want string }{
		{"repeated manifest_text", `{"manifest_text":"` + pad + `","manifest_text":"b"}`, "manifest_text given twice"},
		{"broken JSON", `{"manifest_text":"` + pad, "want a JSON object"},
		{"not an object", `["` + pad + `"]`, "want a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
			request.SetOwnBody(&ctx, []byte("collection="+url.QueryEscape(c.value)))
			p, top, cut, err := readParams(&ctx, "collection")
			if err == nil {
				r := &apiRequest{kind: store.Collections, params: p, body: top, cut: cut}
				_, err = r.attrs()
			}
			var he *request.HTTPError
			require.ErrorAs(t, err, &he)
			assert.Equal(t, fasthttp.StatusUnprocessableEntity, he.Status)
			assert.ErrorContains(t, err, c.want)
		})
	}
}
