// Package config reads the Arvados cluster config file (config.yml) for
// keepfed: the Arvados keys keepfed uses and its own Clusters.<id>.KeepFed
// section, with defaults and checks.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/keepfed/keepfed/signing"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in config files as a Go duration
// string ("336h", "5m", "1209600000000000ns").
type Duration time.Duration

// UnmarshalYAML accepts a Go duration string, or a bare number of
// nanoseconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like \"336h\"", n.Line)
	}
	if s == "" || s == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		var ns int64
		if _, err2 := fmt.Sscan(s, &ns); err2 == nil && fmt.Sprint(ns) == s {
			*d = Duration(ns)
			return nil
		}
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is an Arvados cluster config file (config.yml), reduced to the
// keys keepfed reads.
type Config struct {
	Clusters map[string]*ClusterConfig `yaml:"Clusters"`
}

// ClusterConfig is Clusters.<id>.
type ClusterConfig struct {
	// ClusterID is the map key; it is not read from the file.
	ClusterID string `yaml:"-"`

	SystemRootToken string `yaml:"SystemRootToken"`
	ManagementToken string `yaml:"ManagementToken"`

	Collections struct {
		BlobSigning          *bool    `yaml:"BlobSigning"`
		BlobSigningKey       string   `yaml:"BlobSigningKey"`
		BlobSigningTTL       Duration `yaml:"BlobSigningTTL"`
		DefaultReplication   int      `yaml:"DefaultReplication"`
		CollectionVersioning bool     `yaml:"CollectionVersioning"`
		TrashSweepInterval   Duration `yaml:"TrashSweepInterval"`
	} `yaml:"Collections"`

	// Services are the cluster's service URLs; keepfed reads the
	// ExternalURLs to publish them in the exported config.
	Services struct {
		Controller     ServiceURLs `yaml:"Controller"`
		Keepproxy      ServiceURLs `yaml:"Keepproxy"`
		Keepstore      ServiceURLs `yaml:"Keepstore"`
		WebDAV         ServiceURLs `yaml:"WebDAV"`
		WebDAVDownload ServiceURLs `yaml:"WebDAVDownload"`
		Websocket      ServiceURLs `yaml:"Websocket"`
		Workbench1     ServiceURLs `yaml:"Workbench1"`
		Workbench2     ServiceURLs `yaml:"Workbench2"`
	} `yaml:"Services"`

	// TLS is the server certificate: when Certificate and Key are both
	// set, keepfed serves HTTPS on KeepFed.Listen.
	TLS struct {
		// Certificate is a PEM file: a path, or a file:// URL.
		Certificate string `yaml:"Certificate"`
		// Key is the certificate's PEM private key: a path or file:// URL.
		Key string `yaml:"Key"`
		// Insecure is Arvados's flag for its internal clients; keepfed
		// reads it only so that it does not warn about it.
		Insecure bool `yaml:"Insecure"`
	} `yaml:"TLS"`

	RemoteClusters map[string]RemoteClusterConfig `yaml:"RemoteClusters"`

	Login struct {
		LoginCluster       string   `yaml:"LoginCluster"`
		RemoteTokenRefresh Duration `yaml:"RemoteTokenRefresh"`
	} `yaml:"Login"`

	Users struct {
		AnonymousUserToken string `yaml:"AnonymousUserToken"`
	} `yaml:"Users"`

	API struct {
		MaxConcurrentRequests     int      `yaml:"MaxConcurrentRequests"`
		RequestTimeout            Duration `yaml:"RequestTimeout"`
		MaxItemsPerResponse       int      `yaml:"MaxItemsPerResponse"`
		MaxRequestAmplification   int      `yaml:"MaxRequestAmplification"`
		MaxRequestSize            int      `yaml:"MaxRequestSize"`
		MaxKeepBlobBuffers        int      `yaml:"MaxKeepBlobBuffers"`
		KeepServiceRequestTimeout Duration `yaml:"KeepServiceRequestTimeout"`
	} `yaml:"API"`

	KeepFed KeepFedConfig `yaml:"KeepFed"`
}

// ServiceURLs is one Clusters.<id>.Services.<service> entry.
type ServiceURLs struct {
	ExternalURL  string         `yaml:"ExternalURL"`
	InternalURLs map[string]any `yaml:"InternalURLs"`
}

// RemoteClusterConfig is Clusters.<id>.RemoteClusters.<remote>.
type RemoteClusterConfig struct {
	Host          string `yaml:"Host"`
	Scheme        string `yaml:"Scheme"`
	Insecure      bool   `yaml:"Insecure"`
	Proxy         bool   `yaml:"Proxy"`
	ActivateUsers bool   `yaml:"ActivateUsers"`
}

// KeepFedConfig is keepfed's own section, Clusters.<id>.KeepFed.
type KeepFedConfig struct {
	// Listen is the host:port the server binds.
	Listen string `yaml:"Listen"`
	// ExternalURL is how clients reach this keepfed (listed as the keep
	// service by keep_services/accessible).
	ExternalURL string `yaml:"ExternalURL"`
	// Backend is "embedded" (default) or "arvados".
	Backend string `yaml:"Backend"`
	// DataDir holds the embedded backend's blocks and record store.
	DataDir string `yaml:"DataDir"`
	// Upstream is the local Arvados controller URL (arvados backend).
	Upstream string `yaml:"Upstream"`
	// PreviousBlobSigningKeys still verify, never sign (key rotation).
	PreviousBlobSigningKeys []string `yaml:"PreviousBlobSigningKeys"`
	// RemoteDNSSuffix lets cluster X resolve to X.<suffix> when it is not
	// in RemoteClusters and the "*" entry has Proxy: true.
	RemoteDNSSuffix string `yaml:"RemoteDNSSuffix"`
	// SignRemoteLocators adds a local +A next to each +R in collections
	// proxied from a remote cluster.
	SignRemoteLocators bool `yaml:"SignRemoteLocators"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout Duration `yaml:"ShutdownTimeout"`
	// DiscoveryTTL is how long a remote's keep service list is cached.
	DiscoveryTTL Duration `yaml:"DiscoveryTTL"`
	// MaxRequestsPerRemote bounds the block requests in flight to one
	// remote cluster; beyond it a +R read is answered 503 at once, so one
	// slow cluster cannot take every request slot.
	MaxRequestsPerRemote int `yaml:"MaxRequestsPerRemote"`
	// RemoteBlockCache keeps verified remote blocks on local disk.
	RemoteBlockCache RemoteBlockCacheConfig `yaml:"RemoteBlockCache"`
	// RemoteMinRate is the least a remote keep service must send of a
	// block body, in bytes per second over each RemoteMinRateWindow of
	// waiting on it; a slower body is cut and the request slot freed. A
	// negative value turns the check off.
	RemoteMinRate int64 `yaml:"RemoteMinRate"`
	// RemoteMinRateWindow is the window RemoteMinRate is measured over.
	RemoteMinRateWindow Duration `yaml:"RemoteMinRateWindow"`

	// Denial-of-service limits (docs/RELIABILITY.md, "Denial of service").

	// WriteIdleTimeout cuts a connection, and frees its request slot, when
	// no byte of a response could be written to it for this long (a
	// client that stopped reading). Default 30s.
	WriteIdleTimeout Duration `yaml:"WriteIdleTimeout"`
	// MinRequestBodyRate is the slowest a request body may arrive, in
	// bytes per second on average after RequestBodyGracePeriod; a slower
	// one is cut with 408. Default 16384; negative turns the check off.
	MinRequestBodyRate int `yaml:"MinRequestBodyRate"`
	// RequestBodyGracePeriod is how long a body may take before
	// MinRequestBodyRate applies. Default 10s.
	RequestBodyGracePeriod Duration `yaml:"RequestBodyGracePeriod"`
	// MaxConcurrentRequestsPerClient bounds the requests of one client IP
	// address handled at once. Default max(1, API.MaxConcurrentRequests/4);
	// negative: no per-client bound (behind a proxy that hides client
	// addresses). Zero (absent) means the default, worked out when the
	// server starts.
	MaxConcurrentRequestsPerClient int `yaml:"MaxConcurrentRequestsPerClient"`
	// MaxConcurrentAnonymousRequests bounds the requests without a token
	// (in the Authorization header, api_token query or cookie) handled at
	// once. Default (zero) max(1, API.MaxConcurrentRequests/8).
	MaxConcurrentAnonymousRequests int `yaml:"MaxConcurrentAnonymousRequests"`
	// MaxAnonymousRequestSize is the largest request body accepted
	// without such a token. Default 64 KiB.
	MaxAnonymousRequestSize int `yaml:"MaxAnonymousRequestSize"`
}

// RemoteBlockCacheConfig is Clusters.<id>.KeepFed.RemoteBlockCache: a
// bounded on-disk cache of verified remote (+R) blocks.
type RemoteBlockCacheConfig struct {
	// Dir holds the cached blocks (default <DataDir>/remote-cache with
	// the embedded backend; required with the arvados backend).
	Dir string `yaml:"Dir"`
	// MaxSize bounds the bytes the cache holds; 0 (default) turns it off.
	MaxSize ByteSize `yaml:"MaxSize"`
	// Clusters, when not empty, restricts the cache to these remotes'
	// blocks.
	Clusters []string `yaml:"Clusters"`
}

// Enabled reports whether the cache is on.
func (c RemoteBlockCacheConfig) Enabled() bool { return c.MaxSize > 0 }

// Defaults applied by LoadConfig where a key is absent.
const (
	DefaultBlobSigningTTL        = 336 * time.Hour
	DefaultRemoteTokenRefresh    = 5 * time.Minute
	DefaultRequestTimeout        = 5 * time.Minute
	DefaultMaxConcurrentRequests = 64
	DefaultMaxItemsPerResponse   = 1000
	DefaultMaxRequestAmp         = 4
	DefaultMaxRequestSize        = 128 << 20
	DefaultShutdownTimeout       = 30 * time.Second
	DefaultDiscoveryTTL          = 5 * time.Minute
	DefaultMaxRequestsPerRemote  = 32
	DefaultRemoteMinRate         = 16 << 10
	DefaultRemoteMinRateWindow   = 10 * time.Second
	DefaultListen                = "127.0.0.1:9002"
	DefaultReplication           = 2
	DefaultTrashSweepInterval    = 60 * time.Second

	DefaultWriteIdleTimeout        = 30 * time.Second
	DefaultMinRequestBodyRate      = 16 << 10
	DefaultRequestBodyGracePeriod  = 10 * time.Second
	DefaultMaxAnonymousRequestSize = 64 << 10
)

// LoadConfig reads an Arvados config file and returns the cluster named id
// (or the only cluster, when id is ""), with defaults applied and every
// value the server needs checked. Unknown keys are returned as warnings,
// one per key path.
func LoadConfig(path, id string) (*ClusterConfig, []string, error) {
	cc, warnings, err := ReadConfig(path, id)
	if err != nil {
		return nil, warnings, err
	}
	return cc, warnings, cc.Validate()
}

// ReadConfig reads an Arvados config file like LoadConfig but checks only
// what every tool needs (cluster ids, well-formed values), not what the
// server needs, so the operator tools accept a plain Arvados config.yml.
func ReadConfig(path, id string) (*ClusterConfig, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(data, id)
}

// ReadConfigFiles reads several config files as one, each later file's
// keys overriding or adding to the earlier ones' (mappings are merged key
// by key, any other value is replaced), then works as ReadConfig. It lets
// an operator keep Arvados's config.yml as it is and put keepfed's own
// Clusters.<id>.KeepFed section in a second file.
func ReadConfigFiles(paths []string, id string) (*ClusterConfig, []string, error) {
	if len(paths) == 1 {
		return ReadConfig(paths[0], id)
	}
	var merged *yaml.Node
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("reading config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, nil, fmt.Errorf("config %s is not valid YAML: %w", p, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		if merged == nil {
			merged = doc.Content[0]
			continue
		}
		merged = mergeYAML(merged, doc.Content[0])
	}
	if merged == nil {
		return nil, nil, errors.New("config has no Clusters section: expected Clusters.<id>")
	}
	data, err := yaml.Marshal(merged)
	if err != nil {
		return nil, nil, fmt.Errorf("merging config files: %w", err)
	}
	return ParseConfig(data, id)
}

// LoadConfigFiles is ReadConfigFiles followed by the server's checks, as
// LoadConfig.
func LoadConfigFiles(paths []string, id string) (*ClusterConfig, []string, error) {
	cc, warnings, err := ReadConfigFiles(paths, id)
	if err != nil {
		return nil, warnings, err
	}
	return cc, warnings, cc.Validate()
}

// mergeYAML merges over into base: mapping keys recursively, any other
// node replaced.
func mergeYAML(base, over *yaml.Node) *yaml.Node {
	if base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		found := false
		for j := 0; j+1 < len(base.Content); j += 2 {
			if base.Content[j].Value == k.Value {
				base.Content[j+1] = mergeYAML(base.Content[j+1], v)
				found = true
				break
			}
		}
		if !found {
			base.Content = append(base.Content, k, v)
		}
	}
	return base
}

// ParseConfig is ReadConfig on the file's bytes.
func ParseConfig(data []byte, id string) (*ClusterConfig, []string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("config is not valid YAML: %w", err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&cfg); err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	var warnings []string
	if len(root.Content) > 0 {
		warnings = unknownKeys(root.Content[0], reflect.TypeOf(Config{}), "")
	}
	if len(cfg.Clusters) == 0 {
		return nil, warnings, errors.New("config has no Clusters section: expected Clusters.<id>")
	}
	if id == "" {
		if len(cfg.Clusters) > 1 {
			ids := make([]string, 0, len(cfg.Clusters))
			for k := range cfg.Clusters {
				ids = append(ids, k)
			}
			sort.Strings(ids)
			return nil, warnings, fmt.Errorf("config has %d clusters (%s): choose one with -cluster", len(ids), strings.Join(ids, ", "))
		}
		for k := range cfg.Clusters {
			id = k
		}
	}
	cc, ok := cfg.Clusters[id]
	if !ok || cc == nil {
		return nil, warnings, fmt.Errorf("config has no cluster %q (Clusters.%s)", id, id)
	}
	cc.ClusterID = id
	if err := cc.applyDefaults(); err != nil {
		return nil, warnings, err
	}
	return cc, warnings, nil
}

func (c *ClusterConfig) applyDefaults() error {
	id := c.ClusterID
	if !signing.IsClusterID(id) {
		return fmt.Errorf("cluster id %q (Clusters.%s) must be 5 characters of [a-z0-9]", id, id)
	}
	if c.Collections.BlobSigning == nil {
		t := true
		c.Collections.BlobSigning = &t
	}
	if c.Collections.BlobSigningTTL == 0 {
		c.Collections.BlobSigningTTL = Duration(DefaultBlobSigningTTL)
	}
	if c.Collections.DefaultReplication == 0 {
		c.Collections.DefaultReplication = DefaultReplication
	}
	if c.Collections.DefaultReplication < 0 {
		return fmt.Errorf("Clusters.%s.Collections.DefaultReplication must be at least 1", id)
	}
	if c.Collections.TrashSweepInterval == 0 {
		c.Collections.TrashSweepInterval = Duration(DefaultTrashSweepInterval)
	}
	if (c.TLS.Certificate == "") != (c.TLS.Key == "") {
		return fmt.Errorf("Clusters.%s.TLS: Certificate and Key must be set together", id)
	}
	if c.Login.RemoteTokenRefresh == 0 {
		c.Login.RemoteTokenRefresh = Duration(DefaultRemoteTokenRefresh)
	}
	if c.API.RequestTimeout == 0 {
		c.API.RequestTimeout = Duration(DefaultRequestTimeout)
	}
	if c.API.MaxConcurrentRequests == 0 {
		c.API.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if c.API.MaxItemsPerResponse == 0 {
		c.API.MaxItemsPerResponse = DefaultMaxItemsPerResponse
	}
	if c.API.MaxRequestAmplification == 0 {
		c.API.MaxRequestAmplification = DefaultMaxRequestAmp
	}
	if c.API.MaxRequestSize == 0 {
		c.API.MaxRequestSize = DefaultMaxRequestSize
	}
	k := &c.KeepFed
	if k.Listen == "" {
		k.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(k.Listen); err != nil {
		return fmt.Errorf("Clusters.%s.KeepFed.Listen %q is not host:port", id, k.Listen)
	}
	if k.ExternalURL == "" {
		k.ExternalURL = "http://" + k.Listen
		if c.TLSEnabled() {
			k.ExternalURL = "https://" + k.Listen
		}
	}
	if u, err := url.Parse(k.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("Clusters.%s.KeepFed.ExternalURL %q is not an http(s) URL", id, k.ExternalURL)
	}
	if k.Backend == "" {
		k.Backend = "embedded"
	}
	if k.ShutdownTimeout == 0 {
		k.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if k.DiscoveryTTL == 0 {
		k.DiscoveryTTL = Duration(DefaultDiscoveryTTL)
	}
	if k.MaxRequestsPerRemote == 0 {
		k.MaxRequestsPerRemote = DefaultMaxRequestsPerRemote
	}
	rbc := &k.RemoteBlockCache
	if rbc.MaxSize < 0 {
		return fmt.Errorf("Clusters.%s.KeepFed.RemoteBlockCache.MaxSize must not be negative", id)
	}
	for _, rid := range rbc.Clusters {
		if !signing.IsClusterID(rid) {
			return fmt.Errorf("Clusters.%s.KeepFed.RemoteBlockCache.Clusters: %q must be a cluster id of 5 characters of [a-z0-9]", id, rid)
		}
	}
	if rbc.Dir == "" && rbc.Enabled() && k.Backend == "embedded" && k.DataDir != "" {
		rbc.Dir = filepath.Join(k.DataDir, "remote-cache")
	}
	if k.RemoteMinRate == 0 {
		k.RemoteMinRate = DefaultRemoteMinRate
	}
	if k.RemoteMinRateWindow <= 0 {
		k.RemoteMinRateWindow = Duration(DefaultRemoteMinRateWindow)
	}
	if k.WriteIdleTimeout == 0 {
		k.WriteIdleTimeout = Duration(DefaultWriteIdleTimeout)
	}
	if k.MinRequestBodyRate == 0 {
		k.MinRequestBodyRate = DefaultMinRequestBodyRate
	}
	if k.RequestBodyGracePeriod == 0 {
		k.RequestBodyGracePeriod = Duration(DefaultRequestBodyGracePeriod)
	}
	if k.MaxAnonymousRequestSize == 0 {
		k.MaxAnonymousRequestSize = DefaultMaxAnonymousRequestSize
	}
	for rid, rc := range c.RemoteClusters {
		if rid != "*" && !signing.IsClusterID(rid) {
			return fmt.Errorf("Clusters.%s.RemoteClusters.%s: cluster id must be 5 characters of [a-z0-9]", id, rid)
		}
		if rc.Scheme != "" && rc.Scheme != "http" && rc.Scheme != "https" {
			return fmt.Errorf("Clusters.%s.RemoteClusters.%s.Scheme %q must be http or https", id, rid, rc.Scheme)
		}
	}
	return nil
}

// Validate checks the values the server needs: a data directory or an
// upstream for the chosen backend, a signing key when signing is on, and a
// LoginCluster that is also a remote.
func (c *ClusterConfig) Validate() error {
	id, k := c.ClusterID, &c.KeepFed
	switch k.Backend {
	case "embedded":
		if k.DataDir == "" {
			return fmt.Errorf("Clusters.%s.KeepFed.DataDir is required with the embedded backend", id)
		}
	case "arvados":
		if u, err := url.Parse(k.Upstream); k.Upstream == "" || err != nil || u.Host == "" {
			return fmt.Errorf("Clusters.%s.KeepFed.Upstream must be the Arvados controller URL with the arvados backend", id)
		}
	default:
		return fmt.Errorf("Clusters.%s.KeepFed.Backend %q must be \"embedded\" or \"arvados\"", id, k.Backend)
	}
	if rbc := k.RemoteBlockCache; rbc.Enabled() {
		if rbc.Dir == "" {
			return fmt.Errorf("Clusters.%s.KeepFed.RemoteBlockCache.Dir is required when MaxSize is set with the %s backend", id, k.Backend)
		}
		if k.DataDir != "" && filepath.Clean(rbc.Dir) == filepath.Join(k.DataDir, "keep") {
			return fmt.Errorf("Clusters.%s.KeepFed.RemoteBlockCache.Dir must not be the block volume (%s)", id, rbc.Dir)
		}
	}
	if *c.Collections.BlobSigning && c.Collections.BlobSigningKey == "" {
		return fmt.Errorf("Clusters.%s.Collections.BlobSigningKey is required when BlobSigning is true", id)
	}
	if lc := c.Login.LoginCluster; lc != "" && lc != id {
		if _, ok := c.RemoteClusters[lc]; !ok {
			return fmt.Errorf("Clusters.%s.Login.LoginCluster %q must also be in RemoteClusters", id, lc)
		}
	}
	return nil
}

// TLSEnabled reports whether keepfed serves HTTPS (TLS.Certificate and
// TLS.Key are set).
func (c *ClusterConfig) TLSEnabled() bool {
	return c.TLS.Certificate != "" && c.TLS.Key != ""
}

// TLSFile turns a TLS.Certificate or TLS.Key value (a path or a file://
// URL) into a path.
func TLSFile(v string) (string, error) {
	if !strings.Contains(v, "://") {
		return v, nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return "", fmt.Errorf("%q is neither a path nor a file:// URL", v)
	}
	return u.Path, nil
}

// KeyRing returns the signing key ring: BlobSigningKey signs, it and
// KeepFed.PreviousBlobSigningKeys verify.
func (c *ClusterConfig) KeyRing() *signing.KeyRing {
	prev := make([][]byte, 0, len(c.KeepFed.PreviousBlobSigningKeys))
	for _, k := range c.KeepFed.PreviousBlobSigningKeys {
		prev = append(prev, []byte(k))
	}
	return signing.NewKeyRing(c.Collections.BlobSigningTTL.D(), []byte(c.Collections.BlobSigningKey), prev...)
}

// unknownKeys lists mapping keys under n that have no field in t.
func unknownKeys(n *yaml.Node, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode || t == reflect.TypeOf(Duration(0)) {
			return nil
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ft, ok := fields[k]
			if !ok {
				out = append(out, join(path, k))
				continue
			}
			out = append(out, unknownKeys(n.Content[i+1], ft, join(path, k))...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out = append(out, unknownKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))...)
		}
	}
	return out
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
