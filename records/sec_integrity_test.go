package records

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fasthttp"

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

// Another user's private block on B: the attacker knows its hash only.
const (
	victimHash = "37b51d194a7513e45b56f6524f2d51f2+3"
	victimLoc  = victimHash + "+A1111111111111111111111111111111111111111@65f00000"
)

// TestSignOnlyRecordManifests: with SignRemoteLocators, a local +A is made
// only for the locators of the record's own top-level manifest_text (and
// each list item's); a manifest_text in properties or anywhere deeper is
// copied as it is, so no local signature for a block named there; a
// record repeating manifest_text is a 502.
func TestSignOnlyRecordManifests(t *testing.T) {
	b := newFakeCluster(t, idB)
	keys := signing.NewKeyRing(2*time.Hour, []byte("local-key-0123456789012345678901234567890123456789"))
	e := newEnv(t, Config{SignRemoteLocators: true, KeyRing: keys}, b)
	nested := `". ` + victimLoc + ` 0:3:x\n"`
	top := `". ` + locB + ` 0:3:foo\n"`
	cases := []struct {
		name, body string
		status     int
		signed     int // locators with a local +A in the answer
	}{
		{"record with nested decoy", `{"uuid":"` + collB + `","properties":{"manifest_text":` + nested + `,"x":[{"manifest_text":` + nested + `}]},"manifest_text":` + top + `}`, 200, 1},
		{"decoy only", `{"uuid":"` + collB + `","properties":{"manifest_text":` + nested + `},"manifest_text":null}`, 200, 0},
		{"list items", `{"kind":"arvados#collectionList","items":[{"manifest_text":` + top + `,"properties":{"manifest_text":` + nested + `}},{"manifest_text":` + top + `}],"extra":{"items":[{"manifest_text":` + nested + `}]}}`, 200, 2},
		{"items nested in an item", `{"items":[{"items":[{"manifest_text":` + nested + `}]}]}`, 200, 0},
		{"duplicate manifest_text", `{"manifest_text":` + top + `,"manifest_text":` + nested + `}`, 502, 0},
		{"duplicate escaped", `{"manifest_text":` + top + `,"manifest\u005ftext":` + nested + `}`, 502, 0},
		{"duplicate in an item", `{"items":[{"manifest_text":` + top + `,"manifest_text":` + nested + `}]}`, 502, 0},
		{"duplicate items", `{"items":[],"items":[{"manifest_text":` + nested + `}]}`, 502, 0},
		{"invalid JSON", `{"manifest_text":` + top + `,}`, 502, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.setOverride(answer(200, tc.body))
			resp := call(e.h, "GET", "/arvados/v1/collections/"+collB, nil, "Authorization", "Bearer "+tokA)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode(), tc.status, resp.Body())
			}
			body := string(resp.Body())
			if strings.Contains(body, victimHash+"+A") && !strings.Contains(body, victimLoc) {
				t.Errorf("victim block re-signed: %s", body)
			}
			signed := 0
			for _, f := range strings.FieldsFunc(body, func(r rune) bool { return r == ' ' || r == '"' }) {
				if strings.Contains(f, "+R") && keys.Verify(f, tokA, time.Now().Unix()) == nil {
					signed++
					if strings.HasPrefix(f, victimHash) {
						t.Errorf("local signature for the victim block: %s", f)
					}
				}
			}
			if signed != tc.signed {
				t.Errorf("%d locally signed locators, want %d: %s", signed, tc.signed, body)
			}
			if tc.status == 200 && strings.Contains(tc.body, "properties") && !strings.Contains(body, nested) {
				t.Errorf("nested manifest_text changed: %s", body)
			}
		})
	}
	b.setOverride(nil)
}

// TestPDHDecoys: the answer to a lookup by portable data hash is checked
// on a real parse of its top level: a matching manifest hidden in
// properties, a duplicate key, or a portable_data_hash that does not match
// make that remote's answer a failure (502), never a 200 with another
// manifest.
func TestPDHDecoys(t *testing.T) {
	b := newFakeCluster(t, idB)
	good := mustJSON(m1)
	bad := mustJSON(m2)
	cases := []struct {
		name, body, query string
	}{
		{"nested decoy first", `{"properties":{"manifest_text":` + string(good) + `},"manifest_text":` + string(bad) + `}`, ""},
		{"decoy in an array", `{"x":[{"manifest_text":` + string(good) + `}],"manifest_text":` + string(bad) + `}`, ""},
		{"duplicate key", `{"manifest_text":` + string(good) + `,"manifest_text":` + string(bad) + `}`, ""},
		{"duplicate other key", `{"uuid":"a","uuid":"b","manifest_text":` + string(good) + `}`, ""},
		{"escaped duplicate", `{"manifest_text":` + string(good) + `,"manifest\u005ftext":` + string(bad) + `}`, ""},
		{"no manifest", `{"properties":{"manifest_text":` + string(good) + `}}`, ""},
		{"manifest not a string", `{"manifest_text":["x"]}`, ""},
		{"trailing garbage", `{"manifest_text":` + string(good) + `} {}`, ""},
		{"not an object", `[{"manifest_text":` + string(good) + `}]`, ""},
		{"select without manifest, wrong pdh", `{"portable_data_hash":"` + "37b51d194a7513e45b56f6524f2d51f2+3" + `"}`,
			"?select=" + urlq(`["portable_data_hash"]`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.setOverride(answer(200, tc.body))
			e := newEnv(t, Config{}, b)
			e.local.status = 404
			resp := call(e.h, "GET", "/arvados/v1/collections/"+pdh1+tc.query, nil, "Authorization", "Bearer "+tokA)
			if resp.StatusCode() != 502 {
				t.Fatalf("status %d want 502: %s", resp.StatusCode(), resp.Body())
			}
		})
	}
	// The genuine answer still wins.
	b.setOverride(answer(200, `{"portable_data_hash":"`+pdh1+`","manifest_text":`+string(good)+`}`))
	e := newEnv(t, Config{}, b)
	e.local.status = 404
	if resp := call(e.h, "GET", "/arvados/v1/collections/"+pdh1, nil); resp.StatusCode() != 200 {
		t.Fatalf("genuine: status %d %s", resp.StatusCode(), resp.Body())
	}
}

// bomb returns limit*4 zero bytes compressed with enc.
func bomb(t *testing.T, enc string, n int) []byte {
	t.Helper()
	plain := append([]byte(`{"manifest_text":"`), bytes.Repeat([]byte("a"), n)...)
	plain = append(plain, `"}`...)
	switch enc {
	case "gzip":
		return fasthttp.AppendGzipBytes(nil, plain)
	case "deflate":
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		_, _ = w.Write(plain)
		_ = w.Close()
		return buf.Bytes()
	case "zstd":
		w, _ := zstd.NewWriter(nil)
		defer w.Close()
		return w.EncodeAll(plain, nil)
	}
	return plain
}

// TestDecompressionBombs: a compressed answer is decoded at most up to
// MaxBodySize; beyond it, or with an encoding the proxy cannot bound, the
// client gets a 502 naming the remote — for collections (rewritten),
// other records, lookups by PDH and federated lists alike.
func TestDecompressionBombs(t *testing.T) {
	b := newFakeCluster(t, idB)
	const limit = 1 << 20
	e := newEnv(t, Config{MaxBodySize: limit}, b)
	paths := []string{
		"/arvados/v1/collections/" + collB,
		"/arvados/v1/groups/zbbbb-j7d0g-000000000000001",
	}
	for _, enc := range []string{"gzip", "deflate", "zstd", "br", "gzip, gzip"} {
		for _, path := range paths {
			t.Run(enc+" "+path, func(t *testing.T) {
				kind := strings.Split(enc, ",")[0]
				if kind == "br" {
					kind = "gzip" // any bytes: br is never decoded
				}
				body := bomb(t, kind, 8*limit)
				if len(body) > limit/4 {
					t.Fatalf("bomb of %d bytes is no bomb", len(body))
				}
				b.setOverride(func(ctx *fasthttp.RequestCtx) {
					ctx.SetContentType("application/json")
					ctx.Response.Header.Set("Content-Encoding", enc)
					ctx.SetBody(body)
				})
				resp := call(e.h, "GET", path, nil, "Authorization", "Bearer "+tokA, "Accept-Encoding", "gzip, br, zstd")
				if resp.StatusCode() != 502 || len(resp.Body()) > 4096 {
					t.Fatalf("status %d, %d bytes", resp.StatusCode(), len(resp.Body()))
				}
				if msg := strings.Join(errorsOf(t, resp), " "); !strings.Contains(msg, idB) {
					t.Errorf("error %q does not name %s", msg, idB)
				}
			})
		}
	}
	// Within the limit, every bounded encoding is decoded.
	for _, enc := range []string{"gzip", "deflate", "zstd"} {
		t.Run("small "+enc, func(t *testing.T) {
			body := bomb(t, enc, 1000)
			b.setOverride(func(ctx *fasthttp.RequestCtx) {
				ctx.SetContentType("application/json")
				ctx.Response.Header.Set("Content-Encoding", enc)
				ctx.SetBody(body)
			})
			resp := call(e.h, "GET", paths[1], nil)
			if resp.StatusCode() != 200 || len(resp.Header.ContentEncoding()) != 0 || !bytes.Contains(resp.Body(), bytes.Repeat([]byte("a"), 1000)) {
				t.Fatalf("status %d encoding %q body %.100s", resp.StatusCode(), resp.Header.ContentEncoding(), resp.Body())
			}
		})
	}
	// PDH lookups and federated lists decode within the limit too.
	b.setOverride(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		ctx.SetBody(bomb(t, "gzip", 8*limit))
	})
	e.local.status = 404
	if resp := call(e.h, "GET", "/arvados/v1/collections/"+pdh1, nil); resp.StatusCode() != 502 {
		t.Errorf("pdh: status %d %s", resp.StatusCode(), resp.Body())
	}
	e.local.status = 0
	f := `[["uuid","in",["zbbbb-j7d0g-000000000000001","zaaaa-j7d0g-000000000000001"]]]`
	if resp := call(e.h, "GET", "/arvados/v1/groups?filters="+urlq(f), nil); resp.StatusCode() != 502 {
		t.Errorf("list: status %d %s", resp.StatusCode(), resp.Body())
	}
	b.setOverride(nil)
}

// TestRemoteBytesNotEchoed: an error answer that is not an Arvados JSON
// error (an internal service's page, a non-HTTP banner) reaches the client
// as keepfed's own error with the remote's status and id, none of the
// remote's bytes; a genuine Arvados error passes through.
func TestRemoteBytesNotEchoed(t *testing.T) {
	b := newFakeCluster(t, idB)
	const secret = "internal-secret-0xdeadbeef"
	banner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer banner.Close()
	go func() {
		for {
			c, err := banner.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6 " + secret + "\r\n"))
			_ = c.Close()
		}
	}()
	res := StaticResolver{idB: b.target(), idC: {ID: idC, BaseURL: "http://" + banner.Addr().String()}}
	e := newEnv(t, Config{Resolver: res}, b)
	cases := []struct {
		name    string
		h       fasthttp.RequestHandler
		cluster string
		status  int
		want    string // in the error message
	}{
		{"html 403", func(ctx *fasthttp.RequestCtx) {
			ctx.SetStatusCode(403)
			ctx.SetContentType("text/html")
			ctx.SetBodyString("<h1>" + secret + "</h1>")
		}, idB, 403, "cluster zbbbb answered 403"},
		{"json not arvados", func(ctx *fasthttp.RequestCtx) {
			ctx.SetStatusCode(500)
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"secret":"` + secret + `"}`)
		}, idB, 500, "cluster zbbbb answered 500"},
		{"plain 404", answer(404, secret), idB, 404, "cluster zbbbb answered 404"},
		{"banner", nil, idC, 502, "request to cluster zcccc failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.setOverride(tc.h)
			resp := call(e.h, "GET", "/arvados/v1/groups/"+tc.cluster+"-j7d0g-000000000000001", nil)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode(), tc.status, resp.Body())
			}
			if bytes.Contains(resp.Body(), []byte(secret)) || bytes.Contains(resp.Body(), []byte("SSH-2.0")) {
				t.Errorf("remote bytes echoed: %s", resp.Body())
			}
			if msg := strings.Join(errorsOf(t, resp), " "); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q want %q", msg, tc.want)
			}
		})
	}
	// An Arvados JSON error passes through as it is.
	b.setOverride(answer(422, `{"errors":["name has already been taken"],"error_token":"1"}`))
	resp := call(e.h, "GET", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", nil)
	if resp.StatusCode() != 422 || !strings.Contains(string(resp.Body()), "already been taken") {
		t.Errorf("arvados error: %d %s", resp.StatusCode(), resp.Body())
	}
	b.setOverride(nil)
}

// TestClientsBounded: the proxy keeps at most MaxClients endpoint clients
// (DNS mode makes every cluster id an endpoint); the least recently used
// goes first, and a forgotten endpoint works again when it is next used.
func TestClientsBounded(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{MaxClients: 3}, b)
	p := e.proxy
	first, err := p.client(b.target())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		tg := Target{ID: fmt.Sprintf("z%04d", i), BaseURL: fmt.Sprintf("http://z%04d.invalid:80", i)}
		if _, err := p.client(tg); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if again, _ := p.client(b.target()); again != first {
				t.Fatal("a recently used client was replaced")
			}
		}
		if n := p.numClients(); n > 3 {
			t.Fatalf("%d clients kept, max 3", n)
		}
	}
	if again, _ := p.client(b.target()); again == first {
		t.Error("least recently used client not evicted")
	}
	resp := call(e.h, "GET", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", nil)
	if resp.StatusCode() != 200 {
		t.Fatalf("after eviction: %d %s", resp.StatusCode(), resp.Body())
	}
	var m map[string]any
	if json.Unmarshal(resp.Body(), &m) != nil || m["cluster"] != idB {
		t.Errorf("body %s", resp.Body())
	}
}

// TestAppendRecordManifestsScope pins the scanner: only record-level
// manifest_text values are rewritten; the rest is copied byte for byte.
func TestAppendRecordManifestsScope(t *testing.T) {
	rw := manifest.ToRemote(idB)
	m := `". ` + locB + ` 0:3:foo\n"`
	r := `". ` + remB + ` 0:3:foo\n"`
	for _, tc := range []struct{ in, want string }{
		{`{"manifest_text":` + m + `}`, `{"manifest_text":` + r + `}`},
		{`{"a":{"manifest_text":` + m + `}}`, `{"a":{"manifest_text":` + m + `}}`},
		{`[{"manifest_text":` + m + `}]`, `[{"manifest_text":` + m + `}]`},
		{`{"items":[{"manifest_text":` + m + `},{"a":[{"manifest_text":` + m + `}]}]}`, `{"items":[{"manifest_text":` + r + `},{"a":[{"manifest_text":` + m + `}]}]}`},
		{`{"items":{"manifest_text":` + m + `}}`, `{"items":{"manifest_text":` + m + `}}`},
		{` { "x" : "manifest_text" , "manifest_text" : ` + m + ` } `, ` { "x" : "manifest_text" , "manifest_text" : ` + r + ` } `},
	} {
		got, _, err := AppendRecordManifests(nil, []byte(tc.in), rw)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", tc.in, got, err, tc.want)
		}
	}
}

// TestAppendRecordManifestsAllocs: the strict record-level splice keeps
// the allocation promise of AppendManifestJSON (a caller's buffer; 0 in
// a normal build).
func TestAppendRecordManifestsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector; make test runs this without it")
	}
	rw := manifest.ToRemote(idB)
	body := []byte(`{"uuid":"x","properties":{"a":1},"manifest_text":". ` + locB + ` 0:3:foo\n"}`)
	dst := make([]byte, 0, 4096)
	AppendRecordManifests(dst, body, rw) //nolint:errcheck // warm the pools
	if n := testing.AllocsPerRun(100, func() { _, _, _ = AppendRecordManifests(dst[:0], body, rw) }); n > 1 {
		// (as TestAppendManifestJSONAllocs: 0 normally; the race
		// detector's sync.Pool may drop a pooled buffer)
		t.Errorf("%v allocations per call", n)
	}
}

// TestEncodedEmptyBodies: HEAD and 204 answers carry no body to decode,
// whatever their Content-Encoding.
func TestEncodedEmptyBodies(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	b.setOverride(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		if ctx.IsHead() {
			ctx.SetBody(fasthttp.AppendGzipBytes(nil, []byte(`{"a":1}`)))
			return
		}
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	})
	for _, m := range []string{"HEAD", "DELETE"} {
		if resp := call(e.h, m, "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", nil); resp.StatusCode() >= 300 {
			t.Errorf("%s: status %d %s", m, resp.StatusCode(), resp.Body())
		}
	}
}
