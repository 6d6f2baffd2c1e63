package store

import (
	"bytes"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/keepfed/keepfed/manifest"
)

// collectionHook stores manifest_text as given (the HTTP layer has already
// verified and stripped +A signatures) and computes portable_data_hash. A
// client-supplied portable_data_hash is accepted when its first 32
// characters agree with the computed one, as RailsAPI does; the computed
// one is stored.
func collectionHook(old, rec Record) error {
	mt := rec.StringAttr("manifest_text")
	if mt != "" && mt[len(mt)-1] != '\n' {
		return badRequest("invalid manifest_text: a non-empty manifest must end with a newline")
	}
	pdh := portableDataHash(mt)
	supplied, _ := rec["portable_data_hash"].(string)
	if old != nil && supplied == old.StringAttr("portable_data_hash") {
		supplied = "" // carried over, not sent by the client
	}
	if supplied != "" && (len(supplied) < 32 || supplied[:32] != pdh[:32]) {
		return badRequest("portable_data_hash %q does not match manifest_text (%s)", supplied, pdh)
	}
	rec["portable_data_hash"] = pdh
	// file_count and file_size_total as Arvados computes them; a
	// manifest the grammar refuses has been refused by the API layer
	// already, so here it only leaves them at zero.
	n, size, err := manifest.FileStats(readOnlyBytes(mt))
	if err != nil {
		n, size = 0, 0
	}
	// stored as JSON numbers come back from the store: float64
	rec["file_count"] = float64(n)
	rec["file_size_total"] = float64(size)
	return nil
}

// portableDataHash returns the portable data hash of a manifest (spec 4.4),
// as the manifest package computes it.
func portableDataHash(m string) string { return manifest.PortableDataHash(readOnlyBytes(m)) }

// readOnlyBytes views s as bytes without copying (a manifest can be tens
// of megabytes), for functions that only read them.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// FindByPDH returns a collection with that portable data hash that by may
// read: an untrashed one if there is one, the most recently modified among
// equals. Hints after hash+size in pdh are ignored. The HTTP layer shapes
// the answer (Arvados returns only uuid = the PDH, portable_data_hash,
// manifest_text and trash_at).
func (s *Store) FindByPDH(pdh string, by Authorization) (Record, error) {
	key, ok := pdhKey(pdh)
	if !ok {
		return nil, newError(404, "collection %s not found: not a portable data hash", pdh)
	}
	var best Record
	err := s.view("find collection by pdh", func(tx *bolt.Tx) error {
		a, err := s.actorOf(tx, by)
		if err != nil {
			return err
		}
		ki := kinds[Collections]
		perms := s.permsFor(tx, a)
		prefix := []byte(key + "\x00")
		c := tx.Bucket(idxCollectionPDH).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rec, err := loadRecord(tx, ki, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			if perms.levelOf(ki, rec) < canRead {
				continue
			}
			if best == nil || betterPDHMatch(rec, best) {
				best = rec
			}
		}
		if best == nil {
			return newError(404, "collection %s not found", key)
		}
		return nil
	})
	return best, err
}

// betterPDHMatch prefers an untrashed collection, then the later modified_at.
func betterPDHMatch(a, b Record) bool {
	at, bt := a["is_trashed"] == true, b["is_trashed"] == true
	if at != bt {
		return !at
	}
	return a.StringAttr("modified_at") > b.StringAttr("modified_at")
}

// pdhKey returns the hash+size part of a portable data hash with optional
// hints (^[0-9a-f]{32}\+[0-9]+(\+.*)?$).
func pdhKey(s string) (string, bool) {
	if len(s) < 34 || s[32] != '+' {
		return "", false
	}
	for i := 0; i < 32; i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	end := 33
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 33 || (end < len(s) && s[end] != '+') {
		return "", false
	}
	return s[:end], true
}
