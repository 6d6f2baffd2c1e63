package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Permission model (a subset of Arvados's, computed on each call from the
// permission links and group ownership; nothing is materialized):
//
//   - Admins (the system user and users with is_admin) can do anything.
//   - A user has can_manage on itself, so on everything it owns.
//   - A permission link (link_class "permission", name can_read, can_write
//     or can_manage) from tail T to head H gives whoever holds a level on
//     T the lesser of that level and the link's on H. A user holding a
//     level on a group is a member of it and gets what the group was given.
//   - Whoever holds a level on a user or group holds the same level on the
//     groups (projects) it owns, recursively, and on every record it owns.
//   - Every active user except the system and anonymous users — local or
//     mirrored from another cluster — is a member of the All users group,
//     at can_write for what the group is given (a project shared with All
//     users at can_write is writable by everyone), but can only read the
//     group record itself. An inactive user is not a member (in Arvados
//     only users that were set up, and so active, are; a federated user
//     under RemoteClusters.<id>.ActivateUsers: false is inactive here).
//     The anonymous user is a reading member of the anonymous group.
//   - Active users can read the records of the other active users
//     (Arvados's default Users.ActivatedUsersAreVisibleToOthers); an
//     inactive user sees only itself (and users it holds a level on).
//   - Tokens are visible to their owner (and admins) only, and to a caller
//     whose own token is scoped only when their scopes are covered by the
//     caller's (ScopesCover): a narrow token cannot read a broader token's
//     secret.
//   - A permission link can be read by its tail user and managed by whoever
//     manages its head.
//
// Reads of records without can_read answer 404; writes need can_write
// (403 when the record is readable).

// level is a permission level.
type level uint8

const (
	none level = iota
	canRead
	canWrite
	canManage
)

// linkLevel returns the level a permission link's name grants.
func linkLevel(name string) level {
	switch name {
	case "can_read":
		return canRead
	case "can_write":
		return canWrite
	case "can_manage":
		return canManage
	}
	return none
}

// permSet is what one caller can reach: uuid → the best level held on it
// (users, groups and the heads of permission links). The graph walk runs
// on first need only: owners and admins never pay for it.
type permSet struct {
	s        *Store
	tx       *bolt.Tx
	a        actor
	allUsers string
	levels   map[string]level
}

// permsFor returns the caller's permission set within tx.
func (s *Store) permsFor(tx *bolt.Tx, a actor) *permSet {
	return &permSet{s: s, tx: tx, a: a, allUsers: s.AllUsersGroupUUID()}
}

// level returns the caller's level on a user, group or link head,
// walking the permission graph first if that has not been done.
func (p *permSet) level(uuid string) level {
	if p.levels == nil {
		p.walk()
	}
	return p.levels[uuid]
}

// walk computes levels: breadth over permission links (by tail) and group
// ownership, from the caller and its implicit groups.
func (p *permSet) walk() {
	a := p.a
	p.levels = map[string]level{a.uuid: canManage}
	switch {
	case a.anonymous:
		p.levels[p.s.AnonymousGroupUUID()] = canRead
	case !a.system && a.active:
		p.levels[p.allUsers] = canWrite
	}
	queue := make([]string, 0, 8)
	for u := range p.levels {
		queue = append(queue, u)
	}
	links := p.tx.Bucket(idxLinkTail).Cursor()
	owned := p.tx.Bucket(idxGroupOwner).Cursor()
	var prefix []byte
	for len(queue) > 0 {
		n := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		l := p.levels[n]
		prefix = append(append(prefix[:0], n...), 0)
		for k, v := links.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = links.Next() {
			if len(v) < 1 {
				continue
			}
			nl := min(l, level(v[0]))
			head := string(v[1:])
			if nl > p.levels[head] {
				p.levels[head] = nl
				queue = append(queue, head)
			}
		}
		for k, _ := owned.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = owned.Next() {
			g := string(k[len(prefix):])
			if l > p.levels[g] {
				p.levels[g] = l
				queue = append(queue, g)
			}
		}
	}
}

// levelOf returns the caller's level on a stored record of type ki.
func (p *permSet) levelOf(ki *kindInfo, rec Record) level {
	u, owner := rec.UUID(), rec.StringAttr("owner_uuid")
	if ki.kind == APIClientAuthorizations && p.a.scoped && !ScopesCover(p.a.scopes, recordScopes(rec)) {
		// a scoped token may not see (and so copy the secret of) a token
		// that can do more than it can
		return none
	}
	if p.a.admin || owner == p.a.uuid || u == p.a.uuid {
		return canManage
	}
	switch ki.kind {
	case APIClientAuthorizations:
		return none
	case Users:
		l := p.level(u)
		if l < canRead && p.visibleUser(u) && rec["is_active"] == true {
			l = canRead
		}
		return l
	}
	l := max(p.level(u), p.level(owner))
	switch ki.kind {
	case Groups:
		if u == p.allUsers {
			l = min(l, canRead)
		}
	case Links:
		if rec.StringAttr("link_class") == "permission" {
			if rec.StringAttr("tail_uuid") == p.a.uuid {
				l = max(l, canRead)
			}
			if l < canManage && p.headLevel(rec.StringAttr("head_uuid")) == canManage {
				l = canManage
			}
		}
	}
	return l
}

// headLevel is the caller's level on a permission link's head (any type
// but another link, which would recurse).
func (p *permSet) headLevel(head string) level {
	k, ok := KindOfUUID(head)
	if !ok || k == Links {
		return p.level(head)
	}
	rec, err := loadRecord(p.tx, kinds[k], head)
	if err != nil {
		return none
	}
	return p.levelOf(kinds[k], rec)
}

// visibleUser reports whether user u is visible to the caller through the
// All users group: both are in it (the caller must also check that u is
// active).
func (p *permSet) visibleUser(u string) bool {
	if p.a.anonymous || p.a.system || !p.a.active {
		return false
	}
	c := u[:min(len(u), 5)]
	return u != c+"-"+systemUserSuffix && u != c+"-"+anonymousUserSuffix
}

// recordScopes returns a token record's scopes as strings.
func recordScopes(rec Record) []string {
	raw, _ := rec["scopes"].([]any)
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
