package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// User is a user record's identity attributes (Arvados field names in
// JSON). Records read through Get carry every attribute.
type User struct {
	UUID       string    `json:"uuid"`
	OwnerUUID  string    `json:"owner_uuid"`
	Email      string    `json:"email"`
	Username   string    `json:"username"`
	FirstName  string    `json:"first_name"`
	LastName   string    `json:"last_name"`
	IsAdmin    bool      `json:"is_admin"`
	IsActive   bool      `json:"is_active"`
	CreatedAt  time.Time `json:"created_at"`
	ModifiedAt time.Time `json:"modified_at"`
}

// System returns an Authorization for the system user, an admin, for work
// the server does on its own behalf.
func (s *Store) System() Authorization {
	return Authorization{User: User{UUID: s.SystemUserUUID(), OwnerUUID: s.SystemUserUUID(), IsAdmin: true, IsActive: true}}
}

// CreateUser creates an active local user with the given email, admin if
// admin is set. It is idempotent by email (case-insensitive): if a local
// user with that email exists, that user is returned unchanged, whatever
// admin says.
func (s *Store) CreateUser(email string, admin bool) (User, error) {
	if strings.TrimSpace(email) == "" {
		return User{}, badRequest("a user needs an email address")
	}
	var u User
	err := s.update("create user", func(tx *bolt.Tx) error {
		if uuid := s.localUserByEmail(tx, email); uuid != "" {
			var err error
			u, err = loadUser(tx, uuid)
			return err
		}
		rec, err := s.newWriter(tx, systemActor(s.SystemUserUUID())).create(Users, Record{
			"email": email, "is_admin": admin, "is_active": true,
		})
		if err != nil {
			return err
		}
		return recordInto(rec, &u)
	})
	return u, err
}

// localUserByEmail returns the uuid of a local user with that email, or "".
func (s *Store) localUserByEmail(tx *bolt.Tx, email string) string {
	prefix := []byte(strings.ToLower(email) + "\x00")
	c := tx.Bucket(idxUserEmail).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		uuid := string(k[len(prefix):])
		if strings.HasPrefix(uuid, s.cluster+"-") {
			return uuid
		}
	}
	return ""
}

// EnsureUser creates or refreshes the local copy of a user of another
// cluster (a federated user whose token a peer validated), keeping its
// foreign uuid. Email, username, first and last name and is_active are
// copied; a mirrored user is never an admin here. Mirrored users are
// members of the All users group like local ones.
func (s *Store) EnsureUser(u User) (User, error) {
	if k, ok := KindOfUUID(u.UUID); !ok || k != Users {
		return User{}, badRequest("invalid user uuid %q", u.UUID)
	}
	if strings.HasPrefix(u.UUID, s.cluster+"-") {
		return User{}, badRequest("user %s belongs to this cluster; it cannot be mirrored", u.UUID)
	}
	var out User
	err := s.update("ensure user", func(tx *bolt.Tx) error {
		w := s.newWriter(tx, systemActor(s.SystemUserUUID()))
		attrs := Record{
			"email": u.Email, "first_name": u.FirstName, "last_name": u.LastName,
			"is_active": u.IsActive, "is_admin": false,
		}
		if u.Username != "" {
			attrs["username"] = u.Username
		}
		var rec Record
		var err error
		if loadRaw(tx, kinds[Users], u.UUID) != nil {
			rec, err = w.update(Users, u.UUID, attrs)
		} else {
			attrs["uuid"] = u.UUID
			rec, err = w.create(Users, attrs)
		}
		if err != nil {
			return err
		}
		return recordInto(rec, &out)
	})
	return out, err
}

// User returns the user with that uuid, without a permission check (for
// the server's own use, e.g. answering users/current).
func (s *Store) User(uuid string) (User, error) {
	var u User
	err := s.view("get user", func(tx *bolt.Tx) error {
		var err error
		u, err = loadUser(tx, uuid)
		return err
	})
	return u, err
}

func loadUser(tx *bolt.Tx, uuid string) (User, error) {
	var u User
	v := tx.Bucket(kinds[Users].bucket).Get([]byte(uuid))
	if v == nil {
		return u, notFound(Users, uuid)
	}
	if err := json.Unmarshal(v, &u); err != nil {
		return u, fmt.Errorf("decode user %s: %w", uuid, err)
	}
	return u, nil
}

// recordInto converts a record to one of the typed views (User, Token).
func recordInto(rec Record, v any) error {
	if err := jsonRoundTrip(rec, v); err != nil {
		return fmt.Errorf("convert %s: %w", rec.UUID(), err)
	}
	return nil
}

// userHook enforces the user rules: only admins create users or change
// is_admin, is_active, email or owner_uuid; users are owned by the system
// user; full_name follows first and last name.
func (w *writer) userHook(old, rec Record) error {
	if !w.by.admin {
		if old == nil {
			return forbidden("forbidden: only admins may create users")
		}
		for _, f := range []string{"is_admin", "is_active", "email", "owner_uuid"} {
			if !sameValue(old[f], rec[f]) {
				return forbidden("forbidden: only admins may change %s", f)
			}
		}
	}
	if old == nil && rec.StringAttr("owner_uuid") == w.by.uuid {
		rec["owner_uuid"] = w.s.SystemUserUUID()
	}
	rec["full_name"] = strings.TrimSpace(rec.StringAttr("first_name") + " " + rec.StringAttr("last_name"))
	return nil
}

// sameValue compares two scalar attribute values.
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case string, bool, float64, nil:
		return a == b
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
