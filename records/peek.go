package records

import (
	"bytes"
	"encoding/json"
)

// The peeks here read one parameter out of a request body without
// copying the body: a collection create can carry a manifest of tens of
// megabytes, and fasthttp.Args or encoding/json would copy all of it to
// find a 32-byte token.

// FormValue returns the value of the first field named name in the
// application/x-www-form-urlencoded body, decoded as fasthttp.Args
// decodes it ('+' is a space, a bad %-escape stays as it is), and whether
// there is one. Only that value is copied.
func FormValue(body []byte, name string) (value []byte, found bool) {
	var kbuf [64]byte
	EachFormField(body, func(k, v []byte) bool {
		// each decoded byte comes from 1 or 3 bytes
		if len(k) < len(name) || len(k) > 3*len(name) || string(AppendFormDecoded(kbuf[:0], k)) != name {
			return true
		}
		value, found = AppendFormDecoded(nil, v), true
		return false
	})
	return value, found
}

// EachFormField calls fn with the raw (still encoded) name and value of
// each field of the application/x-www-form-urlencoded body, in order,
// until fn returns false. A field without '=' has an empty value.
func EachFormField(body []byte, fn func(key, value []byte) bool) {
	for len(body) > 0 {
		seg := body
		if i := bytes.IndexByte(body, '&'); i >= 0 {
			seg, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		k, v, _ := bytes.Cut(seg, []byte("="))
		if !fn(k, v) {
			return
		}
	}
}

// AppendFormDecoded appends the form-decoded src to dst: '+' is a space
// and %XX the byte with that hex value; a '%' not followed by two hex
// digits is kept as it is. dst may be src[:0] (decoding never writes
// ahead of what it reads), which decodes in place.
func AppendFormDecoded(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 < len(src) {
				if hi, lo := unhex(src[i+1]), unhex(src[i+2]); hi >= 0 && lo >= 0 {
					dst = append(dst, byte(hi<<4|lo))
					i += 2
					continue
				}
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// JSONTopString returns the string value of the top-level key name of the
// JSON object body, and whether it has one: what decoding the body into
// a map and the value into a string gives (the last of repeated keys;
// false for a value that is not a string, or a body that is not valid
// JSON), with only the value copied.
func JSONTopString(body []byte, name string) (string, bool) {
	if !json.Valid(body) {
		return "", false
	}
	var raw []byte
	eachTopMember(body, func(key []byte, escaped bool, vs, ve int) {
		if keyEq(key, escaped, name) {
			raw = body[vs:ve]
		}
	})
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// keyEq reports whether the raw JSON string contents k (escaped: it has
// backslashes) spell name.
func keyEq(k []byte, escaped bool, name string) bool {
	if !escaped {
		return string(k) == name
	}
	// each decoded byte comes from at most 6 bytes (\u00XX)
	if len(k) > 6*len(name) {
		return false
	}
	u, ok := unescapeJSON(make([]byte, 0, len(k)), k)
	return ok && string(u) == name
}

// eachTopMember calls fn with each member of the top-level object of the
// valid JSON text b: the key's raw contents (escaped: it has
// backslashes) and the bounds of its value, b[vs:ve]. A b that is not an
// object has no members.
func eachTopMember(b []byte, fn func(key []byte, escaped bool, vs, ve int)) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return // '}': the end
		}
		ke, escaped := scanString(b, i)
		if ke < 0 {
			return
		}
		key := b[i+1 : ke-1]
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return
		}
		vs := skipSpace(b, i+1)
		ve := skipValue(b, vs)
		if ve < 0 {
			return
		}
		fn(key, escaped, vs, ve)
		i = skipSpace(b, ve)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at
// b[i], or -1.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			e, _ := scanString(b, i)
			if e < 0 {
				return -1
			}
			i = e
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 {
				return i // the end of the enclosing object: a scalar ended
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i // a scalar ended
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}
