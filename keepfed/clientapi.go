package keepfed

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/keepfed/keepfed/keepfed/discovery"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/valyala/fasthttp"
)

// The endpoints every Arvados client reads before anything else, answered
// by keepfed itself with either backend: the discovery document, the
// exported config and the vocabulary. None needs a token, as in Arvados.
const (
	DiscoveryPath  = "/discovery/v1/apis/arvados/v1/rest"
	ConfigPath     = "/arvados/v1/config"
	VocabularyPath = "/arvados/v1/vocabulary"
)

// apiRevision is the API revision keepfed's discovery document claims:
// the Arvados revision whose request and response shapes it serves.
const apiRevision = "20250402"

// version is keepfed's version as the build recorded it.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// clientDocs are the precomputed bodies of the client bootstrap endpoints.
type clientDocs struct {
	discovery, config, vocabulary []byte
}

// newClientDocs builds the bodies once, at start-up: they depend only on
// the config.
func (s *Server) newClientDocs() (*clientDocs, error) {
	cfg := s.cfg
	ext := strings.TrimRight(cfg.KeepFed.ExternalURL, "/")
	repl := cfg.Collections.DefaultReplication
	if cfg.KeepFed.Backend != "arvados" {
		repl = 1 // the embedded volume stores one copy
	}
	hosts := map[string]string{}
	rcs := map[string]discovery.RemoteCluster{}
	for id, rc := range cfg.RemoteClusters {
		if id != "*" {
			hosts[id] = rc.Host
		}
		rcs[id] = discovery.RemoteCluster{Host: rc.Host, Scheme: rc.Scheme, Proxy: rc.Proxy, Insecure: rc.Insecure, ActivateUsers: rc.ActivateUsers}
	}
	star, hasStar := cfg.RemoteClusters["*"]
	doc, err := discovery.Document(discovery.Params{
		ClusterID:          cfg.ClusterID,
		ExternalURL:        ext,
		DefaultReplication: repl,
		BlobSignatureTTL:   cfg.Collections.BlobSigningTTL.D(),
		MaxRequestSize:     cfg.API.MaxRequestSize,
		RemoteHosts:        hosts,
		RemoteHostsViaDNS:  hasStar && star.Proxy && cfg.KeepFed.RemoteDNSSuffix != "",
		Revision:           apiRevision,
		Version:            version(),
	})
	if err != nil {
		return nil, fmt.Errorf("building the discovery document of cluster %s: %w", cfg.ClusterID, err)
	}
	controller := cfg.Services.Controller.ExternalURL
	if controller == "" {
		controller = ext
	}
	webdav, download := s.webdavURLs(ext)
	conf, err := discovery.ExportedConfig(discovery.ConfigParams{
		ClusterID:            cfg.ClusterID,
		ControllerURL:        controller,
		KeepproxyURL:         ext,
		WebDAVURL:            webdav,
		WebDAVDownloadURL:    download,
		DefaultReplication:   repl,
		BlobSigningTTL:       cfg.Collections.BlobSigningTTL.D(),
		TrashSweepInterval:   cfg.Collections.TrashSweepInterval.D(),
		CollectionVersioning: cfg.Collections.CollectionVersioning,
		RemoteClusters:       rcs,
		LoginCluster:         cfg.Login.LoginCluster,
		MaxItemsPerResponse:  cfg.API.MaxItemsPerResponse,
		MaxRequestSize:       cfg.API.MaxRequestSize,
		Version:              version(),
	})
	if err != nil {
		return nil, fmt.Errorf("building the exported config of cluster %s: %w", cfg.ClusterID, err)
	}
	return &clientDocs{discovery: doc, config: conf, vocabulary: discovery.Vocabulary()}, nil
}

// serveJSON answers a precomputed JSON body.
func serveJSON(body []byte) request.Handler {
	return func(ctx *fasthttp.RequestCtx) error {
		ctx.Response.Header.Set("Access-Control-Allow-Origin", "*")
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
		return nil
	}
}

// emptyList answers an empty list of the given kind ("arvados#virtualMachineList"):
// for record types keepfed has none of but clients list.
func emptyList(kind string) request.Handler {
	return serveJSON([]byte(`{"kind":"` + kind + `","etag":"","offset":0,"limit":0,"items_available":0,"items":[]}` + "\n"))
}

// clientRoutes registers the bootstrap endpoints, and the keep service
// list (the same single service as keep_services/accessible).
func (s *Server) clientRoutes(d *clientDocs) {
	r := s.router
	r.Handle(fasthttp.MethodGet, DiscoveryPath, serveJSON(d.discovery))
	r.Handle(fasthttp.MethodGet, ConfigPath, serveJSON(d.config))
	r.Handle(fasthttp.MethodGet, VocabularyPath, serveJSON(d.vocabulary))
	r.Handle(fasthttp.MethodGet, "/arvados/v1/keep_services", s.handleKeepServices)
	r.Handle(fasthttp.MethodGet, remotes.KeepServicesPath, s.handleKeepServices)
	if s.cfg.KeepFed.Backend != "arvados" {
		// With the arvados backend the upstream answers these.
		r.Handle(fasthttp.MethodGet, "/arvados/v1/virtual_machines", emptyList("arvados#virtualMachineList"))
	}
}
