package records

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// secretOf is the secret part of a v2 test token.
func secretOf(tok string) string { return strings.Split(tok, "/")[2] }

// assertNoRaw fails when any of secrets appears anywhere in the request the
// remote received (query, any header, body), or when an api_token key
// survives in the query or body in any spelling.
func assertNoRaw(t *testing.T, r captured, secrets ...string) {
	t.Helper()
	all := []string{r.Query, string(r.Body), r.Cookie}
	for k, v := range r.Headers {
		all = append(all, k+": "+v)
	}
	for _, s := range secrets {
		for _, v := range all {
			if strings.Contains(v, s) {
				t.Errorf("raw secret %.8s… reached the remote in %q", s, v)
			}
		}
	}
	for _, v := range []string{r.Query, string(r.Body)} {
		u, err := url.QueryUnescape(v)
		if err != nil {
			u = v
		}
		if strings.Contains(strings.ToLower(u), "api_token") || strings.Contains(strings.ToLower(v), "api\\u005ftoken") {
			t.Errorf("an api_token key reached the remote: %q", v)
		}
	}
}

func multipartBody(t *testing.T, kv ...string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i := 0; i+1 < len(kv); i += 2 {
		if err := w.WriteField(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), w.FormDataContentType()
}

// TestTokenCarriersNeverRaw: wherever a client puts its token — carriers
// keepfed accepts (JSON body, multipart, a form in any media type
// spelling) and spellings a remote might read (';' separator, case,
// percent-encoded key, headers that are not credentials) — the remote
// receives only the salted token, in Authorization, and no api_token key.
func TestTokenCarriersNeverRaw(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	uri := "/arvados/v1/groups/zbbbb-j7d0g-000000000000001"
	salted := "Bearer " + mustSalt(t, tokA, idB)
	bearerA := []string{"Authorization", "Bearer " + tokA}
	mp, mpType := multipartBody(t, "api_token", tokA, "group", `{"name":"x"}`)
	mpUpper, mpUpperType := multipartBody(t, "API_TOKEN", tokA, "group", `{"name":"x"}`)
	cases := []struct {
		name     string
		method   string
		uri      string
		body     []byte
		hdr      []string
		wantAuth string // "" : salted
		wantBody string // checked when set
	}{
		{name: "json body", method: "PUT", uri: uri, body: []byte(`{"api_token":"` + tokA + `","group":{"name":"x"}}`),
			hdr: []string{"Content-Type", "application/json"}, wantBody: `{"group":{"name":"x"}}`},
		{name: "json body, mixed-case media type", method: "PUT", uri: uri,
			body: []byte(`{"group":{"name":"x"},"api_token":"` + tokA + `"}`),
			hdr:  []string{"Content-Type", "Application/JSON; charset=utf-8"}, wantBody: `{"group":{"name":"x"}}`},
		{name: "json body, escaped key", method: "PUT", uri: uri,
			body: []byte(`{"api\u005ftoken":"` + tokA + `","a":1}`), hdr: []string{"Content-Type", "application/json"}},
		{name: "json body, escaped key and bearer", method: "PUT", uri: uri,
			body: []byte(`{"api\u005ftoken":"` + tokA + `"}`), hdr: append([]string{"Content-Type", "text/x-json"}, bearerA...)},
		{name: "json body without content type", method: "PUT", uri: uri,
			body: []byte(`{"API_TOKEN":"` + tokA + `"}`), hdr: bearerA},
		{name: "multipart", method: "PUT", uri: uri, body: mp, hdr: []string{"Content-Type", mpType}},
		{name: "multipart, upper-case field", method: "PUT", uri: uri, body: mpUpper,
			hdr: append([]string{"Content-Type", strings.Replace(mpUpperType, "multipart/form-data", "Multipart/Form-Data", 1)}, bearerA...)},
		{name: "form, mixed-case media type", method: "PUT", uri: uri, body: formBody("api_token", tokA, "a", "b"),
			hdr: []string{"Content-Type", "Application/X-Www-Form-Urlencoded; Charset=UTF-8"}, wantBody: "a=b"},
		{name: "form, semicolon separator", method: "PUT", uri: uri, body: []byte("a=b;api_token=" + tokA),
			hdr: append([]string{"Content-Type", "application/x-www-form-urlencoded"}, bearerA...), wantBody: "a=b"},
		{name: "form without content type", method: "PUT", uri: uri, body: []byte("a=b&api_token=" + urlq(tokA)), hdr: bearerA},
		{name: "query, semicolon separator", method: "GET", uri: uri + "?a=1;api_token=" + tokA, hdr: bearerA},
		{name: "query, percent-encoded key", method: "GET", uri: uri + "?api%5Ftoken=" + urlq(tokA) + "&a=1", hdr: bearerA},
		{name: "query, upper case and brackets", method: "GET", uri: uri + "?API_Token[]=" + urlq(tokA), hdr: bearerA},
		{name: "query, blank before key", method: "GET", uri: uri + "?a=1&+api_token=" + urlq(tokA), hdr: bearerA},
		{name: "referer and custom headers", method: "GET", uri: uri, hdr: append([]string{
			"Referer", "https://wb.example/x?api_token=" + tokA,
			"X-Api-Token", tokA,
			"X-Forwarded-Host", tokA,
			"X-Forwarded-For", "10.0.0.1, " + tokA,
			"Origin", "https://" + secretOf(tokA),
			"User-Agent", "agent " + tokA,
			"X-Request-Id", tokA,
		}, bearerA...)},
		{name: "cookies", method: "GET", uri: uri, hdr: []string{
			"Cookie", "arvados_api_token=" + urlq(tokA) + "; other=" + secretOf(tokA)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(b.requests())
			resp := call(e.h, tc.method, tc.uri, tc.body, tc.hdr...)
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
			}
			if len(b.requests()) != before+1 {
				t.Fatal("remote not asked")
			}
			r := b.last(t)
			want := salted
			if tc.wantAuth != "" {
				want = tc.wantAuth
			}
			if tc.name == "cookies" {
				want = "" // the cookie is not base64: no token extracted
			}
			if r.Auth != want {
				t.Errorf("Authorization %q want %q", r.Auth, want)
			}
			assertNoRaw(t, r, secretOf(tokA))
			if tc.wantBody != "" && string(r.Body) != tc.wantBody {
				t.Errorf("body %q want %q", r.Body, tc.wantBody)
			}
		})
	}
}

// TestHeaderAllowList: the allow-listed headers reach the remote, with the
// salted Authorization, X-Forwarded-For, Via and Accept-Encoding: gzip;
// nothing else does.
func TestHeaderAllowList(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	resp := call(e.h, "GET", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", nil,
		"Authorization", "Bearer "+tokA, "Accept", "application/json", "If-None-Match", `"e1"`,
		"Range", "bytes=0-1", "X-Http-Method-Override", "GET", "X-Request-Id", "req-abc123",
		"Accept-Encoding", "br, deflate", "X-Custom", "x", "Referer", "https://wb/", "Via", "1.1 someproxy")
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
	}
	r := b.last(t)
	want := map[string]string{
		"Accept": "application/json", "If-None-Match": `"e1"`, "Range": "bytes=0-1",
		"X-Http-Method-Override": "GET", "X-Request-Id": "req-abc123", "Accept-Encoding": "gzip",
		"Authorization": "Bearer " + mustSalt(t, tokA, idB), "X-Forwarded-For": "127.0.0.1",
		"Via": viaMark, "Host": strings.TrimPrefix(b.url, "http://"),
		"User-Agent": "keepfed", // the proxy's own
	}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("%s %q want %q", k, r.Headers[k], v)
		}
	}
	for k := range r.Headers {
		if _, ok := want[k]; !ok {
			t.Errorf("header %s forwarded", k)
		}
	}
}

// TestReaderTokensSalted: reader_tokens in the query, a form, a JSON body
// or a multipart body reach the remote salted for it (its own tokens
// unchanged); tokens that cannot be salted (already salted, unknown v1,
// not Arvados tokens) are dropped, never sent raw.
func TestReaderTokensSalted(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	uri := "/arvados/v1/collections/zbbbb-4zz18-000000000000001"
	alreadySalted := "v2/zcccc-gj3su-000000000000009/" + strings.Repeat("0", 40)
	v1 := strings.Repeat("v", 50)
	readers := []string{tokC, tokB, alreadySalted, v1, "not-a-token"}
	want := []string{mustSalt(t, tokC, idB), tokB}
	rj, _ := json.Marshal(readers)
	mp, mpType := multipartBody(t, "reader_tokens", string(rj), "a", "b")
	bearerA := []string{"Authorization", "Bearer " + tokA}
	cases := []struct {
		name string
		uri  string
		body []byte
		hdr  []string
		get  func(r captured) string
	}{
		{"query json", uri + "?reader_tokens=" + urlq(string(rj)), nil, bearerA,
			func(r captured) string { v, _ := url.ParseQuery(r.Query); return v.Get("reader_tokens") }},
		{"query rails array, semicolons", uri + "?reader_tokens[]=" + urlq(tokC) + ";reader_tokens%5B%5D=" + urlq(tokB) +
			"&reader_tokens[]=" + urlq(alreadySalted), nil, bearerA,
			func(r captured) string { v, _ := url.ParseQuery(r.Query); return v.Get("reader_tokens") }},
		{"form", uri, formBody("reader_tokens", string(rj), "_method", "GET"),
			append([]string{"Content-Type", "application/x-www-form-urlencoded"}, bearerA...),
			func(r captured) string { v, _ := url.ParseQuery(string(r.Body)); return v.Get("reader_tokens") }},
		{"json", uri, []byte(`{"reader_tokens":` + string(rj) + `}`),
			append([]string{"Content-Type", "application/json"}, bearerA...),
			func(r captured) string {
				var m map[string]json.RawMessage
				_ = json.Unmarshal(r.Body, &m)
				return string(m["reader_tokens"])
			}},
		{"multipart", uri, mp, append([]string{"Content-Type", mpType}, bearerA...),
			func(r captured) string {
				_, params, _ := strings.Cut(r.ContentType, "boundary=")
				mr := multipart.NewReader(bytes.NewReader(r.Body), params)
				f, err := mr.ReadForm(1 << 20)
				if err != nil || len(f.Value["reader_tokens"]) != 1 || f.Value["a"][0] != "b" {
					return "bad multipart"
				}
				return f.Value["reader_tokens"][0]
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.body != nil {
				method = "POST"
			}
			resp := call(e.h, method, tc.uri, tc.body, tc.hdr...)
			if resp.StatusCode() != 200 && resp.StatusCode() != 404 {
				t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
			}
			r := b.last(t)
			var got []string
			raw := tc.get(r)
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatalf("reader_tokens %q: %v (query %q body %q)", raw, err, r.Query, r.Body)
			}
			if strings.Join(got, " ") != strings.Join(want[:len(got)], " ") || len(got) < 1 {
				t.Errorf("reader_tokens %q want %q", got, want)
			}
			assertNoRaw(t, r, secretOf(tokA), secretOf(tokC), strings.Repeat("0", 40), v1, "not-a-token")
		})
	}
}

// TestStrayTokenRefused: a raw token secret left anywhere outside the
// known carriers (here in a record attribute) is refused with 400 before
// anything is sent.
func TestStrayTokenRefused(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	resp := call(e.h, "PUT", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001",
		[]byte(`{"group":{"name":"`+tokA+`"}}`), "Content-Type", "application/json", "Authorization", "Bearer "+tokA)
	if resp.StatusCode() != 400 {
		t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
	}
	if n := len(b.requests()); n != 0 {
		t.Fatalf("remote got %d requests", n)
	}
	// A token the target issued itself may go anywhere to it.
	resp = call(e.h, "PUT", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001",
		[]byte(`{"group":{"name":"`+tokB+`"}}`), "Content-Type", "application/json", "Authorization", "Bearer "+tokB)
	if resp.StatusCode() != 200 {
		t.Fatalf("own token: status %d %s", resp.StatusCode(), resp.Body())
	}
}

// TestInvalidBodiesRefused: a JSON or multipart body the proxy cannot
// parse (so cannot clean) is refused with 400, not forwarded.
func TestInvalidBodiesRefused(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	for _, tc := range []struct{ name, ct, body string }{
		{"json", "application/json", `{"api_token":"` + tokA + `",`},
		{"json trailing", "application/json", `{"a":1} {"api_token":"x"}`},
		{"multipart", "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"api_token\"\r\n\r\n" + tokA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(e.h, "PUT", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", []byte(tc.body),
				"Content-Type", tc.ct, "Authorization", "Bearer "+tokA)
			if resp.StatusCode() != 400 {
				t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
			}
		})
	}
	if n := len(b.requests()); n != 0 {
		t.Fatalf("remote got %d requests", n)
	}
}

// TestExtractTokenCarriers: ExtractToken finds the token in every carrier
// keepfed accepts, whatever the media type's spelling.
func TestExtractTokenCarriers(t *testing.T) {
	mp, mpType := multipartBody(t, "x", "1", "api_token", "mptok")
	for _, tc := range []struct{ name, ct, body, want string }{
		{"json", "application/json", `{"api_token":"jtok"}`, "jtok"},
		{"json upper", "Application/Json; charset=utf-8", `{"a":[1],"api_token":"jtok"}`, "jtok"},
		{"json escaped", "application/json", `{"api\u005ftoken":"jtok"}`, "jtok"},
		{"json not a string", "application/json", `{"api_token":1}`, ""},
		{"form upper", "APPLICATION/X-WWW-FORM-URLENCODED", "api_token=ftok", "ftok"},
		{"multipart", mpType, string(mp), "mptok"},
		{"text", "text/plain", "api_token=x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq("PUT", "/arvados/v1/groups", tc.ct, tc.body)
			if got := ExtractToken(req); got != tc.want {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}

func newReq(method, uri, ct, body string) *fasthttp.Request {
	req := &fasthttp.Request{}
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if ct != "" {
		req.Header.SetContentType(ct)
	}
	req.SetBodyString(body)
	return req
}

// TestFederatedListReaderTokens: a federated list sends each remote the
// client's reader tokens salted for it, and no raw token.
func TestFederatedListReaderTokens(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	f := `[["uuid","in",["zbbbb-j7d0g-000000000000001","zaaaa-j7d0g-000000000000001"]]]`
	resp := call(e.h, "GET", "/arvados/v1/groups?filters="+urlq(f)+"&reader_tokens="+urlq(`["`+tokC+`"]`)+"&api_token="+urlq(tokA), nil)
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
	}
	r := b.last(t)
	v, _ := url.ParseQuery(string(r.Body))
	if got, want := v.Get("reader_tokens"), `["`+mustSalt(t, tokC, idB)+`"]`; got != want {
		t.Errorf("reader_tokens %q want %q (body %q)", got, want, r.Body)
	}
	if r.Auth != "Bearer "+mustSalt(t, tokA, idB) {
		t.Errorf("Authorization %q", r.Auth)
	}
	assertNoRaw(t, r, secretOf(tokA), secretOf(tokC))
}
