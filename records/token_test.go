package records

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestThirdPartyToken: a token issued by C, used at A, for a record on B,
// is salted for B and keeps C as issuer; a token issued by B goes to B
// unchanged.
func TestThirdPartyToken(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	for _, tc := range []struct{ tok, want string }{
		{tokC, mustSalt(t, tokC, idB)},
		{tokB, tokB},
		{tokB + "/zbbbb-dz642-000000000000009", tokB + "/zbbbb-dz642-000000000000009"},
	} {
		resp := call(e.h, "GET", "/arvados/v1/container_requests/zbbbb-xvhdp-000000000000001", nil, "Authorization", "OAuth2 "+tc.tok)
		if resp.StatusCode() != 200 {
			t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
		}
		got := strings.TrimPrefix(b.last(t).Auth, "Bearer ")
		if got != tc.want {
			t.Errorf("token %q: sent %q want %q", tc.tok, got, tc.want)
		}
		if tc.tok == tokC && !strings.HasPrefix(got, "v2/zcccc-gj3su-") {
			t.Errorf("issuer lost: %q", got)
		}
	}
}

// TestTokenSources: wherever the client put its token, it reaches the
// remote only salted, in Authorization.
func TestTokenSources(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{}, b)
	want := "Bearer " + mustSalt(t, tokA, idB)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+tokA))
	cookie := "arvados_api_token=" + base64.URLEncoding.EncodeToString([]byte(tokA))
	cases := []struct {
		name, uri string
		body      []byte
		hdr       []string
	}{
		{"bearer", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", nil, []string{"Authorization", "Bearer " + tokA}},
		{"basic", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", nil, []string{"Authorization", basic}},
		{"query", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001?api_token=" + tokA, nil, nil},
		{"cookie", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", nil, []string{"Cookie", cookie}},
		{"form", "/arvados/v1/groups/zbbbb-j7d0g-000000000000001", formBody("api_token", tokA, "a", "b"),
			[]string{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.body != nil {
				method = "PUT"
			}
			resp := call(e.h, method, tc.uri, tc.body, tc.hdr...)
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d %s", resp.StatusCode(), resp.Body())
			}
			r := b.last(t)
			if r.Auth != want {
				t.Errorf("Authorization %q want %q", r.Auth, want)
			}
			if strings.Contains(r.Query+string(r.Body)+r.Cookie, "api_token") {
				t.Errorf("token leaked: query %q body %q cookie %q", r.Query, r.Body, r.Cookie)
			}
		})
	}
}

// TestSaltErrors: tokens that cannot be salted for the target are 401 and
// nothing is contacted; a v1 token is upgraded when an upgrader knows it.
func TestSaltErrors(t *testing.T) {
	b := newFakeCluster(t, idB)
	v1 := strings.Repeat("x", 45)
	saltedForA := mustSalt(t, tokC, localID)
	cases := []struct {
		name, tok string
		upgrade   func(string) (string, bool)
		status    int
		wantAuth  string
		wantErr   string
	}{
		{name: "v1 without upgrader", tok: v1, status: 401, wantErr: "obsolete token format"},
		{name: "v1 unknown", tok: v1, upgrade: func(string) (string, bool) { return "", false }, status: 401, wantErr: "obsolete"},
		{name: "v1 upgraded", tok: v1, upgrade: func(s string) (string, bool) { return "v2/zaaaa-gj3su-000000000000007/" + s, true },
			status: 200, wantAuth: "Bearer " + mustSalt(t, "v2/zaaaa-gj3su-000000000000007/"+v1, idB)},
		{name: "already salted", tok: saltedForA, status: 401, wantErr: "token already salted"},
		{name: "opaque", tok: "eyJhbGciOi.x.y", status: 401, wantErr: "badly formatted token"},
		{name: "none", tok: "", status: 200, wantAuth: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{UpgradeV1: tc.upgrade}, b)
			before := len(b.requests())
			var hdr []string
			if tc.tok != "" {
				hdr = []string{"Authorization", "Bearer " + tc.tok}
			}
			resp := call(e.h, "GET", "/arvados/v1/workflows/"+wfB, nil, hdr...)
			if resp.StatusCode() != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode(), tc.status, resp.Body())
			}
			if tc.status != 200 {
				if errs := errorsOf(t, resp); len(errs) != 1 || !strings.Contains(errs[0], tc.wantErr) || !strings.Contains(errs[0], idB) {
					t.Errorf("errors %q", errs)
				}
				if len(b.requests()) != before {
					t.Error("remote contacted")
				}
				return
			}
			if got := b.last(t).Auth; got != tc.wantAuth {
				t.Errorf("Authorization %q want %q", got, tc.wantAuth)
			}
		})
	}
}
