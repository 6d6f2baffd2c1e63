package keepfed

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/manifest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// authzMintToken creates a token through the records API with tok and
// returns the HTTP result; scopes nil sends no scopes attribute.
func authzMintToken(t *testing.T, url, tok string, scopes []string) result {
	t.Helper()
	attrs := map[string]any{}
	if scopes != nil {
		attrs["scopes"] = scopes
	}
	body, err := json.Marshal(map[string]any{"api_client_authorization": attrs})
	require.NoError(t, err)
	return do(t, http.MethodPost, url+"/arvados/v1/api_client_authorizations", tok, body, "Content-Type", rapiCTJSON)
}

// authzScoped mints a token with scopes and returns it in v2 form with
// its uuid.
func authzScoped(t *testing.T, url, tok string, scopes ...string) (string, string) {
	t.Helper()
	r := authzMintToken(t, url, tok, scopes)
	require.Equal(t, 200, r.status, string(r.body))
	m := identJSON(t, r)
	uuid, _ := m["uuid"].(string)
	secret, _ := m["api_token"].(string)
	require.NotEmpty(t, secret)
	return "v2/" + uuid + "/" + secret, uuid
}

// TestScopedTokens: token scopes are enforced on every path that takes a
// user's token — the records API (403 before any record is touched),
// block writes, and the token endpoint — and a scoped token cannot mint
// or turn itself into a broader one. Block reads are authorised by their
// +A signature, which the API hands out only where the scopes allow.
func TestScopedTokens(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	_, alice := a.newUserToken(t, "alice@example.com")

	data := []byte("scoped block")
	hash := md5hex(data)
	r := do(t, http.MethodPut, a.url+"/"+hash, alice, data)
	require.Equal(t, 200, r.status, string(r.body))
	loc := strings.TrimSpace(string(r.body))
	body, _ := json.Marshal(map[string]any{"collection": map[string]any{"name": "c", "manifest_text": ". " + loc + " 0:12:f.txt\n"}})
	r = do(t, http.MethodPost, a.url+"/arvados/v1/collections", alice, body, "Content-Type", rapiCTJSON)
	require.Equal(t, 200, r.status, string(r.body))
	coll := identJSON(t, r)["uuid"].(string)

	// The baseline: alice's own (all) token mints an all token.
	r = authzMintToken(t, a.url, alice, []string{"all"})
	require.Equal(t, 200, r.status, string(r.body))

	userOnly, userOnlyUUID := authzScoped(t, a.url, alice, "GET /arvados/v1/users/current")
	readColls, readCollsUUID := authzScoped(t, a.url, alice,
		"GET /arvados/v1/collections/",
		"POST /arvados/v1/api_client_authorizations",
		"PATCH /arvados/v1/api_client_authorizations/",
		"PUT /")
	put := func(tok string) result { return do(t, http.MethodPut, a.url+"/"+hash, tok, data) }
	patchScopes := func(tok, uuid string, scopes []string) result {
		b, _ := json.Marshal(map[string]any{"api_client_authorization": map[string]any{"scopes": scopes}})
		return do(t, http.MethodPatch, a.url+"/arvados/v1/api_client_authorizations/"+uuid, tok, b, "Content-Type", rapiCTJSON)
	}
	for _, tc := range []struct {
		name   string
		send   func() result
		status int
	}{
		{"users/current: allowed by its scope", func() result { return do(t, "GET", a.url+"/arvados/v1/users/current", userOnly, nil) }, 200},
		{"api_client_authorizations/current: always allowed", func() result {
			return do(t, "GET", a.url+"/arvados/v1/api_client_authorizations/current", userOnly, nil)
		}, 200},
		{"list collections", func() result { return do(t, "GET", a.url+"/arvados/v1/collections", userOnly, nil) }, 403},
		{"get a collection", func() result { return do(t, "GET", a.url+"/arvados/v1/collections/"+coll, userOnly, nil) }, 403},
		{"get a collection, token in the query", func() result {
			return do(t, "GET", a.url+"/arvados/v1/collections/"+coll+"?api_token="+userOnly, "", nil)
		}, 403},
		{"create a collection", func() result {
			return do(t, "POST", a.url+"/arvados/v1/collections", userOnly, []byte(`{}`), "Content-Type", rapiCTJSON)
		}, 403},
		{"method override does not escape the scope", func() result {
			return do(t, "POST", a.url+"/arvados/v1/collections", userOnly, nil, "X-Http-Method-Override", "GET")
		}, 403},
		{"list users", func() result { return do(t, "GET", a.url+"/arvados/v1/users", userOnly, nil) }, 403},
		{"write a block", func() result { return put(userOnly) }, 403},
		{"mint a token", func() result { return authzMintToken(t, a.url, userOnly, []string{"all"}) }, 403},
		{"mint a token at the token endpoint", func() result {
			return do(t, "POST", a.url+identity.TokenManagementPath, userOnly, []byte(`{"email":"x@example.com","admin":true}`))
		}, 403},
		{"widen itself", func() result { return patchScopes(userOnly, userOnlyUUID, []string{"all"}) }, 403},

		{"prefix scope: get a collection", func() result { return do(t, "GET", a.url+"/arvados/v1/collections/"+coll, readColls, nil) }, 200},
		{"prefix scope: not the list", func() result { return do(t, "GET", a.url+"/arvados/v1/collections", readColls, nil) }, 403},
		{"prefix scope: not users/current", func() result { return do(t, "GET", a.url+"/arvados/v1/users/current", readColls, nil) }, 403},
		{"prefix scope: no collection update", func() result {
			return do(t, "PATCH", a.url+"/arvados/v1/collections/"+coll, readColls, []byte(`{"collection":{"name":"x"}}`), "Content-Type", rapiCTJSON)
		}, 403},
		{"PUT / scope writes blocks", func() result { return put(readColls) }, 200},
		{"scoped: mint all", func() result { return authzMintToken(t, a.url, readColls, []string{"all"}) }, 403},
		{"scoped: mint with default scopes (all)", func() result { return authzMintToken(t, a.url, readColls, nil) }, 403},
		{"scoped: mint wider", func() result { return authzMintToken(t, a.url, readColls, []string{"GET /arvados/v1/"}) }, 403},
		{"scoped: mint narrower", func() result {
			return authzMintToken(t, a.url, readColls, []string{"GET /arvados/v1/collections/" + coll})
		}, 200},
		{"scoped: widen itself", func() result { return patchScopes(readColls, readCollsUUID, []string{"all"}) }, 403},
		{"scoped: widen itself by a prefix", func() result {
			return patchScopes(readColls, readCollsUUID, []string{"GET /arvados/v1/collections/", "GET /"})
		}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.send()
			if tc.status == 200 {
				assert.Equal(t, 200, r.status, string(r.body))
				return
			}
			assertJSONError(t, r, tc.status, "")
		})
	}

	// The collection read with the scoped token signs its blocks for that
	// token, and those signatures read the blocks (as keepstore, blocks
	// are authorised by signature, not by scope).
	r = do(t, "GET", a.url+"/arvados/v1/collections/"+coll, readColls, nil)
	require.Equal(t, 200, r.status, string(r.body))
	streams, err := manifest.Parse([]byte(identJSON(t, r)["manifest_text"].(string)))
	require.NoError(t, err)
	require.Len(t, streams, 1)
	r = do(t, "GET", a.url+"/"+streams[0].Locators[0], readColls, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, data, r.body)

	// Nothing above widened a token.
	r = do(t, "GET", a.url+"/arvados/v1/api_client_authorizations/current", readColls, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.NotContains(t, identJSON(t, r)["scopes"], "all")
	r = do(t, "GET", a.url+"/arvados/v1/api_client_authorizations/current", userOnly, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, []any{"GET /arvados/v1/users/current"}, identJSON(t, r)["scopes"])
}

// TestScopedRemoteToken: the scopes a token's home cluster reports apply
// here too — a peer's token scoped to users/current reads no collection
// and writes no block on this cluster.
func TestScopedRemoteToken(t *testing.T) {
	a, b := identPeers(t, "zzzza", "zzzzb", func(cfg *config.ClusterConfig) {
		rc := cfg.RemoteClusters["zzzza"]
		rc.ActivateUsers = true
		cfg.RemoteClusters["zzzza"] = rc
	})
	_, alice := a.newUserToken(t, "alice@example.com")
	scoped, _ := authzScoped(t, a.url, alice, "GET /arvados/v1/users/current")
	data := []byte("remote scoped block")

	r := do(t, "GET", b.url+"/arvados/v1/users/current", scoped, nil)
	require.Equal(t, 200, r.status, string(r.body))
	r = do(t, "GET", b.url+"/arvados/v1/collections", scoped, nil)
	assertJSONError(t, r, 403, "")
	r = do(t, http.MethodPut, b.url+"/"+md5hex(data), scoped, data)
	assertJSONError(t, r, 403, "")
	// alice's all token is still fine at B.
	r = do(t, http.MethodPut, b.url+"/"+md5hex(data), alice, data)
	assert.Equal(t, 200, r.status, string(r.body))
}

// TestInactiveFederatedUserSeesNoAllUsersData: a federated user under the
// default ActivateUsers: false is inactive here, so not a member of All
// users: it reads nothing shared with All users and lists no other
// user's email.
func TestInactiveFederatedUserSeesNoAllUsersData(t *testing.T) {
	a, b := identPeers(t, "zzzza", "zzzzb", nil) // B does not activate A's users
	_, bob := b.newUserToken(t, "bob@example.com")
	body, _ := json.Marshal(map[string]any{"collection": map[string]any{"name": "for all users"}})
	r := do(t, http.MethodPost, b.url+"/arvados/v1/collections", bob, body, "Content-Type", rapiCTJSON)
	require.Equal(t, 200, r.status, string(r.body))
	coll := identJSON(t, r)["uuid"].(string)
	link, _ := json.Marshal(map[string]any{"link": map[string]any{
		"link_class": "permission", "name": "can_read", "tail_uuid": b.st.AllUsersGroupUUID(), "head_uuid": coll}})
	r = do(t, http.MethodPost, b.url+"/arvados/v1/links", bob, link, "Content-Type", rapiCTJSON)
	require.Equal(t, 200, r.status, string(r.body))

	_, carol := b.newUserToken(t, "carol@example.com")
	r = do(t, http.MethodGet, b.url+"/arvados/v1/collections/"+coll, carol, nil)
	require.Equal(t, 200, r.status, "an active local user reads it: %s", r.body)

	u, alice := a.newUserToken(t, "alice@example.com")
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users/current", alice, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, false, identJSON(t, r)["is_active"])

	r = do(t, http.MethodGet, b.url+"/arvados/v1/collections/"+coll, alice, nil)
	assertJSONError(t, r, 404, "")
	r = do(t, http.MethodGet, b.url+"/arvados/v1/collections", alice, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Empty(t, rapiUUIDs(rapiDecodeList(t, r)))
	r = do(t, http.MethodGet, b.url+"/arvados/v1/users", alice, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, []string{u.UUID}, rapiUUIDs(rapiDecodeList(t, r)))
	assert.NotContains(t, string(r.body), "bob@example.com")
}

// TestManagementTokenCannotMintTokens: the ManagementToken opens health
// and metrics only; POST /_keepfed/tokens needs the SystemRootToken.
func TestManagementTokenCannotMintTokens(t *testing.T) {
	a := identStart(t, "zzzza", identListen(t), nil)
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"management token: health", "GET", "/_health/ping", testMgmtToken, "", 200},
		{"management token: metrics", "GET", "/metrics", testMgmtToken, "", 200},
		{"management token: no admin token", "POST", identity.TokenManagementPath, testMgmtToken, `{"email":"evil@example.com","admin":true}`, 403},
		{"management token: no root token", "POST", identity.TokenManagementPath, testMgmtToken, `{}`, 403},
		{"root token mints", "POST", identity.TokenManagementPath, testRootToken, `{"email":"ops@example.com"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := do(t, tc.method, a.url+tc.path, tc.token, body, "Content-Type", rapiCTJSON)
			if tc.status != 200 {
				assertJSONError(t, r, tc.status, "SystemRootToken")
				return
			}
			assert.Equal(t, 200, r.status, string(r.body))
		})
	}
	// The refused request promoted nobody and created no user.
	l, err := a.st.List(store.Users, store.ListOptions{}, a.st.System())
	require.NoError(t, err)
	for _, it := range l.Items {
		assert.NotEqual(t, "evil@example.com", it.StringAttr("email"))
	}
}

// TestRemoteTokenScopesAsReported: a peer's token has the scopes its home
// reports — absent or null is Arvados's default "all", an empty list
// allows nothing (it used to become "all") — and they apply here.
func TestRemoteTokenScopesAsReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scopes string // JSON, "" for no scopes attribute
		list   int    // GET /arvados/v1/collections
	}{
		{"absent", "", 200},
		{"null", "null", 200},
		{"all", `["all"]`, 200},
		{"empty", `[]`, 403},
		{"users/current only", `["GET /arvados/v1/users/current"]`, 403},
		{"collections list", `["GET /arvados/v1/collections"]`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/arvados/v1/api_client_authorizations/current":
					sc := ""
					if tc.scopes != "" {
						sc = `,"scopes":` + tc.scopes
					}
					io.WriteString(w, `{"uuid":"zzzzh-gj3su-000000000000001","owner_uuid":"zzzzh-tpzed-000000000000001"`+sc+`}`) //nolint:errcheck // test
				case "/arvados/v1/users/current":
					io.WriteString(w, `{"uuid":"zzzzh-tpzed-000000000000001","email":"h@example.com","is_active":true}`) //nolint:errcheck // test
				default:
					w.WriteHeader(404)
				}
			}))
			defer home.Close()
			hu, _ := neturl.Parse(home.URL)
			b := identStart(t, "zzzzb", identListen(t), func(cfg *config.ClusterConfig) {
				cfg.RemoteClusters = map[string]config.RemoteClusterConfig{"zzzzh": {Host: hu.Host, Scheme: "http"}}
			})
			tok := "v2/zzzzh-gj3su-000000000000001/" + strings.Repeat("a", 50)
			r := do(t, http.MethodGet, b.url+"/arvados/v1/api_client_authorizations/current", tok, nil)
			require.Equal(t, 200, r.status, string(r.body))
			r = do(t, http.MethodGet, b.url+"/arvados/v1/collections", tok, nil)
			if tc.list == 200 {
				assert.Equal(t, 200, r.status, string(r.body))
			} else {
				assertJSONError(t, r, tc.list, "scopes")
			}
		})
	}
}
