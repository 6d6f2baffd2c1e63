package keepfed

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// webdavEnv is a complete keepfed with a user who owns an empty
// collection, as arvados-client diagnostics prepares before its WebDAV
// tests.
type webdavEnv struct {
	tc    *testCluster
	token string
	coll  string // uuid
}

func newWebdavEnv(t *testing.T) *webdavEnv {
	t.Helper()
	tc := startFullCluster(t, testConfig(t, "zwdav"), nil)
	tok := tc.issue(t, "dav@example.com")
	r := do(t, http.MethodPost, tc.url+"/arvados/v1/collections", tok,
		[]byte(`{"collection":{"name":"diag","manifest_text":""}}`), "Content-Type", "application/json")
	require.Equal(t, 200, r.status, string(r.body))
	var c struct {
		UUID string `json:"uuid"`
	}
	require.NoError(t, json.Unmarshal(r.body, &c))
	return &webdavEnv{tc: tc, token: tok, coll: c.UUID}
}

// collection returns the collection's manifest and PDH through the API.
func (e *webdavEnv) collection(t *testing.T) (mt, pdh string) {
	t.Helper()
	r := do(t, http.MethodGet, e.tc.url+"/arvados/v1/collections/"+e.coll, e.token, nil)
	require.Equal(t, 200, r.status, string(r.body))
	var c struct {
		MT  string `json:"manifest_text"`
		PDH string `json:"portable_data_hash"`
	}
	require.NoError(t, json.Unmarshal(r.body, &c))
	return c.MT, c.PDH
}

// TestWebDAVDiagnosticsFlow does what arvados-client diagnostics does
// (tests 100, 120-125 and 52): PUT a file, GET it back by uuid and by
// PDH, 404 for the empty collection's files, CORS at the root.
func TestWebDAVDiagnosticsFlow(t *testing.T) {
	e := newWebdavEnv(t)
	base := e.tc.url + "/"
	data := []byte(strings.Repeat("diagnostics image ", 5000))
	name := "sha256:0123abcd.tar"

	r := do(t, http.MethodPut, base+"c="+e.coll+"/"+name, e.token, data)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	mt, pdh := e.collection(t)
	assert.Contains(t, mt, ":sha256\\0720123abcd.tar\n", "':' is escaped in manifests")

	for _, tt := range []struct {
		name, url string
		status    int
		body      []byte
	}{
		{"by uuid attachment", base + "c=" + e.coll + "/_/" + name, 200, data},
		{"by uuid", base + "c=" + e.coll + "/" + name, 200, data},
		{"by pdh with -", base + "c=" + strings.ReplaceAll(pdh, "+", "-") + "/" + name, 200, data},
		{"by pdh with +", base + "c=" + pdh + "/_/" + name, 200, data},
		// a v2 token holds "/": the path form takes the secret alone
		{"path token", base + "c=" + e.coll + "/t=" + e.token[strings.LastIndexByte(e.token, '/')+1:] + "/" + name, 200, data},
		{"empty collection foo", base + "c=d41d8cd98f00b204e9800998ecf8427e+0/_/foo", 404, nil},
		{"empty collection tar", base + "c=d41d8cd98f00b204e9800998ecf8427e+0/_/" + name, 404, nil},
		{"vhost-less foo", base + "foo", 404, nil},
		{"missing file", base + "c=" + e.coll + "/_/nothere", 404, nil},
		{"missing collection", base + "c=zwdav-4zz18-000000000000000/_/" + name, 404, nil},
		{"bad id", base + "c=not-an-id/" + name, 404, nil},
		{"directory", base + "c=" + e.coll + "/", 404, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, http.MethodGet, tt.url, e.token, nil)
			require.NoError(t, r.readErr)
			require.Equal(t, tt.status, r.status, string(r.body))
			assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
			if tt.status == 200 {
				assert.Equal(t, tt.body, r.body)
				assert.Equal(t, "application/x-tar", r.header.Get("Content-Type"))
				assert.Equal(t, "attachment", r.header.Get("Content-Disposition"))
			}
		})
	}

	t.Run("HEAD", func(t *testing.T) {
		r := do(t, http.MethodHead, base+"c="+e.coll+"/"+name, e.token, nil)
		require.Equal(t, 200, r.status)
		assert.Equal(t, "90000", r.header.Get("Content-Length"))
		assert.Empty(t, r.body)
	})
	t.Run("Range", func(t *testing.T) {
		r := do(t, http.MethodGet, base+"c="+e.coll+"/"+name, e.token, nil, "Range", "bytes=18-35")
		require.Equal(t, http.StatusPartialContent, r.status, string(r.body))
		assert.Equal(t, data[18:36], r.body)
		assert.Equal(t, "bytes 18-35/90000", r.header.Get("Content-Range"))
		r = do(t, http.MethodGet, base+"c="+e.coll+"/"+name, e.token, nil, "Range", "bytes=90000-")
		assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, r.status)
	})
	t.Run("CORS at the WebDAVDownload root", func(t *testing.T) {
		r := do(t, http.MethodGet, base, "", nil, "Origin", "https://example.com")
		assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	})
	t.Run("CORS preflight", func(t *testing.T) {
		r := do(t, http.MethodOptions, base+"c="+e.coll+"/"+name, "", nil,
			"Origin", "https://example.com", "Access-Control-Request-Method", "PUT")
		require.Equal(t, 200, r.status)
		assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "PUT")
		for _, m := range []string{"BREW", "GE", "PUT, GET"} {
			r = do(t, http.MethodOptions, base+"c="+e.coll+"/"+name, "", nil, "Access-Control-Request-Method", m)
			assert.Equal(t, http.StatusMethodNotAllowed, r.status, m)
		}
	})
}

// TestWebDAVReplaceAndSubdir: a second PUT of a name replaces the file; a
// file goes into the stream of its directory; a missing parent is 409.
func TestWebDAVReplaceAndSubdir(t *testing.T) {
	e := newWebdavEnv(t)
	u := e.tc.url + "/c=" + e.coll + "/"
	require.Equal(t, 201, do(t, http.MethodPut, u+"a.txt", e.token, []byte("one")).status)
	require.Equal(t, 201, do(t, http.MethodPut, u+"a.txt", e.token, []byte("second")).status)
	r := do(t, http.MethodGet, u+"a.txt", e.token, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "second", string(r.body))
	assert.Equal(t, "text/plain; charset=utf-8", r.header.Get("Content-Type"))

	assert.Equal(t, http.StatusConflict, do(t, http.MethodPut, u+"dir/b.txt", e.token, []byte("b")).status)
	assert.Equal(t, http.StatusConflict, do(t, http.MethodPut, u+"a.txt/b.txt", e.token, []byte("b")).status)
	// a directory made through the API, then a file in it
	mt, _ := e.collection(t)
	assert.Equal(t, ". "+md5hex([]byte("second"))+"+6 0:6:a.txt\n", stripSigs(mt))
	require.Equal(t, 201, do(t, http.MethodPut, u+"empty", e.token, []byte{}).status)
	r = do(t, http.MethodGet, u+"empty", e.token, nil)
	require.Equal(t, 200, r.status)
	assert.Empty(t, r.body)
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, http.MethodPut, u, e.token, []byte("x")).status)
}

// stripSigs drops +A hints from a manifest.
func stripSigs(mt string) string {
	var out []string
	for _, tok := range strings.Split(mt, " ") {
		if i := strings.Index(tok, "+A"); i >= 0 {
			rest := tok[i+2:]
			end := strings.IndexAny(rest, "+\n")
			if end < 0 {
				end = len(rest)
			}
			tok = tok[:i] + rest[end:]
		}
		out = append(out, tok)
	}
	return strings.Join(out, " ")
}

// TestWebDAVAuth: no token or a bad one is 401 with a Basic challenge; a
// user who cannot see the collection gets 404 (keep-web's answer for a
// valid token); one who may only read gets 403 on PUT; a bad path token
// is 404; PUT by PDH is 405.
func TestWebDAVAuth(t *testing.T) {
	e := newWebdavEnv(t)
	u := e.tc.url + "/c=" + e.coll + "/f.txt"
	require.Equal(t, 201, do(t, http.MethodPut, u, e.token, []byte("secret")).status)
	other := e.tc.issue(t, "other@example.com")
	reader := e.tc.issue(t, "reader@example.com")
	r := do(t, http.MethodGet, e.tc.url+"/arvados/v1/users/current", reader, nil)
	require.Equal(t, 200, r.status)
	var me struct {
		UUID string `json:"uuid"`
	}
	require.NoError(t, json.Unmarshal(r.body, &me))
	link, _ := json.Marshal(map[string]any{"link": map[string]any{
		"link_class": "permission", "name": "can_read", "tail_uuid": me.UUID, "head_uuid": e.coll}})
	r = do(t, http.MethodPost, e.tc.url+"/arvados/v1/links", e.token, link, "Content-Type", "application/json")
	require.Equal(t, 200, r.status, string(r.body))
	_, pdh := e.collection(t)

	for _, tt := range []struct {
		name, method, url, token string
		status                   int
	}{
		{"no token GET", "GET", u, "", 401},
		{"no token PUT", "PUT", u, "", 401},
		{"bad token", "GET", u, "v2/zwdav-gj3su-000000000000000/nope", 401},
		{"other user GET", "GET", u, other, 404},
		{"other user PUT", "PUT", u, other, 404},
		{"reader GET", "GET", u, reader, 200},
		{"reader PUT", "PUT", u, reader, 403},
		{"bad path token", "GET", e.tc.url + "/c=" + e.coll + "/t=v2/x/f.txt", "", 404},
		{"PUT by PDH", "PUT", e.tc.url + "/c=" + pdh + "/f.txt", e.token, 405},
		{"DELETE", "DELETE", u, e.token, 405},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, tt.url, tt.token, []byte("x"))
			assert.Equal(t, tt.status, r.status, string(r.body))
			if tt.status == 401 {
				assert.Equal(t, `Basic realm="collections"`, r.header.Get("WWW-Authenticate"))
			}
			if tt.status != 200 {
				assert.NotContains(t, string(r.body), "secret")
			}
		})
	}
	// scoped tokens: the scopes apply as to the API requests keep-web
	// makes (GET, and for a PUT also PUT, of the collection record)
	scoped := func(scopes ...string) string {
		body, _ := json.Marshal(map[string]any{"api_client_authorization": map[string]any{"scopes": scopes}})
		r := do(t, http.MethodPost, e.tc.url+"/arvados/v1/api_client_authorizations", e.token, body, "Content-Type", "application/json")
		require.Equal(t, 200, r.status, string(r.body))
		var tok struct {
			UUID     string `json:"uuid"`
			APIToken string `json:"api_token"`
		}
		require.NoError(t, json.Unmarshal(r.body, &tok))
		return "v2/" + tok.UUID + "/" + tok.APIToken
	}
	usersOnly := scoped("GET /arvados/v1/users/current")
	readOnly := scoped("GET /arvados/v1/collections/")
	for _, tt := range []struct {
		name, method, token string
		status              int
	}{
		{"users/current scope GET", "GET", usersOnly, 403},
		{"users/current scope PUT", "PUT", usersOnly, 403},
		{"collections GET scope GET", "GET", readOnly, 200},
		{"collections GET scope PUT", "PUT", readOnly, 403},
	} {
		r := do(t, tt.method, u, tt.token, []byte("overwritten"))
		assert.Equal(t, tt.status, r.status, "%s: %s", tt.name, r.body)
	}
	r = do(t, http.MethodGet, u, e.token, nil)
	assert.Equal(t, "secret", string(r.body), "refused PUTs left the file alone")
}

// TestWebDAVExportedConfig: with the embedded backend the exported config
// publishes keepfed itself as Services.WebDAV and WebDAVDownload unless
// the operator configured them.
func TestWebDAVExportedConfig(t *testing.T) {
	for _, tt := range []struct {
		name          string
		dav, download string
		wantDav       string
		wantDownload  string
	}{
		{"unset", "", "", "self", "self"},
		{"both set", "https://*.dav.example/", "https://dl.example/", "https://*.dav.example/", "https://dl.example/"},
		{"only WebDAV set", "https://*.dav.example/", "", "https://*.dav.example/", "self"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "zwdav")
			cfg.Services.WebDAV.ExternalURL = tt.dav
			cfg.Services.WebDAVDownload.ExternalURL = tt.download
			tc := startFullCluster(t, cfg, nil)
			r := do(t, http.MethodGet, tc.url+ConfigPath, "", nil)
			require.Equal(t, 200, r.status)
			var c struct {
				Services map[string]struct{ ExternalURL string }
			}
			require.NoError(t, json.Unmarshal(r.body, &c))
			self := tc.url + "/"
			want := func(s string) string {
				if s == "self" {
					return self
				}
				return s
			}
			assert.Equal(t, want(tt.wantDav), c.Services["WebDAV"].ExternalURL)
			assert.Equal(t, want(tt.wantDownload), c.Services["WebDAVDownload"].ExternalURL)
		})
	}
}

// TestWebDAVBodyLimit: a PUT body over API.MaxRequestSize is 413 and
// stores nothing.
func TestWebDAVBodyLimit(t *testing.T) {
	cfg := testConfig(t, "zwdav")
	cfg.API.MaxRequestSize = 1 << 10
	e := &webdavEnv{tc: startFullCluster(t, cfg, nil)}
	e.token = e.tc.issue(t, "dav@example.com")
	r := do(t, http.MethodPost, e.tc.url+"/arvados/v1/collections", e.token,
		[]byte(`{"collection":{"name":"x"}}`), "Content-Type", "application/json")
	require.Equal(t, 200, r.status, string(r.body))
	var c struct{ UUID string }
	require.NoError(t, json.Unmarshal(r.body, &c))
	e.coll = c.UUID
	r = do(t, http.MethodPut, e.tc.url+"/c="+e.coll+"/big", e.token, make([]byte, 2<<10))
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	mt, _ := e.collection(t)
	assert.Empty(t, mt)
}
