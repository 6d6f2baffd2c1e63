package store

import (
	"slices"
	"strings"
)

// Token scopes, as Arvados defines them: a token carries a list of
// scopes, each "all" or "<METHOD> <path>". A request "<METHOD> <path>"
// (the path without its query) is allowed when one scope is "all", equals
// it, or ends with "/" and is a prefix of it. HEAD is allowed when HEAD or
// GET of the same path is. GET /arvados/v1/api_client_authorizations/current
// is allowed whatever the scopes (a token may always describe itself). An
// empty list allows nothing else.
//
// The functions live here rather than in keepfed/identity because the
// store applies them too (a token may not create a token broader than
// itself); identity.ScopesAllow is the same function.

// ScopeAll is the scope that allows every request.
const ScopeAll = "all"

// CurrentTokenPath is the one path every token may GET.
const CurrentTokenPath = "/arvados/v1/api_client_authorizations/current"

// ScopesAllow reports whether a token with scopes may make the request
// method path. A path with a "." or ".." segment is allowed only by "all",
// so that a prefix scope cannot be escaped by a path that a server would
// resolve elsewhere.
func ScopesAllow(scopes []string, method, path string) bool {
	if method == "GET" && path == CurrentTokenPath {
		return true
	}
	if hasDotSegment(path) {
		return hasAll(scopes)
	}
	if method == "HEAD" {
		return scopeListAllows(scopes, "HEAD", path) || scopeListAllows(scopes, "GET", path)
	}
	return scopeListAllows(scopes, method, path)
}

// scopeListAllows applies the scope rule to one "method path" request.
func scopeListAllows(scopes []string, method, path string) bool {
	for _, s := range scopes {
		if s == ScopeAll {
			return true
		}
		m, p, ok := splitScope(s)
		if !ok || m != method {
			continue
		}
		if p == path || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
}

// ScopesCover reports whether every request that want allows is also
// allowed by have, so that a token with scopes have may issue (or set) a
// token with scopes want without widening what it can do. "all" is covered
// only by "all"; a malformed scope in want is never covered.
func ScopesCover(have, want []string) bool {
	if hasAll(have) {
		return true
	}
	for _, w := range want {
		if !scopeCovered(have, w) {
			return false
		}
	}
	return true
}

// scopeCovered reports whether have allows everything scope w allows.
func scopeCovered(have []string, w string) bool {
	if slices.Contains(have, w) {
		return true
	}
	if w == ScopeAll {
		return false
	}
	m, p, ok := splitScope(w)
	if !ok {
		return false
	}
	if !strings.HasSuffix(p, "/") {
		// w allows exactly m p (and HEAD p when m is GET, which have then
		// allows too, as it allows GET p).
		return ScopesAllow(have, m, p)
	}
	// w allows every path below p: have needs a prefix scope at or above
	// p for m (for HEAD, a GET scope will do).
	if prefixCovered(have, m, p) {
		return true
	}
	return m == "HEAD" && prefixCovered(have, "GET", p)
}

// prefixCovered reports whether a scope in have allows method on every
// path that starts with p (which ends with "/").
func prefixCovered(have []string, method, p string) bool {
	for _, h := range have {
		hm, hp, ok := splitScope(h)
		if ok && hm == method && strings.HasSuffix(hp, "/") && strings.HasPrefix(p, hp) {
			return true
		}
	}
	return false
}

// splitScope splits "<METHOD> /<path>" at its first space. ok is false
// unless the method is non-empty and the path starts with "/".
func splitScope(s string) (method, path string, ok bool) {
	method, path, found := strings.Cut(s, " ")
	if !found || method == "" || !strings.HasPrefix(path, "/") {
		return "", "", false
	}
	return method, path, true
}

// ValidScope reports whether s is "all" or "<METHOD> /<path>" with one of
// the methods a scope can name (GET, HEAD, POST, PUT, PATCH, DELETE).
func ValidScope(s string) bool {
	if s == ScopeAll {
		return true
	}
	m, _, ok := splitScope(s)
	if !ok {
		return false
	}
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

// hasAll reports whether scopes holds "all".
func hasAll(scopes []string) bool {
	for _, s := range scopes {
		if s == ScopeAll {
			return true
		}
	}
	return false
}

// hasDotSegment reports whether path has a "." or ".." segment.
func hasDotSegment(path string) bool {
	for path != "" {
		var seg string
		seg, path, _ = strings.Cut(path, "/")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
