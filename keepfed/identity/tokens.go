package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/store"
)

// TokenManagementPath is the running server's endpoint for issuing
// tokens: POST an IssueTokenRequest as JSON with the SystemRootToken as
// bearer token (the ManagementToken opens health and metrics only); the
// answer is an IssuedToken.
const TokenManagementPath = "/_keepfed/tokens"

// EmbeddedStoreFile is the record store's file name inside KeepFed.DataDir.
const EmbeddedStoreFile = "records.db"

// EmbeddedStorePath returns where the embedded backend keeps its records.
func EmbeddedStorePath(cfg *config.ClusterConfig) string {
	return filepath.Join(cfg.KeepFed.DataDir, EmbeddedStoreFile)
}

// OpenEmbeddedStore opens (creating if needed) the embedded record store
// of cfg, creating KeepFed.DataDir if needed.
func OpenEmbeddedStore(cfg *config.ClusterConfig) (*store.Store, error) {
	return openStore(cfg, 5*time.Second)
}

func openStore(cfg *config.ClusterConfig, wait time.Duration) (*store.Store, error) {
	if cfg.KeepFed.DataDir == "" {
		return nil, fmt.Errorf("Clusters.%s.KeepFed.DataDir is not set", cfg.ClusterID)
	}
	if err := os.MkdirAll(cfg.KeepFed.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating Clusters.%s.KeepFed.DataDir: %w", cfg.ClusterID, err)
	}
	st, err := store.OpenTimeout(EmbeddedStorePath(cfg), cfg.ClusterID, wait)
	if err != nil {
		return nil, fmt.Errorf("opening the record store: %w", err)
	}
	return st, nil
}

// IssueTokenRequest asks for a new token.
type IssueTokenRequest struct {
	// Email names the user, created (active) if no local user has it;
	// "" (or "root") means the system user.
	Email string `json:"email"`
	// Admin makes a new or existing user an admin.
	Admin bool `json:"admin"`
	// TTL, when positive, makes the token expire after that long.
	TTL time.Duration `json:"ttl"`
}

// IssuedToken is a new token: Token is the full v2 token.
type IssuedToken struct {
	Token    string `json:"token"`
	UUID     string `json:"uuid"`
	UserUUID string `json:"user_uuid"`
}

// CreateUserToken issues a token in st as IssueTokenRequest says.
func CreateUserToken(st *store.Store, req IssueTokenRequest, now time.Time) (IssuedToken, error) {
	var u store.User
	var err error
	if req.Email == "" {
		u, err = st.User(st.SystemUserUUID())
	} else {
		u, err = st.CreateUser(req.Email, req.Admin)
	}
	if err != nil {
		return IssuedToken{}, fmt.Errorf("finding user %q: %w", req.Email, err)
	}
	if req.Admin && !u.IsAdmin {
		if _, err := st.Update(store.Users, u.UUID, store.Record{"is_admin": true}, st.System()); err != nil {
			return IssuedToken{}, fmt.Errorf("making %s an admin: %w", u.UUID, err)
		}
	}
	var exp *time.Time
	if req.TTL > 0 {
		t := now.Add(req.TTL)
		exp = &t
	}
	t, err := st.CreateToken(u.UUID, exp)
	if err != nil {
		return IssuedToken{}, fmt.Errorf("creating a token for %s: %w", u.UUID, err)
	}
	return IssuedToken{Token: t.V2(), UUID: t.UUID, UserUUID: u.UUID}, nil
}

// IssueToken issues a token for cfg's cluster whether or not a server is
// running: it opens the embedded record store, and when a running server
// holds its lock it asks that server at KeepFed.Listen (TokenManagementPath)
// with the SystemRootToken.
func IssueToken(cfg *config.ClusterConfig, req IssueTokenRequest) (IssuedToken, error) {
	st, err := openStore(cfg, 500*time.Millisecond)
	if err == nil {
		defer st.Close()
		return CreateUserToken(st, req, time.Now())
	}
	if !store.IsLocked(err) {
		return IssuedToken{}, err
	}
	return issueRemotely(cfg, req)
}

func issueRemotely(cfg *config.ClusterConfig, req IssueTokenRequest) (IssuedToken, error) {
	host, port, err := net.SplitHostPort(cfg.KeepFed.Listen)
	if err != nil {
		return IssuedToken{}, fmt.Errorf("Clusters.%s.KeepFed.Listen %q: %w", cfg.ClusterID, cfg.KeepFed.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	auth := cfg.SystemRootToken
	if auth == "" {
		return IssuedToken{}, fmt.Errorf("the record store is in use by a running server, and Clusters.%s has no SystemRootToken to ask it", cfg.ClusterID)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return IssuedToken{}, fmt.Errorf("encoding token request: %w", err)
	}
	u := "http://" + net.JoinHostPort(host, port) + TokenManagementPath
	hr, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return IssuedToken{}, fmt.Errorf("token request to %s: %w", u, err)
	}
	hr.Header.Set("Authorization", "Bearer "+auth)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(hr)
	if err != nil {
		return IssuedToken{}, fmt.Errorf("the record store is in use; asking the running server: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return IssuedToken{}, fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return IssuedToken{}, fmt.Errorf("the running server at %s answered %s: %s", u, resp.Status, strings.TrimSpace(string(rb)))
	}
	var it IssuedToken
	if err := json.Unmarshal(rb, &it); err != nil || it.Token == "" {
		return IssuedToken{}, fmt.Errorf("unexpected answer from %s: %q", u, rb)
	}
	return it, nil
}
