package keepfed

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// captured is one request a cluster received from another.
type captured struct {
	to, method, uri, auth, cookie string
	body                          []byte
}

// capturer sits in front of a cluster (its RemoteClusters entry in the
// other clusters points here), records what it receives and forwards it.
type capturer struct {
	to     string
	srv    *httptest.Server
	target atomic.Pointer[url.URL]
	mu     sync.Mutex
	seen   []captured
}

func newCapturer(t *testing.T, to string) *capturer {
	c := &capturer{to: to}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(c.target.Load())
		r.Out.Host = r.In.Host
	}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			var b bytes.Buffer
			b.ReadFrom(r.Body) //nolint:errcheck // test
			body = b.Bytes()
			r.Body = readCloser{bytes.NewReader(body)}
		}
		c.mu.Lock()
		c.seen = append(c.seen, captured{to: c.to, method: r.Method, uri: r.RequestURI, auth: r.Header.Get("Authorization"), cookie: r.Header.Get("Cookie"), body: body})
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func (c *capturer) host() string { return strings.TrimPrefix(c.srv.URL, "http://") }

func (c *capturer) all() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]captured(nil), c.seen...)
}

// TestTokenHygiene runs flows covering blocks, records and identity
// between two complete clusters whose every exchange passes through a
// capturing proxy, with every log line captured, and checks that:
//   - no raw token of a user of one cluster reaches another cluster (only
//     the salted form may), in a header, cookie, query or body;
//   - api_token never leaves in a query string;
//   - no log line and no error body contains a token (raw or salted) or a
//     secret (BlobSigningKey, SystemRootToken, ManagementToken).
func TestTokenHygiene(t *testing.T) {
	capH, capR := newCapturer(t, "xhome"), newCapturer(t, "xrmte")
	var logH, logR syncBuffer
	mk := func(id string) *config.ClusterConfig {
		cfg := testConfig(t, id)
		cfg.RemoteClusters = map[string]config.RemoteClusterConfig{
			"xhome": {Host: capH.host(), Scheme: "http", Proxy: true, ActivateUsers: true},
			"xrmte": {Host: capR.host(), Scheme: "http", Proxy: true, ActivateUsers: true},
		}
		return cfg
	}
	home := startFullCluster(t, mk("xhome"), &logH)
	rmte := startFullCluster(t, mk("xrmte"), &logR)
	u, _ := url.Parse(home.url)
	capH.target.Store(u)
	u, _ = url.Parse(rmte.url)
	capR.target.Store(u)

	th := home.issue(t, "h@example.com") // a user of xhome
	tr := rmte.issue(t, "r@example.com") // a user of xrmte
	var bodies [][]byte
	keep := func(r result) result {
		if r.status >= 400 {
			bodies = append(bodies, r.body)
		}
		return r
	}

	// blocks and records: xhome's user stores a block and a collection
	// on xrmte (xrmte validates th with xhome), then reads both through
	// xhome (record proxy, +R block fetch)
	data := []byte("hygiene block")
	r := keep(do(t, "PUT", rmte.url+"/"+md5hex(data), th, data))
	require.Equal(t, 200, r.status, string(r.body))
	loc := strings.TrimSpace(string(r.body))
	body, _ := json.Marshal(map[string]any{"collection": map[string]any{"manifest_text": ". " + loc + " 0:13:f\n"}})
	r = keep(do(t, "POST", rmte.url+"/arvados/v1/collections", th, body, "Content-Type", "application/json"))
	require.Equal(t, 200, r.status, string(r.body))
	var coll fedCollection
	require.NoError(t, json.Unmarshal(r.body, &coll))
	r = keep(do(t, "GET", home.url+"/arvados/v1/collections/"+coll.UUID, th, nil))
	require.Equal(t, 200, r.status, string(r.body))
	var via fedCollection
	require.NoError(t, json.Unmarshal(r.body, &via))
	rloc := strings.Fields(via.MT)[1]
	r = keep(do(t, "GET", home.url+"/"+rloc, th, nil))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, data, r.body)
	r = keep(do(t, "HEAD", home.url+"/"+rloc, th, nil, "X-Keep-Signature", "local"))
	require.Equal(t, 200, r.status)
	// api_token in the query, a cookie, a form body
	r = keep(do(t, "GET", home.url+"/arvados/v1/collections/"+coll.UUID+"?api_token="+url.QueryEscape(th)+"&select=%5B%22uuid%22%5D", "", nil))
	require.Equal(t, 200, r.status, string(r.body))
	r = keep(do(t, "POST", home.url+"/arvados/v1/collections?cluster_id=xrmte", "", []byte("api_token="+url.QueryEscape(th)+"&collection=%7B%7D"), "Content-Type", "application/x-www-form-urlencoded"))
	assert.Equal(t, 200, r.status, string(r.body))
	r = keep(do(t, "GET", home.url+"/arvados/v1/collections/"+coll.UUID, "", nil, "Cookie", "arvados_api_token="+encodeCookieToken(th)))
	assert.Equal(t, 200, r.status, string(r.body))
	// identity: xrmte's user on xhome (validated with xrmte)
	d2 := []byte("written by a remote user")
	r = keep(do(t, "PUT", home.url+"/"+md5hex(d2), tr, d2))
	assert.Equal(t, 200, r.status, string(r.body))
	r = keep(do(t, "GET", home.url+"/arvados/v1/users/current", tr, nil))
	assert.Equal(t, 200, r.status, string(r.body))
	// failures: a revoked-looking token of each cluster, a bad signature,
	// a remote block with a bad signature, an unknown record
	bad := "v2/xrmte-gj3su-000000000000009/" + strings.Repeat("q", 45)
	keep(do(t, "GET", home.url+"/arvados/v1/users/current", bad, nil))
	keep(do(t, "PUT", home.url+"/"+md5hex(d2), bad, d2))
	keep(do(t, "GET", home.url+"/"+strings.Replace(rloc, "-", "-0", 1), th, nil))
	keep(do(t, "GET", home.url+"/arvados/v1/collections/xrmte-4zz18-000000000000009", th, nil))
	keep(do(t, "GET", home.url+"/"+loc, th, nil)) // xrmte's +A on xhome: invalid signature

	// 1. raw tokens reach only their issuer
	raw := map[string]string{th: "xhome", tr: "xrmte", bad: "xrmte"}
	sent := append(capH.all(), capR.all()...)
	require.NotEmpty(t, sent)
	for _, c := range sent {
		where := fmt.Sprintf("%s %s to %s", c.method, c.uri, c.to)
		for tok, issuer := range raw {
			if issuer == c.to {
				continue
			}
			secret := signing.ParseToken(tok).Secret
			for _, field := range []string{c.auth, c.cookie, c.uri, string(c.body)} {
				assert.NotContains(t, field, secret, "raw token of %s's user sent: %s", issuer, where)
			}
		}
		q, _ := url.ParseQuery(strings.SplitN(c.uri+"?", "?", 2)[1])
		assert.Empty(t, q.Get("api_token"), "api_token in a query: %s", where)
		assert.NotContains(t, c.uri, "api_token", where)
	}
	// and the check is not vacuous: th did travel to xrmte, salted
	saltedTh, err := signing.SaltToken(th, "xrmte")
	require.NoError(t, err)
	n := 0
	for _, c := range sent {
		if c.to == "xrmte" && c.auth == "Bearer "+saltedTh {
			n++
		}
	}
	assert.Positive(t, n, "th was sent to xrmte salted")
	t.Logf("%d inter-cluster requests checked, %d carried th salted for xrmte", len(sent), n)

	// 2. no token or secret in any log line or error body
	secrets := []string{testRootToken, testMgmtToken, home.cfg.Collections.BlobSigningKey, rmte.cfg.Collections.BlobSigningKey}
	for tok := range raw {
		secrets = append(secrets, signing.ParseToken(tok).Secret)
		for _, cl := range []string{"xhome", "xrmte"} {
			if s, err := signing.SaltToken(tok, cl); err == nil {
				secrets = append(secrets, signing.ParseToken(s).Secret)
			}
		}
	}
	logs := logH.String() + logR.String()
	require.NotEmpty(t, logs)
	lines := strings.Count(logs, "\n")
	for _, s := range secrets {
		assert.NotContains(t, logs, s, "a secret is logged")
		for _, b := range bodies {
			assert.NotContains(t, string(b), s, "a secret in an error body")
		}
	}
	t.Logf("%d log lines and %d error bodies checked for %d secrets", lines, len(bodies), len(secrets))
}

func encodeCookieToken(tok string) string { return base64.URLEncoding.EncodeToString([]byte(tok)) }
