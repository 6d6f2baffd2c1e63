package manifest

// needsEscape marks the bytes the Go SDK writes as a backslash and three
// octal digits: every byte up to and including space (this covers \t \n \v
// \f \r), ':' and '\'. Everything else, including UTF-8 and 0x7f, is kept.
var needsEscape = func() (t [256]bool) {
	for c := 0; c <= ' '; c++ {
		t[c] = true
	}
	t[':'] = true
	t['\\'] = true
	return t
}()

// AppendEscape appends name to dst escaped as the Go SDK writes stream and
// file names in a manifest (spec 4.2): `a b` becomes `a\040b`.
func AppendEscape(dst []byte, name string) []byte {
	last := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !needsEscape[c] {
			continue
		}
		dst = append(dst, name[last:i]...)
		dst = append(dst, '\\', '0'+c>>6, '0'+(c>>3)&7, '0'+c&7)
		last = i + 1
	}
	return append(dst, name[last:]...)
}

// Escape returns name escaped for a manifest (see AppendEscape).
func Escape(name string) string {
	for i := 0; i < len(name); i++ {
		if needsEscape[name[i]] {
			return string(AppendEscape(make([]byte, 0, len(name)+12), name))
		}
	}
	return name
}

// AppendUnescape appends the decoded form of an escaped manifest name to
// dst, as the Go SDK reads it: a backslash and three octal digits with a
// value up to 0377 becomes that byte, `\\` becomes `\`, and any other
// backslash is kept literally (`\400`, `\08` and `\12` stay as they are).
func AppendUnescape(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			dst = append(dst, s[last:i+1]...)
			i++
			last = i + 1
			continue
		}
		if i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3' {
			dst = append(dst, s[last:i]...)
			dst = append(dst, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			last = i + 1
		}
	}
	return append(dst, s[last:]...)
}

// Unescape returns the decoded form of an escaped manifest name (see
// AppendUnescape).
func Unescape(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			return string(AppendUnescape(make([]byte, 0, len(s)), s))
		}
	}
	return s
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
