package store

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keepfed/keepfed/signing"
	bolt "go.etcd.io/bbolt"
)

// SecretLen is the length of the secrets the store generates: lowercase
// base36 from crypto/rand, like Arvados's Go controller.
const SecretLen = 50

// Token is an api_client_authorization record's attributes (Arvados field
// names in JSON). APIToken is the secret itself: a home cluster must keep
// it to check tokens salted for other clusters (spec 2.4).
type Token struct {
	UUID      string     `json:"uuid"`
	OwnerUUID string     `json:"owner_uuid"`
	APIToken  string     `json:"api_token"`
	ExpiresAt *time.Time `json:"expires_at"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
}

// V2 returns the token in v2 form, v2/<uuid>/<secret>.
func (t Token) V2() string { return "v2/" + t.UUID + "/" + t.APIToken }

// Authorization is what a request runs as: a validated token and its
// user, as LookupToken returns it. The record methods (Create, Get, ...)
// use only User.UUID and read the user's current admin and active flags
// from the store, so for a federated user whose token a peer validated,
// Authorization{User: mirrored} (after EnsureUser) is enough. Inactive
// users may read but not write (403).
type Authorization struct {
	Token Token
	User  User
	// Salted is set when the token was presented salted for the remote
	// cluster given to LookupToken rather than with its own secret; the
	// HTTP layer then must not reveal the secret (api_token is null in
	// Arvados's answer).
	Salted bool
}

// CreateToken issues a new token for the user with that uuid (local or
// mirrored), expiring at expiresAt if it is not nil. The returned Token's
// V2 method gives the full token.
func (s *Store) CreateToken(userUUID string, expiresAt *time.Time) (Token, error) {
	attrs := Record{"owner_uuid": userUUID}
	if expiresAt != nil {
		attrs["expires_at"] = *expiresAt
	}
	var t Token
	err := s.update("create token", func(tx *bolt.Tx) error {
		rec, err := s.newWriter(tx, systemActor(s.SystemUserUUID())).create(APIClientAuthorizations, attrs)
		if err != nil {
			return err
		}
		return recordInto(rec, &t)
	})
	return t, err
}

// RevokeToken deletes the token with that uuid (no permission check; use
// Delete to act for a user).
func (s *Store) RevokeToken(uuid string) error {
	return s.update("revoke token", func(tx *bolt.Tx) error {
		_, err := s.newWriter(tx, systemActor(s.SystemUserUUID())).delete(APIClientAuthorizations, uuid)
		return err
	})
}

// LookupToken validates a presented token and returns it with its user.
// Accepted: a v2 token issued here (uuid and exact secret), a v1 token
// (the bare secret of any token issued here) and, only when remote is not
// "", a v2 token whose secret is HMAC-SHA1(secret, remote) — the salted
// form a peer presents when it validates a token on its user's behalf
// (spec 2.4; the caller passes the ?remote= cluster id). Secrets are
// compared in constant time; v1 secrets are found by their SHA-256, never
// by the raw secret. Unknown, revoked and expired tokens, and tokens whose
// user is gone, are 401 errors.
//
// One bbolt read transaction, one HMAC for a salted token.
func (s *Store) LookupToken(presented, remote string) (Authorization, error) {
	var a Authorization
	t := signing.ParseToken(presented)
	var uuid []byte
	var secret string
	var keyBuf [27]byte
	switch t.Version {
	case signing.TokenV2:
		if !isUUID(t.UUID) || t.UUID[6:11] != kinds[APIClientAuthorizations].infix {
			return a, unauthorized("invalid token: bad token uuid")
		}
		uuid = append(keyBuf[:0], t.UUID...)
		secret = t.Secret
	case signing.TokenV1:
		secret = presented
	default:
		return a, unauthorized("invalid token: not a v1 or v2 token")
	}
	err := s.view("lookup token", func(tx *bolt.Tx) error {
		if uuid == nil {
			k := signing.CacheKey(secret)
			uuid = tx.Bucket(idxTokenSecret).Get(k[:])
			if uuid == nil {
				return unauthorized("invalid token: unknown token")
			}
		}
		v := tx.Bucket(kinds[APIClientAuthorizations].bucket).Get(uuid)
		if v == nil {
			return unauthorized("invalid token: unknown token")
		}
		if err := json.Unmarshal(v, &a.Token); err != nil {
			return fmt.Errorf("decode token %s: %w", uuid, err)
		}
		switch {
		case hmac.Equal([]byte(secret), []byte(a.Token.APIToken)):
		case remote != "" && t.Version == signing.TokenV2 && signing.SaltedFor(secret, a.Token.APIToken, remote):
			a.Salted = true
		default:
			return unauthorized("invalid token: wrong secret")
		}
		if a.Token.ExpiresAt != nil && !a.Token.ExpiresAt.After(s.now()) {
			return unauthorized("invalid token: expired")
		}
		u := tx.Bucket(kinds[Users].bucket).Get([]byte(a.Token.OwnerUUID))
		if u == nil {
			return unauthorized("invalid token: its user no longer exists")
		}
		if err := json.Unmarshal(u, &a.User); err != nil {
			return fmt.Errorf("decode user %s: %w", a.Token.OwnerUUID, err)
		}
		return nil
	})
	if err != nil {
		return Authorization{}, err
	}
	return a, nil
}

// UpgradeV1 returns the v2 form of a v1 token (a bare secret) issued here,
// if it is known and not expired.
func (s *Store) UpgradeV1(secret string) (string, bool) {
	if signing.ParseToken(secret).Version != signing.TokenV1 {
		return "", false
	}
	var v2 string
	_ = s.view("upgrade v1 token", func(tx *bolt.Tx) error {
		k := signing.CacheKey(secret)
		uuid := tx.Bucket(idxTokenSecret).Get(k[:])
		if uuid == nil {
			return nil
		}
		var t Token
		v := tx.Bucket(kinds[APIClientAuthorizations].bucket).Get(uuid)
		if v == nil || json.Unmarshal(v, &t) != nil || !hmac.Equal([]byte(t.APIToken), []byte(secret)) {
			return nil
		}
		if t.ExpiresAt != nil && !t.ExpiresAt.After(s.now()) {
			return nil
		}
		v2 = t.V2()
		return nil
	})
	return v2, v2 != ""
}

// tokenHook: tokens belong to an existing user; non-admins create tokens
// for themselves only and cannot give a token away; a new token gets a
// fresh secret; scopes are "all" or "<METHOD> /<path>"; and a caller
// whose own token is scoped cannot create or update a token to scopes
// that allow more than its own (no "all" token from a scoped one).
func (w *writer) tokenHook(old, rec Record) error {
	owner := rec.StringAttr("owner_uuid")
	if k, _ := KindOfUUID(owner); k != Users || loadRaw(w.tx, kinds[Users], owner) == nil {
		return badRequest("invalid owner_uuid %q for a token: no such user", owner)
	}
	if !w.by.admin {
		if old == nil && owner != w.by.uuid {
			return forbidden("forbidden: tokens can only be created for yourself")
		}
		if old != nil && old.StringAttr("owner_uuid") != owner {
			return forbidden("forbidden: only admins may change a token's owner")
		}
	}
	if old == nil {
		rec["api_token"] = string(appendRandomBase36(make([]byte, 0, SecretLen), SecretLen))
	}
	raw, _ := rec["scopes"].([]any)
	scopes := make([]string, 0, len(raw))
	for _, sc := range raw {
		s, _ := sc.(string)
		if !ValidScope(s) {
			return badRequest("invalid scope %q: must be \"all\" or \"<METHOD> /<path>\"", s)
		}
		scopes = append(scopes, s)
	}
	if w.by.scoped && !ScopesCover(w.by.scopes, scopes) {
		return forbidden("forbidden: a token's scopes may not be wider than those of the token that sets them (%q)", w.by.scopes)
	}
	return nil
}
