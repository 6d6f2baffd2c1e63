package signing

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"

	sha256 "github.com/minio/sha256-simd"
)

// Salting errors, with Arvados's texts.
var (
	// ErrObsoleteToken: a v1 token (41+ lowercase base36 characters) cannot
	// be salted until its v2 form is looked up.
	ErrObsoleteToken = errors.New("obsolete token format")
	// ErrTokenFormat: neither a v2 nor a v1 token (for example an OIDC
	// access token).
	ErrTokenFormat = errors.New("badly formatted token")
	// ErrSalted: the secret is 40 bytes, so it is taken to be salted already
	// and must not be forwarded to a cluster that did not issue it.
	ErrSalted = errors.New("token already salted")
)

// SaltErrorClass returns "obsolete", "format" or "salted" for the salting
// errors and "" otherwise.
func SaltErrorClass(err error) string {
	switch err {
	case ErrObsoleteToken:
		return "obsolete"
	case ErrTokenFormat:
		return "format"
	case ErrSalted:
		return "salted"
	}
	return ""
}

// SaltedSecretLen is the length of a salted secret (hex HMAC-SHA1).
const SaltedSecretLen = 40

// TokenVersion tells the token forms apart.
type TokenVersion int

// Token forms.
const (
	TokenOther TokenVersion = iota // opaque (OIDC access token, garbage)
	TokenV1                        // bare secret, 41+ lowercase base36
	TokenV2                        // v2/<uuid>/<secret>[/<extra>]
)

// Token is a parsed API token; its fields are substrings of the input.
type Token struct {
	Version TokenVersion
	// UUID is the token record's uuid (v2 only; not validated).
	UUID string
	// Secret is the secret part (v2), or the whole token (v1).
	Secret string
	// Extra is the 4th part of a v2 token (a container uuid) or "".
	Extra string
}

// Cluster returns the issuing cluster (first 5 bytes of the uuid) of a v2
// token whose uuid is at least that long, else "".
func (t Token) Cluster() string {
	if t.Version != TokenV2 || len(t.UUID) < 5 {
		return ""
	}
	return t.UUID[:5]
}

// LooksSalted reports whether a v2 token's secret has the salted length
// (40 bytes); Arvados cannot tell a salted token from a plain one otherwise.
func (t Token) LooksSalted() bool {
	return t.Version == TokenV2 && len(t.Secret) == SaltedSecretLen
}

// ParseToken classifies s the way Arvados's salting code does.
func ParseToken(s string) Token {
	if strings.HasPrefix(s, "v2/") {
		rest := s[3:]
		i := indexByte(rest, '/')
		if i >= 0 {
			t := Token{Version: TokenV2, UUID: rest[:i]}
			sec := rest[i+1:]
			if j := indexByte(sec, '/'); j >= 0 {
				t.Secret = sec[:j]
				t.Extra = sec[j+1:]
				if k := indexByte(t.Extra, '/'); k >= 0 {
					t.Extra = t.Extra[:k]
				}
			} else {
				t.Secret = sec
			}
			return t
		}
	}
	if isV1(s) {
		return Token{Version: TokenV1, Secret: s}
	}
	return Token{Version: TokenOther}
}

func isV1(s string) bool {
	if len(s) < 41 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// SaltToken returns token as it may be sent to cluster remote (spec 2.3):
// unchanged when remote issued it (string prefix of the uuid, so an empty
// remote always matches), else "v2/<uuid>/" + hex HMAC-SHA1(secret, remote)
// (any 4th part dropped). Errors: ErrObsoleteToken for v1 tokens,
// ErrTokenFormat for anything else that is not v2, ErrSalted when the
// secret is already 40 bytes long.
func SaltToken(token, remote string) (string, error) {
	t := ParseToken(token)
	if t.Version != TokenV2 {
		if t.Version == TokenV1 {
			return "", ErrObsoleteToken
		}
		return "", ErrTokenFormat
	}
	if strings.HasPrefix(t.UUID, remote) {
		return token, nil
	}
	if len(t.Secret) == SaltedSecretLen {
		return "", ErrSalted
	}
	b := make([]byte, 0, 3+len(t.UUID)+1+SaltedSecretLen)
	return string(appendSalted(b, t, remote)), nil
}

// AppendSalt appends the 40 hex digits of HMAC-SHA1(secret, remote).
func AppendSalt(dst []byte, secret, remote string) []byte {
	sum := hmacSHA1(secret, remote)
	return appendHex(dst, sum[:])
}

// hmacSHA1 is RFC 2104 HMAC-SHA1 computed on stack buffers: salting uses a
// different key for every token, so there is no keyed state to keep, and
// this avoids the allocations of hmac.New for the usual short messages.
func hmacSHA1(key, msg string) [sha1.Size]byte {
	const block = 64
	var k [block]byte
	if len(key) > block {
		h := sha1.Sum([]byte(key))
		copy(k[:], h[:])
	} else {
		copy(k[:], key)
	}
	var small [block + 64]byte
	inner := small[:0]
	if block+len(msg) > len(small) {
		inner = make([]byte, 0, block+len(msg))
	}
	for _, b := range k {
		inner = append(inner, b^0x36)
	}
	inner = append(inner, msg...)
	ih := sha1.Sum(inner)
	var outer [block + sha1.Size]byte
	for i, b := range k {
		outer[i] = b ^ 0x5c
	}
	copy(outer[block:], ih[:])
	return sha1.Sum(outer[:])
}

func appendSalted(dst []byte, t Token, remote string) []byte {
	dst = append(dst, "v2/"...)
	dst = append(dst, t.UUID...)
	dst = append(dst, '/')
	return AppendSalt(dst, t.Secret, remote)
}

// SaltedFor reports whether presented is secret itself or secret salted for
// cluster, in constant time. A home cluster uses it to accept a salted
// token that a peer presents on its user's behalf.
func SaltedFor(presented, secret, cluster string) bool {
	if hmac.Equal([]byte(presented), []byte(secret)) {
		return true
	}
	var buf [SaltedSecretLen]byte
	want := AppendSalt(buf[:0], secret, cluster)
	return hmac.Equal([]byte(presented), want)
}

// Fingerprint returns a short, stable, non-reversible name for a token
// (hex of the first 8 bytes of its SHA-256), for logs and metrics. Use
// CacheKey for map keys.
func Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// CacheKey returns the SHA-256 of token, so caches never hold raw tokens.
func CacheKey(token string) [32]byte {
	return sha256.Sum256([]byte(token))
}
