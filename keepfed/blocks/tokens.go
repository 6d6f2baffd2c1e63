package blocks

import (
	"context"
)

// TokenValidator is the hook through which the identity layer tells the
// block handlers whether an API token belongs to a user of this cluster.
// keepfed's PUT accepts the SystemRootToken by itself; any other token is
// accepted only when a TokenValidator says so. Implementations must be
// safe for concurrent use and should cache (keyed by signing.CacheKey,
// never the raw token).
type TokenValidator interface {
	// ValidateToken reports whether token is a valid, unexpired token of
	// a user allowed to write blocks. A non-nil error means the answer is
	// unknown (the identity backend failed); the request then fails with
	// the error's status (see HTTPError; 502 when it has none).
	ValidateToken(ctx context.Context, token string) (bool, error)
}

// ScopedTokenValidator is a TokenValidator that also applies the token's
// scopes to the request (Arvados's "<METHOD> <path>" rules). When the
// validator has it, a block PUT is authorised with ValidateTokenFor and
// the request's method and path ("PUT /<md5>..."), so a scoped token
// stores blocks only when a scope allows that (e.g. "PUT /"). A 403
// *request.HTTPError explains a refusal by scope.
type ScopedTokenValidator interface {
	TokenValidator
	// ValidateTokenFor is ValidateToken for the request method path.
	ValidateTokenFor(ctx context.Context, token, method, path string) (bool, error)
}

// ReadValidator is implemented by a TokenValidator that tells apart the
// tokens that may read remote blocks through keepfed (+R) from those that
// may also write. Without it a +R read needs the same token as a write.
type ReadValidator interface {
	// ValidateReadToken reports whether token is a valid token this
	// cluster lets read blocks of remote clusters; errors as
	// ValidateToken.
	ValidateReadToken(ctx context.Context, token string) (bool, error)
}

// TokenUpgrader turns an obsolete v1 token (a bare secret) into its v2 form
// "v2/<uuid>/<secret>" so that it can be salted for a remote cluster. The
// identity layer implements it by looking the secret up locally; without
// one, a v1 token on a federated block read is answered 400 as keepstore
// does. ok is false when the token is unknown here.
type TokenUpgrader interface {
	UpgradeV1(ctx context.Context, token string) (v2 string, ok bool, err error)
}

// TokenValidatorFunc adapts a function to TokenValidator.
type TokenValidatorFunc func(ctx context.Context, token string) (bool, error)

// ValidateToken calls f.
func (f TokenValidatorFunc) ValidateToken(ctx context.Context, token string) (bool, error) {
	return f(ctx, token)
}
