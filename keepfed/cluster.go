package keepfed

import (
	"fmt"

	"github.com/keepfed/keepfed/keepfed/store"
)

// NewCluster assembles a complete keepfed for cfg: with the embedded
// backend it opens the record store in DataDir, builds the identity layer
// (local, salted and remote token validation, v1 upgrades) and serves the
// embedded records API; with the arvados backend the identity layer
// validates tokens against Upstream. The store is closed by Shutdown.
// opts.TokenValidator, opts.TokenUpgrader and opts.CheckForward are
// replaced by the identity layer.
func NewCluster(cfg *ClusterConfig, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var st *store.Store
	if cfg.KeepFed.Backend != "arvados" {
		var err error
		if st, err = OpenEmbeddedStore(cfg); err != nil {
			return nil, err
		}
	}
	closeStore := func() {
		if st != nil {
			st.Close()
		}
	}
	id, err := NewIdentity(cfg, IdentityOptions{Store: st, Logger: opts.Logger, Now: opts.Now})
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
