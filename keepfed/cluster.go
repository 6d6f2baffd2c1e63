package keepfed

import (
	"fmt"

	"github.com/keepfed/keepfed/keepfed/api"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/valyala/fasthttp"
)

// NewCluster assembles a complete keepfed for cfg: with the embedded
// backend it opens the record store in DataDir, builds the identity layer
// (local, salted and remote token validation, v1 upgrades) and serves the
// embedded records API; with the arvados backend the identity layer
// validates tokens against Upstream. The store is closed by Shutdown.
// opts.TokenValidator, opts.TokenUpgrader and opts.CheckForward are
// replaced by the identity layer.
func NewCluster(cfg *config.ClusterConfig, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var st *store.Store
	if cfg.KeepFed.Backend != "arvados" {
		var err error
		if st, err = identity.OpenEmbeddedStore(cfg); err != nil {
			return nil, err
		}
	}
	closeStore := func() {
		if st != nil {
			st.Close()
		}
	}
	id, err := identity.New(cfg, identity.Options{Store: st, Logger: opts.Logger, Now: opts.Now})
	if err != nil {
		closeStore()
		return nil, fmt.Errorf("identity: %w", err)
	}
	opts.TokenValidator, opts.TokenUpgrader = id, id
	if lc := cfg.Login.LoginCluster; lc != "" && lc != cfg.ClusterID {
		opts.CheckForward = func(token, cluster string) error {
			if cluster != lc {
				return nil
			}
			return id.CheckLoginClusterForward(token)
		}
	}
	srv, err := New(cfg, opts)
	if err != nil {
		closeStore()
		return nil, err
	}
	srv.EnableEmbeddedIdentity(id)
	if st != nil {
		srv.onShutdown(st.Close)
	}
	if st != nil && srv.volume != nil {
		// the store's lock on DataDir is held: no other process writes
		// here, so temporary block files are left by a killed write
		if n, err := srv.volume.RemoveTemporary(); err != nil {
			srv.log.Warn("removing temporary block files", "error", err.Error())
		} else if n > 0 {
			srv.log.Info("removed temporary block files of unfinished writes", "count", n)
		}
	}
	return srv, nil
}

// EnableEmbeddedIdentity connects id to the server: id uses the server's
// remote cluster registry from now on, and, when id has a record store
// (embedded backend), the server answers the Arvados records API for
// users, api_client_authorizations, groups, links, collections and
// workflows under /arvados/v1/ and the token management endpoint
// POST /_keepfed/tokens (see identity.IssueToken). Call it after New and
// before Serve; pass the same id as Options.TokenValidator and
// Options.TokenUpgrader to New.
func (s *Server) EnableEmbeddedIdentity(id *identity.Identity) {
	id.UseRemotes(s.remotes)
	s.authenticate = func(token, remote string) error {
		_, err := id.Authenticate(token, remote)
		return err
	}
	if id.Store() == nil {
		return
	}
	h := api.New(id, s.cfg, s.ring, s.now)
	for _, k := range store.Kinds {
		s.router.HandlePrefix("/arvados/v1/"+string(k), h.Serve)
	}
	s.router.Handle(fasthttp.MethodPost, identity.TokenManagementPath, h.ServeIssueToken)
	s.webdavRoutes(id)
}
