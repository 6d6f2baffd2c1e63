package blocks

import (
	"log/slog"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
)

// Handler serves the Keep block paths: GET and HEAD of local (+A) and
// remote (+R) locators, PUT of new blocks, and CORS preflights.
type Handler struct {
	cfg       *config.ClusterConfig
	ring      *signing.KeyRing
	backend   Backend
	remotes   *remotes.Registry
	metrics   *metrics.Metrics
	log       *slog.Logger
	now       func() time.Time
	validator TokenValidator
	upgrader  TokenUpgrader
	cache     *RemoteCache // nil: off
}

// Options are what a Handler needs; every field but Validator and
// Upgrader is required.
type Options struct {
	Config  *config.ClusterConfig
	KeyRing *signing.KeyRing
	Backend Backend
	Remotes *remotes.Registry
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Now     func() time.Time
	// Validator, when set, lets tokens other than the SystemRootToken
	// write blocks.
	Validator TokenValidator
	// Upgrader, when set, upgrades v1 tokens before salting them for a
	// remote cluster.
	Upgrader TokenUpgrader
	// Cache, when set, is the remote block cache (remotecache.go).
	Cache *RemoteCache
}

// NewHandler returns the block handler.
func NewHandler(o Options) *Handler {
	return &Handler{
		cfg: o.Config, ring: o.KeyRing, backend: o.Backend, remotes: o.Remotes,
		metrics: o.Metrics, log: o.Logger, now: o.Now,
		validator: o.Validator, upgrader: o.Upgrader, cache: o.Cache,
	}
}

// AuthorizeWrite decides, as a PUT does before it reads the body, whether
// token may write blocks: 401 without a token, 403 (or the validator's
// error) when it may not. The server's admission middleware calls it
// before the request takes a concurrency slot.
func (h *Handler) AuthorizeWrite(ctx *fasthttp.RequestCtx, token string) error {
	if token == "" {
		return request.NewError(fasthttp.StatusUnauthorized, reasonNoToken)
	}
	return h.authorizeWrite(ctx, token)
}
