package keepfed

import (
	"bytes"
	"context"
	"sort"
	"strings"

	"github.com/keepfed/keepfed/keepfed/blocks"
	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/records"
	"github.com/valyala/fasthttp"
)

// remotesResolver lets the record proxy reach the clusters the Remotes
// registry may contact, and no others.
type remotesResolver struct {
	r    *remotes.Registry
	conf map[string]config.RemoteClusterConfig
}

// Resolve implements records.Resolver. A cluster configured with Proxy:
// false is not used for proxying requests, as in Arvados's controller
// (its federation backends are only the Proxy: true remotes): the proxy
// then answers 404 "no proxy available for cluster X" without contacting
// it. Blocks are still fetched from it (+R hints do not need Proxy).
func (a remotesResolver) Resolve(id string) (records.Target, bool) {
	if rc, ok := a.conf[id]; ok && !rc.Proxy {
		return records.Target{}, false
	}
	base, insecure, ok := a.r.Endpoint(id)
	if !ok {
		return records.Target{}, false
	}
	return records.Target{ID: id, BaseURL: base, Insecure: insecure}, true
}

// ClusterIDs implements records.Lister: the configured remotes with
// Proxy: true, which a lookup by portable data hash asks.
func (a remotesResolver) ClusterIDs() []string {
	var ids []string
	for id, rc := range a.conf {
		if id != "*" && id != a.r.Local() && rc.Proxy {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// newRecordProxy builds the federated record proxy for this server.
func (s *Server) newRecordProxy() (*records.Proxy, error) {
	cfg := s.cfg
	rc := records.Config{
		LocalID:                 cfg.ClusterID,
		Resolver:                remotesResolver{r: s.remotes, conf: cfg.RemoteClusters},
		RequestTimeout:          cfg.API.RequestTimeout.D(),
		MaxRequestAmplification: cfg.API.MaxRequestAmplification,
		MaxItemsPerResponse:     cfg.API.MaxItemsPerResponse,
		SignRemoteLocators:      cfg.KeepFed.SignRemoteLocators,
		KeyRing:                 s.ring,
		BlobSigningTTL:          cfg.Collections.BlobSigningTTL.D(),
		MaxBodySize:             cfg.API.MaxRequestSize,
		CheckForward:            s.checkFwd,
		Logger:                  s.log,
		HoldStream:              request.HoldSlot,
	}
	if up := s.upgrader; up != nil {
		rc.UpgradeV1 = func(token string) (string, bool) {
			v2, ok, err := up.UpgradeV1(context.Background(), token)
			return v2, ok && err == nil
		}
	}
	if cfg.KeepFed.Backend == "arvados" {
		rc.Upstream = &records.Target{ID: cfg.ClusterID, BaseURL: strings.TrimRight(cfg.KeepFed.Upstream, "/")}
		rc.LocalPaths = []string{remotes.KeepServicesPath}
		rc.ServesLocally = s.servesLocally
	}
	return records.New(rc)
}

// servesLocally reports whether this keepfed answers a request itself with
// the arvados backend: block paths, its own exact routes (discovery
// document, config, keep services, health, metrics) and its management
// endpoints. Everything else goes to Upstream.
func (s *Server) servesLocally(ctx *fasthttp.RequestCtx) bool {
	p := ctx.Path()
	return blocks.IsBlockPath(p, ctx.Method()) || s.router.HasExact(p) ||
		bytes.HasPrefix(p, []byte("/_keepfed/")) || bytes.HasPrefix(p, []byte("/_health/"))
}
