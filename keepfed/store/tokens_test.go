package store

import (
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/signing"
)

func TestCreateToken(t *testing.T) {
	s := newTestStore(t)
	u, err := s.CreateUser("a@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken(u.UUID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.UUID, "zzzzz-gj3su-") || !isUUID(tok.UUID) {
		t.Errorf("uuid %q", tok.UUID)
	}
	if len(tok.APIToken) != SecretLen || strings.Trim(tok.APIToken, base36) != "" {
		t.Errorf("secret %q", tok.APIToken)
	}
	if tok.V2() != "v2/"+tok.UUID+"/"+tok.APIToken || tok.OwnerUUID != u.UUID || tok.ExpiresAt != nil {
		t.Errorf("token %+v", tok)
	}
	if len(tok.Scopes) != 1 || tok.Scopes[0] != "all" {
		t.Errorf("scopes %v", tok.Scopes)
	}
	if _, err := s.CreateToken("zzzzz-tpzed-nosuchuser00000", nil); StatusOf(err) != 422 {
		t.Errorf("token for missing user: %v", err)
	}
	if _, err := s.CreateToken("zzzzz-j7d0g-fffffffffffffff", nil); StatusOf(err) != 422 {
		t.Errorf("token for a group: %v", err)
	}
}

func TestLookupToken(t *testing.T) {
	s := newTestStore(t)
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	u, _ := s.CreateUser("a@example.com", false)
	tok, _ := s.CreateToken(u.UUID, nil)
	soon := now.Add(time.Hour)
	expiring, _ := s.CreateToken(u.UUID, &soon)
	past := now.Add(-time.Second)
	expired, _ := s.CreateToken(u.UUID, &past)
	revoked, _ := s.CreateToken(u.UUID, nil)
	if err := s.RevokeToken(revoked.UUID); err != nil {
		t.Fatal(err)
	}
	salt := func(tk Token, remote string) string {
		return "v2/" + tk.UUID + "/" + string(signing.AppendSalt(nil, tk.APIToken, remote))
	}
	for _, c := range []struct {
		name, presented, remote string
		status                  int
		salted                  bool
	}{
		{"v2", tok.V2(), "", 0, false},
		{"v2 with remote", tok.V2(), "yyyyy", 0, false},
		{"v2 with container part", tok.V2() + "/zzzzz-dz642-000000000000000", "", 0, false},
		{"v1", tok.APIToken, "", 0, false},
		{"v1 with remote", tok.APIToken, "yyyyy", 0, false},
		{"salted with remote", salt(tok, "yyyyy"), "yyyyy", 0, true},
		{"salted without remote", salt(tok, "yyyyy"), "", 401, false},
		{"salted for another remote", salt(tok, "xxxxx"), "yyyyy", 401, false},
		{"wrong secret", "v2/" + tok.UUID + "/" + strings.Repeat("a", SecretLen), "", 401, false},
		{"secret of another token", "v2/" + tok.UUID + "/" + expiring.APIToken, "", 401, false},
		{"unknown uuid", "v2/zzzzz-gj3su-000000000000009/" + tok.APIToken, "", 401, false},
		{"not a token uuid", "v2/" + u.UUID + "/" + tok.APIToken, "", 401, false},
		{"unknown v1", strings.Repeat("b", SecretLen), "", 401, false},
		{"garbage", "hello", "", 401, false},
		{"empty", "", "", 401, false},
		{"expiring later", expiring.V2(), "", 0, false},
		{"expired", expired.V2(), "", 401, false},
		{"expired v1", expired.APIToken, "", 401, false},
		{"expired salted", salt(expired, "yyyyy"), "yyyyy", 401, false},
		{"revoked", revoked.V2(), "", 401, false},
		{"revoked v1", revoked.APIToken, "", 401, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := s.LookupToken(c.presented, c.remote)
			wantStatus(t, err, c.status)
			if err != nil {
				return
			}
			if a.User.UUID != u.UUID || a.User.Email != "a@example.com" || a.Token.OwnerUUID != u.UUID {
				t.Fatalf("authorization %+v", a)
			}
			if a.Salted != c.salted {
				t.Fatalf("Salted = %v", a.Salted)
			}
		})
	}
	// Time passes: the expiring token expires.
	now = soon
	_, err := s.LookupToken(expiring.V2(), "")
	wantStatus(t, err, 401)
}

func TestLookupTokenUserGone(t *testing.T) {
	s := newTestStore(t)
	u, _ := s.CreateUser("gone@example.com", false)
	tok, _ := s.CreateToken(u.UUID, nil)
	if _, err := s.Delete(Users, u.UUID, s.System()); err != nil {
		t.Fatal(err)
	}
	_, err := s.LookupToken(tok.V2(), "")
	wantStatus(t, err, 401)
}

func TestUpgradeV1(t *testing.T) {
	s := newTestStore(t)
	u, _ := s.CreateUser("a@example.com", false)
	tok, _ := s.CreateToken(u.UUID, nil)
	past := time.Now().Add(-time.Minute)
	expired, _ := s.CreateToken(u.UUID, &past)
	if v2, ok := s.UpgradeV1(tok.APIToken); !ok || v2 != tok.V2() {
		t.Fatalf("UpgradeV1 = %q, %v", v2, ok)
	}
	for _, in := range []string{expired.APIToken, strings.Repeat("c", SecretLen), tok.V2(), "short", ""} {
		if v2, ok := s.UpgradeV1(in); ok {
			t.Errorf("UpgradeV1(%q) = %q", in, v2)
		}
	}
}

func TestTokensThroughRecordAPI(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	b := newUser(t, s, "b@example.com", false)
	admin := newUser(t, s, "admin@example.com", true)

	rec := mustCreate(t, s, APIClientAuthorizations, Record{"scopes": []string{"GET /arvados/v1/users/current"}}, a)
	if rec.StringAttr("owner_uuid") != a.User.UUID || len(rec.StringAttr("api_token")) != SecretLen || rec["kind"] != "arvados#apiClientAuthorization" {
		t.Fatalf("token record %v", rec)
	}
	// The client cannot choose the secret: api_token is maintained by the store.
	r2 := mustCreate(t, s, APIClientAuthorizations, Record{"api_token": "mine"}, a)
	if r2.StringAttr("api_token") == "mine" {
		t.Fatal("client chose the secret")
	}
	_, err := s.Create(APIClientAuthorizations, Record{"owner_uuid": b.User.UUID}, a)
	wantStatus(t, err, 403)
	_, err = s.Create(APIClientAuthorizations, Record{"scopes": []string{"everything"}}, a)
	wantStatus(t, err, 422)
	mustCreate(t, s, APIClientAuthorizations, Record{"owner_uuid": b.User.UUID}, admin)

	_, err = s.Get(APIClientAuthorizations, rec.UUID(), b)
	wantStatus(t, err, 404)
	l, err := s.List(APIClientAuthorizations, ListOptions{}, a)
	wantStatus(t, err, 0)
	for _, it := range l.Items {
		if it.StringAttr("owner_uuid") != a.User.UUID {
			t.Fatalf("a sees %v", it)
		}
	}
	if l.ItemsAvailable != 3 { // newUser's token and two created here
		t.Fatalf("a sees %d tokens", l.ItemsAvailable)
	}
	_, err = s.Update(APIClientAuthorizations, rec.UUID(), Record{"owner_uuid": b.User.UUID}, a)
	wantStatus(t, err, 403)
	if _, err := s.Delete(APIClientAuthorizations, rec.UUID(), a); err != nil {
		t.Fatal(err)
	}
	_, err = s.LookupToken("v2/"+rec.UUID()+"/"+rec.StringAttr("api_token"), "")
	wantStatus(t, err, 401)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLookupToken(b *testing.B) {
	s := newTestStore(b)
	u, _ := s.CreateUser("bench@example.com", false)
	tok, _ := s.CreateToken(u.UUID, nil)
	for range 1000 { // some other tokens, so the buckets have depth
		s.CreateToken(u.UUID, nil)
	}
	salted := "v2/" + tok.UUID + "/" + string(signing.AppendSalt(nil, tok.APIToken, "yyyyy"))
	for _, c := range []struct{ name, presented, remote string }{
		{"v2", tok.V2(), ""},
		{"v1", tok.APIToken, ""},
		{"salted", salted, "yyyyy"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.LookupToken(c.presented, c.remote); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
