package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxCheckErrors bounds the problems Check reports.
const maxCheckErrors = 20

// Check verifies the store's consistency in one read transaction: bbolt's
// own page checks; every record decodes, is stored under its own uuid,
// has its type's kind and infix, and (collections) a portable_data_hash
// that matches its manifest_text; and every index bucket holds exactly the
// entries the records call for, no more, no fewer. It returns nil or the
// problems found, joined.
func (s *Store) Check() error {
	var problems []error
	add := func(format string, args ...any) bool {
		problems = append(problems, fmt.Errorf(format, args...))
		return len(problems) < maxCheckErrors
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if !add("bbolt: %w", err) {
				return nil
			}
		}
		want := map[string]map[string]string{} // bucket → key → value
		for _, b := range indexBuckets {
			want[string(b)] = map[string]string{}
		}
		for _, k := range Kinds {
			ki := kinds[k]
			b := tx.Bucket(ki.bucket)
			if b == nil {
				add("bucket %s missing", ki.bucket)
				continue
			}
			c := b.Cursor()
			for key, v := c.First(); key != nil; key, v = c.Next() {
				rec, err := decodeRecord(ki, string(key), v)
				if err != nil {
					if !add("%s: %w", ki.bucket, err) {
						return nil
					}
					continue
				}
				if msg := checkRecord(ki, string(key), rec); msg != "" {
					if !add("%s %s: %s", ki.singular, key, msg) {
						return nil
					}
				}
				for _, e := range indexEntries(ki, rec) {
					m := want[string(e.bucket)]
					if old, dup := m[string(e.key)]; dup && old != string(e.val) {
						add("%s: key %q wanted twice (%q, %q)", e.bucket, e.key, old, e.val)
					}
					m[string(e.key)] = string(e.val)
				}
			}
		}
		for _, name := range indexBuckets {
			b := tx.Bucket(name)
			if b == nil {
				add("bucket %s missing", name)
				continue
			}
			m := want[string(name)]
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				w, ok := m[string(k)]
				switch {
				case !ok:
					if !add("%s: stray entry %q → %q", name, k, v) {
						return nil
					}
				case !bytes.Equal([]byte(w), v):
					if !add("%s: entry %q is %q, want %q", name, k, v, w) {
						return nil
					}
				}
				delete(m, string(k))
			}
			for k, v := range m {
				if !add("%s: missing entry %q → %q", name, k, v) {
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: check: %w", errors.Join(problems...))
	}
	return nil
}

// checkRecord returns what is wrong with one stored record, or "".
func checkRecord(ki *kindInfo, key string, rec Record) string {
	uuid := rec.UUID()
	switch {
	case uuid != key:
		return fmt.Sprintf("stored under key %q but its uuid is %q", key, uuid)
	case !isUUID(uuid) || uuid[6:11] != ki.infix:
		return fmt.Sprintf("uuid %q is not a %s uuid", uuid, ki.singular)
	case rec.StringAttr("kind") != ki.arvKind:
		return fmt.Sprintf("kind is %q, want %q", rec.StringAttr("kind"), ki.arvKind)
	case rec.StringAttr("etag") == "" || rec.StringAttr("modified_at") == "" || rec.StringAttr("created_at") == "":
		return "etag, created_at or modified_at missing"
	}
	if ki.kind == Collections {
		if got, want := rec.StringAttr("portable_data_hash"), portableDataHash(rec.StringAttr("manifest_text")); got != want {
			return fmt.Sprintf("portable_data_hash %q does not match manifest_text (%s)", got, want)
		}
	}
	return ""
}
