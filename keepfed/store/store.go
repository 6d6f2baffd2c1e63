// Package store is keepfed's embedded record store: Arvados users, API
// tokens, groups (projects), links, collections and workflows kept in a
// single bbolt file, with Arvados's JSON field names, uuids, timestamps and
// permission rules, behind a plain Go API (no HTTP).
//
// Every record type has one bbolt bucket keyed by uuid whose values are the
// record's JSON; index buckets (token secret hash → token, collection
// portable data hash → collections, and a few that the permission graph
// needs) are written in the same bbolt transaction as the records they
// index, so a crash at any moment leaves a consistent store. Check verifies
// that.
//
// Errors are *Error values carrying the HTTP status the API answers with;
// reads of records the caller may not see fail with ErrNotFound, as in
// Arvados.
//
// The embedded store is meant for a single node, demos and tests; a real
// deployment keeps its records in the Arvados API's database.
package store

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keepfed/keepfed/signing"
	bolt "go.etcd.io/bbolt"
)

// TimeFormat is Arvados's timestamp format: RFC 3339 in UTC with exactly
// nine fractional digits, e.g. 2026-11-24T10:00:00.123456789Z.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime renders t in TimeFormat (after converting it to UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Store is an open record store. Its methods are safe for concurrent use;
// bbolt serializes writers, readers run in parallel.
type Store struct {
	db      *bolt.DB
	cluster string

	// now is the clock (tests replace it).
	now func() time.Time
	// last is the latest timestamp handed to a write; only touched inside
	// bbolt write transactions, which are serialized.
	last time.Time

	closeOnce sync.Once
}

// Well-known uuid suffixes (spec 1.2), appended to "<cluster>-".
const (
	systemUserSuffix      = "tpzed-000000000000000"
	anonymousUserSuffix   = "tpzed-anonymouspublic"
	systemGroupSuffix     = "j7d0g-000000000000000"
	allUsersGroupSuffix   = "j7d0g-fffffffffffffff"
	anonymousGroupSuffix  = "j7d0g-anonymouspublic"
	publicFavoritesSuffix = "j7d0g-publicfavorites"
)

// meta bucket keys.
var (
	bucketMeta    = []byte("meta")
	metaClusterID = []byte("cluster_id")
	metaVersion   = []byte("schema_version")
)

const schemaVersion = "1"

// Open opens (creating if needed) the store at path for cluster clusterID
// (5 characters of [a-z0-9]). A new store gets the well-known records of
// spec 1.2: the system user (admin), the anonymous user, the system group,
// the All users group, the anonymous group and the public favorites
// project. A store created for another cluster id is refused. Open waits
// at most a few seconds for another process to release the file.
func Open(path, clusterID string) (*Store, error) {
	return open(path, clusterID, &bolt.Options{Timeout: 5 * time.Second})
}

// initialMmapSize is the store's initial mapping: address space only (a
// page costs memory when it is read), and large enough that a growing
// file seldom needs a new mapping, for which bbolt copies every value
// the writing transaction holds onto the heap (a large manifest: once
// more).
const initialMmapSize = 1 << 30

func open(path, clusterID string, opts *bolt.Options) (*Store, error) {
	if !signing.IsClusterID(clusterID) {
		return nil, fmt.Errorf("store: open %s: invalid cluster id %q", path, clusterID)
	}
	if opts.InitialMmapSize == 0 {
		opts.InitialMmapSize = initialMmapSize
	}
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, cluster: clusterID, now: time.Now}
	if err := db.Update(s.bootstrap); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// Close closes the store; further calls fail. Closing twice is harmless.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if e := s.db.Close(); e != nil {
			err = fmt.Errorf("store: close: %w", e)
		}
	})
	return err
}

// ClusterID returns the id of the cluster the store belongs to.
func (s *Store) ClusterID() string { return s.cluster }

// SystemUserUUID returns the system (root) user's uuid, <cluster>-tpzed-000000000000000.
func (s *Store) SystemUserUUID() string { return s.cluster + "-" + systemUserSuffix }

// AnonymousUserUUID returns the anonymous user's uuid, <cluster>-tpzed-anonymouspublic.
func (s *Store) AnonymousUserUUID() string { return s.cluster + "-" + anonymousUserSuffix }

// AllUsersGroupUUID returns the All users group's uuid, <cluster>-j7d0g-fffffffffffffff.
// Every user but the system and anonymous users is a member.
func (s *Store) AllUsersGroupUUID() string { return s.cluster + "-" + allUsersGroupSuffix }

// AnonymousGroupUUID returns the anonymous group's uuid, <cluster>-j7d0g-anonymouspublic.
func (s *Store) AnonymousGroupUUID() string { return s.cluster + "-" + anonymousGroupSuffix }

// bootstrap creates the buckets and, in a new store, the well-known records.
func (s *Store) bootstrap(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create meta bucket: %w", err)
	}
	if id := meta.Get(metaClusterID); id != nil && string(id) != s.cluster {
		return fmt.Errorf("store belongs to cluster %q, not %q", id, s.cluster)
	}
	for _, b := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	if meta.Get(metaClusterID) != nil {
		return nil
	}
	if err := meta.Put(metaClusterID, []byte(s.cluster)); err != nil {
		return fmt.Errorf("write cluster id: %w", err)
	}
	if err := meta.Put(metaVersion, []byte(schemaVersion)); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	sys := s.SystemUserUUID()
	c := s.cluster + "-"
	seed := []struct {
		kind  Kind
		attrs Record
	}{
		{Users, Record{"uuid": sys, "email": "root", "first_name": "root", "is_admin": true, "is_active": true}},
		{Users, Record{"uuid": c + anonymousUserSuffix, "email": "anonymous", "first_name": "Anonymous", "is_active": true}},
		{Groups, Record{"uuid": c + systemGroupSuffix, "name": "System group", "group_class": "role"}},
		{Groups, Record{"uuid": c + allUsersGroupSuffix, "name": "All users", "group_class": "role"}},
		{Groups, Record{"uuid": c + anonymousGroupSuffix, "name": "Anonymous users", "group_class": "role"}},
		{Groups, Record{"uuid": c + publicFavoritesSuffix, "name": "Public favorites", "group_class": "project"}},
	}
	w := s.newWriter(tx, systemActor(sys))
	for _, r := range seed {
		if _, err := w.create(r.kind, r.attrs); err != nil {
			return fmt.Errorf("create %s: %w", r.attrs["uuid"], err)
		}
	}
	return nil
}

// view runs fn in a read transaction, naming op in any internal error.
func (s *Store) view(op string, fn func(tx *bolt.Tx) error) error {
	return wrapTx(op, s.db.View(fn))
}

// update runs fn in a write transaction, naming op in any internal error.
func (s *Store) update(op string, fn func(tx *bolt.Tx) error) error {
	return wrapTx(op, s.db.Update(fn))
}

// wrapTx leaves *Error values alone (their messages are for clients) and
// gives every other error the operation's name.
func wrapTx(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// tick returns the timestamp for a write: now, but always later than the
// previous write's, so modified_at (and so etag) changes on every update
// and orders writes. Call only inside a write transaction.
func (s *Store) tick() time.Time {
	t := s.now().UTC()
	if !t.After(s.last) {
		t = s.last.Add(time.Nanosecond)
	}
	s.last = t
	return t
}

const base36 = "0123456789abcdefghijklmnopqrstuvwxyz"

// appendRandomBase36 appends n uniformly random characters of [0-9a-z]
// from crypto/rand.
func appendRandomBase36(dst []byte, n int) []byte {
	var buf [64]byte
	for n > 0 {
		if _, err := rand.Read(buf[:]); err != nil {
			// crypto/rand never fails on supported platforms.
			panic(fmt.Sprintf("store: crypto/rand: %v", err))
		}
		for _, b := range buf {
			if b >= 252 { // 252 = 7*36: reject to stay uniform
				continue
			}
			dst = append(dst, base36[b%36])
			n--
			if n == 0 {
				break
			}
		}
	}
	return dst
}

// newUUID returns a fresh <cluster>-<infix>-<15 random base36> uuid.
func (s *Store) newUUID(infix string) string {
	b := make([]byte, 0, 27)
	b = append(b, s.cluster...)
	b = append(b, '-')
	b = append(b, infix...)
	b = append(b, '-')
	return string(appendRandomBase36(b, 15))
}

// isUUID reports whether u has the Arvados uuid shape
// ^[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{15}$.
func isUUID(u string) bool {
	if len(u) != 27 || u[5] != '-' || u[11] != '-' {
		return false
	}
	for i := 0; i < len(u); i++ {
		if i == 5 || i == 11 {
			continue
		}
		c := u[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}
