package identity

import (
	"context"

	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/valyala/fasthttp"
)

// ScopesAllow reports whether a token with scopes may make the request
// method path (the path without its query), by Arvados's rules: "all"
// allows everything; "<METHOD> <path>" allows that request exactly, or,
// when it ends with "/", every path it is a prefix of; HEAD is allowed
// when HEAD or GET is; GET /arvados/v1/api_client_authorizations/current
// is always allowed; a path with "." or ".." segments needs "all".
func ScopesAllow(scopes []string, method, path string) bool {
	return store.ScopesAllow(scopes, method, path)
}

// ScopesCover reports whether have allows every request want allows: a
// token with scopes have may create or update a token to scopes want.
func ScopesCover(have, want []string) bool {
	return store.ScopesCover(have, want)
}

// errScope is Arvados's answer to a request its token's scopes do not
// allow.
var errScope = request.NewError(fasthttp.StatusForbidden, "Forbidden: the token's scopes do not allow this request")

// CheckScopes returns a 403 error unless a's token scopes allow method
// on path. The paths served without a token (discovery, config,
// keep_services/accessible, health, metrics) are not checked: they are
// not scoped in Arvados either.
func CheckScopes(a store.Authorization, method, path string) error {
	if ScopesAllow(a.Token.Scopes, method, path) {
		return nil
	}
	return errScope
}

// ValidateTokenFor implements blocks.ScopedTokenValidator: the token is
// accepted as ValidateToken accepts it, and its scopes must allow method
// on path (403 otherwise). Block writes use it, so that a token scoped to,
// say, GET /arvados/v1/users/current cannot store blocks.
func (id *Identity) ValidateTokenFor(_ context.Context, token, method, path string) (bool, error) {
	a, ok, err := id.validate(token)
	if err != nil || !ok {
		return ok, err
	}
	if err := CheckScopes(a, method, path); err != nil {
		return false, err
	}
	return true, nil
}
