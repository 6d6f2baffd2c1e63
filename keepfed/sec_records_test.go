package keepfed

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/signing"
)

// capturedReq is one request a capturing remote received.
type capturedReq struct {
	method, uri string
	header      http.Header
	body        string
}

// capturingRemote is an HTTP server on 127.0.0.1 that records every
// request and answers a small Arvados JSON record.
type capturingRemote struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []capturedReq
}

func newCapturingRemote(t *testing.T) *capturingRemote {
	t.Helper()
	c := &capturingRemote{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.reqs = append(c.reqs, capturedReq{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: string(b)})
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"arvados#group","uuid":"zbbbb-j7d0g-000000000000001"}`)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *capturingRemote) requests() []capturedReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]capturedReq(nil), c.reqs...)
}

func (c *capturingRemote) host() string { return strings.TrimPrefix(c.srv.URL, "http://") }

// TestRecordProxyHonoursProxyFalse: a remote cluster configured with
// Proxy: false is not used for proxying requests (as in Arvados's
// controller): uuid reads, updates, deletes, creates with cluster_id and
// federated lists naming it answer 404 "no proxy available for cluster
// zbbbb" and nothing reaches it; with Proxy: true the same request is
// forwarded.
func TestRecordProxyHonoursProxyFalse(t *testing.T) {
	remote := newCapturingRemote(t)
	cfg := testConfig(t, "zaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
		"zbbbb": {Host: remote.host(), Scheme: "http", Proxy: false},
	}
	tc := startCluster(t, cfg, Options{})
	tok := "v2/zaaaa-gj3su-000000000000001/" + strings.Repeat("s", 45)
	uuid := "zbbbb-j7d0g-000000000000001"
	list := url.QueryEscape(`[["uuid","in",["` + uuid + `","zaaaa-j7d0g-000000000000001"]]]`)
	cases := []struct {
		name, method, path, ct string
		body                   string
	}{
		{"get", "GET", "/arvados/v1/groups/" + uuid, "", ""},
		{"patch", "PATCH", "/arvados/v1/groups/" + uuid, "application/json", `{"group":{"name":"x"}}`},
		{"delete", "DELETE", "/arvados/v1/groups/" + uuid, "", ""},
		{"create query", "POST", "/arvados/v1/groups?cluster_id=zbbbb", "application/json", `{"group":{"name":"x"}}`},
		{"create json", "POST", "/arvados/v1/groups", "application/json", `{"cluster_id":"zbbbb","group":{"name":"x"}}`},
		{"create form", "POST", "/arvados/v1/groups", "application/x-www-form-urlencoded", "cluster_id=zbbbb"},
		{"federated list", "GET", "/arvados/v1/groups?filters=" + list, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			r := do(t, c.method, tc.url+c.path, tok, body, "Content-Type", c.ct)
			assertJSONError(t, r, http.StatusNotFound, "no proxy available for cluster zbbbb")
		})
	}
	assert.Empty(t, remote.requests(), "a Proxy: false cluster was contacted")

	// Control: the same cluster with Proxy: true is proxied to.
	cfg2 := testConfig(t, "zaaaa")
	cfg2.RemoteClusters = map[string]config.RemoteClusterConfig{
		"zbbbb": {Host: remote.host(), Scheme: "http", Proxy: true},
	}
	tc2 := startCluster(t, cfg2, Options{})
	r := do(t, "GET", tc2.url+"/arvados/v1/groups/"+uuid, tok, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Len(t, remote.requests(), 1)
}

// TestRecordProxyTokenConfidentiality: through a whole keepfed server (its
// token middleware and the record proxy), a token in any carrier keepfed
// accepts reaches another cluster only salted, in Authorization; reader
// tokens are salted; Referer and custom headers never leave.
func TestRecordProxyTokenConfidentiality(t *testing.T) {
	remote := newCapturingRemote(t)
	cfg := testConfig(t, "zaaaa")
	cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
		"zbbbb": {Host: remote.host(), Scheme: "http", Proxy: true},
	}
	tc := startCluster(t, cfg, Options{})
	tok := "v2/zaaaa-gj3su-000000000000001/" + strings.Repeat("s", 45)
	reader := "v2/zcccc-gj3su-000000000000002/" + strings.Repeat("r", 45)
	secret := strings.Repeat("s", 45)
	salted, err := signing.SaltToken(tok, "zbbbb")
	require.NoError(t, err)
	saltedReader, err := signing.SaltToken(reader, "zbbbb")
	require.NoError(t, err)
	path := "/arvados/v1/groups/zbbbb-j7d0g-000000000000001"
	cases := []struct {
		name, method, uri, ct, body string
		hdr                         []string
	}{
		{"json body", "PUT", path, "application/json", `{"api_token":"` + tok + `","group":{"name":"x"}}`, nil},
		{"json body, mixed case", "PUT", path, "Application/Json; charset=UTF-8", `{"api_token":"` + tok + `"}`, nil},
		{"form, mixed case", "PUT", path, "Application/X-Www-Form-Urlencoded; charset=utf-8", "api_token=" + url.QueryEscape(tok), nil},
		{"multipart", "PUT", path, "multipart/form-data; boundary=XYZ",
			"--XYZ\r\nContent-Disposition: form-data; name=\"api_token\"\r\n\r\n" + tok + "\r\n--XYZ--\r\n", nil},
		{"query with semicolon decoy and reader tokens", "GET",
			path + "?api_token=" + url.QueryEscape(tok) + "&a=1;api_token=" + url.QueryEscape(tok) +
				"&reader_tokens=" + url.QueryEscape(`["`+reader+`"]`), "", "", nil},
		{"headers", "GET", path + "?api_token=" + url.QueryEscape(tok), "", "",
			[]string{"Referer", "https://wb/?api_token=" + tok, "X-Api-Token", tok, "X-Forwarded-Proto", tok}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(remote.requests())
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			r := do(t, c.method, tc.url+c.uri, "", body, append([]string{"Content-Type", c.ct}, c.hdr...)...)
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			reqs := remote.requests()
			require.Len(t, reqs, n+1)
			got := reqs[n]
			assert.Equal(t, "Bearer "+salted, got.header.Get("Authorization"))
			all := got.uri + "\n" + got.body
			for k, vs := range got.header {
				all += "\n" + k + ": " + strings.Join(vs, ",")
			}
			assert.NotContains(t, all, secret, "raw token reached zbbbb")
			assert.NotContains(t, all, strings.Repeat("r", 45), "raw reader token reached zbbbb")
			assert.NotContains(t, strings.ToLower(all), "api_token")
			for _, h := range []string{"Referer", "X-Api-Token", "X-Forwarded-Proto", "Cookie"} {
				assert.Empty(t, got.header.Get(h), h)
			}
			if strings.Contains(c.uri, "reader_tokens") {
				q, err := url.ParseQuery(strings.SplitN(got.uri, "?", 2)[1])
				require.NoError(t, err)
				assert.Equal(t, `["`+saltedReader+`"]`, q.Get("reader_tokens"))
			}
		})
	}
}
