package remotes

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// KeepServiceUUID returns the uuid Arvados gives a keep service built from
// config (spec 5.1): "<cluster>-bi6l4-" followed by rendezvous when that is
// exactly 15 ASCII letters and digits, else the first 15 hex digits of
// md5(rendezvous, or the service URL when rendezvous is empty).
func KeepServiceUUID(cluster, rendezvous, serviceURL string) string {
	if len(rendezvous) == 15 && isAlnum(rendezvous) {
		return cluster + "-bi6l4-" + rendezvous
	}
	src := rendezvous
	if src == "" {
		src = serviceURL
	}
	sum := md5.Sum([]byte(src))
	return cluster + "-bi6l4-" + hex.EncodeToString(sum[:])[:15]
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// KeepService is one item of an arvados#keepServiceList.
type KeepService struct {
	Kind       string `json:"kind"`
	UUID       string `json:"uuid"`
	OwnerUUID  string `json:"owner_uuid"`
	Host       string `json:"service_host"`
	Port       int    `json:"service_port"`
	SSL        bool   `json:"service_ssl_flag"`
	Type       string `json:"service_type"`
	ReadOnly   bool   `json:"read_only"`
	CreatedAt  string `json:"created_at,omitempty"`
	ModifiedAt string `json:"modified_at,omitempty"`
}

// BaseURL returns http[s]://host:port.
func (k KeepService) BaseURL() string {
	scheme := "http"
	if k.SSL {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(k.Host, strconv.Itoa(k.Port))
}

// KeepServiceList is the keep_services/accessible response.
type KeepServiceList struct {
	Kind           string        `json:"kind"`
	ItemsAvailable int           `json:"items_available"`
	Offset         int           `json:"offset"`
	Limit          int           `json:"limit"`
	Items          []KeepService `json:"items"`
}

// SelfKeepServices builds this keepfed's keep_services/accessible body: one
// proxy service at ExternalURL.
func SelfKeepServices(cluster, externalURL string, started time.Time) ([]byte, error) {
	u, err := url.Parse(externalURL)
	if err != nil {
		return nil, fmt.Errorf("KeepFed.ExternalURL: %w", err)
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("KeepFed.ExternalURL port: %w", err)
		}
	}
	ts := started.UTC().Format(time.RFC3339Nano)
	list := KeepServiceList{
		Kind: "arvados#keepServiceList", ItemsAvailable: 1, Limit: 1,
		Items: []KeepService{{
			Kind:       "arvados#keepService",
			UUID:       KeepServiceUUID(cluster, "", u.String()),
			OwnerUUID:  cluster + "-tpzed-000000000000000",
			Host:       u.Hostname(),
			Port:       port,
			SSL:        u.Scheme == "https",
			Type:       "proxy",
			CreatedAt:  ts,
			ModifiedAt: ts,
		}},
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("encoding keep service list: %w", err)
	}
	return append(b, '\n'), nil
}

// KeepServicesPath is where Arvados clients discover keep services.
const KeepServicesPath = "/arvados/v1/keep_services/accessible"
