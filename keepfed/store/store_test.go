package store

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const testCluster = "zzzzz"

// newTestStore opens a store in a temporary directory; fsync is off to
// keep the tests quick on a shared machine (the crash test uses Open).
func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := open(filepath.Join(t.TempDir(), "records.db"), testCluster, &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newUser creates a local user and a token and returns its Authorization.
func newUser(t testing.TB, s *Store, email string, admin bool) Authorization {
	t.Helper()
	u, err := s.CreateUser(email, admin)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken(u.UUID, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.LookupToken(tok.V2(), "")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustCreate(t testing.TB, s *Store, kind Kind, attrs Record, by Authorization) Record {
	t.Helper()
	r, err := s.Create(kind, attrs, by)
	if err != nil {
		t.Fatalf("create %s %v: %v", kind, attrs, err)
	}
	return r
}

func wantStatus(t testing.TB, err error, status int) {
	t.Helper()
	if status == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want error with status %d, got nil", status)
	}
	if got := StatusOf(err); got != status {
		t.Fatalf("want status %d, got %d (%v)", status, got, err)
	}
}

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

func TestOpenCreatesWellKnownRecords(t *testing.T) {
	s := newTestStore(t)
	sys := s.System()
	for _, c := range []struct {
		kind Kind
		uuid string
	}{
		{Users, "zzzzz-tpzed-000000000000000"},
		{Users, "zzzzz-tpzed-anonymouspublic"},
		{Groups, "zzzzz-j7d0g-000000000000000"},
		{Groups, "zzzzz-j7d0g-fffffffffffffff"},
		{Groups, "zzzzz-j7d0g-anonymouspublic"},
		{Groups, "zzzzz-j7d0g-publicfavorites"},
	} {
		r, err := s.Get(c.kind, c.uuid, sys)
		if err != nil {
			t.Fatalf("%s: %v", c.uuid, err)
		}
		if r.StringAttr("owner_uuid") != s.SystemUserUUID() {
			t.Errorf("%s owner_uuid = %q", c.uuid, r.StringAttr("owner_uuid"))
		}
	}
	u, err := s.User(s.SystemUserUUID())
	if err != nil || !u.IsAdmin {
		t.Fatalf("system user %+v, %v", u, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s, err := Open(path, testCluster)
	if err != nil {
		t.Fatal(err)
	}
	a := newUser(t, s, "a@example.com", false)
	c := mustCreate(t, s, Collections, Record{"name": "kept"}, a)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := Open(path, "yyyyy"); err == nil || !strings.Contains(err.Error(), "zzzzz") {
		t.Fatalf("open for another cluster: %v", err)
	}
	s, err = Open(path, testCluster)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Get(Collections, c.UUID(), a); err != nil {
		t.Fatal(err)
	}
	l, err := s.List(Users, ListOptions{}, s.System())
	if err != nil {
		t.Fatal(err)
	}
	if l.ItemsAvailable != 3 { // system, anonymous, a@
		t.Fatalf("users after reopen: %d", l.ItemsAvailable)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"", "zzzz", "ZZZZZ", "zzzzzz", "zz-zz"} {
		if _, err := Open(filepath.Join(dir, "x.db"), id); err == nil {
			t.Errorf("cluster id %q accepted", id)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing", "x.db"), testCluster); err == nil {
		t.Error("open in a missing directory succeeded")
	}
}

func TestTick(t *testing.T) {
	s := newTestStore(t)
	fixed := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	s.now = func() time.Time { return fixed }
	a := newUser(t, s, "a@example.com", false)
	r1 := mustCreate(t, s, Workflows, Record{"name": "w"}, a)
	r2, err := s.Update(Workflows, r1.UUID(), Record{"name": "w2"}, a)
	if err != nil {
		t.Fatal(err)
	}
	if !(r2.StringAttr("modified_at") > r1.StringAttr("modified_at")) {
		t.Fatalf("modified_at did not move: %s then %s", r1["modified_at"], r2["modified_at"])
	}
	if r1["etag"] == r2["etag"] {
		t.Fatal("etag did not change")
	}
	if got := FormatTime(fixed); got != "2026-11-24T10:00:00.123456789Z" {
		t.Fatalf("FormatTime = %s", got)
	}
	if got := FormatTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))); got != "2026-01-02T02:04:05.000000000Z" {
		t.Fatalf("FormatTime = %s", got)
	}
}

func TestRandomBase36(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := string(appendRandomBase36(nil, SecretLen))
		if len(s) != SecretLen || strings.Trim(s, base36) != "" || seen[s] {
			t.Fatalf("bad secret %q", s)
		}
		seen[s] = true
	}
}
