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
		BlobSigning    *bool    `yaml:"BlobSigning"`
		BlobSigningKey string   `yaml:"BlobSigningKey"`
		BlobSigningTTL Duration `yaml:"BlobSigningTTL"`
	} `yaml:"Collections"`

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
	DefaultListen                = "127.0.0.1:9002"

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
