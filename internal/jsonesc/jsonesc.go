// Package jsonesc escapes bytes into the contents of a JSON string
// without encoding/json's intermediate buffers, for the multi-megabyte
// manifests that the store and the API write: Count sizes the result,
// InPlace escapes in a buffer's spare capacity, Append escapes onto a
// buffer.
package jsonesc

import "slices"

// Count counts the bytes of m a JSON string must escape.
func Count(m []byte) int {
	n := 0
	for _, c := range m {
		if c < 0x20 || c == '"' || c == '\\' {
			n++
		}
	}
	return n
}

// Len is the length of m JSON-escaped: what Append adds.
func Len(m []byte) int {
	n := len(m)
	for _, c := range m {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}

// InPlace JSON-escapes b[start:] where it is, growing b into
// its spare capacity (the caller leaves Len(b[start:]) - len(b[start:])
// bytes, or 5 per escape), working
// from the end so that nothing is copied twice.
func InPlace(b []byte, start int) []byte {
	n := Count(b[start:])
	if n == 0 {
		return b
	}
	// the widest escape is \u00XX: six bytes for one
	extra := 0
	for _, c := range b[start:] {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r':
			extra++
		case c < 0x20:
			extra += 5
		}
	}
	old := len(b)
	b = b[:old+extra]
	w := len(b)
	const hex = "0123456789abcdef"
	for i := old - 1; i >= start; i-- {
		c := b[i]
		switch {
		case c == '"' || c == '\\':
			w -= 2
			b[w], b[w+1] = '\\', c
		case c == '\n':
			w -= 2
			b[w], b[w+1] = '\\', 'n'
		case c == '\t':
			w -= 2
			b[w], b[w+1] = '\\', 't'
		case c == '\r':
			w -= 2
			b[w], b[w+1] = '\\', 'r'
		case c < 0x20:
			w -= 6
			copy(b[w:], `\u00`)
			b[w+4], b[w+5] = hex[c>>4], hex[c&15]
		default:
			w--
			b[w] = c
		}
	}
	return b
}

// Append appends b, JSON-escaped (without quotes), to dst, growing dst
// by no more than that.
func Append(dst, b []byte) []byte {
	start := len(dst)
	dst = append(slices.Grow(dst, Len(b)), b...)
	return InPlace(dst, start)
}
