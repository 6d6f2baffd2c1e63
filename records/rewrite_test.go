package records

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

const (
	sigB   = "+A0123456789abcdef0123456789abcdef01234567@65f00000"
	locB   = "acbd18db4cc2f85cedef654fccc4a4d8+3" + sigB
	remB   = "acbd18db4cc2f85cedef654fccc4a4d8+3+Rzbbbb-0123456789abcdef0123456789abcdef01234567@65f00000"
	unsign = "acbd18db4cc2f85cedef654fccc4a4d8+3"
)

// TestAppendManifestJSON: only manifest_text values change, at any depth,
// whatever their JSON escapes; everything else is copied byte for byte.
func TestAppendManifestJSON(t *testing.T) {
	rw := manifest.ToRemote(idB)
	cases := []struct {
		name, in, want string
		n              int
	}{
		{"record", `{"uuid":"x","manifest_text":". ` + locB + ` 0:3:foo\n","portable_data_hash":"p"}`,
			`{"uuid":"x","manifest_text":". ` + remB + ` 0:3:foo\n","portable_data_hash":"p"}`, 1},
		{"unsigned untouched", `{"unsigned_manifest_text":". ` + locB + ` 0:3:foo\n","manifest_text":null}`,
			`{"unsigned_manifest_text":". ` + locB + ` 0:3:foo\n","manifest_text":null}`, 0},
		{"space escape", `{"manifest_text":".\u0020` + locB + `\u00200:3:foo\n"}`,
			`{"manifest_text":". ` + remB + ` 0:3:foo\n"}`, 1},
		{"backslash in name", `{"manifest_text":". ` + locB + ` 0:3:a\\040b\n"}`,
			`{"manifest_text":". ` + remB + ` 0:3:a\\040b\n"}`, 1},
		{"slash and unicode", `{"manifest_text":".\/d ` + locB + ` 0:3:\u00e9\ud83d\ude00\n"}`,
			`{"manifest_text":"./d ` + remB + ` 0:3:é😀\n"}`, 1},
		{"escaped key", `{"manifest\u005ftext":". ` + locB + ` 0:3:foo\n"}`,
			`{"manifest\u005ftext":". ` + remB + ` 0:3:foo\n"}`, 1},
		{"list items, whitespace", "{\"items\": [ {\"manifest_text\" : \". " + locB + " 0:3:x\\n\"}, {\"manifest_text\":\". " + locB + " 0:3:y\\n\"} ],\"kind\":\"l\"}",
			"{\"items\": [ {\"manifest_text\" : \". " + remB + " 0:3:x\\n\"}, {\"manifest_text\":\". " + remB + " 0:3:y\\n\"} ],\"kind\":\"l\"}", 2},
		{"value equal to key name", `{"name":"manifest_text","x":["manifest_text","` + locB + `"]}`,
			`{"name":"manifest_text","x":["manifest_text","` + locB + `"]}`, 0},
		{"nested request", `{"collection":{"manifest_text":". ` + locB + ` 0:3:foo\n","name":"n"}}`,
			`{"collection":{"manifest_text":". ` + remB + ` 0:3:foo\n","name":"n"}}`, 1},
		{"quote and control chars", `{"manifest_text":"\"\t\u0001"}`, `{"manifest_text":"\"\t\u0001"}`, 1},
		{"empty", `{"manifest_text":""}`, `{"manifest_text":""}`, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, n, err := AppendManifestJSON([]byte("prefix"), []byte(tc.in), rw)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimPrefix(string(out), "prefix"); got != tc.want || n != tc.n {
				t.Errorf("got %s (%d)\nwant %s (%d)", got, n, tc.want, tc.n)
			}
			if !json.Valid(out[len("prefix"):]) {
				t.Errorf("output is not JSON: %s", out)
			}
		})
	}
	for _, bad := range []string{`{"manifest_text":"abc`, `{"a":[}`, `{"a":1`, `]`} {
		if _, _, err := AppendManifestJSON(nil, []byte(bad), rw); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestAppendManifestJSONAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector; make test runs this without it")
	}
	body := []byte(`{"uuid":"x","manifest_text":". ` + locB + ` 0:3:foo\n"}`)
	rw := manifest.ToRemote(idB)
	dst := make([]byte, 0, 4096)
	_, _, _ = AppendManifestJSON(dst, body, rw) // warm the pool
	if n := testing.AllocsPerRun(100, func() { _, _, _ = AppendManifestJSON(dst[:0], body, rw) }); n > 1 {
		t.Errorf("%v allocations per splice", n)
	}
}

// TestCollectionRewrite: collections from cluster B come back with +R
// hints (and, with SignRemoteLocators, a local +A for the reader's own
// token); collections sent to B get their +Rzbbbb- hints turned back into
// +A, in a JSON body or a form's collection parameter.
func TestCollectionRewrite(t *testing.T) {
	b := newFakeCluster(t, idB)
	b.addCollection(collB, ". "+unsign+" 0:3:a\\040b\n")
	keys := signing.NewKeyRing(2*time.Hour, []byte("local-key-0123456789012345678901234567890123456789"))

	e := newEnv(t, Config{}, b)
	resp := call(e.h, "GET", "/arvados/v1/collections/"+collB, nil, "Authorization", "Bearer "+tokA)
	rec := decodeJSON(t, resp.Body())
	mt := rec["manifest_text"].(string)
	if !strings.HasPrefix(mt, ". "+unsign+"+Rzbbbb-") || strings.Contains(mt, "+A") || !strings.HasSuffix(mt, " 0:3:a\\040b\n") {
		t.Errorf("manifest_text %q", mt)
	}
	if rec["unsigned_manifest_text"] != ". "+unsign+" 0:3:a\\040b\n" {
		t.Errorf("unsigned_manifest_text changed: %q", rec["unsigned_manifest_text"])
	}
	// The +R hint carries B's signature for the token B saw.
	loc := strings.Fields(mt)[1]
	fromRemote := string(manifest.FromRemote(idB).Rewrite([]byte(". " + loc + " 0:3:x\n")))
	if err := b.keys.Verify(strings.Fields(fromRemote)[1], mustSalt(t, tokA, idB), time.Now().Unix()); err != nil {
		t.Errorf("B's signature lost: %v (%s)", err, fromRemote)
	}

	e = newEnv(t, Config{SignRemoteLocators: true, KeyRing: keys}, b)
	resp = call(e.h, "GET", "/arvados/v1/collections/"+collB, nil, "Authorization", "Bearer "+tokA)
	mt = decodeJSON(t, resp.Body())["manifest_text"].(string)
	loc = strings.Fields(mt)[1]
	if !strings.Contains(loc, "+Rzbbbb-") || !strings.Contains(loc, "+A") {
		t.Fatalf("locator %q", loc)
	}
	if err := keys.Verify(loc, tokA, time.Now().Unix()); err != nil {
		t.Errorf("local signature for the reader's token: %v (%s)", err, loc)
	}
	if keys.Verify(loc, mustSalt(t, tokA, idB), time.Now().Unix()) == nil {
		t.Error("local signature made for the salted token")
	}

	// Outbound: +Rzbbbb- back to +A, other hints kept.
	remote := ". " + remB + " 0:3:foo\n"
	want := ". " + locB + " 0:3:foo\n"
	jb, _ := json.Marshal(map[string]any{"collection": map[string]any{"manifest_text": remote, "name": "x"}})
	for _, tc := range []struct {
		method, uri, ct string
		body            []byte
	}{
		{"POST", "/arvados/v1/collections?cluster_id=zbbbb", "application/json", jb},
		{"PUT", "/arvados/v1/collections/" + collB, "application/json", jb},
		{"PATCH", "/arvados/v1/collections/" + collB, "application/x-www-form-urlencoded",
			formBody("collection", `{"manifest_text":`+string(mustJSON(remote))+`}`)},
	} {
		resp := call(e.h, tc.method, tc.uri, tc.body, "Authorization", "Bearer "+tokA, "Content-Type", tc.ct)
		if resp.StatusCode() != 200 {
			t.Fatalf("%s: %d %s", tc.method, resp.StatusCode(), resp.Body())
		}
		r := b.last(t)
		var sent string
		if strings.HasPrefix(tc.ct, "application/json") {
			var v struct {
				Collection struct {
					ManifestText string `json:"manifest_text"`
				} `json:"collection"`
			}
			_ = json.Unmarshal(r.Body, &v)
			sent = v.Collection.ManifestText
		} else {
			var args fasthttp.Args
			args.ParseBytes(r.Body)
			var v struct {
				ManifestText string `json:"manifest_text"`
			}
			_ = json.Unmarshal(args.Peek("collection"), &v)
			sent = v.ManifestText
		}
		if sent != want {
			t.Errorf("%s sent manifest %q want %q", tc.method, sent, want)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestRewriteCompressedRemote: a remote that compresses anyway is decoded
// before the rewrite.
func TestRewriteCompressedRemote(t *testing.T) {
	b := newFakeCluster(t, idB)
	body := `{"uuid":"` + collB + `","manifest_text":". ` + locB + ` 0:3:foo\n","pad":"` + strings.Repeat("x", 2000) + `"}`
	b.setOverride(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		ctx.SetBody(fasthttp.AppendGzipBytes(nil, []byte(body)))
	})
	e := newEnv(t, Config{}, b)
	resp := call(e.h, "GET", "/arvados/v1/collections/"+collB, nil, "Accept-Encoding", "gzip")
	if len(resp.Header.ContentEncoding()) != 0 || !strings.Contains(string(resp.Body()), remB) {
		t.Errorf("encoding %q body %.200s", resp.Header.ContentEncoding(), resp.Body())
	}
	if ae := b.last(t).Headers["Accept-Encoding"]; ae != "gzip" {
		t.Errorf("Accept-Encoding sent %q, want only gzip (decoded within the limit)", ae)
	}
}

// FuzzAppendManifestJSON: the splicer never panics; on valid JSON its
// output is valid JSON that decodes to the input with every manifest_text
// string rewritten (the decode-everything reference).
func FuzzAppendManifestJSON(f *testing.F) {
	for _, s := range []string{
		`{"manifest_text":". ` + locB + ` 0:3:foo\n"}`,
		`{"items":[{"manifest_text":".\u0020` + locB + `\u00200:3:a\\040b\n"},{"manifest_text":null}]}`,
		`{"manifest\u005ftext":"\ud83d\ude00\"","unsigned_manifest_text":"x"}`,
		`["manifest_text",{"a":{"manifest_text":""}}]`,
		`{"manifest_text":"\ud800"}`,
		`{"manifest_text":"abc`,
	} {
		f.Add([]byte(s))
	}
	rw := manifest.ToRemote(idB)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := AppendManifestJSON(nil, in, rw)
		if err != nil || !json.Valid(in) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, in)
		}
		var a, b any
		_ = json.Unmarshal(in, &a)
		_ = json.Unmarshal(out, &b)
		want := rewriteDecoded(a, rw)
		if !jsonEqual(want, b) {
			t.Fatalf("in %q\nout %q", in, out)
		}
	})
}

// rewriteDecoded is the reference: decode everything, rewrite every
// manifest_text string, in a map walk.
func rewriteDecoded(v any, rw manifest.Rewriter) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "manifest_text" {
				x[k] = string(rw.Rewrite([]byte(s)))
			} else {
				x[k] = rewriteDecoded(e, rw)
			}
		}
	case []any:
		for i := range x {
			x[i] = rewriteDecoded(x[i], rw)
		}
	}
	return v
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
