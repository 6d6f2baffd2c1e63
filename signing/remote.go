package signing

import (
	"errors"
	"strings"
	"unsafe"
)

// Errors of TranslateRemote, with keepstore's texts (both answer 400).
var (
	ErrRemoteNotConfigured = errors.New("remote cluster not configured")
	ErrInvalidRemoteHint   = errors.New("invalid remote hint")
)

// AppendToRemote appends token to dst with every "+A" replaced by
// "+R<cluster>-": the rewrite an Arvados controller applies to each block
// token of a manifest it fetched from cluster (spec 3.5). The replacement
// is global within the token, as in Arvados.
func AppendToRemote(dst []byte, token, cluster string) []byte {
	for {
		i := strings.Index(token, "+A")
		if i < 0 {
			return append(dst, token...)
		}
		dst = append(dst, token[:i]...)
		dst = append(dst, "+R"...)
		dst = append(dst, cluster...)
		dst = append(dst, '-')
		token = token[i+2:]
	}
}

// AppendFromRemote appends locator to dst with every "+R<cluster>-<rest>"
// hint turned back into "+A<rest>" and every other +A or +R hint dropped:
// the inverse of AppendToRemote for a manifest being sent to cluster, which
// only understands its own +A signatures. +R hints naming other clusters are
// kept. Hash and size are copied as they are.
func AppendFromRemote(dst []byte, locator, cluster string) []byte {
	end := indexByte(locator, '+')
	if end < 0 {
		return append(dst, locator...)
	}
	dst = append(dst, locator[:end]...)
	rest := locator[end:]
	for len(rest) > 0 {
		rest = rest[1:]
		n := indexByte(rest, '+')
		if n < 0 {
			n = len(rest)
		}
		part := rest[:n]
		rest = rest[n:]
		switch {
		case len(part) > 0 && part[0] == 'A':
			// a local signature of ours means nothing to the remote
		case isRemoteHintFor(part, cluster):
			dst = append(dst, "+A"...)
			dst = append(dst, part[7:]...)
		default:
			dst = append(dst, '+')
			dst = append(dst, part...)
		}
	}
	return dst
}

func isRemoteHintFor(part, cluster string) bool {
	return len(part) > 7 && part[0] == 'R' && part[6] == '-' && part[1:6] == cluster
}

// RemoteCluster returns the cluster id of the last "+R<id>-…" hint of a
// locator, as keepstore picks it (a hint longer than 7 bytes with 'R' first
// and '-' at offset 6).
func RemoteCluster(locator string) (string, bool) {
	id, ok := "", false
	eachPart(locator, func(i int, p string) {
		if i >= 1 && len(p) > 7 && p[0] == 'R' && p[6] == '-' {
			id, ok = p[1:6], true
		}
	})
	return id, ok
}

// TranslateRemote turns a locator that keepstore would send down the remote
// path (some hint starting with 'R', none with 'A') into the locator to
// request from the remote cluster: each "+R<id>-<rest>" hint becomes
// "+A<rest>", +A hints are dropped, other parts are kept in order, and the
// last such hint picks the cluster. Every cluster named must be one that
// configured accepts; the first that is not ends the translation with
// ErrRemoteNotConfigured, as in keepstore.
func TranslateRemote(dst []byte, locator string, configured func(id string) bool) ([]byte, string, error) {
	remote := ""
	start := len(dst)
	var err error
	eachPart(locator, func(i int, p string) {
		switch {
		case err != nil:
		case i == 0:
			dst = append(dst, p...)
		case len(p) > 0 && p[0] == 'A':
		case len(p) > 7 && p[0] == 'R' && p[6] == '-':
			remote = p[1:6]
			if !configured(remote) {
				err = ErrRemoteNotConfigured
				return
			}
			dst = append(dst, "+A"...)
			dst = append(dst, p[7:]...)
		default:
			dst = append(dst, '+')
			dst = append(dst, p...)
		}
	})
	if remote == "" {
		return dst[:start], "", ErrInvalidRemoteHint
	}
	if err != nil {
		return dst[:start], remote, err
	}
	return dst, remote, nil
}

// eachPart calls fn with every '+'-separated part of s and its index.
func eachPart(s string, fn func(i int, part string)) {
	for i := 0; ; i++ {
		n := indexByte(s, '+')
		if n < 0 {
			fn(i, s)
			return
		}
		fn(i, s[:n])
		s = s[n+1:]
	}
}

// b2s views b as a string without copying; b must not change while the
// string is in use.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
