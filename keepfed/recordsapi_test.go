package keepfed

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rapiList is a decoded list answer.
type rapiList struct {
	Kind           string           `json:"kind"`
	Items          []map[string]any `json:"items"`
	ItemsAvailable int              `json:"items_available"`
	Offset         int              `json:"offset"`
	Limit          int              `json:"limit"`
}

func rapiDecodeList(t testing.TB, r result) rapiList {
	t.Helper()
	require.Equal(t, 200, r.status, string(r.body))
	var l rapiList
	require.NoError(t, json.Unmarshal(r.body, &l), string(r.body))
	return l
}

func rapiUUIDs(l rapiList) []string {
	var out []string
	for _, it := range l.Items {
		s, _ := it["uuid"].(string)
		out = append(out, s)
	}
	return out
}

// rapiMultipart encodes fields as multipart/form-data.
func rapiMultipart(t testing.TB, fields map[string]string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		require.NoError(t, w.WriteField(k, v))
	}
	require.NoError(t, w.Close())
	return b.Bytes(), w.FormDataContentType()
}

const (
	rapiCTJSON = "application/json"
	rapiCTForm = "application/x-www-form-urlencoded"
)

func TestRecordsAPIRequestShapes(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	_, tok := a.newUserToken(t, "alice@example.com")
	base := a.url + "/arvados/v1/groups"
	mp, mpType := rapiMultipart(t, map[string]string{"group": `{"name":"multipart","group_class":"project"}`})

	// Creates in every shape.
	for _, tc := range []struct {
		name, url string
		body      []byte
		ct        string
		want      string
	}{
		{"json body", base, []byte(`{"group":{"name":"json","group_class":"project"}}`), rapiCTJSON, "json"},
		{"json string attrs", base, []byte(`{"group":"{\"name\":\"jsonstr\",\"group_class\":\"project\"}"}`), rapiCTJSON, "jsonstr"},
		{"form", base, []byte("group=" + url.QueryEscape(`{"name":"form","group_class":"project"}`)), rapiCTForm, "form"},
		{"multipart", base, mp, mpType, "multipart"},
		{"query", base + "?group=" + url.QueryEscape(`{"name":"query","group_class":"project"}`), nil, "", "query"},
	} {
		t.Run("create "+tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ct != "" {
				hdr = []string{"Content-Type", tc.ct}
			}
			r := do(t, http.MethodPost, tc.url, tok, tc.body, hdr...)
			require.Equal(t, 200, r.status, string(r.body))
			m := identJSON(t, r)
			assert.Equal(t, tc.want, m["name"])
			assert.Equal(t, "arvados#group", m["kind"])
			assert.True(t, strings.HasPrefix(m["uuid"].(string), "zzzza-j7d0g-"))
		})
	}

	// Lists in every shape, all asking for the same page.
	filters := `[["name","in",["json","form","query"]]]`
	q := url.Values{"filters": {filters}, "order": {"name asc"}, "limit": {"2"}}
	mp2, mpType2 := rapiMultipart(t, map[string]string{"_method": "GET", "filters": filters, "order": "name asc", "limit": "2"})
	for _, tc := range []struct {
		name, method, url string
		body              []byte
		hdr               []string
	}{
		{"query", "GET", base + "?" + q.Encode(), nil, nil},
		{"POST _method=GET form", "POST", base, []byte("_method=GET&" + q.Encode()), []string{"Content-Type", rapiCTForm}},
		{"POST _method=GET query", "POST", base + "?_method=GET&" + q.Encode(), nil, nil},
		{"POST _method=GET json", "POST", base, []byte(`{"_method":"GET","filters":` + filters + `,"order":["name asc"],"limit":2}`), []string{"Content-Type", rapiCTJSON}},
		{"POST _method=GET multipart", "POST", base, mp2, []string{"Content-Type", mpType2}},
		{"X-Http-Method-Override", "POST", base, []byte(q.Encode()), []string{"Content-Type", rapiCTForm, "X-Http-Method-Override", "GET"}},
		{"api_token in form", "POST", base, []byte("_method=GET&api_token=" + url.QueryEscape(tok) + "&" + q.Encode()), []string{"Content-Type", rapiCTForm}},
	} {
		t.Run("list "+tc.name, func(t *testing.T) {
			token := tok
			if strings.Contains(tc.name, "api_token") {
				token = ""
			}
			l := rapiDecodeList(t, do(t, tc.method, tc.url, token, tc.body, tc.hdr...))
			assert.Equal(t, "arvados#groupList", l.Kind)
			assert.Equal(t, 3, l.ItemsAvailable)
			assert.Equal(t, 2, l.Limit)
			assert.Equal(t, 0, l.Offset)
			require.Len(t, l.Items, 2)
			assert.Equal(t, "form", l.Items[0]["name"])
			assert.Equal(t, "json", l.Items[1]["name"])
		})
	}
}

func TestRecordsAPIList(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	_, tok := a.newUserToken(t, "alice@example.com")
	for _, n := range []string{"w-c", "w-a", "w-b"} {
		r := do(t, http.MethodPost, a.url+"/arvados/v1/workflows", tok, []byte(`{"workflow":{"name":"`+n+`","definition":"x"}}`), "Content-Type", rapiCTJSON)
		require.Equal(t, 200, r.status, string(r.body))
	}
	list := func(q url.Values) result {
		return do(t, http.MethodGet, a.url+"/arvados/v1/workflows?"+q.Encode(), tok, nil)
	}
	names := func(l rapiList) []string {
		var out []string
		for _, it := range l.Items {
			s, _ := it["name"].(string)
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		q     url.Values
		want  []string
		avail int
	}{
		{"order asc", url.Values{"order": {"name asc"}}, []string{"w-a", "w-b", "w-c"}, 3},
		{"order desc json", url.Values{"order": {`["name desc"]`}}, []string{"w-c", "w-b", "w-a"}, 3},
		{"offset limit", url.Values{"order": {"name"}, "offset": {"1"}, "limit": {"1"}}, []string{"w-b"}, 3},
		{"filter like", url.Values{"filters": {`[["name","like","w-%"],["name","!=","w-b"]]`}, "order": {"name"}}, []string{"w-a", "w-c"}, 2},
		{"single filter", url.Values{"filters": {`["name","=","w-c"]`}}, []string{"w-c"}, 1},
		{"where", url.Values{"where": {`{"name":"w-a"}`}}, []string{"w-a"}, 1},
		{"where in", url.Values{"where": {`{"name":["w-a","w-b"]}`}, "order": {"name"}}, []string{"w-a", "w-b"}, 2},
		{"limit 0 counts", url.Values{"limit": {"0"}}, nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := rapiDecodeList(t, list(tc.q))
			assert.Equal(t, "arvados#workflowList", l.Kind)
			assert.Equal(t, tc.want, names(l))
			assert.Equal(t, tc.avail, l.ItemsAvailable)
		})
	}
	l := rapiDecodeList(t, list(url.Values{"select": {`["uuid","name"]`}, "limit": {"1"}}))
	require.Len(t, l.Items, 1)
	assert.Len(t, l.Items[0], 2)

	for _, q := range []url.Values{
		{"filters": {`[["name","=="]]`}},
		{"filters": {`not json`}},
		{"limit": {"x"}},
		{"offset": {"-1"}},
		{"order": {"nosuchattr desc"}},
		{"select": {`["nosuchattr"]`}},
	} {
		r := list(q)
		assertJSONError(t, r, 422, "")
	}
}

func TestRecordsAPICRUD(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	alice, tok := a.newUserToken(t, "alice@example.com")
	for _, tc := range []struct {
		kind, singular, attrs, update, field, value string
	}{
		{"groups", "group", `{"name":"g","group_class":"project"}`, `{"name":"g2"}`, "name", "g2"},
		{"links", "link", `{"link_class":"tag","name":"t","head_uuid":"` + alice.UUID + `","tail_uuid":"` + alice.UUID + `"}`, `{"name":"t2"}`, "name", "t2"},
		{"collections", "collection", `{"name":"c"}`, `{"name":"c2"}`, "name", "c2"},
		{"workflows", "workflow", `{"name":"w"}`, `{"description":"d"}`, "description", "d"},
		{"api_client_authorizations", "api_client_authorization", `{}`, `{"scopes":["GET /"]}`, "scopes", ""},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			base := a.url + "/arvados/v1/" + tc.kind
			r := do(t, http.MethodPost, base, tok, []byte(`{"`+tc.singular+`":`+tc.attrs+`}`), "Content-Type", rapiCTJSON)
			require.Equal(t, 200, r.status, string(r.body))
			uuid := identJSON(t, r)["uuid"].(string)
			r = do(t, http.MethodGet, base+"/"+uuid, tok, nil)
			require.Equal(t, 200, r.status, string(r.body))
			assert.Equal(t, uuid, identJSON(t, r)["uuid"])
			for _, m := range []string{http.MethodPut, http.MethodPatch} {
				r = do(t, m, base+"/"+uuid, tok, []byte(`{"`+tc.singular+`":`+tc.update+`}`), "Content-Type", rapiCTJSON)
				require.Equal(t, 200, r.status, string(r.body))
				if tc.value != "" {
					assert.Equal(t, tc.value, identJSON(t, r)[tc.field])
				}
			}
			r = do(t, http.MethodDelete, base+"/"+uuid, tok, nil)
			require.Equal(t, 200, r.status, string(r.body))
			assert.Equal(t, uuid, identJSON(t, r)["uuid"])
			r = do(t, http.MethodGet, base+"/"+uuid, tok, nil)
			assertJSONError(t, r, 404, "")
		})
	}
	// Users: only admins create them.
	r := do(t, http.MethodPost, a.url+"/arvados/v1/users", tok, []byte(`{"user":{"email":"x@example.com"}}`), "Content-Type", rapiCTJSON)
	assertJSONError(t, r, 403, "")
	r = do(t, http.MethodPost, a.url+"/arvados/v1/users", testRootToken, []byte(`{"user":{"email":"x@example.com","first_name":"X"}}`), "Content-Type", rapiCTJSON)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "X", identJSON(t, r)["full_name"])

	r = do(t, http.MethodOptions, a.url+"/arvados/v1/collections", "", nil)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, r.header.Get("Access-Control-Allow-Headers"), "X-Http-Method-Override")

	for _, tc := range []struct {
		method, path, token string
		body                []byte
		status              int
		msg                 string
	}{
		{"GET", "/arvados/v1/groups", "", nil, 401, "Not logged in"},
		{"GET", "/arvados/v1/groups", "bogus", nil, 401, "Not logged in"},
		{"GET", "/arvados/v1/groupsx", tok, nil, 404, ""},
		{"GET", "/arvados/v1/groups/a/b", tok, nil, 404, ""},
		{"GET", "/arvados/v1/groups/zzzza-j7d0g-000000000000abc", tok, nil, 404, ""},
		{"PUT", "/arvados/v1/groups", tok, nil, 405, ""},
		{"POST", "/arvados/v1/users/current", tok, nil, 405, ""},
		{"POST", "/arvados/v1/groups", tok, []byte(`{"group":{"bogus_attr":1}}`), 422, "bogus_attr"},
		{"POST", "/arvados/v1/groups", tok, []byte(`{"group":[1]}`), 422, ""},
		{"POST", "/arvados/v1/groups", tok, []byte(`{not json`), 400, ""},
	} {
		r := do(t, tc.method, a.url+tc.path, tc.token, tc.body, "Content-Type", rapiCTJSON)
		assertJSONError(t, r, tc.status, tc.msg)
	}
}

func TestRecordsAPIPermissions(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	_, alice := a.newUserToken(t, "alice@example.com")
	bob, bobTok := a.newUserToken(t, "bob@example.com")
	_, carol := a.newUserToken(t, "carol@example.com")
	post := func(tok, kind, body string) map[string]any {
		r := do(t, http.MethodPost, a.url+"/arvados/v1/"+kind, tok, []byte(body), "Content-Type", rapiCTJSON)
		require.Equal(t, 200, r.status, string(r.body))
		return identJSON(t, r)
	}
	proj := post(alice, "groups", `{"group":{"name":"p","group_class":"project"}}`)["uuid"].(string)
	coll := post(alice, "collections", `{"collection":{"name":"c","owner_uuid":"`+proj+`"}}`)["uuid"].(string)
	get := func(tok string) int {
		return do(t, http.MethodGet, a.url+"/arvados/v1/collections/"+coll, tok, nil).status
	}
	update := func(tok string) int {
		return do(t, http.MethodPatch, a.url+"/arvados/v1/collections/"+coll, tok, []byte(`{"collection":{"name":"n"}}`), "Content-Type", rapiCTJSON).status
	}
	visible := func(tok string) bool {
		l := rapiDecodeList(t, do(t, http.MethodGet, a.url+"/arvados/v1/collections", tok, nil))
		for _, u := range rapiUUIDs(l) {
			if u == coll {
				return true
			}
		}
		return false
	}
	// Owner: everything; others: nothing, and not told it exists.
	assert.Equal(t, 200, get(alice))
	assert.Equal(t, 200, update(alice))
	assert.Equal(t, 404, get(bobTok))
	assert.Equal(t, 404, update(bobTok))
	assert.False(t, visible(bobTok))
	assert.Equal(t, 404, do(t, http.MethodDelete, a.url+"/arvados/v1/collections/"+coll, bobTok, nil).status)

	// A can_read link for bob on the project: bob reads, cannot write.
	post(alice, "links", `{"link":{"link_class":"permission","name":"can_read","tail_uuid":"`+bob.UUID+`","head_uuid":"`+proj+`"}}`)
	assert.Equal(t, 200, get(bobTok))
	assert.True(t, visible(bobTok))
	assert.Equal(t, 403, update(bobTok))
	assert.Equal(t, 404, get(carol))

	// Shared with All users: carol reads too.
	post(alice, "links", `{"link":{"link_class":"permission","name":"can_read","tail_uuid":"`+a.st.AllUsersGroupUUID()+`","head_uuid":"`+proj+`"}}`)
	assert.Equal(t, 200, get(carol))
	assert.True(t, visible(carol))
	assert.Equal(t, 403, update(carol))
	// The system user sees everything.
	assert.Equal(t, 200, get(testRootToken))
}

func TestRecordsAPICollectionSignatures(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	_, alice := a.newUserToken(t, "alice@example.com")
	bob, bobTok := a.newUserToken(t, "bob@example.com")
	ring := a.srv.KeyRing()
	data := []byte("foo")
	plain := md5hex(data) + "+3"
	exp := time.Now().Add(time.Hour)
	signed := ring.Sign(plain, alice, exp)
	other := signing.NewKeyRing(ring.TTL(), []byte("some-other-key-0123456789abcdefghijklmnopqrstuvwxyz")).Sign(plain, alice, exp)
	mt := func(loc string) string { return ". " + loc + " 0:3:foo.txt\n" }
	create := func(tok, manifest string) result {
		body, _ := json.Marshal(map[string]any{"collection": map[string]any{"name": "c", "manifest_text": manifest}})
		return do(t, http.MethodPost, a.url+"/arvados/v1/collections", tok, body, "Content-Type", rapiCTJSON)
	}
	for _, tc := range []struct {
		name, manifest string
		status         int
		msg            string
	}{
		{"signed", mt(signed), 200, ""},
		{"signed plus other hints", ". " + signed + "+K@zzzzb 0:3:foo.txt\n", 200, ""},
		{"empty block unsigned", ". d41d8cd98f00b204e9800998ecf8427e+0 0:0:empty.txt\n", 200, ""},
		{"empty manifest", "", 200, ""},
		{"unsigned", mt(plain), 422, "invalid signature on locator " + plain},
		{"signed for bob", mt(ring.Sign(plain, bobTok, exp)), 422, "invalid signature on locator " + plain + "+A"},
		{"other key", mt(other), 422, "invalid signature on locator"},
		{"expired", mt(ring.Sign(plain, alice, time.Now().Add(-time.Minute))), 422, "expired"},
		{"+R only", mt(plain + "+Rzzzzb-" + strings.Repeat("a", 40) + "@7fffffff"), 422, "invalid signature on locator " + plain + "+Rzzzzb"},
		{"second block bad", ". " + signed + " " + md5hex([]byte("bar")) + "+3 0:6:foo.txt\n", 422, md5hex([]byte("bar")) + "+3"},
		{"not a manifest", "garbage\n", 422, "invalid manifest_text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := create(alice, tc.manifest)
			if tc.status != 200 {
				assertJSONError(t, r, tc.status, tc.msg)
				return
			}
			require.Equal(t, 200, r.status, string(r.body))
			m := identJSON(t, r)
			assert.NotEmpty(t, m["portable_data_hash"])
			// Stored unsigned.
			rec, err := a.st.Get(store.Collections, m["uuid"].(string), a.st.System())
			require.NoError(t, err)
			assert.NotContains(t, rec.StringAttr("manifest_text"), "+A")
			assert.Nil(t, m["unsigned_manifest_text"])
		})
	}

	r := create(alice, mt(signed))
	require.Equal(t, 200, r.status)
	m := identJSON(t, r)
	uuid, pdh := m["uuid"].(string), m["portable_data_hash"].(string)
	assert.Equal(t, md5hex([]byte(mt(plain)))+"+"+itoa(len(mt(plain))), pdh)
	rapiAssertSignedFor(t, ring, m["manifest_text"].(string), alice)

	// Share with bob: bob's reads are signed for bob's token.
	r = do(t, http.MethodPost, a.url+"/arvados/v1/links", alice, []byte(`{"link":{"link_class":"permission","name":"can_read","tail_uuid":"`+bob.UUID+`","head_uuid":"`+uuid+`"}}`), "Content-Type", rapiCTJSON)
	require.Equal(t, 200, r.status, string(r.body))
	for _, p := range []string{"/arvados/v1/collections/" + uuid, "/arvados/v1/collections/" + pdh} {
		r = do(t, http.MethodGet, a.url+p, bobTok, nil)
		require.Equal(t, 200, r.status, string(r.body))
		m = identJSON(t, r)
		rapiAssertSignedFor(t, ring, m["manifest_text"].(string), bobTok)
	}
	// By PDH: only the four fields, uuid is the PDH.
	assert.Len(t, m, 4)
	assert.Equal(t, pdh, m["uuid"])
	assert.Equal(t, pdh, m["portable_data_hash"])
	assert.Contains(t, m, "trash_at")
	// PDH hints are ignored; unreadable content is 404.
	assert.Equal(t, 200, do(t, http.MethodGet, a.url+"/arvados/v1/collections/"+pdh+"+Kzzzzb", bobTok, nil).status)
	_, carol := a.newUserToken(t, "carol@example.com")
	assertJSONError(t, do(t, http.MethodGet, a.url+"/arvados/v1/collections/"+pdh, carol, nil), 404, "")

	// unsigned_manifest_text only when selected.
	l := rapiDecodeList(t, do(t, http.MethodGet, a.url+"/arvados/v1/collections?select="+url.QueryEscape(`["uuid","unsigned_manifest_text"]`)+"&filters="+url.QueryEscape(`[["uuid","=","`+uuid+`"]]`), alice, nil))
	require.Len(t, l.Items, 1)
	assert.Equal(t, map[string]any{"uuid": uuid, "unsigned_manifest_text": mt(plain)}, l.Items[0])
	r = do(t, http.MethodGet, a.url+"/arvados/v1/collections/"+uuid+"?select="+url.QueryEscape(`["manifest_text","unsigned_manifest_text"]`), alice, nil)
	m = identJSON(t, r)
	assert.Equal(t, mt(plain), m["unsigned_manifest_text"])
	rapiAssertSignedFor(t, ring, m["manifest_text"].(string), alice)

	// Updates are checked the same way.
	r = do(t, http.MethodPut, a.url+"/arvados/v1/collections/"+uuid, alice, []byte(`{"collection":{"manifest_text":"`+strings.TrimSuffix(mt(plain), "\n")+`\n"}}`), "Content-Type", rapiCTJSON)
	assertJSONError(t, r, 422, plain)
}

func rapiAssertSignedFor(t testing.TB, ring *signing.KeyRing, manifest, token string) {
	t.Helper()
	fields := strings.Fields(manifest)
	require.GreaterOrEqual(t, len(fields), 2, manifest)
	assert.NoError(t, ring.Verify(fields[1], token, time.Now().Unix()), manifest)
}

func TestRecordsAPIBlobSigningOff(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), func(cfg *config.ClusterConfig) {
		off := false
		cfg.Collections.BlobSigning = &off
	})
	_, alice := a.newUserToken(t, "alice@example.com")
	m := ". " + md5hex([]byte("foo")) + "+3 0:3:foo.txt\n"
	body, _ := json.Marshal(map[string]any{"collection": map[string]any{"manifest_text": m}})
	r := do(t, http.MethodPost, a.url+"/arvados/v1/collections", alice, body, "Content-Type", rapiCTJSON)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, m, identJSON(t, r)["manifest_text"])
}

func TestRecordsAPITokenEndpoint(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	for _, tc := range []struct {
		name, auth, body string
		status           int
		admin            bool
	}{
		{"root token", testRootToken, `{"email":"ops@example.com"}`, 200, false},
		{"management token may not mint", testMgmtToken, `{"email":"ops@example.com"}`, 403, false},
		{"root token admin", testRootToken, `{"email":"boss@example.com","admin":true}`, 200, true},
		{"default system user", testRootToken, ``, 200, true},
		{"no token", "", `{}`, 401, false},
		{"user token", "v2/zzzza-gj3su-000000000000001/" + strings.Repeat("a", 50), `{}`, 403, false},
		{"bad body", testRootToken, `{`, 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, a.url+identity.TokenManagementPath, tc.auth, []byte(tc.body), "Content-Type", rapiCTJSON)
			if tc.status != 200 {
				assertJSONError(t, r, tc.status, "")
				return
			}
			require.Equal(t, 200, r.status, string(r.body))
			var it identity.IssuedToken
			require.NoError(t, json.Unmarshal(r.body, &it))
			r = do(t, http.MethodGet, a.url+"/arvados/v1/users/current", it.Token, nil)
			require.Equal(t, 200, r.status, string(r.body))
			u := identJSON(t, r)
			assert.Equal(t, it.UserUUID, u["uuid"])
			assert.Equal(t, tc.admin, u["is_admin"])
		})
	}
}

func TestIdentityIssueToken(t *testing.T) {
	// No server: the CLI path opens the store itself.
	cfg := testConfig(t, "zzzza")
	it, err := identity.IssueToken(cfg, identity.IssueTokenRequest{Email: "dora@example.com", TTL: time.Hour})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(it.Token, "v2/zzzza-gj3su-"))
	st, err := identity.OpenEmbeddedStore(cfg)
	require.NoError(t, err)
	a, err := st.LookupToken(it.Token, "")
	require.NoError(t, err)
	assert.Equal(t, "dora@example.com", a.User.Email)
	require.NotNil(t, a.Token.ExpiresAt)
	require.NoError(t, st.Close())

	// A running server holds the store: identity.IssueToken asks it.
	ln := identListen(t)
	ic := identStart(t, "zzzza", ln, func(c *config.ClusterConfig) { c.KeepFed.DataDir = cfg.KeepFed.DataDir })
	cfg.KeepFed.Listen = ic.cfg.KeepFed.Listen
	it2, err := identity.IssueToken(cfg, identity.IssueTokenRequest{Email: "dora@example.com"})
	require.NoError(t, err)
	assert.Equal(t, it.UserUUID, it2.UserUUID)
	r := do(t, http.MethodGet, ic.url+"/arvados/v1/users/current", it2.Token, nil)
	assert.Equal(t, 200, r.status, string(r.body))

	// Without credentials to ask it: a clear error.
	cfg.ManagementToken, cfg.SystemRootToken = "", ""
	_, err = identity.IssueToken(cfg, identity.IssueTokenRequest{})
	assert.ErrorContains(t, err, "in use by a running server")
}

// TestRecordsAPIShapesEveryKind: for every record type, create and
// update accept the attributes wrapped in the type's singular name, at the
// top level of a JSON body (Rails' parameter wrapping, what the Python
// SDK sends), and as JSON text in a form; PATCH, PUT and POST with
// _method=PATCH update alike; select shapes the answer; and a body with no
// attribute of the type is a 422 naming it, never an empty record.
func TestRecordsAPIShapesEveryKind(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	u, tok := a.newUserToken(t, "shapes@example.com")
	root := testRootToken
	kinds := []struct {
		path, singular, token string
		attrs                 map[string]any
		update                map[string]any
		check                 string // attribute the update changes
	}{
		{"groups", "group", tok, map[string]any{"name": "g", "group_class": "project"}, map[string]any{"name": "g2"}, "name"},
		{"collections", "collection", tok, map[string]any{"name": "c", "manifest_text": ""}, map[string]any{"name": "c2"}, "name"},
		{"workflows", "workflow", tok, map[string]any{"name": "w", "definition": "cwlVersion: v1.2"}, map[string]any{"name": "w2"}, "name"},
		{"links", "link", tok, map[string]any{"link_class": "tag", "name": "l", "head_uuid": u.UUID}, map[string]any{"name": "l2"}, "name"},
		{"users", "user", root, map[string]any{"email": "made@example.com", "first_name": "Made"}, map[string]any{"first_name": "Remade"}, "first_name"},
		{"api_client_authorizations", "api_client_authorization", tok, map[string]any{"scopes": []string{"all"}}, map[string]any{"scopes": []string{"GET /arvados/v1/users/current"}}, "scopes"},
	}
	for _, k := range kinds {
		t.Run(k.path, func(t *testing.T) {
			base := a.url + "/arvados/v1/" + k.path
			wrapped, _ := json.Marshal(map[string]any{k.singular: k.attrs})
			top := map[string]any{"alt": "json", "select": []string{}}
			for n, v := range k.attrs {
				top[n] = v
			}
			topBody, _ := json.Marshal(top)
			attrsJSON, _ := json.Marshal(k.attrs)
			form := url.Values{k.singular: {string(attrsJSON)}}.Encode()
			var uuids []string
			for _, c := range []struct {
				name, ct string
				body     []byte
			}{
				{"wrapped", rapiCTJSON, wrapped},
				{"top level", rapiCTJSON, topBody},
				{"form", rapiCTForm, []byte(form)},
			} {
				r := do(t, http.MethodPost, base+"?alt=json", k.token, c.body, "Content-Type", c.ct)
				require.Equal(t, 200, r.status, "%s: %s", c.name, r.body)
				m := identJSON(t, r)
				for n, v := range k.attrs {
					want, _ := json.Marshal(v)
					got, _ := json.Marshal(m[n])
					assert.JSONEq(t, string(want), string(got), "%s: %s kept", c.name, n)
				}
				uuids = append(uuids, m["uuid"].(string))
			}
			upd, _ := json.Marshal(k.update)
			want, _ := json.Marshal(k.update[k.check])
			for i, c := range []struct {
				method, query string
				body          []byte
			}{
				{http.MethodPut, "?alt=json", upd},
				{http.MethodPatch, "", upd},
				{http.MethodPost, "?_method=PATCH", upd},
			} {
				sep := "?"
				if c.query != "" {
					sep = "&"
				}
				r := do(t, c.method, base+"/"+uuids[i]+c.query+sep+"select=%5B%22uuid%22%2C%22"+k.check+"%22%5D", k.token, c.body, "Content-Type", rapiCTJSON)
				require.Equal(t, 200, r.status, "%s %s: %s", c.method, c.query, r.body)
				m := identJSON(t, r)
				got, _ := json.Marshal(m[k.check])
				assert.JSONEq(t, string(want), string(got), "%s%s applied the top-level update", c.method, c.query)
				assert.Len(t, m, 2, "select keeps only uuid and %s", k.check)
			}
			for _, body := range []string{`{}`, `{"ensure_unique_name":true,"alt":"json"}`, `{"no_such_attribute":1}`} {
				r := do(t, http.MethodPost, base, k.token, []byte(body), "Content-Type", rapiCTJSON)
				assertJSONError(t, r, http.StatusUnprocessableEntity, k.singular)
				r = do(t, http.MethodPut, base+"/"+uuids[0], k.token, []byte(body), "Content-Type", rapiCTJSON)
				assertJSONError(t, r, http.StatusUnprocessableEntity, k.singular)
			}
		})
	}
}
