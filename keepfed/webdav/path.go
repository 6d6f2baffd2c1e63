package webdav

import (
	"errors"
	"strings"

	"github.com/keepfed/keepfed/signing"
)

// Prefix starts every path this package serves: /c=<collection id>/...
const Prefix = "/c="

// Target is a parsed WebDAV request path.
type Target struct {
	// Collection is a collection uuid, or a portable data hash with "+"
	// (a "-" in the path reads as "+", as keep-web decodes it).
	Collection string
	// IsPDH reports whether Collection is a portable data hash.
	IsPDH bool
	// Token is the t=<token> path component, "" when absent.
	Token string
	// Attachment reports the "_" component: download as an attachment.
	Attachment bool
	// Path is the file or directory inside the collection, its
	// components joined with "/"; "" for the collection's root.
	Path string
	// Dir reports that the path ended in "/" (or named the root).
	Dir bool
}

// ErrNotCollectionPath is what ParsePath returns for a path that names
// no collection; keep-web answers such paths with 404.
var ErrNotCollectionPath = errors.New("not a /c=<collection id>/ path")

// errBadComponent is a "." or ".." component, which no collection holds.
var errBadComponent = errors.New(`path has a "." or ".." component`)

// ParsePath parses a decoded request path of the form
//
//	/c=<uuid or PDH>[/t=<token>][/_][/<path>]
//
// as keep-web reads it: the id is an Arvados uuid or a portable data hash
// with "+" or "-" before the size; "t=" gives a token and "_" forces an
// attachment (in that order, each at most once); empty components (double
// slashes) are skipped.
func ParsePath(p string) (Target, error) {
	rest, ok := strings.CutPrefix(p, Prefix)
	if !ok {
		return Target{}, ErrNotCollectionPath
	}
	id, rest, _ := strings.Cut(rest, "/")
	var t Target
	switch {
	case isUUID(id):
		t.Collection = id
	default:
		pdh := strings.ReplaceAll(id, "-", "+")
		if !signing.IsPDH(pdh) && !isPDHWithHints(pdh) {
			return Target{}, ErrNotCollectionPath
		}
		t.Collection, t.IsPDH = pdh, true
	}
	t.Dir = rest == "" || strings.HasSuffix(rest, "/")
	parts := strings.Split(rest, "/")
	i := 0
	next := func() string {
		for i < len(parts) && parts[i] == "" {
			i++
		}
		if i < len(parts) {
			return parts[i]
		}
		return ""
	}
	if c := next(); strings.HasPrefix(c, "t=") {
		t.Token = c[2:]
		i++
	}
	if next() == "_" {
		t.Attachment = true
		i++
	}
	var b strings.Builder
	for ; i < len(parts); i++ {
		c := parts[i]
		switch c {
		case "":
			continue
		case ".", "..":
			return Target{}, errBadComponent
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(c)
	}
	t.Path = b.String()
	if t.Path == "" {
		t.Dir = true
	}
	return t, nil
}

// isUUID reports whether s is an Arvados uuid: 5, 5 and 15 lowercase
// letters or digits separated by "-".
func isUUID(s string) bool {
	if len(s) != 27 || s[5] != '-' || s[11] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 5 || i == 11 {
			continue
		}
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isPDHWithHints reports whether s is hash+size followed by "+" and at
// least one more non-space byte, as arvados.PDHMatch also accepts.
func isPDHWithHints(s string) bool {
	if len(s) < 35 {
		return false
	}
	j := 33
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == 33 || j >= len(s)-1 || s[j] != '+' || !signing.IsPDH(s[:j]) {
		return false
	}
	for k := j + 1; k < len(s); k++ {
		if s[k] <= ' ' {
			return false
		}
	}
	return true
}
