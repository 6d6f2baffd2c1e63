package discovery

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ConfigParams is everything the exported config depends on.
type ConfigParams struct {
	// ClusterID is the five-character cluster prefix.
	ClusterID string
	// ControllerURL is Services.Controller.ExternalURL (required).
	ControllerURL string
	// KeepproxyURL is Services.Keepproxy.ExternalURL: keepfed itself.
	KeepproxyURL string
	// WebDAVURL is published as Services.WebDAV; "" when there is none.
	WebDAVURL string
	// WebDAVDownloadURL is published as Services.WebDAVDownload; ""
	// publishes WebDAVURL there too.
	WebDAVDownloadURL string
	// DefaultReplication is Collections.DefaultReplication.
	DefaultReplication int
	// BlobSigningTTL is Collections.BlobSigningTTL.
	BlobSigningTTL time.Duration
	// TrashSweepInterval is not among the keys Arvados exports; it is
	// published under KeepFed (see ExportedConfig) rather than Collections.
	TrashSweepInterval time.Duration
	// CollectionVersioning is Collections.CollectionVersioning.
	CollectionVersioning bool
	// RemoteClusters is RemoteClusters, by cluster id ("*" allowed).
	RemoteClusters map[string]RemoteCluster
	// LoginCluster is Login.LoginCluster; "" for none.
	LoginCluster string
	// MaxItemsPerResponse is API.MaxItemsPerResponse.
	MaxItemsPerResponse int
	// MaxRequestSize is API.MaxRequestSize in bytes.
	MaxRequestSize int
	// Version is keepfed's version, published as KeepFed.Version.
	Version string
}

// RemoteCluster is the exported part of one RemoteClusters entry.
type RemoteCluster struct {
	Host   string
	Scheme string // "" means https, Arvados's default
	// Proxy, Insecure and ActivateUsers are the Arvados flags of the same
	// names.
	Proxy, Insecure, ActivateUsers bool
}

// exportedConfig is the subset of Arvados's exported config (the keys its
// export whitelist lets out) that clients read, plus a KeepFed section.
// Durations are strings in Arvados's spelling ("336h"), since the Go SDK's
// arvados.Duration refuses bare numbers; URLs with a host end in "/", as
// arvados.URL writes them. Nothing secret is here: no tokens, keys,
// secrets or passwords, not even Users.AnonymousUserToken.
type exportedConfig struct {
	ClusterID string
	API       struct {
		FreezeProjectRequiresDescription bool
		FreezeProjectRequiresProperties  map[string]bool
		MaxItemsPerResponse              int
		MaxRequestSize                   int
		UnfreezeProjectRequiresAdmin     bool
	}
	Collections struct {
		BlobSigning                  bool
		BlobSigningTTL               string
		CollectionVersioning         bool
		DefaultReplication           int
		ForwardSlashNameSubstitution string // the FUSE client indexes it
		ManagedProperties            map[string]any
		TrustAllContent              bool
	}
	Containers    map[string]any // keepfed runs none; present for clients that index it
	InstanceTypes map[string]any
	Login         struct {
		Google        enable
		LDAP          enable
		LoginCluster  string
		OpenIDConnect enable
		PAM           enable
		Test          enable
	}
	RemoteClusters map[string]RemoteCluster
	Services       map[string]service
	StorageClasses map[string]storageClass
	Users          struct {
		SupportEmailAddress string
	}
	Volumes   map[string]any // Workbench 2 iterates it
	Workbench struct {
		SiteName string
	}
	// KeepFed is keepfed's own section (Arvados clients ignore it).
	KeepFed struct {
		TrashSweepInterval string
		Version            string
	}
}

type enable struct {
	Enable bool
}

type service struct {
	ExternalURL string
}

type storageClass struct {
	Default  bool
	Priority int
}

// ExportedConfig returns the JSON served at GET /arvados/v1/config, a
// public document (no token). It has every key the Python SDK, the Go SDK,
// arvados-client diagnostics and Workbench index without a fallback.
func ExportedConfig(p ConfigParams) ([]byte, error) {
	if err := checkClusterID(p.ClusterID); err != nil {
		return nil, fmt.Errorf("discovery: config: ClusterID: %w", err)
	}
	if p.ControllerURL == "" {
		return nil, fmt.Errorf("discovery: config: ControllerURL is empty")
	}
	if p.DefaultReplication < 1 {
		return nil, fmt.Errorf("discovery: config: DefaultReplication %d is less than 1", p.DefaultReplication)
	}
	if p.BlobSigningTTL <= 0 || p.TrashSweepInterval < 0 {
		return nil, fmt.Errorf("discovery: config: BlobSigningTTL %v must be positive, TrashSweepInterval %v not negative", p.BlobSigningTTL, p.TrashSweepInterval)
	}
	if p.MaxItemsPerResponse < 0 || p.MaxRequestSize < 0 {
		return nil, fmt.Errorf("discovery: config: MaxItemsPerResponse %d and MaxRequestSize %d must not be negative", p.MaxItemsPerResponse, p.MaxRequestSize)
	}
	if p.LoginCluster != "" {
		if err := checkClusterID(p.LoginCluster); err != nil {
			return nil, fmt.Errorf("discovery: config: LoginCluster: %w", err)
		}
	}

	var c exportedConfig
	c.ClusterID = p.ClusterID

	c.API.FreezeProjectRequiresProperties = map[string]bool{}
	c.API.MaxItemsPerResponse = p.MaxItemsPerResponse
	c.API.MaxRequestSize = p.MaxRequestSize

	c.Collections.BlobSigning = true
	c.Collections.BlobSigningTTL = arvadosDuration(p.BlobSigningTTL)
	c.Collections.CollectionVersioning = p.CollectionVersioning
	c.Collections.DefaultReplication = p.DefaultReplication
	c.Collections.ManagedProperties = map[string]any{}

	c.Containers = map[string]any{}
	c.InstanceTypes = map[string]any{}
	c.Volumes = map[string]any{}

	c.Login.LoginCluster = p.LoginCluster

	c.RemoteClusters = make(map[string]RemoteCluster, len(p.RemoteClusters))
	for id, rc := range p.RemoteClusters {
		if id != "*" {
			if err := checkClusterID(id); err != nil {
				return nil, fmt.Errorf("discovery: config: RemoteClusters: %w", err)
			}
		}
		if rc.Scheme == "" {
			rc.Scheme = "https"
		}
		if rc.Scheme != "http" && rc.Scheme != "https" {
			return nil, fmt.Errorf("discovery: config: RemoteClusters.%s.Scheme %q is not http or https", id, rc.Scheme)
		}
		c.RemoteClusters[id] = rc
	}

	c.Services = make(map[string]service, 7)
	for _, s := range []struct{ name, url string }{
		{"Controller", p.ControllerURL},
		{"Keepproxy", p.KeepproxyURL},
		{"WebDAV", p.WebDAVURL},
		{"WebDAVDownload", cmp.Or(p.WebDAVDownloadURL, p.WebDAVURL)},
		{"Websocket", ""},
		{"Workbench1", ""},
		{"Workbench2", ""},
	} {
		u, err := serviceURL(s.url)
		if err != nil {
			return nil, fmt.Errorf("discovery: config: Services.%s.ExternalURL: %w", s.name, err)
		}
		c.Services[s.name] = service{ExternalURL: u}
	}

	// What Arvados fills in when no storage class is configured.
	c.StorageClasses = map[string]storageClass{"default": {Default: true}}

	c.Workbench.SiteName = "keepfed " + p.ClusterID

	c.KeepFed.TrashSweepInterval = arvadosDuration(p.TrashSweepInterval)
	c.KeepFed.Version = p.Version

	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("discovery: encoding the config: %w", err)
	}
	return b, nil
}

// vocabulary is an empty, non-strict vocabulary: any property key and
// value is allowed.
const vocabulary = `{"strict_tags":false,"tags":{}}`

// Vocabulary returns the JSON served at GET /arvados/v1/vocabulary. Each
// call returns a fresh slice.
func Vocabulary() []byte {
	return []byte(vocabulary)
}

// arvadosDuration writes d as Arvados does: Go's spelling without the
// trailing zero units ("336h", "1h30m", "0s").
func arvadosDuration(d time.Duration) string {
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	return strings.Replace(s, "h0m", "h", 1)
}

// serviceURL checks an external URL and writes it as arvados.URL does: a
// URL with a host and no path gets the path "/". "" stays "".
func serviceURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", s, err)
	}
	if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
		return "", fmt.Errorf("%q: want scheme://host[:port][/path] with scheme http, https, ws or wss", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}
