package identity

import (
	"strings"
	"testing"

	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
)

// TestScopesAllow is the scope rule of Arvados's API server
// (ApiClientAuthorization#scopes_allow_request?) as a table.
func TestScopesAllow(t *testing.T) {
	const colls = "/arvados/v1/collections"
	for _, tc := range []struct {
		name         string
		scopes       []string
		method, path string
		ok           bool
	}{
		{"all", []string{"all"}, "DELETE", colls + "/x", true},
		{"all with others", []string{"GET /a", "all"}, "POST", "/b", true},
		{"exact", []string{"GET /arvados/v1/users/current"}, "GET", "/arvados/v1/users/current", true},
		{"exact is not a prefix", []string{"GET " + colls}, "GET", colls + "/x", false},
		{"exact without slash lists", []string{"GET " + colls}, "GET", colls, true},
		{"prefix with slash", []string{"GET " + colls + "/"}, "GET", colls + "/zzzzz-4zz18-000000000000000", true},
		{"prefix with slash is not the list", []string{"GET " + colls + "/"}, "GET", colls, false},
		{"prefix is a string prefix", []string{"GET /arvados/v1/coll/"}, "GET", colls + "/x", false},
		{"method must match", []string{"GET " + colls + "/"}, "POST", colls + "/x", false},
		{"method is case-sensitive", []string{"get " + colls + "/"}, "GET", colls + "/x", false},
		{"HEAD via GET", []string{"GET " + colls + "/"}, "HEAD", colls + "/x", true},
		{"HEAD via HEAD", []string{"HEAD " + colls + "/"}, "HEAD", colls + "/x", true},
		{"GET not via HEAD", []string{"HEAD " + colls + "/"}, "GET", colls + "/x", false},
		{"GET / allows every GET", []string{"GET /"}, "GET", "/anything/at/all", true},
		{"GET / allows no write", []string{"GET /"}, "PUT", "/anything", false},
		{"PUT / allows block writes", []string{"PUT /"}, "PUT", "/acbd18db4cc2f85cedef654fccc4a4d8", true},
		{"users/current scope writes no block", []string{"GET /arvados/v1/users/current"}, "PUT", "/acbd18db4cc2f85cedef654fccc4a4d8", false},
		{"current token always", nil, "GET", store.CurrentTokenPath, true},
		{"current token always, scoped", []string{"GET /x"}, "GET", store.CurrentTokenPath, true},
		{"current token HEAD via GET rule", nil, "HEAD", store.CurrentTokenPath, false},
		{"current token: GET only", []string{"GET /x"}, "DELETE", store.CurrentTokenPath, false},
		{"users/current is not always allowed", []string{"GET /x"}, "GET", "/arvados/v1/users/current", false},
		{"empty scopes allow nothing", []string{}, "GET", "/", false},
		{"nil scopes allow nothing", nil, "GET", colls, false},
		{"malformed scope", []string{"GET"}, "GET", "/", false},
		{"scope without leading slash", []string{"GET arvados/"}, "GET", "arvados/x", false},
		{"dot segment escapes no prefix", []string{"GET " + colls + "/"}, "GET", colls + "/../users/x", false},
		{"dot segment, exact", []string{"GET " + colls + "/./x"}, "GET", colls + "/./x", false},
		{"dot segment, all", []string{"all"}, "GET", colls + "/../users", true},
		{"dots inside a name are fine", []string{"GET " + colls + "/"}, "GET", colls + "/a..b", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ScopesAllow(tc.scopes, tc.method, tc.path); got != tc.ok {
				t.Fatalf("ScopesAllow(%q, %s, %s) = %v, want %v", tc.scopes, tc.method, tc.path, got, tc.ok)
			}
			err := CheckScopes(store.Authorization{Token: store.Token{Scopes: tc.scopes}}, tc.method, tc.path)
			if tc.ok && err != nil {
				t.Fatalf("CheckScopes: %v", err)
			}
			if !tc.ok && request.StatusOf(err) != 403 {
				t.Fatalf("CheckScopes = %v, want a 403", err)
			}
		})
	}
}

// FuzzScopesAllow checks the scope rule's properties on arbitrary scope
// lists (newline-separated) and requests: "all" allows everything; adding
// scopes never takes a permission away; HEAD is allowed whenever GET is
// (but for api_client_authorizations/current, whose exception is for GET
// only, as in Arvados); a
// scope allows its own request; and a token whose scopes cover another's
// (ScopesCover) allows every request the other allows.
func FuzzScopesAllow(f *testing.F) {
	f.Add("GET /arvados/v1/collections/", "GET /arvados/v1/collections/\nPOST /x", "GET", "/arvados/v1/collections/abc")
	f.Add("all", "GET /", "PUT", "/acbd18db4cc2f85cedef654fccc4a4d8")
	f.Add("GET /arvados/v1/users/current", "all", "GET", "/arvados/v1/users/current")
	f.Add("GET /a/", "HEAD /a/b", "HEAD", "/a/b")
	f.Add("", "GET /x", "GET", store.CurrentTokenPath)
	f.Add("GET /a/", "GET /a/../b", "GET", "/a/../b")
	f.Add("GET", "GET  /x", "GET", " /x")
	f.Fuzz(func(t *testing.T, have, want, method, path string) {
		h := splitLines(have)
		w := splitLines(want)
		got := ScopesAllow(h, method, path)
		if !ScopesAllow(append([]string{"all"}, h...), method, path) {
			t.Fatalf("all does not allow %s %s", method, path)
		}
		if got && !ScopesAllow(append(append([]string{}, h...), w...), method, path) {
			t.Fatalf("adding %q to %q took %s %s away", w, h, method, path)
		}
		if path != store.CurrentTokenPath && ScopesAllow(h, "GET", path) && !ScopesAllow(h, "HEAD", path) {
			t.Fatalf("%q allows GET %s but not HEAD", h, path)
		}
		if own := method + " " + path; store.ValidScope(own) && !strings.Contains(method, " ") &&
			!strings.Contains(path, "/.") && !ScopesAllow([]string{own}, method, path) {
			t.Fatalf("scope %q does not allow its own request", own)
		}
		if ScopesCover(h, w) && ScopesAllow(w, method, path) && !got {
			t.Fatalf("%q covers %q, which allows %s %s, but does not allow it", h, w, method, path)
		}
		if !ScopesCover(h, h) && allValid(h) {
			t.Fatalf("%q does not cover itself", h)
		}
	})
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func allValid(scopes []string) bool {
	for _, s := range scopes {
		if !store.ValidScope(s) {
			return false
		}
	}
	return true
}
