package store

import (
	"testing"
)

// TestInactiveUsersAreNotInAllUsers: only active users are members of All
// users (Arvados adds a user to it when the user is set up); an inactive
// user — every federated user mirrored with ActivateUsers: false — reads
// nothing shared with All users and sees no other user, and active users
// do not see inactive ones.
func TestInactiveUsersAreNotInAllUsers(t *testing.T) {
	s := newTestStore(t)
	owner := newUser(t, s, "owner@example.com", false)
	active := newUser(t, s, "active@example.com", false)
	admin := newUser(t, s, "admin@example.com", true)
	mirrored, err := s.EnsureUser(User{UUID: "yyyyy-tpzed-inactive0000000", Email: "fed@example.com", IsActive: false})
	if err != nil {
		t.Fatal(err)
	}
	fed := Authorization{User: mirrored}
	localInactive := newUser(t, s, "inactive@example.com", false)
	if _, err := s.Update(Users, localInactive.User.UUID, Record{"is_active": false}, admin); err != nil {
		t.Fatal(err)
	}

	shared := mustCreate(t, s, Collections, Record{"name": "for all users"}, owner)
	mustCreate(t, s, Links, Record{"link_class": "permission", "name": "can_read", "tail_uuid": s.AllUsersGroupUUID(), "head_uuid": shared.UUID()}, owner)
	proj := mustCreate(t, s, Groups, Record{"name": "writable by all users", "group_class": "project"}, owner)
	mustCreate(t, s, Links, Record{"link_class": "permission", "name": "can_write", "tail_uuid": s.AllUsersGroupUUID(), "head_uuid": proj.UUID()}, owner)

	for _, tc := range []struct {
		name string
		by   Authorization
		kind Kind
		uuid string
		read bool
	}{
		{"active user reads what All users may", active, Collections, shared.UUID(), true},
		{"active user reads the All users project", active, Groups, proj.UUID(), true},
		{"active user sees active users", active, Users, owner.User.UUID, true},
		{"active user does not see inactive users", active, Users, mirrored.UUID, false},
		{"active user does not see a deactivated local user", active, Users, localInactive.User.UUID, false},
		{"inactive federated user: not shared", fed, Collections, shared.UUID(), false},
		{"inactive federated user: not the project", fed, Groups, proj.UUID(), false},
		{"inactive federated user: no other users", fed, Users, owner.User.UUID, false},
		{"inactive federated user: itself", fed, Users, mirrored.UUID, true},
		{"inactive local user: not shared", localInactive, Collections, shared.UUID(), false},
		{"inactive local user: no other users", localInactive, Users, active.User.UUID, false},
		{"admin sees inactive users", admin, Users, mirrored.UUID, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Get(tc.kind, tc.uuid, tc.by)
			if tc.read {
				wantStatus(t, err, 0)
			} else {
				wantStatus(t, err, 404)
			}
		})
	}

	// Listing users: an inactive user sees itself only (no emails of
	// others); an active user sees the active users.
	for _, tc := range []struct {
		name string
		by   Authorization
		want []string
	}{
		{"inactive federated user", fed, []string{mirrored.UUID}},
		{"inactive local user", localInactive, []string{localInactive.User.UUID}},
		{"active user", active, []string{owner.User.UUID, active.User.UUID, admin.User.UUID}},
	} {
		t.Run("list: "+tc.name, func(t *testing.T) {
			l, err := s.List(Users, ListOptions{}, tc.by)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, it := range l.Items {
				got[it.UUID()] = true
			}
			if len(got) != len(tc.want) {
				t.Fatalf("lists %v, want %v", got, tc.want)
			}
			for _, u := range tc.want {
				if !got[u] {
					t.Fatalf("lists %v, want %v", got, tc.want)
				}
			}
		})
	}
	l, err := s.List(Collections, ListOptions{}, fed)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 0 {
		t.Fatalf("inactive federated user lists collections %v", names(l.Items))
	}
}
