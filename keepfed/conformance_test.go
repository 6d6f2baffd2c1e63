package keepfed

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/internal/selfsigned"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The conformance tests replay the requests real Arvados clients send, as
// they were captured from the Python SDK 3.x (googleapiclient, httplib2
// and pycurl: arvados.api(), arv-put, arv-get, arv-ls, arv-copy,
// Collection.save_new, CollectionReader), the Go SDK (arvadosclient,
// keepclient, the collection filesystem) and arvados-client (get,
// diagnostics) against a keepfed demo on 127.0.0.1, with their default
// settings: the same methods, paths, query strings, headers and body
// shapes. They run against two complete keepfeds serving HTTPS, as the
// clients require, and check what each answer must contain for the client
// to go on.

// Header sets the clients send, as captured.
var (
	pyDiscoveryHeaders = []string{
		"Accept-Encoding", "gzip, deflate", "User-Agent", "Python-httplib2/0.20.4 (gzip)",
		"Content-Length", "0", "X-Request-Id", "req-0pyd1scovery0000001",
	}
	pyAPIHeaders = []string{
		"Accept", "application/json", "Accept-Encoding", "gzip, deflate", "User-Agent", "(gzip)",
		"X-Goog-Api-Client", "gdcl/2.9.2 gl-python/3.11.2", "X-Request-Id", "req-0pyap10000000000001",
	}
	pyKeepHeaders = []string{
		"Accept", "application/octet-stream", "User-Agent", "PycURL/7.45.2 libcurl/7.88.1 GnuTLS/3.7.9 zlib/1.2.13",
		"X-Request-Id", "req-0pykeep00000000001",
	}
	goAPIHeaders = []string{
		"Accept-Encoding", "gzip", "Content-Type", "application/x-www-form-urlencoded",
		"User-Agent", "Go-http-client/1.1", "X-Request-Id", "req-0goap10000000000001",
	}
)

// with returns hdr followed by more header pairs.
func with(hdr []string, more ...string) []string {
	return append(append([]string(nil), hdr...), more...)
}

// confCluster is a complete keepfed serving HTTPS on a loopback port, and
// a client that trusts its certificate.
type confCluster struct {
	cfg    *config.ClusterConfig
	url    string
	host   string
	client *http.Client
}

// startTLSClusters starts complete keepfeds that know each other, each
// with its own self-signed certificate (TLS.Certificate, TLS.Key), the
// peers reached over HTTPS without verification (RemoteClusters Insecure,
// as in the demo).
func startTLSClusters(t *testing.T, ids ...string) []*confCluster {
	t.Helper()
	roots := x509.NewCertPool()
	lns := make([]net.Listener, len(ids))
	peers := map[string]config.RemoteClusterConfig{}
	for i, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns[i] = ln
		peers[id] = config.RemoteClusterConfig{Host: ln.Addr().String(), Scheme: "https", Insecure: true, Proxy: true, ActivateUsers: true}
	}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:    &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DisableCompression: true, // the tests send Accept-Encoding themselves, as the clients do
	}}
	out := make([]*confCluster, len(ids))
	for i, id := range ids {
		ln := lns[i]
		cfg := testConfig(t, id)
		certPath, keyPath, cert, err := selfsigned.Write(filepath.Join(t.TempDir(), "tls"), id)
		require.NoError(t, err)
		roots.AddCert(cert)
		cfg.TLS.Certificate, cfg.TLS.Key = certPath, "file://"+keyPath
		cfg.KeepFed.Listen = ln.Addr().String()
		cfg.KeepFed.ExternalURL = "https://" + ln.Addr().String()
		cfg.RemoteClusters = peers
		serveCluster(t, cfg, ln)
		out[i] = &confCluster{cfg: cfg, url: cfg.KeepFed.ExternalURL, host: ln.Addr().String(), client: client}
	}
	return out
}

// do sends a request as a client would and returns the answer with its
// body decoded from gzip when the server compressed it.
func (c *confCluster) do(t *testing.T, method, pathQuery, token string, body []byte, hdr ...string) result {
	t.Helper()
	r := doWith(t, c.client, method, c.url+pathQuery, token, body, hdr...)
	require.NoError(t, r.readErr)
	if r.header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		require.NoError(t, err)
		r.body, err = io.ReadAll(zr)
		require.NoError(t, err)
	}
	return r
}

// json decodes an answer that must be a 200 JSON object.
func (c *confCluster) json(t *testing.T, r result) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), string(r.body))
	return m
}

// issueToken mints a token for a new user with the SystemRootToken.
func (c *confCluster) issueToken(t *testing.T, email string) string {
	t.Helper()
	r := c.do(t, "POST", identity.TokenManagementPath, testRootToken, []byte(`{"email":"`+email+`"}`), "Content-Type", "application/json")
	require.Equal(t, 200, r.status, string(r.body))
	var issued identity.IssuedToken
	require.NoError(t, json.Unmarshal(r.body, &issued))
	return issued.Token
}

// pyQuery encodes query values as googleapiclient does: JSON-encoded
// arrays with ", " separators, alt=json last.
func pyQuery(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	q.Add("alt", "json")
	return "?" + q.Encode()
}

// pyPutBlock stores data as the Python SDK's KeepClient does (pycurl,
// Expect: 100-continue, no Content-Type, the replicas and storage classes
// it wants) and returns the signed locator.
func (c *confCluster) pyPutBlock(t *testing.T, token string, data []byte) string {
	t.Helper()
	sum := md5.Sum(data)
	r := c.do(t, "PUT", "/"+hex.EncodeToString(sum[:]), token, data, with(pyKeepHeaders,
		"Accept", "*/*", "Expect", "100-continue", "X-Keep-Desired-Replicas", "1", "X-Keep-Storage-Classes", "default")...)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "1", r.header.Get("X-Keep-Replicas-Stored"))
	assert.Equal(t, "default=1", r.header.Get("X-Keep-Storage-Classes-Confirmed"), "keepstore's confirmation, which the SDK warns without")
	return strings.TrimSpace(string(r.body))
}

func TestConformanceBootstrap(t *testing.T) {
	cs := startTLSClusters(t, "xhome", "xrmte")
	home := cs[0]
	token := home.issueToken(t, "conform@example.com")

	t.Run("discovery document, Python (httplib2)", func(t *testing.T) {
		d := home.json(t, home.do(t, "GET", DiscoveryPath, token, nil, pyDiscoveryHeaders...))
		assert.Equal(t, "discovery#restDescription", d["kind"])
		assert.Equal(t, home.url+"/", d["rootUrl"], "googleapiclient builds every call from rootUrl + servicePath")
		assert.Equal(t, "arvados/v1/", d["servicePath"])
		assert.Equal(t, "xhome", d["uuidPrefix"])
		assert.EqualValues(t, 1, d["defaultCollectionReplication"], "the embedded volume stores one copy; clients ask for this many")
		assert.EqualValues(t, 1209600, d["blobSignatureTtl"])
		res := d["resources"].(map[string]any)
		for _, rsc := range []string{"collections", "groups", "users", "links", "workflows", "api_client_authorizations", "keep_services", "configs", "vocabularies"} {
			assert.Contains(t, res, rsc)
		}
		create := res["collections"].(map[string]any)["methods"].(map[string]any)["create"].(map[string]any)
		assert.Equal(t, "collections", create["path"])
		assert.Equal(t, "POST", create["httpMethod"])
		cfgGet := res["configs"].(map[string]any)["methods"].(map[string]any)["get"].(map[string]any)
		assert.Equal(t, "config", cfgGet["path"])
	})
	t.Run("discovery document, Go SDK, no token", func(t *testing.T) {
		d := home.json(t, home.do(t, "GET", DiscoveryPath, "", nil, goAPIHeaders...))
		assert.Equal(t, "/arvados/v1/", d["basePath"])
	})
	t.Run("exported config, Python, every arvados.api()", func(t *testing.T) {
		c := home.json(t, home.do(t, "GET", ConfigPath+"?alt=json", token, nil, pyAPIHeaders...))
		assert.Equal(t, "xhome", c["ClusterID"])
		sc := c["StorageClasses"].(map[string]any)["default"].(map[string]any)
		assert.Equal(t, true, sc["Default"], "KeepClient reads the default storage classes")
		coll := c["Collections"].(map[string]any)
		assert.EqualValues(t, 1, coll["DefaultReplication"])
		assert.Equal(t, false, coll["CollectionVersioning"])
		assert.NotContains(t, string(home.do(t, "GET", ConfigPath, "", nil, goAPIHeaders...).body), testRootToken)
		assert.NotContains(t, string(home.do(t, "GET", ConfigPath, "", nil, goAPIHeaders...).body), home.cfg.Collections.BlobSigningKey)
	})
	t.Run("vocabulary", func(t *testing.T) {
		v := home.json(t, home.do(t, "GET", VocabularyPath+"?alt=json", token, nil, pyAPIHeaders...))
		assert.Equal(t, false, v["strict_tags"])
	})
	t.Run("users/current", func(t *testing.T) {
		u := home.json(t, home.do(t, "GET", "/arvados/v1/users/current?alt=json", token, nil, pyAPIHeaders...))
		assert.True(t, strings.HasPrefix(u["uuid"].(string), "xhome-tpzed-"))
	})
	t.Run("keep services, Python and diagnostics", func(t *testing.T) {
		for _, q := range []string{"/arvados/v1/keep_services/accessible?alt=json", "/arvados/v1/keep_services/accessible?cluster_id=&count=&limit=999999&offset=0", "/arvados/v1/keep_services?cluster_id=&count=&limit=999999&offset=0"} {
			l := home.json(t, home.do(t, "GET", q, token, nil, pyAPIHeaders...))
			items := l["items"].([]any)
			require.Len(t, items, 1, q)
			ks := items[0].(map[string]any)
			assert.Equal(t, true, ks["service_ssl_flag"], "keepfed serves HTTPS, so its keep service says so")
			assert.Equal(t, "proxy", ks["service_type"])
			assert.EqualValues(t, home.cfg.KeepFed.ExternalURL, fmt.Sprintf("https://%s:%v", ks["service_host"], ks["service_port"]))
		}
	})
	t.Run("virtual machines, diagnostics", func(t *testing.T) {
		l := home.json(t, home.do(t, "GET", "/arvados/v1/virtual_machines?cluster_id=&count=&limit=999999&offset=0", token, nil, goAPIHeaders...))
		assert.Equal(t, "arvados#virtualMachineList", l["kind"])
		assert.Empty(t, l["items"])
	})
	t.Run("CORS probe at the root, diagnostics", func(t *testing.T) {
		r := home.do(t, "GET", "/", "", nil, with(goAPIHeaders, "Origin", "https://example.com")...)
		assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
		r = home.do(t, "GET", "/d41d8cd98f00b204e9800998ecf8427e+0", "", nil, with(goAPIHeaders, "Origin", "https://example.com")...)
		assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	})
}

func TestConformanceWrites(t *testing.T) {
	cs := startTLSClusters(t, "xhome", "xrmte")
	home := cs[0]
	token := home.issueToken(t, "writer@example.com")
	me := home.json(t, home.do(t, "GET", "/arvados/v1/users/current?alt=json", token, nil, pyAPIHeaders...))["uuid"].(string)
	loc := home.pyPutBlock(t, token, []byte("hello from arv-put\n"))
	mtext := ". " + loc + " 0:19:hello.txt\n"

	var uuid, pdh string
	t.Run("arv-put: POST top-level attributes (JSON), ensure_unique_name", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"manifest_text": mtext, "name": "Saved at 2026-12-02 by arv-put", "replication_desired": nil, "owner_uuid": me})
		c := home.json(t, home.do(t, "POST", "/arvados/v1/collections"+pyQuery("ensure_unique_name", "true"), token, body, with(pyAPIHeaders, "Content-Type", "application/json")...))
		uuid, pdh = c["uuid"].(string), c["portable_data_hash"].(string)
		assert.Equal(t, "Saved at 2026-12-02 by arv-put", c["name"])
		assert.Contains(t, c["manifest_text"], "0:19:hello.txt", "what the client sent is stored, not dropped")
		assert.Contains(t, c["manifest_text"], "+A", "returned signed for the caller")
		assert.EqualValues(t, 1, c["file_count"])
		assert.EqualValues(t, 19, c["file_size_total"])
		assert.Equal(t, "arvados#collection", c["kind"])
		assert.NotEmpty(t, c["etag"])
		assert.Equal(t, "/collections/"+uuid, c["href"])
		assert.Equal(t, pdh, home.json(t, home.do(t, "GET", "/arvados/v1/collections/"+uuid+"?alt=json", token, nil, pyAPIHeaders...))["portable_data_hash"])
	})
	t.Run("ensure_unique_name renames a taken name", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"manifest_text": mtext, "name": "Saved at 2026-12-02 by arv-put", "owner_uuid": me})
		c := home.json(t, home.do(t, "POST", "/arvados/v1/collections"+pyQuery("ensure_unique_name", "true"), token, body, with(pyAPIHeaders, "Content-Type", "application/json")...))
		assert.Regexp(t, `^Saved at 2026-12-02 by arv-put \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)$`, c["name"])
	})
	t.Run("save_new: POST top-level attributes without owner", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"manifest_text": mtext, "name": "pyscen save_new", "replication_desired": nil})
		c := home.json(t, home.do(t, "POST", "/arvados/v1/collections"+pyQuery("ensure_unique_name", "false"), token, body, with(pyAPIHeaders, "Content-Type", "application/json")...))
		assert.Equal(t, me, c["owner_uuid"])
		assert.Equal(t, pdh, c["portable_data_hash"])
	})
	t.Run("arv-copy: POST with portable_data_hash, properties and description", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"description": nil, "manifest_text": mtext, "name": "copied", "portable_data_hash": pdh, "properties": map[string]any{}, "owner_uuid": me})
		c := home.json(t, home.do(t, "POST", "/arvados/v1/collections"+pyQuery("ensure_unique_name", "true"), token, body, with(pyAPIHeaders, "Content-Type", "application/json")...))
		assert.Equal(t, pdh, c["portable_data_hash"])
	})
	t.Run("Go SDK: POST form collection=<json>", func(t *testing.T) {
		attrs, _ := json.Marshal(map[string]any{"manifest_text": mtext, "name": "goclient"})
		form := url.Values{"collection": {string(attrs)}, "ensure_unique_name": {"true"}}
		c := home.json(t, home.do(t, "POST", "/arvados/v1/collections", token, []byte(form.Encode()), goAPIHeaders...))
		assert.Equal(t, pdh, c["portable_data_hash"])
		assert.Equal(t, "goclient", c["name"])
	})
	t.Run("Go SDK: POST form group=<json>", func(t *testing.T) {
		form := url.Values{"group": {`{"group_class":"project","name":"scratch area for diagnostics"}`}}
		g := home.json(t, home.do(t, "POST", "/arvados/v1/groups", token, []byte(form.Encode()), goAPIHeaders...))
		assert.Equal(t, "project", g["group_class"])
	})
	t.Run("save: PUT top-level attributes (JSON)", func(t *testing.T) {
		loc2 := home.pyPutBlock(t, token, []byte("second\n"))
		body, _ := json.Marshal(map[string]any{"manifest_text": ". " + loc + " " + loc2 + " 0:19:hello.txt 19:7:second.txt\n"})
		c := home.json(t, home.do(t, "PUT", "/arvados/v1/collections/"+uuid+"?alt=json", token, body, with(pyAPIHeaders, "Content-Type", "application/json")...))
		assert.Contains(t, c["manifest_text"], "19:7:second.txt", "the update is applied, not ignored")
		assert.EqualValues(t, 2, c["file_count"])
	})
	t.Run("Go SDK fs.Sync: PUT form collection=<json> with select", func(t *testing.T) {
		form := url.Values{"collection": {`{"manifest_text":` + jsonString(mtext) + `}`}, "select": {`["uuid","portable_data_hash"]`}}
		c := home.json(t, home.do(t, "PUT", "/arvados/v1/collections/"+uuid, token, []byte(form.Encode()), goAPIHeaders...))
		assert.Equal(t, map[string]any{"uuid": uuid, "portable_data_hash": pdh}, c)
	})
	t.Run("a body with no attribute is refused, never an empty record", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"ensure_unique_name": true}`, `{"colection": {"name": "typo"}}`} {
			r := home.do(t, "POST", "/arvados/v1/collections"+pyQuery("ensure_unique_name", "true"), token, []byte(body), with(pyAPIHeaders, "Content-Type", "application/json")...)
			assertJSONError(t, r, http.StatusUnprocessableEntity, "collection")
			r = home.do(t, "PUT", "/arvados/v1/collections/"+uuid+"?alt=json", token, []byte(body), with(pyAPIHeaders, "Content-Type", "application/json")...)
			assertJSONError(t, r, http.StatusUnprocessableEntity, "collection")
		}
	})
	t.Run("googleapiclient long query: POST with X-Http-Method-Override: GET", func(t *testing.T) {
		form := url.Values{"filters": {`[["uuid", "in", ["` + uuid + `", "xhome-4zz18-000000000000000"]]]`}, "select": {`["uuid", "portable_data_hash"]`}, "alt": {"json"}}
		l := home.json(t, home.do(t, "POST", "/arvados/v1/collections", token, []byte(form.Encode()),
			with(pyAPIHeaders, "Content-Type", "application/x-www-form-urlencoded", "X-Http-Method-Override", "GET")...))
		assert.EqualValues(t, 1, l["items_available"])
	})
	t.Run("keyset list: filters, order and select as JSON, count=none", func(t *testing.T) {
		l := home.json(t, home.do(t, "GET", "/arvados/v1/collections"+pyQuery(
			"count", "none", "filters", `[["portable_data_hash", "=", "`+pdh+`"]]`, "limit", "1000",
			"order", `["created_at asc", "uuid asc"]`, "select", `["uuid", "created_at", "portable_data_hash"]`), token, nil, pyAPIHeaders...))
		items := l["items"].([]any)
		require.NotEmpty(t, items)
		assert.Len(t, items[0].(map[string]any), 3)
	})
	t.Run("arv-get: block read", func(t *testing.T) {
		r := home.do(t, "GET", "/"+loc, token, nil, pyKeepHeaders...)
		require.Equal(t, 200, r.status)
		assert.Equal(t, "hello from arv-put\n", string(r.body))
	})
	t.Run("Go SDK site filesystem: groups/contents with is_a", func(t *testing.T) {
		l := home.json(t, home.do(t, "GET", "/arvados/v1/groups/contents?"+url.Values{
			"filters": {`[["uuid","is_a",["arvados#collection","arvados#group"]]]`}, "limit": {"10"}}.Encode(), token, nil, goAPIHeaders...))
		assert.Equal(t, "arvados#objectList", l["kind"])
		kinds := map[string]int{}
		projects := 0
		for _, it := range l["items"].([]any) {
			kinds[it.(map[string]any)["kind"].(string)]++
			if it.(map[string]any)["group_class"] == "project" {
				projects++
			}
		}
		assert.Equal(t, 1, projects, kinds)
		assert.GreaterOrEqual(t, kinds["arvados#collection"], 4, kinds)
		assert.EqualValues(t, len(l["items"].([]any)), l["items_available"])
		own := home.json(t, home.do(t, "GET", "/arvados/v1/groups/"+me+"/contents?"+url.Values{
			"filters": {`[["uuid","is_a","arvados#group"]]`}}.Encode(), token, nil, goAPIHeaders...))
		assert.Len(t, own["items"], 1)
	})
	t.Run("diagnostics: DELETE with form select", func(t *testing.T) {
		form := url.Values{"select": {`["uuid"]`}}
		c := home.json(t, home.do(t, "DELETE", "/arvados/v1/collections/"+uuid, token, []byte(form.Encode()), goAPIHeaders...))
		assert.Equal(t, uuid, c["uuid"])
	})
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestConformanceFederatedReads(t *testing.T) {
	cs := startTLSClusters(t, "xhome", "xrmte")
	home, remote := cs[0], cs[1]
	token := home.issueToken(t, "reader@example.com")
	salted, err := signing.SaltToken(token, "xrmte")
	require.NoError(t, err)
	// the collection lives on xrmte, written there with the home
	// user's token salted for it, as arv-put pointed at xrmte does
	data := []byte("a block that lives on xrmte\n")
	rloc := remote.pyPutBlock(t, salted, data)
	body, _ := json.Marshal(map[string]any{"manifest_text": ". " + rloc + " 0:28:remote.txt\n", "name": "on xrmte"})
	c := remote.json(t, remote.do(t, "POST", "/arvados/v1/collections"+pyQuery("ensure_unique_name", "true"), salted, body, with(pyAPIHeaders, "Content-Type", "application/json")...))
	uuid, pdh := c["uuid"].(string), c["portable_data_hash"].(string)

	var rrloc string
	t.Run("CollectionReader(uuid) through xhome", func(t *testing.T) {
		c := home.json(t, home.do(t, "GET", "/arvados/v1/collections/"+uuid+"?alt=json", token, nil, pyAPIHeaders...))
		assert.Equal(t, pdh, c["portable_data_hash"])
		mt := c["manifest_text"].(string)
		assert.Contains(t, mt, "+Rxrmte-")
		rrloc = strings.Fields(mt)[1]
	})
	t.Run("CollectionReader(pdh) through xhome", func(t *testing.T) {
		c := home.json(t, home.do(t, "GET", "/arvados/v1/collections/"+strings.Replace(pdh, "+", "%2B", 1)+"?alt=json", token, nil, pyAPIHeaders...))
		assert.Equal(t, pdh, c["portable_data_hash"])
	})
	t.Run("arv-get: +R block through xhome", func(t *testing.T) {
		require.NotEmpty(t, rrloc)
		r := home.do(t, "GET", "/"+rrloc, token, nil, pyKeepHeaders...)
		require.Equal(t, 200, r.status, string(r.body))
		assert.Equal(t, data, r.body)
	})
	t.Run("save_new of a remote manifest: HEAD +R with X-Keep-Signature: local", func(t *testing.T) {
		require.NotEmpty(t, rrloc)
		raw := rawHTTPS(t, home, "HEAD /"+rrloc+" HTTP/1.1\r\nHost: "+home.host+"\r\nAuthorization: Bearer "+token+
			"\r\nAccept: application/octet-stream\r\nX-Keep-Signature: local, 2026-12-02T01:12:57.091266Z\r\nConnection: close\r\n\r\n")
		lines := strings.Split(strings.TrimRight(raw, "\r\n"), "\r\n")
		require.True(t, strings.HasPrefix(lines[0], "HTTP/1.1 200"), raw)
		var locLine int
		for i, l := range lines {
			if strings.HasPrefix(strings.ToLower(l), "x-keep-locator:") {
				locLine = i
			}
		}
		require.NotZero(t, locLine, raw)
		local := strings.TrimSpace(lines[locLine][len("X-Keep-Locator:"):])
		assert.Regexp(t, `^[0-9a-f]{32}\+28\+A[0-9a-f]{40}@[0-9a-f]{8}$`, local)
		assert.Less(t, locLine, len(lines)-1, "X-Keep-Locator must not be the last header: the Python SDK appends a space to the last one")
		// the local copy is readable with the locator returned
		r := home.do(t, "GET", "/"+local, token, nil, pyKeepHeaders...)
		require.Equal(t, 200, r.status)
		assert.Equal(t, data, r.body)
	})
}

// rawHTTPS sends a raw request to c over TLS and returns the raw answer
// (headers as written on the wire, in their order).
func rawHTTPS(t *testing.T, c *confCluster, req string) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", c.host, c.client.Transport.(*http.Transport).TLSClientConfig)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Write([]byte(req))
	require.NoError(t, err)
	var b strings.Builder
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil || line == "\r\n" {
			break
		}
	}
	return b.String()
}

// TestTLSMisconfigured: a certificate that cannot be loaded stops the
// server at start-up with the key named, never a plain-HTTP fallback.
func TestTLSMisconfigured(t *testing.T) {
	cfg := testConfig(t, "zzzzz")
	cfg.TLS.Certificate, cfg.TLS.Key = filepath.Join(t.TempDir(), "missing.pem"), filepath.Join(t.TempDir(), "missing-key.pem")
	_, err := New(cfg, Options{})
	assert.ErrorContains(t, err, "Clusters.zzzzz.TLS")
	cfg.TLS.Key = "https://example.com/key.pem"
	_, err = New(cfg, Options{})
	assert.ErrorContains(t, err, "Clusters.zzzzz.TLS.Key")
}
