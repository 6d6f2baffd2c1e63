package store

import (
	"strings"
	"testing"
)

func TestCreateUser(t *testing.T) {
	s := newTestStore(t)
	u, err := s.CreateUser("Ann@Example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.UUID, "zzzzz-tpzed-") || !isUUID(u.UUID) || u.IsAdmin || !u.IsActive ||
		u.Email != "Ann@Example.com" || u.OwnerUUID != s.SystemUserUUID() || u.CreatedAt.IsZero() {
		t.Fatalf("user %+v", u)
	}
	again, err := s.CreateUser("ann@example.com", true)
	if err != nil {
		t.Fatal(err)
	}
	if again.UUID != u.UUID || again.IsAdmin {
		t.Fatalf("not idempotent: %+v", again)
	}
	admin, err := s.CreateUser("root@example.com", true)
	if err != nil || !admin.IsAdmin || admin.UUID == u.UUID {
		t.Fatalf("admin %+v, %v", admin, err)
	}
	if _, err := s.CreateUser(" ", false); StatusOf(err) != 422 {
		t.Fatalf("empty email: %v", err)
	}
	got, err := s.User(u.UUID)
	if err != nil || got != u {
		t.Fatalf("User = %+v, %v", got, err)
	}
	_, err = s.User("zzzzz-tpzed-nosuchuser000000")
	wantStatus(t, err, 404)
}

func TestEnsureUser(t *testing.T) {
	s := newTestStore(t)
	local, _ := s.CreateUser("fed@example.com", false)
	in := User{UUID: "yyyyy-tpzed-abcdefghijklmno", Email: "fed@example.com", FirstName: "Fed", Username: "fed", IsActive: true, IsAdmin: true}
	u, err := s.EnsureUser(in)
	if err != nil {
		t.Fatal(err)
	}
	if u.UUID != in.UUID || u.Email != in.Email || u.FirstName != "Fed" || u.Username != "fed" || u.IsAdmin || !u.IsActive {
		t.Fatalf("mirrored %+v", u)
	}
	in.FirstName, in.IsActive = "Federica", false
	u2, err := s.EnsureUser(in)
	if err != nil {
		t.Fatal(err)
	}
	if u2.UUID != u.UUID || u2.FirstName != "Federica" || u2.IsActive || !u2.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("refreshed %+v", u2)
	}
	// The same email on another cluster does not make CreateUser return the mirror.
	again, _ := s.CreateUser("fed@example.com", false)
	if again.UUID != local.UUID {
		t.Fatalf("CreateUser returned %s", again.UUID)
	}
	for _, bad := range []string{"zzzzz-tpzed-abcdefghijklmno", "yyyyy-j7d0g-abcdefghijklmno", "nonsense"} {
		if _, err := s.EnsureUser(User{UUID: bad}); StatusOf(err) != 422 {
			t.Errorf("EnsureUser(%s): %v", bad, err)
		}
	}
	// An inactive user may read, not write.
	inactive := Authorization{User: u2}
	_, err = s.List(Collections, ListOptions{}, inactive)
	wantStatus(t, err, 0)
	_, err = s.Create(Collections, Record{}, inactive)
	wantStatus(t, err, 403)
	in.IsActive = true
	if _, err := s.EnsureUser(in); err != nil {
		t.Fatal(err)
	}
	// A mirrored user can hold tokens issued here.
	tok, err := s.CreateToken(u.UUID, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.LookupToken(tok.V2(), "")
	if err != nil || a.User.UUID != u.UUID {
		t.Fatalf("lookup: %+v %v", a, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
