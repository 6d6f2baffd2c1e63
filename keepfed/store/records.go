package store

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/keepfed/keepfed/internal/jsonesc"
	"github.com/keepfed/keepfed/signing"
	bolt "go.etcd.io/bbolt"
)

// Record is one record as Arvados's JSON has it: attribute name → value,
// values as encoding/json decodes them (string, bool, float64, nil,
// map[string]any, []any). Timestamps are strings in TimeFormat.
type Record map[string]any

// StringAttr returns the attribute as a string, or "" when it is absent, null
// or not a string.
func (r Record) StringAttr(name string) string {
	s, _ := r[name].(string)
	return s
}

// UUID returns the record's uuid.
func (r Record) UUID() string { return r.StringAttr("uuid") }

// Create makes a record of the given kind from attrs on behalf of by, and
// returns it as stored.
//
// Attribute rules, as RailsAPI's: a name the type does not have is refused
// with a 422 error; "kind", "etag" and "href" (sent back by clients that
// round-trip records) and attributes the store maintains (created_at,
// modified_at, modified_by_user_uuid, api_token, ...) are ignored; values
// of the wrong type are refused with 422. owner_uuid defaults to the
// caller, who needs write permission on the owner. uuid may be given by
// admins only (it must carry the type's infix); a taken uuid is a 409.
// Per type: only admins create users; tokens are created for the caller
// (admins: for any user) with a fresh secret; permission links need
// can_manage on their head; collections get their portable_data_hash
// computed from manifest_text (a supplied one must agree in its first 32
// characters, else 422).
func (s *Store) Create(kind Kind, attrs Record, by Authorization) (Record, error) {
	var out Record
	err := s.update("create "+string(kind), func(tx *bolt.Tx) error {
		w, err := s.writerOf(tx, by)
		if err != nil {
			return err
		}
		out, err = w.create(kind, attrs)
		return err
	})
	return out, err
}

// Get returns the record of the given kind and uuid if by may read it,
// else a 404 error.
func (s *Store) Get(kind Kind, uuid string, by Authorization) (Record, error) {
	var out Record
	err := s.view("get "+string(kind), func(tx *bolt.Tx) error {
		ki, err := kindOf(kind)
		if err != nil {
			return err
		}
		a, err := s.actorOf(tx, by)
		if err != nil {
			return err
		}
		rec, err := loadRecord(tx, ki, uuid)
		if err != nil {
			return err
		}
		if s.permsFor(tx, a).levelOf(ki, rec) < canRead {
			return notFound(kind, uuid)
		}
		out = rec
		return nil
	})
	return out, err
}

// Update changes the attributes in attrs of the record (same attribute
// rules as Create; uuid cannot change) and returns the record as stored,
// with a new modified_at and etag. The caller needs write permission (403
// if it can only read the record, 404 if it cannot read it); giving the
// record to a new owner needs write permission on the new owner too.
// Admin-only: users' is_admin, is_active and owner_uuid, tokens' owner.
func (s *Store) Update(kind Kind, uuid string, attrs Record, by Authorization) (Record, error) {
	var out Record
	err := s.update("update "+string(kind), func(tx *bolt.Tx) error {
		w, err := s.writerOf(tx, by)
		if err != nil {
			return err
		}
		out, err = w.update(kind, uuid, attrs)
		return err
	})
	return out, err
}

// Delete removes the record and returns it as it was. Permission as for
// Update; only admins delete users; deleting a token revokes it. Records
// are deleted outright (the store has no trash: trash_at and is_trashed
// are plain attributes).
func (s *Store) Delete(kind Kind, uuid string, by Authorization) (Record, error) {
	var out Record
	err := s.update("delete "+string(kind), func(tx *bolt.Tx) error {
		w, err := s.writerOf(tx, by)
		if err != nil {
			return err
		}
		out, err = w.delete(kind, uuid)
		return err
	})
	return out, err
}

// actor is the user a request runs as, as the store currently has it.
type actor struct {
	uuid      string
	admin     bool
	active    bool
	anonymous bool
	system    bool
	// scoped: the request's token has scopes (not "all"), listed in
	// scopes; a scoped caller may not issue tokens broader than its own.
	scoped bool
	scopes []string
}

func systemActor(uuid string) actor {
	return actor{uuid: uuid, admin: true, active: true, system: true}
}

// actorOf loads the caller's user: the Authorization's user must still
// exist, and its admin flag is taken from the store, not from the caller.
func (s *Store) actorOf(tx *bolt.Tx, by Authorization) (actor, error) {
	uuid := by.User.UUID
	if uuid == "" {
		return actor{}, unauthorized("not logged in")
	}
	if uuid == s.SystemUserUUID() {
		return systemActor(uuid), nil
	}
	v := tx.Bucket(kinds[Users].bucket).Get([]byte(uuid))
	if v == nil {
		return actor{}, unauthorized("not logged in: user " + uuid + " does not exist")
	}
	var u struct {
		IsAdmin  bool `json:"is_admin"`
		IsActive bool `json:"is_active"`
	}
	if err := json.Unmarshal(v, &u); err != nil {
		return actor{}, fmt.Errorf("decode user %s: %w", uuid, err)
	}
	a := actor{uuid: uuid, admin: u.IsAdmin, active: u.IsActive, anonymous: uuid == s.AnonymousUserUUID()}
	// An Authorization without a token is the server acting for a user
	// (tests, mirroring); one with a token is bound by its scopes.
	if by.Token.UUID != "" && !hasAll(by.Token.Scopes) {
		a.scoped, a.scopes = true, by.Token.Scopes
	}
	return a, nil
}

// writerOf is actorOf for writes, which inactive users and the anonymous
// user may not make.
func (s *Store) writerOf(tx *bolt.Tx, by Authorization) (*writer, error) {
	a, err := s.actorOf(tx, by)
	if err != nil {
		return nil, err
	}
	w := s.newWriter(tx, a)
	w.readOnly = !a.admin && (!a.active || a.anonymous)
	return w, nil
}

// writer carries one write transaction's state.
type writer struct {
	s     *Store
	tx    *bolt.Tx
	by    actor
	perms *permSet // computed on first use
	// readOnly: the caller may not write at all (inactive or anonymous);
	// writes answer 403, or 404 for records it cannot read.
	readOnly bool
}

func (s *Store) newWriter(tx *bolt.Tx, by actor) *writer {
	return &writer{s: s, tx: tx, by: by}
}

func (w *writer) permissions() *permSet {
	if w.perms == nil {
		w.perms = w.s.permsFor(w.tx, w.by)
	}
	return w.perms
}

// levelOn returns the caller's permission on the record with uuid u (of
// any type), or none if it does not exist.
func (w *writer) levelOn(u string) level {
	if w.by.admin {
		return canManage
	}
	k, ok := KindOfUUID(u)
	if !ok {
		return none
	}
	rec, err := loadRecord(w.tx, kinds[k], u)
	if err != nil {
		return none
	}
	return w.permissions().levelOf(kinds[k], rec)
}

// apply copies attrs into rec, checking names and values.
func (w *writer) apply(ki *kindInfo, rec, attrs Record) error {
	for name, v := range attrs {
		if ignoredInput[name] || name == "uuid" {
			continue
		}
		t, ok := ki.fields[name]
		if !ok {
			return badRequest("unknown attribute %q for %s", name, ki.singular)
		}
		if t == fServer {
			continue
		}
		if name == "portable_data_hash" {
			// Checked against the computed value by the collection hook.
			if _, ok := v.(string); !ok && v != nil {
				return badRequest("invalid value for collection attribute \"portable_data_hash\": %v", shortValue(v))
			}
			rec[name] = v
			continue
		}
		nv, err := normalize(ki, name, t, v)
		if err != nil {
			return err
		}
		rec[name] = nv
	}
	return nil
}

func (w *writer) create(kind Kind, attrs Record) (Record, error) {
	ki, err := kindOf(kind)
	if err != nil {
		return nil, err
	}
	if w.readOnly {
		return nil, forbidden("forbidden: user %s may not write", w.by.uuid)
	}
	rec := ki.newRecord()
	uuid := w.s.newUUID(ki.infix)
	if v, ok := attrs["uuid"]; ok && v != nil && v != "" {
		u, _ := v.(string)
		if !isUUID(u) || u[6:11] != ki.infix {
			return nil, badRequest("invalid uuid %s for %s", shortValue(v), ki.singular)
		}
		if !w.by.admin {
			return nil, forbidden("only admins may choose a uuid")
		}
		if loadRaw(w.tx, ki, u) != nil {
			return nil, newError(409, "%s %s already exists", ki.singular, u)
		}
		uuid = u
	}
	rec["uuid"] = uuid
	if err := w.apply(ki, rec, attrs); err != nil {
		return nil, err
	}
	if rec.StringAttr("owner_uuid") == "" {
		rec["owner_uuid"] = w.by.uuid
	}
	if err := w.checkOwner(ki, nil, rec); err != nil {
		return nil, err
	}
	if err := w.hook(ki, nil, rec); err != nil {
		return nil, err
	}
	now := FormatTime(w.s.tick())
	rec["kind"] = ki.arvKind
	rec["created_at"] = now
	w.stamp(rec, now)
	if err := putRecord(w.tx, ki, nil, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

func (w *writer) update(kind Kind, uuid string, attrs Record) (Record, error) {
	ki, err := kindOf(kind)
	if err != nil {
		return nil, err
	}
	old, err := loadRecord(w.tx, ki, uuid)
	if err != nil {
		return nil, err
	}
	if err := w.requireWrite(ki, old); err != nil {
		return nil, err
	}
	if v, ok := attrs["uuid"]; ok && v != nil && v != uuid {
		return nil, badRequest("uuid of %s %s cannot be changed", ki.singular, uuid)
	}
	rec := make(Record, len(old))
	for k, v := range old {
		rec[k] = v
	}
	if err := w.apply(ki, rec, attrs); err != nil {
		return nil, err
	}
	if rec.StringAttr("owner_uuid") == "" {
		rec["owner_uuid"] = old["owner_uuid"]
	}
	if err := w.checkOwner(ki, old, rec); err != nil {
		return nil, err
	}
	if err := w.hook(ki, old, rec); err != nil {
		return nil, err
	}
	w.stamp(rec, FormatTime(w.s.tick()))
	if err := putRecord(w.tx, ki, old, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

func (w *writer) delete(kind Kind, uuid string) (Record, error) {
	ki, err := kindOf(kind)
	if err != nil {
		return nil, err
	}
	old, err := loadRecord(w.tx, ki, uuid)
	if err != nil {
		return nil, err
	}
	if err := w.requireWrite(ki, old); err != nil {
		return nil, err
	}
	if kind == Users && !w.by.admin {
		return nil, forbidden("only admins may delete users")
	}
	if err := deleteRecord(w.tx, ki, old); err != nil {
		return nil, err
	}
	return old, nil
}

// requireWrite answers 404 if the caller cannot read rec and 403 if it
// can read but not write it.
func (w *writer) requireWrite(ki *kindInfo, rec Record) error {
	l := w.permissions().levelOf(ki, rec)
	if l < canRead {
		return notFound(ki.kind, rec.UUID())
	}
	if w.readOnly {
		return forbidden("forbidden: user %s may not write", w.by.uuid)
	}
	if l < canWrite {
		return forbidden("forbidden: no write permission on %s %s", ki.singular, rec.UUID())
	}
	return nil
}

// checkOwner checks a new or changed owner_uuid: it must name an existing
// user or group the caller can write to, and (as in RailsAPI) taking a
// record from its owner needs write permission on the old owner too, so a
// can_write link on a record does not let its holder give it away.
func (w *writer) checkOwner(ki *kindInfo, old, rec Record) error {
	owner := rec.StringAttr("owner_uuid")
	if old != nil && old.StringAttr("owner_uuid") == owner {
		return nil
	}
	if old == nil && owner == w.by.uuid {
		return nil
	}
	if k, _ := KindOfUUID(owner); k != Users && k != Groups {
		return badRequest("invalid owner_uuid %q: not a user or group", owner)
	}
	if w.levelOn(owner) < canWrite {
		return forbidden("forbidden: no write permission on new owner %s", owner)
	}
	if old != nil {
		if prev := old.StringAttr("owner_uuid"); prev != w.by.uuid && w.levelOn(prev) < canWrite {
			return forbidden("forbidden: no write permission on current owner %s", prev)
		}
	}
	return nil
}

// stamp sets the attributes every write changes.
func (w *writer) stamp(rec Record, now string) {
	rec["modified_at"] = now
	rec["modified_by_user_uuid"] = w.by.uuid
	rec["etag"] = etag(rec.UUID(), now)
}

// etag returns a short hash (base36 of an MD5, at most 25 characters) of
// the record's uuid and modification time; since every write moves
// modified_at forward, every write changes it.
func etag(uuid, modifiedAt string) string {
	sum := md5.Sum([]byte(uuid + "\x00" + modifiedAt))
	return new(big.Int).SetBytes(sum[:]).Text(36)
}

// hook runs the type's own checks and computed attributes.
func (w *writer) hook(ki *kindInfo, old, rec Record) error {
	switch ki.kind {
	case Users:
		return w.userHook(old, rec)
	case APIClientAuthorizations:
		return w.tokenHook(old, rec)
	case Groups:
		return w.groupHook(old, rec)
	case Links:
		return w.linkHook(old, rec)
	case Collections:
		return collectionHook(old, rec)
	}
	return nil
}

func (w *writer) groupHook(old, rec Record) error {
	switch gc := rec["group_class"]; gc {
	case nil, "project", "role", "filter":
	default:
		return badRequest("invalid group_class %s: must be project, role or filter", shortValue(gc))
	}
	if old == nil || old.StringAttr("owner_uuid") == rec.StringAttr("owner_uuid") {
		return nil
	}
	// A group may not end up owning itself.
	u := rec.UUID()
	owner := rec.StringAttr("owner_uuid")
	for i := 0; i < 1000 && owner != ""; i++ {
		if owner == u {
			return badRequest("owner_uuid %s would make group %s own itself", rec.StringAttr("owner_uuid"), u)
		}
		if k, _ := KindOfUUID(owner); k != Groups {
			return nil
		}
		g, err := loadRecord(w.tx, kinds[Groups], owner)
		if err != nil {
			return nil
		}
		owner = g.StringAttr("owner_uuid")
	}
	return nil
}

func (w *writer) linkHook(old, rec Record) error {
	if old != nil && old.StringAttr("link_class") == "permission" {
		if w.levelOn(old.StringAttr("head_uuid")) < canManage {
			return forbidden("forbidden: changing a permission link needs can_manage on %s", old.StringAttr("head_uuid"))
		}
	}
	if rec.StringAttr("link_class") != "permission" {
		return nil
	}
	switch rec.StringAttr("name") {
	case "can_read", "can_write", "can_manage", "can_login":
	default:
		return badRequest("invalid permission link name %q: must be can_read, can_write, can_manage or can_login", rec.StringAttr("name"))
	}
	head, tail := rec.StringAttr("head_uuid"), rec.StringAttr("tail_uuid")
	if !isUUID(head) {
		return badRequest("invalid head_uuid %q for a permission link", head)
	}
	if k, _ := KindOfUUID(tail); k != Users && k != Groups {
		return badRequest("invalid tail_uuid %q for a permission link: must be a user or group", tail)
	}
	if w.levelOn(head) < canManage {
		return forbidden("forbidden: a permission link needs can_manage on %s", head)
	}
	return nil
}

// Index buckets.
var (
	idxTokenSecret   = []byte("idx/token_secret")   // sha256(secret) → token uuid
	idxCollectionPDH = []byte("idx/collection_pdh") // pdh \0 uuid → ""
	idxUserEmail     = []byte("idx/user_email")     // lower(email) \0 uuid → ""
	idxLinkTail      = []byte("idx/link_tail")      // tail \0 link uuid → level byte + head (permission links)
	idxGroupOwner    = []byte("idx/group_owner")    // owner \0 group uuid → ""
)

var indexBuckets = [][]byte{idxTokenSecret, idxCollectionPDH, idxUserEmail, idxLinkTail, idxGroupOwner}

func allBuckets() [][]byte {
	var b [][]byte
	for _, k := range Kinds {
		b = append(b, kinds[k].bucket)
	}
	return append(b, indexBuckets...)
}

// indexEntry is one key in an index bucket.
type indexEntry struct {
	bucket   []byte
	key, val []byte
}

// indexEntries returns the index keys a record has: the single definition
// that writes and Check both use.
func indexEntries(ki *kindInfo, rec Record) []indexEntry {
	uuid := rec.UUID()
	pair := func(a, b string) []byte { return []byte(a + "\x00" + b) }
	switch ki.kind {
	case Users:
		if e := strings.ToLower(rec.StringAttr("email")); e != "" {
			return []indexEntry{{idxUserEmail, pair(e, uuid), []byte{}}}
		}
	case APIClientAuthorizations:
		if sec := rec.StringAttr("api_token"); sec != "" {
			k := signing.CacheKey(sec)
			return []indexEntry{{idxTokenSecret, k[:], []byte(uuid)}}
		}
	case Groups:
		return []indexEntry{{idxGroupOwner, pair(rec.StringAttr("owner_uuid"), uuid), []byte{}}}
	case Links:
		if rec.StringAttr("link_class") == "permission" {
			if l := linkLevel(rec.StringAttr("name")); l > none {
				return []indexEntry{{idxLinkTail, pair(rec.StringAttr("tail_uuid"), uuid),
					append([]byte{byte(l)}, rec.StringAttr("head_uuid")...)}}
			}
		}
	case Collections:
		return []indexEntry{{idxCollectionPDH, pair(rec.StringAttr("portable_data_hash"), uuid), []byte{}}}
	}
	return nil
}

// loadRaw returns the stored JSON of a record, or nil. The slice is only
// valid during the transaction.
func loadRaw(tx *bolt.Tx, ki *kindInfo, uuid string) []byte {
	return tx.Bucket(ki.bucket).Get([]byte(uuid))
}

// loadRecord returns the record, or a 404 error.
func loadRecord(tx *bolt.Tx, ki *kindInfo, uuid string) (Record, error) {
	v := loadRaw(tx, ki, uuid)
	if v == nil {
		return nil, notFound(ki.kind, uuid)
	}
	return decodeRecord(ki, uuid, v)
}

func decodeRecord(ki *kindInfo, uuid string, v []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", ki.singular, uuid, err)
	}
	return r, nil
}

// putRecord stores rec (replacing old, nil for a new record) and moves its
// index entries, all inside the caller's transaction.
func putRecord(tx *bolt.Tx, ki *kindInfo, old, rec Record) error {
	b, err := encodeRecord(rec)
	if err != nil {
		return badRequest("%s cannot be stored as JSON: %v", ki.singular, err)
	}
	if old != nil {
		if err := deleteIndex(tx, indexEntries(ki, old)); err != nil {
			return err
		}
	}
	for _, e := range indexEntries(ki, rec) {
		ib := tx.Bucket(e.bucket)
		if cur := ib.Get(e.key); cur != nil && !bytes.Equal(cur, e.val) && bytes.Equal(e.bucket, idxTokenSecret) {
			return newError(409, "token secret already in use")
		}
		if err := ib.Put(e.key, e.val); err != nil {
			return fmt.Errorf("index %s: %w", e.bucket, err)
		}
	}
	if err := tx.Bucket(ki.bucket).Put([]byte(rec.UUID()), b); err != nil {
		return fmt.Errorf("put %s %s: %w", ki.singular, rec.UUID(), err)
	}
	return nil
}

// deleteRecord removes rec and its index entries.
func deleteRecord(tx *bolt.Tx, ki *kindInfo, rec Record) error {
	if err := deleteIndex(tx, indexEntries(ki, rec)); err != nil {
		return err
	}
	if err := tx.Bucket(ki.bucket).Delete([]byte(rec.UUID())); err != nil {
		return fmt.Errorf("delete %s %s: %w", ki.singular, rec.UUID(), err)
	}
	return nil
}

func deleteIndex(tx *bolt.Tx, entries []indexEntry) error {
	for _, e := range entries {
		if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
			return fmt.Errorf("unindex %s: %w", e.bucket, err)
		}
	}
	return nil
}

// bigManifest is the manifest_text size above which encodeRecord writes
// the manifest itself.
const bigManifest = 1 << 20

// encodeRecord is json.Marshal(rec), but a large manifest_text is escaped
// straight into a buffer of the record's size: encoding/json would grow
// its buffer by doubling through the manifest and then copy the result,
// about three times the manifest where this takes one. (The key order
// differs; nothing reads the stored JSON but a JSON decoder.) A manifest
// that is not valid UTF-8, which encoding/json changes, goes through it.
func encodeRecord(rec Record) ([]byte, error) {
	mt, ok := rec["manifest_text"].(string)
	if !ok || len(mt) < bigManifest || !utf8.ValidString(mt) {
		return json.Marshal(rec)
	}
	others := make(Record, len(rec)-1)
	for k, v := range rec {
		if k != "manifest_text" {
			others[k] = v
		}
	}
	enc, err := json.Marshal(others)
	if err != nil {
		return nil, err
	}
	const head = `{"manifest_text":"`
	m := readOnlyBytes(mt)
	tail := []byte(`"}`)
	if len(enc) > 2 {
		tail = append([]byte(`",`), enc[1:]...)
	}
	out := make([]byte, 0, len(head)+jsonesc.Len(m)+len(tail))
	out = jsonesc.Append(append(out, head...), m)
	return append(out, tail...), nil
}
