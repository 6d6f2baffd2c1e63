package store

import (
	"sort"
	"testing"
)

func TestPermissions(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false) // owns everything below
	b := newUser(t, s, "b@example.com", false)
	c := newUser(t, s, "c@example.com", false)
	admin := newUser(t, s, "admin@example.com", true)
	mirror, err := s.EnsureUser(User{UUID: "yyyyy-tpzed-abcdefghijklmno", Email: "d@example.com", IsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	d := Authorization{User: mirror}
	anon := Authorization{User: User{UUID: s.AnonymousUserUUID()}}
	nobody := newUser(t, s, "nobody@example.com", false)

	proj := mustCreate(t, s, Groups, Record{"name": "P", "group_class": "project"}, a)
	sub := mustCreate(t, s, Groups, Record{"name": "SP", "group_class": "project", "owner_uuid": proj.UUID()}, a)
	inProj := mustCreate(t, s, Collections, Record{"name": "in P", "owner_uuid": proj.UUID()}, a)
	inSub := mustCreate(t, s, Collections, Record{"name": "in SP", "owner_uuid": sub.UUID()}, a)
	sharedB := mustCreate(t, s, Collections, Record{"name": "shared with b"}, a)
	private := mustCreate(t, s, Collections, Record{"name": "private"}, a)
	public := mustCreate(t, s, Workflows, Record{"name": "for all users"}, a)
	role := mustCreate(t, s, Groups, Record{"name": "G", "group_class": "role"}, a)

	link := func(tail, name, head string) Record {
		return mustCreate(t, s, Links, Record{"link_class": "permission", "name": name, "tail_uuid": tail, "head_uuid": head}, a)
	}
	bRead := link(b.User.UUID, "can_read", sharedB.UUID())
	link(b.User.UUID, "can_write", proj.UUID())
	link(c.User.UUID, "can_read", role.UUID()) // c is a member of G
	link(role.UUID(), "can_write", inSub.UUID())
	link(s.AllUsersGroupUUID(), "can_read", public.UUID())

	type want struct{ read, write bool }
	for _, tc := range []struct {
		name string
		by   Authorization
		kind Kind
		rec  Record
		want want
	}{
		{"owner reads and writes own", a, Collections, private, want{true, true}},
		{"owner writes through own project", a, Collections, inSub, want{true, true}},
		{"stranger sees nothing", b, Collections, private, want{false, false}},
		{"can_read link to user", b, Collections, sharedB, want{true, false}},
		{"can_write on project", b, Collections, inProj, want{true, true}},
		{"can_write on project reaches subproject contents", b, Collections, inSub, want{true, true}},
		{"can_write on project reaches subproject", b, Groups, sub, want{true, true}},
		{"project itself", b, Groups, proj, want{true, true}},
		{"group member gets the lesser level", c, Collections, inSub, want{true, false}},
		{"group member reads the group", c, Groups, role, want{true, false}},
		{"group member nothing else", c, Collections, inProj, want{false, false}},
		{"all users: local user", nobody, Workflows, public, want{true, false}},
		{"all users: mirrored user", d, Workflows, public, want{true, false}},
		{"all users: not anonymous", anon, Workflows, public, want{false, false}},
		{"all users group record is read only", nobody, Groups, Record{"uuid": s.AllUsersGroupUUID()}, want{true, false}},
		{"admin sees all", admin, Collections, private, want{true, true}},
		{"users see each other", b, Users, Record{"uuid": a.User.UUID}, want{true, false}},
		{"mirrored user sees local users", d, Users, Record{"uuid": a.User.UUID}, want{true, false}},
		{"anonymous does not see users", anon, Users, Record{"uuid": a.User.UUID}, want{false, false}},
		{"tail reads its permission link", b, Links, bRead, want{true, false}},
		{"others do not see it", c, Links, bRead, want{false, false}},
		{"head manager manages the link", a, Links, bRead, want{true, true}},
		{"tokens are private", b, APIClientAuthorizations, Record{"uuid": a.Token.UUID}, want{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Get(tc.kind, tc.rec.UUID(), tc.by)
			if tc.want.read {
				wantStatus(t, err, 0)
			} else {
				wantStatus(t, err, 404)
			}
			_, err = s.Update(tc.kind, tc.rec.UUID(), Record{}, tc.by)
			switch {
			case tc.want.write:
				wantStatus(t, err, 0)
			case tc.want.read:
				wantStatus(t, err, 403)
			default:
				wantStatus(t, err, 404)
			}
		})
	}

	_, err = s.Create(Collections, Record{}, anon)
	wantStatus(t, err, 403)

	// Lists show exactly the readable records.
	l, err := s.List(Collections, ListOptions{}, b)
	if err != nil {
		t.Fatal(err)
	}
	got := names(l.Items)
	if want := []string{"in P", "in SP", "shared with b"}; !equalStrings(got, want) {
		t.Fatalf("b lists %v, want %v", got, want)
	}

	// Writes that need more than the caller has.
	_, err = s.Create(Links, Record{"link_class": "permission", "name": "can_read", "tail_uuid": b.User.UUID, "head_uuid": private.UUID()}, b)
	wantStatus(t, err, 403)
	_, err = s.Create(Links, Record{"link_class": "permission", "name": "can_read", "tail_uuid": c.User.UUID, "head_uuid": inProj.UUID()}, b)
	wantStatus(t, err, 403) // b can write, not manage
	_, err = s.Create(Collections, Record{"owner_uuid": proj.UUID()}, b)
	wantStatus(t, err, 0)
	_, err = s.Create(Collections, Record{"owner_uuid": proj.UUID()}, c)
	wantStatus(t, err, 403)
	_, err = s.Update(Collections, private.UUID(), Record{"owner_uuid": b.User.UUID}, a)
	wantStatus(t, err, 403)
	_, err = s.Delete(Collections, sharedB.UUID(), b)
	wantStatus(t, err, 403)
	// b may write a collection shared with it, but not give it away.
	bWrite := link(b.User.UUID, "can_write", sharedB.UUID())
	_, err = s.Update(Collections, sharedB.UUID(), Record{"name": "renamed by b"}, b)
	wantStatus(t, err, 0)
	_, err = s.Update(Collections, sharedB.UUID(), Record{"owner_uuid": b.User.UUID}, b)
	wantStatus(t, err, 403)
	if _, err := s.Delete(Links, bWrite.UUID(), a); err != nil {
		t.Fatal(err)
	}
	_, err = s.Update(Groups, proj.UUID(), Record{"owner_uuid": sub.UUID()}, a)
	wantStatus(t, err, 422) // a project may not own itself through a subproject

	// Moving a collection into a shared project shares it.
	if _, err := s.Update(Collections, private.UUID(), Record{"owner_uuid": proj.UUID()}, a); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(Collections, private.UUID(), b)
	wantStatus(t, err, 0)

	// Deleting the link takes the access away.
	if _, err := s.Delete(Links, bRead.UUID(), a); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(Collections, sharedB.UUID(), b)
	wantStatus(t, err, 404)

	// A permission link turned into a tag no longer grants anything.
	gl, _ := s.List(Links, ListOptions{Filters: []Filter{{"tail_uuid", "=", c.User.UUID}}}, a)
	if gl.ItemsAvailable != 1 {
		t.Fatalf("links %v", gl.Items)
	}
	if _, err := s.Update(Links, gl.Items[0].UUID(), Record{"link_class": "tag"}, a); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(Collections, inSub.UUID(), c)
	wantStatus(t, err, 404)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestPermissionCycle(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	b := newUser(t, s, "b@example.com", false)
	g1 := mustCreate(t, s, Groups, Record{"name": "g1", "group_class": "role"}, a)
	g2 := mustCreate(t, s, Groups, Record{"name": "g2", "group_class": "role"}, a)
	mk := func(tail, head string) {
		mustCreate(t, s, Links, Record{"link_class": "permission", "name": "can_manage", "tail_uuid": tail, "head_uuid": head}, a)
	}
	mk(g1.UUID(), g2.UUID())
	mk(g2.UUID(), g1.UUID())
	mk(b.User.UUID, g1.UUID())
	if _, err := s.Update(Groups, g2.UUID(), Record{"name": "renamed by b"}, b); err != nil {
		t.Fatal(err)
	}
}

func names(items []Record) []string {
	var out []string
	for _, r := range items {
		out = append(out, r.StringAttr("name"))
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
