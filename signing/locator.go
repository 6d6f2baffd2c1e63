// Package signing implements the lowest layer of Arvados Keep federation:
// block locators and their hints, +A permission signatures (with a key ring
// for rotation), +R remote hints, and API token parsing and salting.
//
// Every function here is byte-exact with Arvados (see the protocol spec in
// the repository's shared material and the vectors in testdata/vectors) and
// the hot ones (signing, verification, locator parsing) append into caller
// buffers without allocating.
package signing

import (
	"errors"
	"strconv"
	"strings"
)

// HashLen is the length of the hex md5 digest that starts every locator.
const HashLen = 32

// EmptyBlockHash is the md5 of zero bytes; its locator "…+0" is never fetched.
const EmptyBlockHash = "d41d8cd98f00b204e9800998ecf8427e"

// EmptyBlockLocator is the locator of the empty block.
const EmptyBlockLocator = EmptyBlockHash + "+0"

// Errors returned by ParseLocator. They are sentinel values so that
// rejecting a locator does not allocate.
var (
	ErrLocatorHash  = errors.New("locator does not start with 32 lowercase hex digits")
	ErrLocatorSize  = errors.New("locator has no decimal size hint after the hash")
	ErrLocatorHint  = errors.New("locator hint is not an uppercase letter followed by [-A-Za-z0-9@_]")
	ErrLocatorEmpty = errors.New("locator is empty")
)

// Locator is a parsed block locator. Its string fields are substrings of the
// parsed input, so parsing does not allocate.
type Locator struct {
	// Hash is the 32 lowercase hex digits of the block's md5.
	Hash string
	// Size is the block size in bytes (the size hint).
	Size int64
	// Hints is everything after the size hint, starting with "+" (or "").
	Hints string
	// text is the parsed input, when the Locator came from ParseLocator.
	text string
}

// String returns the locator text: the parsed input byte for byte, or
// hash+size+hints for a Locator built by hand.
func (l Locator) String() string {
	if l.text != "" {
		return l.text
	}
	return string(l.AppendTo(nil))
}

// AppendTo appends the locator text to dst.
func (l Locator) AppendTo(dst []byte) []byte {
	if l.text != "" {
		return append(dst, l.text...)
	}
	dst = append(dst, l.Hash...)
	dst = append(dst, '+')
	dst = strconv.AppendInt(dst, l.Size, 10)
	return append(dst, l.Hints...)
}

// HashSize returns hash+size with no further hints (the part a portable data
// hash and a PUT response keep).
func (l Locator) HashSize(dst []byte) []byte {
	dst = append(dst, l.Hash...)
	dst = append(dst, '+')
	return strconv.AppendInt(dst, l.Size, 10)
}

// EachHint calls fn for each hint after the size hint, without the leading
// "+". It stops early when fn returns false.
func (l Locator) EachHint(fn func(hint string) bool) {
	h := l.Hints
	for len(h) > 0 {
		h = h[1:] // skip '+'
		end := indexByte(h, '+')
		if end < 0 {
			end = len(h)
		}
		if !fn(h[:end]) {
			return
		}
		h = h[end:]
	}
}

// Hint returns the first hint that starts with the given letter (without
// "+"), and whether there was one.
func (l Locator) Hint(letter byte) (string, bool) {
	var found string
	ok := false
	l.EachHint(func(h string) bool {
		if h[0] == letter {
			found, ok = h, true
			return false
		}
		return true
	})
	return found, ok
}

// ParseLocator parses s by the documented grammar (spec 3.1):
//
//	^([0-9a-f]{32})\+([0-9]+)(\+[A-Z][-A-Za-z0-9@_]*)*$
//
// A size that does not fit in int64 is accepted by the grammar and reported
// as -1 (it can never match a real block).
func ParseLocator(s string) (Locator, error) {
	if len(s) == 0 {
		return Locator{}, ErrLocatorEmpty
	}
	if len(s) < HashLen || !isLowerHex(s[:HashLen]) {
		return Locator{}, ErrLocatorHash
	}
	rest := s[HashLen:]
	if len(rest) < 2 || rest[0] != '+' {
		return Locator{}, ErrLocatorSize
	}
	n := 1
	for n < len(rest) && isDigit(rest[n]) {
		n++
	}
	if n == 1 || (n < len(rest) && rest[n] != '+') {
		return Locator{}, ErrLocatorSize
	}
	size := parseSize(rest[1:n])
	hints := rest[n:]
	if !validHints(hints) {
		return Locator{}, ErrLocatorHint
	}
	return Locator{Hash: s[:HashLen], Size: size, Hints: hints, text: s}, nil
}

// validHints reports whether h is a sequence of "+" hint with a leading
// uppercase letter and [-A-Za-z0-9@_] after it.
func validHints(h string) bool {
	for i := 0; i < len(h); {
		if h[i] != '+' || i+1 >= len(h) || !isUpper(h[i+1]) {
			return false
		}
		i += 2
		for i < len(h) && h[i] != '+' {
			if !isHintByte(h[i]) {
				return false
			}
			i++
		}
	}
	return true
}

// parseSize parses a run of ASCII digits; overflow gives -1.
func parseSize(d string) int64 {
	var v int64
	for i := 0; i < len(d); i++ {
		c := int64(d[i] - '0')
		if v > (1<<63-1-c)/10 {
			return -1
		}
		v = v*10 + c
	}
	return v
}

// IsPDH reports whether s is a bare portable data hash, as arvados.PDHMatch
// decides it: 32 lowercase hex, "+", one or more digits, nothing else.
func IsPDH(s string) bool {
	if len(s) < HashLen+2 || !isLowerHex(s[:HashLen]) || s[HashLen] != '+' {
		return false
	}
	return allDigits(s[HashLen+1:])
}

// MatchesBlockDigest reports whether s matches the Go SDK's
// blockdigest.LocatorPattern: like the documented grammar, but the hash may
// use either case.
func MatchesBlockDigest(s string) bool {
	if len(s) < HashLen+2 || !isHex(s[:HashLen]) || s[HashLen] != '+' {
		return false
	}
	rest := s[HashLen+1:]
	n := 0
	for n < len(rest) && isDigit(rest[n]) {
		n++
	}
	return n > 0 && validHints(rest[n:])
}

// MatchesRailsLocator reports whether s matches RailsAPI's locator regexp
// (the rule that decides which manifest tokens count as locators there):
// hash in either case, size optional, each hint an uppercase letter followed
// by ASCII alphanumerics, '@', '_' or '-'.
func MatchesRailsLocator(s string) bool {
	if len(s) < HashLen || !isHex(s[:HashLen]) {
		return false
	}
	rest := s[HashLen:]
	if len(rest) > 1 && rest[0] == '+' && isDigit(rest[1]) {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		rest = rest[n:]
	}
	return validHints(rest)
}

// KeepstoreInfo is what keepstore's lenient request-path parser extracts
// from a locator (see KeepstoreLocatorInfo).
type KeepstoreInfo struct {
	Hash string
	// Size is the second part parsed as a signed decimal integer, or 0 when
	// it is absent or does not parse.
	Size   int64
	Remote bool // some hint starts with 'R'
	Signed bool // some hint starts with 'A'
}

// ErrKeepstoreLocator is keepstore's "invalid locator" rejection.
var ErrKeepstoreLocator = errors.New("invalid locator")

// KeepstoreLocatorInfo applies the lenient rules keepstore uses on request
// paths: parts split on '+' must be non-empty, the first exactly 32
// lowercase hex digits, and no part after the second may start with a
// digit. Hint contents are otherwise unrestricted.
func KeepstoreLocatorInfo(s string) (KeepstoreInfo, error) {
	var info KeepstoreInfo
	part := 0
	for start := 0; ; part++ {
		end := indexByte(s[start:], '+')
		last := end < 0
		if last {
			end = len(s)
		} else {
			end += start
		}
		p := s[start:end]
		if p == "" {
			return KeepstoreInfo{}, ErrKeepstoreLocator
		}
		switch {
		case part == 0:
			if len(p) != HashLen || !isLowerHex(p) {
				return KeepstoreInfo{}, ErrKeepstoreLocator
			}
			info.Hash = p
		case part == 1:
			if v, err := strconv.ParseInt(p, 10, 0); err == nil {
				info.Size = v
			}
		default:
			if isDigit(p[0]) {
				return KeepstoreInfo{}, ErrKeepstoreLocator
			}
		}
		if part >= 1 {
			switch p[0] {
			case 'A':
				info.Signed = true
			case 'R':
				info.Remote = true
			}
		}
		if last {
			return info, nil
		}
		start = end + 1
	}
}

// ClientLocator is the loose view an Arvados Keep client takes of a locator
// (keepclient.MakeLocator): the hash, the first hint as a size when it is an
// integer (else -1), and every '+'-separated part after the hash.
type ClientLocator struct {
	Hash  string
	Size  int64
	Hints []string
}

// ParseClientLocator parses s the way Arvados's Keep client does. It
// allocates (for Hints) and is meant for tools and tests, not hot paths.
func ParseClientLocator(s string) (ClientLocator, bool) {
	if len(s) < HashLen || !isLowerHex(s[:HashLen]) {
		return ClientLocator{}, false
	}
	rest := s[HashLen:]
	if indexByte(rest, '\n') >= 0 {
		return ClientLocator{}, false
	}
	loc := ClientLocator{Hash: s[:HashLen], Size: -1, Hints: []string{}}
	if rest == "" {
		return loc, true
	}
	if rest[0] != '+' {
		return ClientLocator{}, false
	}
	for rest != "" {
		rest = rest[1:]
		end := indexByte(rest, '+')
		if end < 0 {
			end = len(rest)
		}
		loc.Hints = append(loc.Hints, rest[:end])
		rest = rest[end:]
	}
	if v, err := strconv.ParseInt(loc.Hints[0], 10, 0); err == nil {
		loc.Size = v
	}
	return loc, true
}

// KeepstoreRouteMatch reports whether keepstore's block route accepts the
// path segment s: 32 lowercase hex digits, then anything but a newline.
func KeepstoreRouteMatch(s string) bool {
	return len(s) >= HashLen && isLowerHex(s[:HashLen]) && indexByte(s[HashLen:], '\n') < 0
}

// KeepproxyRouteMatch reports whether keepproxy's block route accepts s:
// 32 lowercase hex digits alone, or followed by "+" and anything but a
// newline.
func KeepproxyRouteMatch(s string) bool {
	if len(s) < HashLen || !isLowerHex(s[:HashLen]) {
		return false
	}
	rest := s[HashLen:]
	return rest == "" || (rest[0] == '+' && indexByte(rest, '\n') < 0)
}

// CollectionPDHRouteMatch reports whether s (the text after
// /arvados/v1/collections/) is what the controller's by-PDH route accepts:
// one or more repetitions of 32 hex digits (either case), "+", digits.
func CollectionPDHRouteMatch(s string) bool {
	if s == "" {
		return false
	}
	for s != "" {
		if len(s) < HashLen+2 || !isHex(s[:HashLen]) || s[HashLen] != '+' {
			return false
		}
		s = s[HashLen+1:]
		n := 0
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return true
}

// AppendWithoutServiceHints appends s to dst with every "+K@<5 [a-z0-9]>"
// cluster service hint removed, as keepproxy does before forwarding
// (a hint followed by another "+K@…" hint shares its separator, so
// only the first of two adjacent ones is removed, exactly like keepproxy).
func AppendWithoutServiceHints(dst []byte, s string) []byte {
	i := 0
	for i < len(s) {
		if s[i] == '+' && i+8 <= len(s) && s[i+1] == 'K' && s[i+2] == '@' && isClusterID(s[i+3:i+8]) &&
			(i+8 == len(s) || s[i+8] == '+') {
			if i+8 == len(s) {
				return dst
			}
			dst = append(dst, '+')
			i += 9
			continue
		}
		dst = append(dst, s[i])
		i++
	}
	return dst
}

// IsClusterID reports whether s is a 5-character cluster id of [a-z0-9].
func IsClusterID(s string) bool { return len(s) == 5 && isClusterID(s) }

func isClusterID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func isHintByte(c byte) bool {
	return isDigit(c) || isUpper(c) || (c >= 'a' && c <= 'z') || c == '@' || c == '_' || c == '-'
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if fromHexLower[s[i]] == 0xff {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if fromHexAny[s[i]] == 0xff {
			return false
		}
	}
	return true
}

func indexByte(s string, c byte) int { return strings.IndexByte(s, c) }

// fromHexLower maps '0'-'9','a'-'f' to their values and every other byte to
// 0xff; fromHexAny also accepts 'A'-'F'.
var fromHexLower, fromHexAny [256]byte

func init() {
	for i := range fromHexLower {
		fromHexLower[i], fromHexAny[i] = 0xff, 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		fromHexLower[c], fromHexAny[c] = c-'0', c-'0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		fromHexLower[c], fromHexAny[c] = c-'a'+10, c-'a'+10
		fromHexAny[c-'a'+'A'] = c - 'a' + 10
	}
}
