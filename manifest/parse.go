package manifest

import (
	"bytes"
	"strconv"
)

// Stream is one line of a manifest.
type Stream struct {
	Name     string   // unescaped stream name: "." or "./dir/sub"
	Locators []string // block locators as written, hints included
	Files    []File   // file tokens in order
}

// File is one file token: Size bytes at offset Pos of the concatenation of
// the stream's blocks belong to file Name.
type File struct {
	Pos, Size int64
	Name      string // unescaped; may contain '/' (a file in a subdirectory)
}

// SyntaxError says where a manifest breaks the v1 grammar.
type SyntaxError struct {
	Line  int    // 1-based line number
	Token int    // 1-based token number within the line (the stream name is 1); 0 for the whole line
	Text  string // the offending token, shortened when long
	Msg   string // what is wrong
}

// Error formats the error as `line 3, token 2 "xyz": what is wrong`.
func (e *SyntaxError) Error() string {
	b := make([]byte, 0, 64+len(e.Text)+len(e.Msg))
	b = append(b, "line "...)
	b = strconv.AppendInt(b, int64(e.Line), 10)
	if e.Token > 0 {
		b = append(b, ", token "...)
		b = strconv.AppendInt(b, int64(e.Token), 10)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, e.Text)
	}
	b = append(b, ": "...)
	b = append(b, e.Msg...)
	return string(b)
}

// maxErrorText bounds the token text quoted in a SyntaxError.
const maxErrorText = 80

func syntaxErr(line, token int, text []byte, msg string) *SyntaxError {
	t := string(text)
	if len(text) > maxErrorText {
		t = string(text[:maxErrorText]) + "..."
	}
	return &SyntaxError{Line: line, Token: token, Text: t, Msg: msg}
}

// maxBlockSize is the largest size hint accepted: the Go SDK parses it as
// a 32-bit integer (Arvados blocks are at most 64 MiB).
const maxBlockSize = 1<<31 - 1

// Check reports whether m is a valid v1 manifest (spec 4.1) and, if not,
// returns a *SyntaxError saying what is wrong and where. It allocates
// nothing for a valid manifest.
//
// Rules: m is empty or a sequence of lines each ending in '\n'; tokens are
// separated by exactly one space; a line is a stream name, one or more
// locators, one or more file tokens. The stream name is "." or "./a/b"
// (escaped, no empty, "." or ".." components). A locator is 32 hex digits
// (either case, as RailsAPI accepts), a size hint that the Go SDK accepts
// (decimal, below 2^31) and hints "+" [A-Z][A-Za-z0-9@_-]*. A file token
// is position:size:name with decimal numbers, the range inside the
// stream's data, and an escaped name of non-empty components other than
// "." and ".."; the name "." (written \056) with size 0 is the empty
// directory placeholder. Names may contain no raw byte up to 0x20 and no
// backslash other than an octal escape \000 to \377.
func Check(m []byte) error {
	return scan(m, nil)
}

// Parse checks m like Check and returns its streams with unescaped names.
func Parse(m []byte) ([]Stream, error) {
	var streams []Stream
	if err := scan(m, &streams); err != nil {
		return nil, err
	}
	return streams, nil
}

// scan validates m and, when out is not nil, appends its streams to *out.
func scan(m []byte, out *[]Stream) error {
	line := 0
	for len(m) > 0 {
		line++
		nl := bytes.IndexByte(m, '\n')
		if nl < 0 {
			return syntaxErr(line, 0, nil, "no newline at end of manifest")
		}
		if err := scanLine(m[:nl], line, out); err != nil {
			return err
		}
		m = m[nl+1:]
	}
	return nil
}

// visitor receives a line's tokens as scanLine checks them, without the
// allocations of building Streams: locator gets each locator token (an
// error it returns ends the scan, unchanged), file each file token's
// stream name and file name as written (escaped) and its size. Either may
// be nil.
type visitor struct {
	locator func(tok []byte) error
	file    func(stream, name []byte, size int64)
}

func scanLine(l []byte, line int, out *[]Stream) error { return scanLineWith(l, line, out, nil) }

// scanLineWith is scanLine with a visitor.
func scanLineWith(l []byte, line int, out *[]Stream, v *visitor) error {
	if len(l) == 0 {
		return syntaxErr(line, 0, nil, "empty line")
	}
	var st *Stream
	if out != nil {
		*out = append(*out, Stream{})
		st = &(*out)[len(*out)-1]
	}
	var (
		tokNum    int
		locators  int
		files     int
		streamLen int64
		stream    []byte
	)
	for rest := l; ; {
		tokNum++
		sp := bytes.IndexByte(rest, ' ')
		tok := rest
		if sp >= 0 {
			tok = rest[:sp]
		}
		if len(tok) == 0 {
			return syntaxErr(line, tokNum, tok, "empty token (a leading, trailing or double space)")
		}
		switch {
		case tokNum == 1:
			if msg := checkName(tok, true, false); msg != "" {
				return syntaxErr(line, tokNum, tok, "bad stream name: "+msg)
			}
			if st != nil {
				st.Name = Unescape(string(tok))
			}
			stream = tok
		case files == 0 && bytes.IndexByte(tok, ':') < 0:
			size, msg := checkLocator(tok)
			if msg != "" {
				return syntaxErr(line, tokNum, tok, "bad locator: "+msg)
			}
			locators++
			streamLen += size
			if st != nil {
				st.Locators = append(st.Locators, string(tok))
			}
			if v != nil && v.locator != nil {
				if err := v.locator(tok); err != nil {
					return err
				}
			}
		default:
			if locators == 0 {
				return syntaxErr(line, tokNum, tok, "file token before any locator")
			}
			f, name, msg := checkFile(tok, streamLen)
			if msg != "" {
				if bytes.IndexByte(tok, ':') < 0 {
					msg = "locator after file tokens"
				}
				return syntaxErr(line, tokNum, tok, "bad file token: "+msg)
			}
			files++
			if st != nil {
				f.Name = Unescape(string(name))
				st.Files = append(st.Files, f)
			}
			if v != nil && v.file != nil {
				v.file(stream, name, f.Size)
			}
		}
		if sp < 0 {
			break
		}
		rest = rest[sp+1:]
	}
	switch {
	case locators == 0:
		return syntaxErr(line, 0, nil, "no locators")
	case files == 0:
		return syntaxErr(line, 0, nil, "no file tokens")
	}
	return nil
}

// hexAny marks hex digits of either case.
var hexAny = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// hintByte marks the bytes allowed after a hint's first letter.
var hintByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '@' || c == '_' || c == '-'
	}
	return t
}()

// checkLocator validates a locator token and returns its size.
func checkLocator(tok []byte) (int64, string) {
	if len(tok) < 32 {
		return 0, "shorter than 32 hex digits and a size"
	}
	for _, c := range tok[:32] {
		if !hexAny[c] {
			return 0, "does not start with 32 hex digits"
		}
	}
	if len(tok) == 32 || tok[32] != '+' {
		return 0, "no size hint after the hash"
	}
	rest := tok[33:]
	n := 0
	var size int64
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		size = size*10 + int64(rest[n]-'0')
		if size > maxBlockSize {
			return 0, "size hint too large"
		}
		n++
	}
	if n == 0 {
		return 0, "no size hint after the hash"
	}
	rest = rest[n:]
	for len(rest) > 0 {
		if rest[0] != '+' {
			return 0, "size hint is not a decimal number"
		}
		if len(rest) < 2 || rest[1] < 'A' || rest[1] > 'Z' {
			return 0, "hint does not start with an uppercase letter"
		}
		i := 2
		for i < len(rest) && rest[i] != '+' {
			if !hintByte[rest[i]] {
				return 0, "hint has a byte other than A-Z a-z 0-9 @ _ -"
			}
			i++
		}
		rest = rest[i:]
	}
	return size, ""
}

// checkFile validates a file token against a stream of streamLen bytes.
// The returned File has no name; the escaped name is returned apart.
func checkFile(tok []byte, streamLen int64) (File, []byte, string) {
	var f File
	var ok bool
	rest := tok
	if f.Pos, rest, ok = decimalColon(rest); !ok {
		return f, nil, "want position:size:name with decimal position"
	}
	if f.Size, rest, ok = decimalColon(rest); !ok {
		return f, nil, "want position:size:name with decimal size"
	}
	if f.Pos > streamLen || f.Size > streamLen-f.Pos {
		return f, nil, "range " + strconv.FormatInt(f.Pos, 10) + "+" + strconv.FormatInt(f.Size, 10) +
			" is past the end of the stream's " + strconv.FormatInt(streamLen, 10) + " bytes"
	}
	if msg := checkName(rest, false, f.Size == 0); msg != "" {
		return f, nil, "bad file name: " + msg
	}
	return f, rest, ""
}

// decimalColon parses 1+ decimal digits followed by ':'.
func decimalColon(b []byte) (int64, []byte, bool) {
	var n int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := int64(b[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, nil, false
		}
		n = n*10 + d
		i++
	}
	if i == 0 || i >= len(b) || b[i] != ':' {
		return 0, nil, false
	}
	return n, b[i+1:], true
}

// checkName validates an escaped stream name (stream) or file name and
// returns what is wrong, or "". Components are checked on the unescaped
// bytes, without allocating. placeholderOK allows the file name ".".
func checkName(tok []byte, stream, placeholderOK bool) string {
	if len(tok) == 0 {
		return "empty"
	}
	comp, dots := 0, 0 // length and number of leading dots of the current component
	first := true
	endComp := func() string {
		switch {
		case stream && first:
			if comp != 1 || dots != 1 {
				return `must be "." or start with "./"`
			}
		case comp == 0:
			return "empty path component"
		case dots == comp && comp <= 2:
			return `"." or ".." path component`
		}
		return ""
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '\\':
			if i+3 >= len(tok) || tok[i+1] < '0' || tok[i+1] > '3' || !isOctal(tok[i+2]) || !isOctal(tok[i+3]) {
				return `backslash not followed by an octal escape \000 to \377`
			}
			c = (tok[i+1]-'0')<<6 | (tok[i+2]-'0')<<3 | (tok[i+3] - '0')
			i += 3
		case c <= ' ':
			return "raw space or control character (must be escaped)"
		}
		if c == '/' {
			if msg := endComp(); msg != "" {
				return msg
			}
			first = false
			comp, dots = 0, 0
			continue
		}
		if c == '.' && dots == comp {
			dots++
		}
		comp++
	}
	if !stream && first && placeholderOK && comp == 1 && dots == 1 {
		return "" // "." with size 0: the empty directory placeholder
	}
	return endComp()
}
