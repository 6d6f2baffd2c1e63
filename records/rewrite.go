package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/keepfed/keepfed/manifest"
)

// ErrMalformedJSON is returned by AppendManifestJSON for a body whose
// strings or brackets do not balance.
var ErrMalformedJSON = errors.New("malformed JSON")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<20 {
		return // let huge buffers go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// AppendManifestJSON appends body to dst with the string value of every
// "manifest_text" object key (at any depth: a record, a list's items, a
// request's collection object) rewritten by rw, and returns the extended
// buffer and the number of values rewritten. Everything else is copied byte
// for byte: the JSON is scanned, not decoded. Each value is unescaped into
// a pooled buffer, rewritten, re-escaped and spliced in place.
// unsigned_manifest_text and portable_data_hash are other keys and stay as
// they are.
func AppendManifestJSON(dst, body []byte, rw manifest.Rewriter) ([]byte, int, error) {
	raw := getBuf()
	out := getBuf()
	defer putBuf(raw)
	defer putBuf(out)
	last, n := 0, 0
	err := scanManifestText(body, func(start, end int, escaped bool) bool {
		dst = append(dst, body[last:start]...)
		m, ok := body[start+1:end-1], true
		if escaped {
			m, ok = unescapeJSON((*raw)[:0], m)
		}
		if !ok {
			// Not a well-formed string: keep it as it is.
			dst = append(dst, body[start:end]...)
			last = end
			return true
		}
		if escaped {
			*raw = m
		}
		*out = rw.Append((*out)[:0], m)
		dst = appendQuoted(dst, *out)
		last = end
		n++
		return true
	})
	if err != nil {
		return dst, n, err
	}
	return append(dst, body[last:]...), n, nil
}

const keyManifestText = "manifest_text"

// scanManifestText walks the JSON text b and calls fn with the bounds
// [start, end) (quotes included) of the string value of each
// "manifest_text" key and whether it has escapes, until fn returns false. It tracks only what it needs
// to tell object keys from values: nesting and string boundaries.
func scanManifestText(b []byte, fn func(start, end int, escaped bool) bool) error {
	var stackBuf [32]bool // true: object
	stack := stackBuf[:0]
	expectKey, pending := false, false
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case '{':
			stack = append(stack, true)
			expectKey, pending = true, false
			i++
		case '[':
			stack = append(stack, false)
			expectKey, pending = false, false
			i++
		case '}', ']':
			if len(stack) == 0 || stack[len(stack)-1] != (c == '}') {
				return ErrMalformedJSON
			}
			stack = stack[:len(stack)-1]
			expectKey, pending = false, false
			i++
		case ':':
			expectKey = false
			i++
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1]
			pending = false
			i++
		case '"':
			end, escaped := scanString(b, i)
			if end < 0 {
				return ErrMalformedJSON
			}
			switch {
			case expectKey:
				pending = isManifestTextKey(b[i+1:end-1], escaped)
				expectKey = false
			case pending:
				pending = false
				if !fn(i, end, escaped) {
					return nil
				}
			}
			i = end
		case ' ', '\t', '\n', '\r':
			i++
		default:
			pending = false
			i++
		}
	}
	if len(stack) != 0 {
		return ErrMalformedJSON
	}
	return nil
}

// scanString returns the index just past the closing quote of the string
// starting at b[i] == '"' (or -1), and whether it contains escapes.
func scanString(b []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1, false
		}
		q := j + k
		n := 0 // backslashes right before the quote
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, bytes.IndexByte(b[i+1:q], '\\') >= 0
		}
		j = q + 1
	}
}

func isManifestTextKey(k []byte, escaped bool) bool { return keyIs(k, escaped, keyManifestText) }

// keyIs reports whether the raw JSON string contents k (escaped: it has
// backslashes) spell name, which is at most len(keyManifestText) bytes.
func keyIs(k []byte, escaped bool, name string) bool {
	if !escaped {
		return string(k) == name
	}
	if len(k) > 6*len(keyManifestText) {
		return false
	}
	var buf [6 * len(keyManifestText)]byte
	u, ok := unescapeJSON(buf[:0], k)
	return ok && string(u) == name
}

// ErrDuplicateKey is returned by AppendRecordManifests for a record (or
// list item) that has "manifest_text" twice, or a list with "items" twice:
// JSON readers disagree on which one counts.
var ErrDuplicateKey = errors.New("duplicate manifest_text or items key")

// AppendRecordManifests is AppendManifestJSON restricted to the manifests
// of the record itself: only the string value of the top-level
// "manifest_text" key of body, and of the top-level "manifest_text" of
// each object directly in the top-level "items" array (a list), are
// rewritten. A "manifest_text" anywhere else (properties, nested objects,
// inside other arrays) is data and copied as it is, so a remote cannot get
// a local signature minted for a block by naming it where no manifest
// is. body must be valid JSON (else ErrMalformedJSON) and must not repeat
// those keys (ErrDuplicateKey).
func AppendRecordManifests(dst, body []byte, rw manifest.Rewriter) ([]byte, int, error) {
	if !json.Valid(body) {
		return dst, 0, ErrMalformedJSON
	}
	raw := getBuf()
	out := getBuf()
	defer putBuf(raw)
	defer putBuf(out)
	last, n := 0, 0
	err := scanRecordManifests(body, "items", "", func(start, end int, escaped bool) {
		m := body[start+1 : end-1]
		if escaped {
			var ok bool
			if m, ok = unescapeJSON((*raw)[:0], m); !ok {
				return // json.Valid checked the escapes; unreachable
			}
			*raw = m
		}
		dst = append(dst, body[last:start]...)
		*out = rw.Append((*out)[:0], m)
		dst = appendQuoted(dst, *out)
		last = end
		n++
	})
	if err != nil {
		return dst, n, err
	}
	return append(dst, body[last:]...), n, nil
}

// Roles of the containers scanRecordManifests tracks.
const (
	roleOther uint8 = iota
	roleTop         // the top-level object: a record or a list
	roleItems       // the array value of the top-level "items"
	roleItem        // an object directly in roleItems
)

type scanFrame struct {
	obj               bool
	role              uint8
	seenMT, seenItems bool
}

// scanRecordManifests walks the valid JSON text b and calls fn with the
// bounds of the string value of each record-level "manifest_text": the
// top-level object's, each object's in the array under the top-level key
// itemsKey (a list), and the object's under the top-level key wrapKey (a
// request's wrapped attributes). An empty key name is not looked for.
func scanRecordManifests(b []byte, itemsKey, wrapKey string, fn func(start, end int, escaped bool)) error {
	var stackBuf [32]scanFrame
	stack := stackBuf[:0]
	expectKey, pendingMT, pendingItems, pendingWrap := false, false, false, false
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case '{', '[':
			f := scanFrame{obj: c == '{'}
			switch {
			case len(stack) == 0:
				if f.obj {
					f.role = roleTop
				}
			case pendingItems && !f.obj:
				f.role = roleItems
			case pendingWrap && f.obj:
				f.role = roleItem
			case stack[len(stack)-1].role == roleItems && f.obj:
				f.role = roleItem
			}
			stack = append(stack, f)
			expectKey, pendingMT, pendingItems, pendingWrap = f.obj, false, false, false
			i++
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey, pendingMT, pendingItems, pendingWrap = false, false, false, false
			i++
		case ':':
			expectKey = false
			i++
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].obj
			pendingMT, pendingItems, pendingWrap = false, false, false
			i++
		case '"':
			end, escaped := scanString(b, i)
			if end < 0 {
				return ErrMalformedJSON
			}
			switch {
			case expectKey:
				expectKey = false
				f := &stack[len(stack)-1]
				if f.role != roleTop && f.role != roleItem {
					break
				}
				k := b[i+1 : end-1]
				if keyIs(k, escaped, keyManifestText) {
					if f.seenMT {
						return ErrDuplicateKey
					}
					f.seenMT, pendingMT = true, true
				} else if f.role == roleTop && itemsKey != "" && keyIs(k, escaped, itemsKey) {
					if f.seenItems {
						return ErrDuplicateKey
					}
					f.seenItems, pendingItems = true, true
				} else if f.role == roleTop && wrapKey != "" && keyIs(k, escaped, wrapKey) {
					if f.seenItems {
						return ErrDuplicateKey
					}
					f.seenItems, pendingWrap = true, true
				}
			case pendingMT:
				pendingMT = false
				fn(i, end, escaped)
			default:
				pendingItems, pendingWrap = false, false
			}
			i = end
		case ' ', '\t', '\n', '\r':
			i++
		default:
			pendingMT, pendingItems, pendingWrap = false, false, false
			i++
		}
	}
	return nil
}

// CutRecordManifest takes a record's manifest out of a request body (a
// JSON object) so that a large manifest is decoded once, not by a generic
// JSON decoder's several copies: it finds the string value of the
// top-level "manifest_text", or of the "manifest_text" of the object
// under the top-level key wrapKey (the wrapped attributes, "collection"),
// and returns it unescaped (the same string encoding/json would decode),
// with the body copied with that value replaced
// by "" and whether it was the wrapped one. A "manifest_text" anywhere
// else is data and stays. found is false when there is none, or more
// than one (the caller then decodes the body as it is); body must be
// valid JSON (ErrMalformedJSON), with no repeated key of those
// (ErrDuplicateKey).
func CutRecordManifest(body []byte, wrapKey string) (manifest, rest []byte, wrapped, found bool, err error) {
	return cutRecordManifest(body, wrapKey, false)
}

// CutRecordManifestInPlace is CutRecordManifest that unescapes the
// manifest where it is in body, which it changes: manifest is a slice of
// body (unescaping only ever shortens), so that a manifest of tens of
// megabytes is not held twice. rest is a copy, made first. On an error
// or found false, body is unchanged.
func CutRecordManifestInPlace(body []byte, wrapKey string) (manifest, rest []byte, wrapped, found bool, err error) {
	return cutRecordManifest(body, wrapKey, true)
}

func cutRecordManifest(body []byte, wrapKey string, inPlace bool) (manifest, rest []byte, wrapped, found bool, err error) {
	if !json.Valid(body) {
		return nil, nil, false, false, ErrMalformedJSON
	}
	var start, end, n int
	var escaped bool
	if err := scanRecordManifests(body, "", wrapKey, func(s, e int, esc bool) {
		start, end, escaped = s, e, esc
		n++
	}); err != nil {
		return nil, nil, false, false, err
	}
	if n != 1 {
		return nil, nil, false, false, nil
	}
	v := body[start+1 : end-1]
	if !utf8.Valid(v) {
		// encoding/json would turn the bad bytes into U+FFFD; leave such
		// a body to it, so that both paths read it alike
		return nil, nil, false, false, nil
	}
	rest = make([]byte, 0, len(body)-(end-start)+2)
	rest = append(append(append(rest, body[:start]...), `""`...), body[end:]...)
	// wrapped: the value sits deeper than the top-level object
	depth := 0
	for i := 0; i < start; {
		switch body[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			e, _ := scanString(body, i)
			i = e
			continue
		}
		i++
	}
	// json.Valid has checked every escape, so unescaping cannot fail
	// half way (and leave an in-place body half changed)
	switch {
	case inPlace && escaped:
		// writes never pass reads: every escape is longer than what it
		// stands for
		manifest, _ = unescapeJSON(v[:0], v)
	case inPlace:
		manifest = v
	case escaped:
		manifest, _ = unescapeJSON(make([]byte, 0, len(v)), v)
	default:
		manifest = append(make([]byte, 0, len(v)), v...)
	}
	return manifest, rest, depth > 1, true, nil
}

// unescapeJSON appends the unescaped JSON string contents s (without
// quotes) to dst. ok is false on a bad escape. Raw control characters,
// which JSON forbids, are copied as they are.
func unescapeJSON(dst, s []byte) ([]byte, bool) {
	for len(s) > 0 {
		k := bytes.IndexByte(s, '\\')
		if k < 0 {
			return append(dst, s...), true
		}
		dst = append(dst, s[:k]...)
		s = s[k:]
		if len(s) < 2 {
			return dst, false
		}
		switch c := s[1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s[2:])
			if !ok {
				return dst, false
			}
			s = s[6:]
			if utf16.IsSurrogate(r) {
				r2, ok2 := surrogateTail(s)
				if d := utf16.DecodeRune(r, r2); ok2 && d != utf8.RuneError {
					r = d
					s = s[6:]
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		s = s[2:]
	}
	return dst, true
}

func surrogateTail(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	return hex4(s[2:])
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

const hexDigits = "0123456789abcdef"

// needsEscape marks the bytes appendQuoted escapes.
var needsEscape = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// appendQuoted appends s as a JSON string. Bytes that are not valid UTF-8
// are copied as they are (a manifest is bytes; its JSON came that way).
func appendQuoted(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if !needsEscape[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
