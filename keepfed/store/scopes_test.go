package store

import (
	"testing"
)

// scopedAuth returns a's user with a new token of the given scopes, as
// LookupToken answers it.
func scopedAuth(t *testing.T, s *Store, a Authorization, scopes ...string) Authorization {
	t.Helper()
	sc := make([]any, len(scopes))
	for i, v := range scopes {
		sc[i] = v
	}
	rec := mustCreate(t, s, APIClientAuthorizations, Record{"scopes": sc}, a)
	out, err := s.LookupToken("v2/"+rec.UUID()+"/"+rec.StringAttr("api_token"), "")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScopesCover(t *testing.T) {
	for _, tc := range []struct {
		name       string
		have, want []string
		ok         bool
	}{
		{"all covers all", []string{"all"}, []string{"all"}, true},
		{"all covers anything", []string{"all"}, []string{"GET /", "DELETE /x"}, true},
		{"scoped does not cover all", []string{"GET /"}, []string{"all"}, false},
		{"scoped does not cover the default", []string{"GET /arvados/v1/users/current"}, []string{"all"}, false},
		{"equal exact", []string{"GET /a"}, []string{"GET /a"}, true},
		{"prefix covers exact below it", []string{"GET /a/"}, []string{"GET /a/b"}, true},
		{"prefix covers narrower prefix", []string{"GET /a/"}, []string{"GET /a/b/"}, true},
		{"exact does not cover prefix", []string{"GET /a/b"}, []string{"GET /a/"}, false},
		{"narrower prefix does not cover wider", []string{"GET /a/b/"}, []string{"GET /a/"}, false},
		{"other method", []string{"GET /a/"}, []string{"POST /a/b"}, false},
		{"HEAD under GET", []string{"GET /a/"}, []string{"HEAD /a/b"}, true},
		{"HEAD prefix under GET prefix", []string{"GET /a/"}, []string{"HEAD /a/"}, true},
		{"GET not under HEAD", []string{"HEAD /a/"}, []string{"GET /a/b"}, false},
		{"one of several", []string{"GET /a", "POST /b/"}, []string{"POST /b/c", "GET /a"}, true},
		{"one missing", []string{"GET /a"}, []string{"GET /a", "GET /b"}, false},
		{"empty want", []string{"GET /a"}, nil, true},
		{"empty have, empty want", nil, []string{}, true},
		{"empty have", nil, []string{"GET /a"}, false},
		{"current token is always allowed", nil, []string{"GET " + CurrentTokenPath}, true},
		{"malformed want", []string{"GET /"}, []string{"GET"}, false},
		{"prefix of a string, not of a path segment", []string{"GET /a/b"}, []string{"GET /a/bc"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ScopesCover(tc.have, tc.want); got != tc.ok {
				t.Fatalf("ScopesCover(%q, %q) = %v, want %v", tc.have, tc.want, got, tc.ok)
			}
		})
	}
}

// TestScopedTokenCannotWiden: a caller whose token is scoped creates and
// updates tokens only within its own scopes; "all" (also the default when
// no scopes are given) needs an "all" token.
func TestScopedTokenCannotWiden(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	admin := newUser(t, s, "admin@example.com", true)
	narrow := scopedAuth(t, s, a, "GET /arvados/v1/collections/", "POST /arvados/v1/api_client_authorizations", "PATCH /arvados/v1/api_client_authorizations/")
	narrowAdmin := scopedAuth(t, s, admin, "POST /arvados/v1/api_client_authorizations")

	for _, tc := range []struct {
		name   string
		by     Authorization
		attrs  Record
		status int
	}{
		{"unscoped caller: all", a, Record{"scopes": []any{"all"}}, 0},
		{"scoped caller: default scopes are all", narrow, Record{}, 403},
		{"scoped caller: all", narrow, Record{"scopes": []any{"all"}}, 403},
		{"scoped caller: wider prefix", narrow, Record{"scopes": []any{"GET /arvados/v1/"}}, 403},
		{"scoped caller: other method", narrow, Record{"scopes": []any{"DELETE /arvados/v1/collections/x"}}, 403},
		{"scoped caller: same", narrow, Record{"scopes": []any{"GET /arvados/v1/collections/"}}, 0},
		{"scoped caller: narrower", narrow, Record{"scopes": []any{"GET /arvados/v1/collections/zzzzz-4zz18-000000000000000"}}, 0},
		{"scoped caller: nothing", narrow, Record{"scopes": []any{}}, 0},
		{"scoped admin: all for another user", narrowAdmin, Record{"owner_uuid": a.User.UUID, "scopes": []any{"all"}}, 403},
		{"scoped caller: invalid scope is 422", narrow, Record{"scopes": []any{"everything"}}, 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Create(APIClientAuthorizations, tc.attrs, tc.by)
			wantStatus(t, err, tc.status)
		})
	}

	// Update: the narrow token may not widen itself, nor another token.
	_, err := s.Update(APIClientAuthorizations, narrow.Token.UUID, Record{"scopes": []any{"all"}}, narrow)
	wantStatus(t, err, 403)
	other := scopedAuth(t, s, a, "GET /arvados/v1/collections/x")
	_, err = s.Update(APIClientAuthorizations, other.Token.UUID, Record{"scopes": []any{"GET /arvados/v1/users/"}}, narrow)
	wantStatus(t, err, 403)
	_, err = s.Update(APIClientAuthorizations, other.Token.UUID, Record{"scopes": []any{"GET /arvados/v1/collections/y"}}, narrow)
	wantStatus(t, err, 0)
	got, err := s.LookupToken(narrow.Token.V2(), "")
	if err != nil {
		t.Fatal(err)
	}
	if hasAll(got.Token.Scopes) {
		t.Fatalf("narrow token widened to %q", got.Token.Scopes)
	}
}

// TestScopedTokenSeesNoBroaderToken: a scoped token allowed to read
// api_client_authorizations sees only tokens its scopes cover, so it
// cannot read the secret of a broader token of its user.
func TestScopedTokenSeesNoBroaderToken(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	reader := scopedAuth(t, s, a, "GET /arvados/v1/api_client_authorizations", "GET /arvados/v1/api_client_authorizations/")
	narrower := scopedAuth(t, s, a, "GET /arvados/v1/api_client_authorizations/x")
	_, err := s.Get(APIClientAuthorizations, a.Token.UUID, reader)
	wantStatus(t, err, 404)
	_, err = s.Get(APIClientAuthorizations, narrower.Token.UUID, reader)
	wantStatus(t, err, 0)
	_, err = s.Get(APIClientAuthorizations, reader.Token.UUID, reader)
	wantStatus(t, err, 0)
	l, err := s.List(APIClientAuthorizations, ListOptions{}, reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range l.Items {
		if it.UUID() == a.Token.UUID {
			t.Fatalf("scoped token lists the all token %v", it)
		}
	}
	if len(l.Items) != 2 {
		t.Fatalf("lists %d tokens, want 2", len(l.Items))
	}
	// The unscoped token still sees them all.
	if _, err := s.Get(APIClientAuthorizations, reader.Token.UUID, a); err != nil {
		t.Fatal(err)
	}
}
