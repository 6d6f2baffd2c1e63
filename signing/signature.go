package signing

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding"
	"encoding/binary"
	"errors"
	"hash"
	"strconv"
	"sync"
	"time"
)

// SignatureLen is the length of the hex HMAC-SHA1 in a +A or +R hint.
const SignatureLen = 40

// Verification errors, in the order Arvados checks them. Use ErrorClass to
// get the short class name used by the vectors and the CLI.
var (
	// ErrSignatureMissing: the locator has no single well-formed +A hint.
	ErrSignatureMissing = errors.New("no valid +A signature hint in locator")
	// ErrSignatureExpired: the signature's expiry is before now (checked
	// before the HMAC, so an expired locator with a wrong signature reports
	// this).
	ErrSignatureExpired = errors.New("signature expired")
	// ErrSignatureInvalid: the HMAC does not match any key in the ring.
	ErrSignatureInvalid = errors.New("signature does not match")
)

// ErrorClass returns "missing", "expired" or "invalid" for the verification
// errors, "ok" for nil, and "" for anything else.
func ErrorClass(err error) string {
	switch err {
	case nil:
		return "ok"
	case ErrSignatureMissing:
		return "missing"
	case ErrSignatureExpired:
		return "expired"
	case ErrSignatureInvalid:
		return "invalid"
	}
	return ""
}

// Key is one blob signing key with its HMAC-SHA1 state precomputed: the
// key pads are absorbed once, so a signature costs only the compressions of
// the message and of the outer hash. A Key is safe for concurrent use.
type Key struct {
	empty bool
	pool  sync.Pool // of *macState
	// inner and outer are the SHA-1 states after the key XOR ipad and
	// opad blocks (see PadStates).
	inner, outer [5]uint32
}

type macState struct {
	mac hash.Hash
	msg []byte
	sum [sha1.Size]byte
}

// NewKey prepares secret (the BlobSigningKey bytes) for signing. An empty
// secret gives a key that leaves locators unsigned, as Arvados does.
func NewKey(secret []byte) *Key {
	k := &Key{empty: len(secret) == 0}
	own := append([]byte(nil), secret...)
	k.inner, k.outer = padStates(own)
	k.pool.New = func() any {
		m := hmac.New(sha1.New, own)
		m.Sum(nil) // warm the state so Reset restores from the cached pads
		return &macState{mac: m, msg: make([]byte, 0, 256)}
	}
	return k
}

// PadStates returns the SHA-1 chaining values after the first block of the
// inner (key XOR 0x36…) and outer (key XOR 0x5c…) hashes of HMAC-SHA1 with
// this key, so that a batch implementation (several messages hashed in
// parallel lanes) can start from them. Like the key itself, they let their
// holder make signatures: keep them in process.
func (k *Key) PadStates() (inner, outer [5]uint32) { return k.inner, k.outer }

// padStates computes PadStates from the key bytes.
func padStates(key []byte) (inner, outer [5]uint32) {
	if len(key) > sha1.BlockSize {
		sum := sha1.Sum(key)
		key = sum[:]
	}
	return padState(key, 0x36), padState(key, 0x5c)
}

// padState returns the SHA-1 state after one block of key XOR pad, read
// from crypto/sha1's marshaled state ("sha\x01", then the five state words
// big-endian).
func padState(key []byte, pad byte) [5]uint32 {
	var block [sha1.BlockSize]byte
	copy(block[:], key)
	for i := range block {
		block[i] ^= pad
	}
	h := sha1.New()
	h.Write(block[:])
	b, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil || len(b) < 24 || string(b[:4]) != "sha\x01" {
		panic("signing: unexpected crypto/sha1 state encoding")
	}
	var st [5]uint32
	for i := range st {
		st[i] = binary.BigEndian.Uint32(b[4+4*i:])
	}
	return st
}

// mac computes HMAC(key, hash@token@expiry@ttl) into st.sum.
func (k *Key) mac(st *macState, hash, token, expiry, ttl string) []byte {
	msg := st.msg[:0]
	msg = append(msg, hash...)
	msg = append(msg, '@')
	msg = append(msg, token...)
	msg = append(msg, '@')
	msg = append(msg, expiry...)
	msg = append(msg, '@')
	msg = append(msg, ttl...)
	st.msg = msg
	st.mac.Reset()
	st.mac.Write(msg)
	return st.mac.Sum(st.sum[:0])
}

// AppendSignature appends the 40 lowercase hex digits of
// HMAC-SHA1(key, hash "@" token "@" expiryHex "@" ttlHex) to dst.
func (k *Key) AppendSignature(dst []byte, hash, token, expiryHex, ttlHex string) []byte {
	st := k.pool.Get().(*macState)
	sum := k.mac(st, hash, token, expiryHex, ttlHex)
	dst = appendHex(dst, sum)
	k.pool.Put(st)
	return dst
}

// equal reports in constant time whether sig (20 decoded bytes) is the MAC
// of the message.
func (k *Key) equal(sig []byte, hash, token, expiryHex, ttlHex string) bool {
	st := k.pool.Get().(*macState)
	ok := hmac.Equal(k.mac(st, hash, token, expiryHex, ttlHex), sig)
	k.pool.Put(st)
	return ok
}

// KeyRing signs with its current key and verifies with the current key and
// any previous keys, all with one TTL.
//
// It makes key rotation safe: deploy the new key as current and the old one
// as previous (Clusters.<id>.KeepFed.PreviousBlobSigningKeys) on every
// keepfed; signatures issued with the old key keep verifying until they
// expire, new ones use the new key; after one BlobSigningTTL has passed,
// every old signature has expired and the old key can be removed. Arvados
// has a single key, so rotating it there invalidates every live signature
// at once.
type KeyRing struct {
	keys   []*Key
	ttl    time.Duration
	ttlHex string
}

// NewKeyRing returns a ring that signs with current and also verifies with
// previous. ttl is Collections.BlobSigningTTL; it is part of every HMAC.
func NewKeyRing(ttl time.Duration, current []byte, previous ...[]byte) *KeyRing {
	r := &KeyRing{ttl: ttl, ttlHex: string(AppendTTLHex(nil, ttl))}
	r.keys = append(r.keys, NewKey(current))
	for _, p := range previous {
		if len(p) > 0 {
			r.keys = append(r.keys, NewKey(p))
		}
	}
	return r
}

// TTL returns the ring's signature lifetime.
func (r *KeyRing) TTL() time.Duration { return r.ttl }

// CanSign reports whether the current key is non-empty.
func (r *KeyRing) CanSign() bool { return !r.keys[0].empty }

// Current returns the signing key.
func (r *KeyRing) Current() *Key { return r.keys[0] }

// AppendSigned appends locator followed by "+A<sig>@<expiry>" to dst,
// exactly as Arvados's SignLocator: only the text before the first '+' is
// signed, existing hints (even an existing +A) are kept, and an empty key or
// token leaves the locator unchanged.
func (r *KeyRing) AppendSigned(dst []byte, locator, token string, expiry int64) []byte {
	dst = append(dst, locator...)
	if r.keys[0].empty || token == "" {
		return dst
	}
	hash := locator
	if i := indexByte(locator, '+'); i >= 0 {
		hash = locator[:i]
	}
	var expBuf [24]byte
	exp := AppendExpiryHex(expBuf[:0], expiry)
	dst = append(dst, "+A"...)
	dst = r.keys[0].AppendSignature(dst, hash, token, b2s(exp), r.ttlHex)
	dst = append(dst, '@')
	return append(dst, exp...)
}

// Sign returns the signed locator as a string (see AppendSigned).
func (r *KeyRing) Sign(locator, token string, expiry time.Time) string {
	return string(r.AppendSigned(make([]byte, 0, len(locator)+51), locator, token, expiry.Unix()))
}

// SignedParts are the pieces of a locator with one well-formed +A hint, as
// Arvados's verifier pattern captures them.
type SignedParts struct {
	Hash        string // 32 hex digits, either case
	SizeHint    string // "+123" or ""
	HintsBefore string // "+B…+C…" before the +A hint, or ""
	Signature   string // 40 hex digits, either case
	ExpiryHex   string // 8 hex digits, either case
	HintsAfter  string // hints after the +A hint, or ""
}

// SplitSigned matches s against Arvados's signed-locator pattern:
// hash, optional size, hints starting B-Z, exactly one
// "+A<40 hex>@<8 hex>", more hints starting B-Z.
func SplitSigned(s string) (SignedParts, bool) {
	var p SignedParts
	if len(s) < HashLen || !isHex(s[:HashLen]) {
		return p, false
	}
	p.Hash = s[:HashLen]
	rest := s[HashLen:]
	if len(rest) > 1 && rest[0] == '+' && isDigit(rest[1]) {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		p.SizeHint, rest = rest[:n], rest[n:]
	}
	beforeEnd := -1
	i := 0
	for i < len(rest) {
		if rest[i] != '+' || i+1 >= len(rest) {
			return SignedParts{}, false
		}
		start := i
		j := i + 1
		for j < len(rest) && rest[j] != '+' {
			j++
		}
		hint := rest[i+1 : j]
		if hint == "" {
			return SignedParts{}, false
		}
		if hint[0] == 'A' {
			if beforeEnd >= 0 || len(hint) != 1+SignatureLen+1+8 || hint[1+SignatureLen] != '@' ||
				!isHex(hint[1:1+SignatureLen]) || !isHex(hint[2+SignatureLen:]) {
				return SignedParts{}, false
			}
			beforeEnd = start
			p.HintsBefore = rest[:start]
			p.Signature = hint[1 : 1+SignatureLen]
			p.ExpiryHex = hint[2+SignatureLen:]
		} else {
			if hint[0] < 'B' || hint[0] > 'Z' {
				return SignedParts{}, false
			}
			for k := 1; k < len(hint); k++ {
				if !isHintByte(hint[k]) {
					return SignedParts{}, false
				}
			}
		}
		i = j
		if beforeEnd == start {
			p.HintsAfter = rest[j:]
		}
	}
	if beforeEnd < 0 {
		return SignedParts{}, false
	}
	return p, true
}

// Verify checks the +A signature of locator for token at Unix time now,
// with Arvados's classes and order: ErrSignatureMissing when the pattern
// does not match, ErrSignatureExpired when the expiry is before now, then
// ErrSignatureInvalid unless the HMAC of the current or a previous key
// matches. The comparison is constant-time on decoded bytes; uppercase hex
// in the signature never matches, as in Arvados.
func (r *KeyRing) Verify(locator, token string, now int64) error {
	p, ok := SplitSigned(locator)
	if !ok {
		return ErrSignatureMissing
	}
	var exp int64
	for i := 0; i < len(p.ExpiryHex); i++ {
		exp = exp<<4 | int64(fromHexAny[p.ExpiryHex[i]])
	}
	if exp < now {
		return ErrSignatureExpired
	}
	var sig [sha1.Size]byte
	if !decodeLowerHex(sig[:], p.Signature) {
		return ErrSignatureInvalid
	}
	for _, k := range r.keys {
		if k.equal(sig[:], p.Hash, token, p.ExpiryHex, r.ttlHex) {
			return nil
		}
	}
	return ErrSignatureInvalid
}

// AppendExpiryHex appends t (Unix seconds) as Arvados writes it in a +A
// hint: lowercase hex, zero-padded to at least 8 characters (%08x).
func AppendExpiryHex(dst []byte, t int64) []byte {
	if t >= 0 && t < 1<<32 {
		// every real expiry until 2106: exactly 8 digits
		return append(dst,
			hexDigits[t>>28&15], hexDigits[t>>24&15], hexDigits[t>>20&15], hexDigits[t>>16&15],
			hexDigits[t>>12&15], hexDigits[t>>8&15], hexDigits[t>>4&15], hexDigits[t&15])
	}
	var buf [24]byte
	neg := t < 0
	u := uint64(t)
	if neg {
		u = uint64(-t)
	}
	d := strconv.AppendUint(buf[:0], u, 16)
	width := len(d)
	if neg {
		width++
		dst = append(dst, '-')
	}
	for ; width < 8; width++ {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}

// AppendTTLHex appends ttl as the HMAC message's TTL field: whole seconds
// truncated toward zero, lowercase hex, no padding, '-' when negative.
func AppendTTLHex(dst []byte, ttl time.Duration) []byte {
	return strconv.AppendInt(dst, int64(ttl/time.Second), 16)
}

const hexDigits = "0123456789abcdef"

func appendHex(dst, src []byte) []byte {
	for _, b := range src {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	return dst
}

// decodeLowerHex decodes exactly 2*len(dst) lowercase hex digits.
func decodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	bad := byte(0)
	for i := range dst {
		hi, lo := fromHexLower[s[2*i]], fromHexLower[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&15
	}
	return bad&0xf0 == 0
}
