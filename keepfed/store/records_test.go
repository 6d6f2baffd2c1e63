package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCRUDEveryKind(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	admin := newUser(t, s, "admin@example.com", true)
	proj := mustCreate(t, s, Groups, Record{"name": "p", "group_class": "project"}, a)
	for _, c := range []struct {
		kind   Kind
		by     Authorization
		create Record
		update Record
		want   []string // attributes every record of the kind has
	}{
		{Users, admin,
			Record{"email": "new@example.com", "first_name": "New", "last_name": "User", "prefs": map[string]any{"x": 1}},
			Record{"first_name": "Renamed"},
			[]string{"email", "username", "first_name", "last_name", "full_name", "is_admin", "is_active", "prefs"}},
		{APIClientAuthorizations, a,
			Record{"expires_at": "2099-01-02T03:04:05Z"},
			Record{"expires_at": nil},
			[]string{"api_token", "expires_at", "scopes"}},
		{Groups, a,
			Record{"name": "g", "group_class": "project", "properties": map[string]any{"k": "v"}},
			Record{"name": "g2", "description": "d"},
			[]string{"name", "description", "group_class", "properties", "trash_at", "is_trashed"}},
		{Links, a,
			Record{"link_class": "tag", "name": "foo", "head_uuid": proj["uuid"], "tail_uuid": a.User.UUID},
			Record{"name": "bar"},
			[]string{"link_class", "name", "head_uuid", "tail_uuid", "properties"}},
		{Collections, a,
			Record{"name": "c", "manifest_text": ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n", "owner_uuid": proj["uuid"]},
			Record{"manifest_text": ". 37b51d194a7513e45b56f6524f2d51f2+3 0:3:bar\n"},
			[]string{"name", "description", "manifest_text", "portable_data_hash", "properties", "trash_at", "is_trashed", "replication_desired", "storage_classes_desired"}},
		{Workflows, a,
			Record{"name": "w", "definition": "cwlVersion: v1.2\n"},
			Record{"description": "does things"},
			[]string{"name", "description", "definition"}},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			r := mustCreate(t, s, c.kind, c.create, c.by)
			checkShape(t, c.kind, r, c.by.User.UUID)
			for _, f := range c.want {
				if _, ok := r[f]; !ok {
					t.Errorf("attribute %s missing", f)
				}
			}
			for k, v := range c.create {
				if k == "expires_at" {
					continue
				}
				if !sameJSON(r[k], v) {
					t.Errorf("%s = %#v, want %#v", k, r[k], v)
				}
			}
			// What Create returns is what Get returns.
			g, err := s.Get(c.kind, r.UUID(), c.by)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, r) {
				t.Errorf("Get differs from Create:\n%v\n%v", g, r)
			}
			time.Sleep(time.Microsecond)
			u, err := s.Update(c.kind, r.UUID(), c.update, c.by)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.update {
				if !sameJSON(u[k], v) {
					t.Errorf("after update %s = %#v, want %#v", k, u[k], v)
				}
			}
			if u["etag"] == r["etag"] || !(u.StringAttr("modified_at") > r.StringAttr("modified_at")) || u["created_at"] != r["created_at"] {
				t.Errorf("update bookkeeping: %v → %v", r, u)
			}
			d, err := s.Delete(c.kind, r.UUID(), c.by)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, u) {
				t.Errorf("Delete returned %v", d)
			}
			_, err = s.Get(c.kind, r.UUID(), c.by)
			wantStatus(t, err, 404)
			_, err = s.Update(c.kind, r.UUID(), Record{}, c.by)
			wantStatus(t, err, 404)
			_, err = s.Delete(c.kind, r.UUID(), c.by)
			wantStatus(t, err, 404)
		})
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// checkShape checks the attributes every record has.
func checkShape(t *testing.T, kind Kind, r Record, by string) {
	t.Helper()
	if u := r.UUID(); !isUUID(u) || !strings.HasPrefix(u, "zzzzz-"+kind.Infix()+"-") {
		t.Errorf("uuid %q", u)
	}
	if r["kind"] != kind.ArvadosKind() {
		t.Errorf("kind %v", r["kind"])
	}
	for _, f := range []string{"created_at", "modified_at"} {
		if !timeRE.MatchString(r.StringAttr(f)) {
			t.Errorf("%s = %q", f, r.StringAttr(f))
		}
	}
	if e := r.StringAttr("etag"); e == "" || len(e) > 25 {
		t.Errorf("etag %q", e)
	}
	if r.StringAttr("modified_by_user_uuid") != by {
		t.Errorf("modified_by_user_uuid %q, want %q", r.StringAttr("modified_by_user_uuid"), by)
	}
	if r.StringAttr("owner_uuid") == "" {
		t.Error("no owner_uuid")
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestAttributeRules(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	admin := newUser(t, s, "admin@example.com", true)
	c := mustCreate(t, s, Collections, Record{"name": "c"}, a)
	for _, tc := range []struct {
		name   string
		kind   Kind
		attrs  Record
		by     Authorization
		status int
	}{
		{"unknown attribute", Collections, Record{"nmae": "typo"}, a, 422},
		{"wrong type", Collections, Record{"name": 7}, a, 422},
		{"wrong type bool", Groups, Record{"is_trashed": "yes"}, a, 422},
		{"bad time", Groups, Record{"trash_at": "tomorrow"}, a, 422},
		{"bad int", Collections, Record{"replication_desired": 1.5}, a, 422},
		{"int ok", Collections, Record{"replication_desired": 2}, a, 0},
		{"bad object", Collections, Record{"properties": "x"}, a, 422},
		{"bad strings", Collections, Record{"storage_classes_desired": []any{1}}, a, 422},
		{"ignored round-trip attributes", Collections, Record{"kind": "arvados#collection", "etag": "x", "href": "/x", "created_at": "1999-01-01T00:00:00Z"}, a, 0},
		{"uuid by non-admin", Collections, Record{"uuid": "zzzzz-4zz18-abcdefghijklmno"}, a, 403},
		{"uuid by admin", Collections, Record{"uuid": "zzzzz-4zz18-abcdefghijklmno"}, admin, 0},
		{"taken uuid", Collections, Record{"uuid": "zzzzz-4zz18-abcdefghijklmno"}, admin, 409},
		{"uuid of another type", Collections, Record{"uuid": "zzzzz-j7d0g-abcdefghijklmno"}, admin, 422},
		{"foreign uuid by admin", Collections, Record{"uuid": "yyyyy-4zz18-abcdefghijklmno"}, admin, 0},
		{"owner not a user or group", Collections, Record{"owner_uuid": c.UUID()}, a, 422},
		{"owner someone else", Collections, Record{"owner_uuid": admin.User.UUID}, a, 403},
		{"bad group class", Groups, Record{"group_class": "club"}, a, 422},
		{"unknown kind", Kind("pipelines"), Record{}, a, 404},
		{"user by non-admin", Users, Record{"email": "x@example.com"}, a, 403},
		{"bad manifest", Collections, Record{"manifest_text": ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo"}, a, 422},
		{"permission link bad name", Links, Record{"link_class": "permission", "name": "can_fly", "head_uuid": c.UUID(), "tail_uuid": a.User.UUID}, a, 422},
		{"permission link bad tail", Links, Record{"link_class": "permission", "name": "can_read", "head_uuid": c.UUID(), "tail_uuid": c.UUID()}, a, 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Create(tc.kind, tc.attrs, tc.by)
			wantStatus(t, err, tc.status)
			if err == nil && tc.attrs["created_at"] != nil && r["created_at"] == tc.attrs["created_at"] {
				t.Error("client set created_at")
			}
		})
	}
	_, err := s.Update(Collections, c.UUID(), Record{"uuid": "zzzzz-4zz18-000000000000000"}, a)
	wantStatus(t, err, 422)
	_, err = s.Update(Collections, c.UUID(), Record{"uuid": c.UUID(), "name": "same uuid is fine"}, a)
	wantStatus(t, err, 0)
	_, err = s.Get(Collections, c.UUID(), Authorization{})
	wantStatus(t, err, 401)
	_, err = s.Create(Collections, Record{}, Authorization{User: User{UUID: "zzzzz-tpzed-nosuchuser000000"}})
	wantStatus(t, err, 401)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestUserRules(t *testing.T) {
	s := newTestStore(t)
	a := newUser(t, s, "a@example.com", false)
	admin := newUser(t, s, "admin@example.com", true)

	r, err := s.Update(Users, a.User.UUID, Record{"first_name": "Ann", "last_name": "Example", "prefs": map[string]any{"theme": "dark"}}, a)
	wantStatus(t, err, 0)
	if r["full_name"] != "Ann Example" {
		t.Errorf("full_name %v", r["full_name"])
	}
	for _, attrs := range []Record{{"is_admin": true}, {"is_active": false}, {"email": "other@example.com"}, {"owner_uuid": a.User.UUID}} {
		_, err := s.Update(Users, a.User.UUID, attrs, a)
		wantStatus(t, err, 403)
	}
	_, err = s.Update(Users, a.User.UUID, Record{"is_admin": true}, admin)
	wantStatus(t, err, 0)
	// The admin flag is read from the store, not from the Authorization.
	_, err = s.Create(Users, Record{"email": "c@example.com"}, a)
	wantStatus(t, err, 0)
	_, err = s.Update(Users, a.User.UUID, Record{"is_admin": false}, admin)
	wantStatus(t, err, 0)
	_, err = s.Delete(Users, admin.User.UUID, a)
	wantStatus(t, err, 403)
}

// TestEncodeRecordLargeManifest: a record with a large manifest_text
// encodes into a buffer of exactly its size and decodes to what
// json.Marshal's encoding decodes to, escapes included; a manifest that
// is not valid UTF-8 takes json.Marshal's path.
func TestEncodeRecordLargeManifest(t *testing.T) {
	big := strings.Repeat(". d41d8cd98f00b204e9800998ecf8427e+0 0:0:a\\040b\"c\\\\d\t\n", (bigManifest/50)+1)
	cases := []struct {
		name string
		rec  Record
	}{
		{"large manifest and other attributes", Record{"uuid": "zzzzz-4zz18-000000000000001", "manifest_text": big, "name": "<&>", "properties": map[string]any{"k": []any{1.0, "v"}}, "trash_at": nil}},
		{"large manifest alone", Record{"manifest_text": big}},
		{"control bytes", Record{"manifest_text": big + "\x00\x1f\u2028"}},
		{"not UTF-8", Record{"manifest_text": big + "\xff"}},
		{"small manifest", Record{"manifest_text": ". x 0:0:f\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := encodeRecord(c.rec)
			require.NoError(t, err)
			want, err := json.Marshal(c.rec)
			require.NoError(t, err)
			var a, b Record
			require.NoError(t, json.Unmarshal(got, &a))
			require.NoError(t, json.Unmarshal(want, &b))
			assert.Equal(t, b, a)
			if mt := c.rec.StringAttr("manifest_text"); len(mt) >= bigManifest && utf8.ValidString(mt) {
				assert.Equal(t, len(got), cap(got), "one buffer of the record's size")
			}
		})
	}
}
