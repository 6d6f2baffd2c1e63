// Package discovery builds the three public, token-free documents an
// Arvados client fetches before anything else: the API discovery document
// (GET /discovery/v1/apis/arvados/v1/rest), the exported cluster config
// (GET /arvados/v1/config) and the metadata vocabulary
// (GET /arvados/v1/vocabulary).
//
// The documents are shaped for the real clients: the Python SDK, which
// hands the discovery document to googleapiclient and then reads a few
// top-level keys itself; the Go SDK (arvados.Client.DiscoveryDocument,
// arvadosclient.Discovery, keepclient); and arvados-client, whose
// diagnostics decode the exported config into arvados.Cluster. Each
// builder runs once at startup; the results are constant bytes.
package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Params is everything the discovery document depends on.
type Params struct {
	// ClusterID is the five-character cluster prefix ("uuidPrefix").
	ClusterID string
	// ExternalURL is the URL clients reach keepfed's API at, such as
	// "https://127.0.0.1:9002"; a trailing slash is optional. It must be a
	// bare scheme://host[:port]: the Go SDK joins "basePath" straight onto
	// the host, so a path prefix would send it to the wrong place.
	ExternalURL string
	// DefaultReplication is "defaultCollectionReplication".
	DefaultReplication int
	// BlobSignatureTTL is "blobSignatureTtl", published in whole seconds.
	BlobSignatureTTL time.Duration
	// MaxRequestSize is "maxRequestSize" in bytes; 0 means no published
	// limit (the Python SDK then checks nothing).
	MaxRequestSize int
	// RemoteHosts maps a remote cluster id to its API host
	// ("remoteHosts"). A "*" entry is left out, as Arvados does.
	RemoteHosts map[string]string
	// RemoteHostsViaDNS is "remoteHostsViaDNS".
	RemoteHostsViaDNS bool
	// Revision is the API revision, YYYYMMDD ("20261202"). Clients compare
	// it as a string to gate features, so it must be exactly 8 digits.
	Revision string
	// Version is keepfed's version, published as "source_version",
	// "sourceVersion" and "packageVersion".
	Version string
}

// Fixed parts of the document.
const (
	servicePath = "arvados/v1/"
	basePath    = "/arvados/v1/"

	scopeFull     = "https://api.arvados.org/auth/arvados"
	scopeReadOnly = "https://api.arvados.org/auth/arvados.readonly"
)

// Document returns the JSON discovery document for p. Map keys come out
// sorted, so the same Params always give the same bytes.
func Document(p Params) ([]byte, error) {
	if err := checkClusterID(p.ClusterID); err != nil {
		return nil, fmt.Errorf("discovery: ClusterID: %w", err)
	}
	root, err := rootURL(p.ExternalURL)
	if err != nil {
		return nil, fmt.Errorf("discovery: ExternalURL: %w", err)
	}
	if p.DefaultReplication < 1 {
		return nil, fmt.Errorf("discovery: DefaultReplication %d is less than 1", p.DefaultReplication)
	}
	if p.BlobSignatureTTL < time.Second {
		return nil, fmt.Errorf("discovery: BlobSignatureTTL %v is shorter than a second", p.BlobSignatureTTL)
	}
	if p.MaxRequestSize < 0 {
		return nil, fmt.Errorf("discovery: MaxRequestSize %d is negative", p.MaxRequestSize)
	}
	if err := checkRevision(p.Revision); err != nil {
		return nil, fmt.Errorf("discovery: Revision: %w", err)
	}
	// Never null: the CWL runner tests membership in it directly.
	remote := make(map[string]string, len(p.RemoteHosts))
	for id, host := range p.RemoteHosts {
		if id == "*" {
			continue
		}
		if err := checkClusterID(id); err != nil {
			return nil, fmt.Errorf("discovery: RemoteHosts: %w", err)
		}
		remote[id] = host
	}

	d := restDescription{
		Kind:                         "discovery#restDescription",
		DiscoveryVersion:             "v1",
		ID:                           "arvados:v1",
		Name:                         "arvados",
		Version:                      "v1",
		Revision:                     p.Revision,
		SourceVersion:                p.Version,
		SourceVersionCamel:           p.Version,
		PackageVersion:               p.Version,
		Title:                        "Arvados API",
		Description:                  "The Arvados API, as served by the keepfed federation proxy for cluster " + p.ClusterID + ".",
		DocumentationLink:            "https://doc.arvados.org/api/index.html",
		Protocol:                     "rest",
		RootURL:                      root,
		ServicePath:                  servicePath,
		BatchPath:                    "batch",
		BaseURL:                      root + servicePath,
		BasePath:                     basePath,
		UUIDPrefix:                   p.ClusterID,
		DefaultCollectionReplication: p.DefaultReplication,
		BlobSignatureTTL:             int64(p.BlobSignatureTTL / time.Second),
		MaxRequestSize:               p.MaxRequestSize,
		RemoteHosts:                  remote,
		RemoteHostsViaDNS:            p.RemoteHostsViaDNS,
		Parameters:                   rootParameters(),
		Auth: auth{OAuth2: oauth2{Scopes: map[string]scopeDesc{
			scopeFull:     {Description: "View and manage objects"},
			scopeReadOnly: {Description: "View objects"},
		}}},
		Schemas:   schemas(),
		Resources: resources(),
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("discovery: encoding the document: %w", err)
	}
	return b, nil
}

// restDescription is the top level of the document. Field names and JSON
// types follow what the clients decode: numbers are numbers (the Go SDK
// asserts float64 on blobSignatureTtl and defaultCollectionReplication),
// and the URL fields keepfed has no service for are empty strings, which
// every client treats as "not offered".
type restDescription struct {
	Kind                         string              `json:"kind"`
	DiscoveryVersion             string              `json:"discoveryVersion"`
	ID                           string              `json:"id"`
	Name                         string              `json:"name"`
	Version                      string              `json:"version"`
	Revision                     string              `json:"revision"`
	SourceVersion                string              `json:"source_version"`
	SourceVersionCamel           string              `json:"sourceVersion"`
	PackageVersion               string              `json:"packageVersion"`
	Title                        string              `json:"title"`
	Description                  string              `json:"description"`
	DocumentationLink            string              `json:"documentationLink"`
	Protocol                     string              `json:"protocol"`
	RootURL                      string              `json:"rootUrl"`
	ServicePath                  string              `json:"servicePath"`
	BatchPath                    string              `json:"batchPath"`
	BaseURL                      string              `json:"baseUrl"`
	BasePath                     string              `json:"basePath"`
	UUIDPrefix                   string              `json:"uuidPrefix"`
	DefaultCollectionReplication int                 `json:"defaultCollectionReplication"`
	BlobSignatureTTL             int64               `json:"blobSignatureTtl"`
	MaxRequestSize               int                 `json:"maxRequestSize"`
	RemoteHosts                  map[string]string   `json:"remoteHosts"`
	RemoteHostsViaDNS            bool                `json:"remoteHostsViaDNS"`
	WebsocketURL                 string              `json:"websocketUrl"`
	WorkbenchURL                 string              `json:"workbenchUrl"`
	Workbench2URL                string              `json:"workbench2Url"`
	KeepWebServiceURL            string              `json:"keepWebServiceUrl"`
	Parameters                   map[string]param    `json:"parameters"`
	Auth                         auth                `json:"auth"`
	Schemas                      map[string]schema   `json:"schemas"`
	Resources                    map[string]resource `json:"resources"`
}

type auth struct {
	OAuth2 oauth2 `json:"oauth2"`
}

type oauth2 struct {
	Scopes map[string]scopeDesc `json:"scopes"`
}

type scopeDesc struct {
	Description string `json:"description"`
}

// rootParameters are the query parameters googleapiclient adds to every
// method. Its JSON model always sends alt=json, so "alt" must be declared
// with "json" among its enum values.
func rootParameters() map[string]param {
	return map[string]param{
		"alt": {
			Type:             "string",
			Description:      "Response format; only JSON is offered.",
			Location:         "query",
			Default:          "json",
			Enum:             []string{"json"},
			EnumDescriptions: []string{"The response body is application/json"},
		},
		"fields":      {Type: "string", Description: "Accepted for client compatibility; to choose attributes, use select.", Location: "query"},
		"key":         {Type: "string", Description: "Accepted for client compatibility; Arvados authenticates with a bearer token instead.", Location: "query"},
		"oauth_token": {Type: "string", Description: "Accepted for client compatibility; send the API token in the Authorization header.", Location: "query"},
		"prettyPrint": {Type: "boolean", Description: "Accepted for client compatibility; has no effect.", Location: "query", Default: "true"},
		"quotaUser":   {Type: "string", Description: "Accepted for client compatibility; has no effect.", Location: "query"},
		"userIp":      {Type: "string", Description: "Accepted for client compatibility; has no effect.", Location: "query"},
	}
}

// rootURL normalizes an external URL to "scheme://host[:port]/".
func rootURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q: no host", s)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: must be scheme://host[:port] with no path, query or user", s)
	}
	return u.Scheme + "://" + u.Host + "/", nil
}

// checkClusterID accepts an Arvados cluster id: five characters from
// [0-9a-z].
func checkClusterID(id string) error {
	if len(id) != 5 {
		return fmt.Errorf("cluster id %q is not 5 characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return fmt.Errorf("cluster id %q has a character outside [0-9a-z]", id)
		}
	}
	return nil
}

var errRevision = errors.New("must be 8 digits, YYYYMMDD")

// checkRevision accepts a fixed-width YYYYMMDD string.
func checkRevision(r string) error {
	if len(r) != 8 {
		return fmt.Errorf("%q: %w", r, errRevision)
	}
	if _, err := time.Parse("20060102", r); err != nil {
		return fmt.Errorf("%q: %w", r, errRevision)
	}
	return nil
}
