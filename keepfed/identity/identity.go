// Package identity answers "who is this token?" for a keepfed cluster:
// where tokens are accepted, local, salted and remote validation and its
// cache, LoginCluster forwarding rules, v1 upgrades, user mirroring, and
// the embedded store's token issuing.
package identity

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/metrics"
	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/keepfed/keepfed/keepfed/request"
	"github.com/keepfed/keepfed/keepfed/store"
	"github.com/keepfed/keepfed/signing"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"
)

// Identity answers "who is this token?" for a keepfed cluster (spec 2.4,
// 2.5):
//
//   - the SystemRootToken is the system user (an admin);
//   - Users.AnonymousUserToken is the anonymous user;
//   - tokens issued here (v2 "v2/<local>-gj3su-.../<secret>" or v1 bare
//     secrets) are looked up in the embedded store, or, with the arvados
//     backend, validated by the upstream controller;
//   - v2 tokens issued by another cluster X are validated by asking X
//     (api_client_authorizations/current and users/current with
//     ?remote=<local id>), salted for this cluster unless X is the
//     LoginCluster; the user is mirrored into the store with its own uuid.
//
// Answers from another cluster (or the upstream) are cached for
// Login.RemoteTokenRefresh, keyed by signing.CacheKey (never the raw
// token), and concurrent validations of one token share one round trip.
//
// Identity implements TokenValidator and TokenUpgrader; build it before
// the Server and pass it in Options, then call Server.EnableEmbeddedIdentity.
// It is safe for concurrent use.
type Identity struct {
	cfg      *config.ClusterConfig
	st       *store.Store
	local    string
	refresh  time.Duration
	now      func() time.Time
	log      *slog.Logger
	remotes  *remotes.Registry
	upstream *remotes.Remote // arvados backend: the local controller; else nil

	mu    sync.Mutex
	cache map[[32]byte]cacheEntry
	group singleflight.Group

	// validations counts round trips to other clusters (or the upstream).
	validations atomic.Int64
	// currentHits counts users/current and api_client_authorizations/current
	// requests this cluster answered (tests use it to prove that peers
	// cache validations).
	currentHits atomic.Int64
}

// Options are NewIdentity's optional parts.
type Options struct {
	// Store is the embedded record store (required with the embedded
	// backend; nil with the arvados backend).
	Store *store.Store
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// cacheMax bounds the validated-token cache.
const cacheMax = 10000

type cacheEntry struct {
	auth    store.Authorization
	expires time.Time
}

// errNotLoggedIn is Arvados's answer to a missing or invalid token.
var errNotLoggedIn = request.NewError(fasthttp.StatusUnauthorized, "Not logged in")

// identUnauthorized is a 401 "Not logged in" whose cause is logged.
func unauthorized(format string, args ...any) *request.HTTPError {
	return request.WrapError(fasthttp.StatusUnauthorized, "Not logged in", fmt.Errorf(format, args...))
}

// NewIdentity returns the identity layer for cfg. With the embedded
// backend opts.Store is required. Until Server.EnableEmbeddedIdentity
// shares the server's remote cluster registry, Identity uses one of its
// own built from cfg.
func New(cfg *config.ClusterConfig, opts Options) (*Identity, error) {
	id := &Identity{
		cfg:     cfg,
		st:      opts.Store,
		local:   cfg.ClusterID,
		refresh: cfg.Login.RemoteTokenRefresh.D(),
		now:     opts.Now,
		log:     opts.Logger,
		cache:   map[[32]byte]cacheEntry{},
	}
	if id.refresh <= 0 {
		id.refresh = config.DefaultRemoteTokenRefresh
	}
	if id.now == nil {
		id.now = time.Now
	}
	if id.log == nil {
		id.log = slog.Default()
	}
	id.remotes = remotes.New(remotes.Config{
		Local:        cfg.ClusterID,
		Clusters:     cfg.RemoteClusters,
		DNSSuffix:    cfg.KeepFed.RemoteDNSSuffix,
		DiscoveryTTL: cfg.KeepFed.DiscoveryTTL.D(),
		IdleTimeout:  cfg.API.KeepServiceRequestTimeout.D(),
	})
	switch cfg.KeepFed.Backend {
	case "arvados":
		u, err := url.Parse(cfg.KeepFed.Upstream)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("identity: Clusters.%s.KeepFed.Upstream %q is not an http(s) URL", cfg.ClusterID, cfg.KeepFed.Upstream)
		}
		idle := cfg.API.KeepServiceRequestTimeout.D()
		if idle <= 0 {
			idle = remotes.DefaultIdleTimeout
		}
		id.upstream = remotes.NewRemote(cfg.ClusterID, u.Scheme, u.Host, false, false, 0, idle, metrics.NewMetrics())
	default:
		if opts.Store == nil {
			return nil, fmt.Errorf("identity: Clusters.%s: the embedded backend needs a record store", cfg.ClusterID)
		}
		if opts.Store.ClusterID() != cfg.ClusterID {
			return nil, fmt.Errorf("identity: record store belongs to cluster %s, not %s", opts.Store.ClusterID(), cfg.ClusterID)
		}
	}
	return id, nil
}

// Store returns the embedded record store (nil with the arvados backend).
func (id *Identity) Store() *store.Store { return id.st }

// Authenticate validates token and returns what the request runs as.
// remote is the request's ?remote= cluster id when the route accepts
// tokens salted for that cluster (GET users/current,
// api_client_authorizations/current and groups), else "": a salted token
// is then refused. Failures are *request.HTTPError values: 401 "Not logged in"
// for a missing, unknown, revoked or expired token; the remote cluster's
// 5xx status when it failed to answer; 502 when it could not be reached.
func (id *Identity) Authenticate(token, remote string) (store.Authorization, error) {
	if token == "" {
		return store.Authorization{}, errNotLoggedIn
	}
	if root := id.cfg.SystemRootToken; root != "" && SecretEqual(token, root) {
		return id.systemAuth(), nil
	}
	if anon := id.cfg.Users.AnonymousUserToken; anon != "" && SecretEqual(token, anon) && id.st != nil {
		return store.Authorization{
			Token: store.Token{UUID: id.local + "-gj3su-anonymouspublic", OwnerUUID: id.st.AnonymousUserUUID(), Scopes: []string{"GET /"}},
			User:  store.User{UUID: id.st.AnonymousUserUUID(), IsActive: true},
		}, nil
	}
	t := signing.ParseToken(token)
	switch {
	case t.Version == signing.TokenV1 || (t.Version == signing.TokenV2 && t.Cluster() == id.local):
		return id.localAuth(token, remote)
	case t.Version == signing.TokenV2:
		return id.remoteAuth(token, t)
	case id.cfg.Login.LoginCluster != "" && id.cfg.Login.LoginCluster != id.local:
		// An opaque token (e.g. an OIDC access token): only the login
		// cluster can tell what it is (spec 2.5).
		return id.remoteAuth(token, t)
	}
	return store.Authorization{}, unauthorized("token is neither a v1 nor a v2 token")
}

// systemAuth is the SystemRootToken's authorization.
func (id *Identity) systemAuth() store.Authorization {
	sys := id.local + "-tpzed-000000000000000"
	a := store.Authorization{User: store.User{UUID: sys, OwnerUUID: sys, IsAdmin: true, IsActive: true}}
	if id.st != nil {
		a = id.st.System()
	}
	a.Token = store.Token{UUID: id.local + "-gj3su-000000000000000", OwnerUUID: sys, APIToken: id.cfg.SystemRootToken, Scopes: []string{"all"}}
	return a
}

// IsSystem reports whether a is the system user.
func (id *Identity) IsSystem(a store.Authorization) bool {
	return a.User.UUID == id.local+"-tpzed-000000000000000"
}

// localAuth validates a token issued by this cluster.
func (id *Identity) localAuth(token, remote string) (store.Authorization, error) {
	if id.upstream != nil {
		q := "/arvados/v1/api_client_authorizations/current"
		if remote != "" {
			q += "?remote=" + url.QueryEscape(remote)
		}
		uq := "/arvados/v1/users/current"
		if remote != "" {
			uq += "?remote=" + url.QueryEscape(remote)
		}
		return id.cached(token, remote, func() (store.Authorization, time.Time, error) {
			return id.ask(id.upstream, token, q, uq, "", "")
		})
	}
	a, err := id.st.LookupToken(token, remote)
	if err != nil {
		if store.StatusOf(err) == fasthttp.StatusUnauthorized {
			return a, request.WrapError(fasthttp.StatusUnauthorized, "Not logged in", err)
		}
		return a, StoreError(err)
	}
	return a, nil
}

// remoteAuth validates a token issued by another cluster (or, in
// LoginCluster mode, an opaque token) by asking that cluster.
func (id *Identity) remoteAuth(token string, t signing.Token) (store.Authorization, error) {
	lc := id.cfg.Login.LoginCluster
	cluster := t.Cluster()
	if t.Version != signing.TokenV2 {
		cluster = lc
	} else if k, ok := store.KindOfUUID(t.UUID); !ok || k != store.APIClientAuthorizations {
		// "v2/zzzzzz-gj3su-.../..." must not be sent to cluster zzzzz
		return store.Authorization{}, unauthorized("token uuid %q is not a token uuid", t.UUID)
	}
	if !signing.IsClusterID(cluster) {
		return store.Authorization{}, unauthorized("token uuid %q names no cluster", t.UUID)
	}
	rm, ok := id.remotes.Lookup(cluster)
	if !ok {
		return store.Authorization{}, unauthorized("token issued by unknown cluster %s", cluster)
	}
	send := token
	if cluster != lc && !t.LooksSalted() {
		s, err := signing.SaltToken(token, id.local)
		if err != nil {
			return store.Authorization{}, unauthorized("salting token for %s: %w", id.local, err)
		}
		send = s
	}
	q := "?remote=" + id.local
	return id.cached(token, "", func() (store.Authorization, time.Time, error) {
		return id.ask(rm, send, "/arvados/v1/api_client_authorizations/current"+q, "/arvados/v1/users/current"+q, cluster, t.UUID)
	})
}

// cached returns the cached answer for token (and remote) while it is
// fresh, else runs fetch once for all concurrent callers and caches its
// answer until the time it returns. A failed fetch leaves no entry.
func (id *Identity) cached(token, remote string, fetch func() (store.Authorization, time.Time, error)) (store.Authorization, error) {
	key := signing.CacheKey(token)
	if remote != "" {
		key = signing.CacheKey(token + "\x00" + remote)
	}
	now := id.now()
	id.mu.Lock()
	e, ok := id.cache[key]
	if ok && now.Before(e.expires) {
		id.mu.Unlock()
		return e.auth, nil
	}
	if ok {
		delete(id.cache, key)
	}
	id.mu.Unlock()
	v, err, _ := id.group.Do(string(key[:]), func() (any, error) {
		a, exp, err := fetch()
		if err != nil {
			return nil, err
		}
		id.mu.Lock()
		defer id.mu.Unlock()
		if len(id.cache) >= cacheMax {
			id.evictLocked(now)
		}
		id.cache[key] = cacheEntry{auth: a, expires: exp}
		return a, nil
	})
	if err != nil {
		return store.Authorization{}, err
	}
	return v.(store.Authorization), nil
}

// evictLocked drops expired entries and, if the cache is still full, an
// arbitrary tenth of it.
func (id *Identity) evictLocked(now time.Time) {
	for k, e := range id.cache {
		if !now.Before(e.expires) {
			delete(id.cache, k)
		}
	}
	n := len(id.cache) - cacheMax*9/10
	for k := range id.cache {
		if n <= 0 {
			break
		}
		delete(id.cache, k)
		n--
	}
}

// remoteToken is what a cluster answers on api_client_authorizations/current.
type remoteToken struct {
	UUID      string     `json:"uuid"`
	OwnerUUID string     `json:"owner_uuid"`
	ExpiresAt *time.Time `json:"expires_at"`
	Scopes    []string   `json:"scopes"`
}

// remoteUser is what a cluster answers on users/current.
type remoteUser struct {
	UUID      string `json:"uuid"`
	Email     string `json:"email"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	IsAdmin   bool   `json:"is_admin"`
	IsActive  bool   `json:"is_active"`
}

// RemoteErrors is the list of error messages a remote cluster gave
// with a 5xx answer; the records API renders them after "failed to
// validate remote token" as Arvados does.
type RemoteErrors struct {
	cluster string
	status  int
	msgs    []string
}

// Msgs returns the remote cluster's own error messages.
func (e *RemoteErrors) Msgs() []string { return e.msgs }

// Error implements error.
func (e *RemoteErrors) Error() string {
	return fmt.Sprintf("cluster %s answered %d: %s", e.cluster, e.status, strings.Join(e.msgs, "; "))
}

// ask validates send at rm: the token record, then the user. cluster is
// the id that both uuids must start with ("" for the upstream controller,
// whose answers are trusted as they are); for another cluster the user is
// mirrored into the store. wantUUID, when not "", is the token uuid the
// answer must name (the presented v2 token's).
func (id *Identity) ask(rm *remotes.Remote, send, tokenPath, userPath, cluster, wantUUID string) (store.Authorization, time.Time, error) {
	var a store.Authorization
	var tok remoteToken
	if err := id.askJSON(rm, send, tokenPath, cluster, &tok); err != nil {
		return a, time.Time{}, err
	}
	if k, ok := store.KindOfUUID(tok.UUID); !ok || k != store.APIClientAuthorizations || (cluster != "" && !strings.HasPrefix(tok.UUID, cluster+"-")) {
		return a, time.Time{}, unauthorized("cluster %s answered token uuid %q", rm.ID, tok.UUID)
	}
	if wantUUID != "" && tok.UUID != wantUUID {
		return a, time.Time{}, unauthorized("cluster %s answered token uuid %q for token %s", rm.ID, tok.UUID, wantUUID)
	}
	var ru remoteUser
	if err := id.askJSON(rm, send, userPath, cluster, &ru); err != nil {
		// As RailsAPI: without the user's record the request fails, unless
		// a local copy of the token's owner exists.
		if cluster == "" || id.st == nil || !strings.HasPrefix(tok.OwnerUUID, cluster+"-") {
			return a, time.Time{}, err
		}
		local, lerr := id.st.User(tok.OwnerUUID)
		if lerr != nil {
			return a, time.Time{}, err
		}
		id.log.Info("using the local copy of a remote user", "user", local.UUID, "error", err.Error())
		ru = remoteUser{UUID: local.UUID, Email: local.Email, Username: local.Username,
			FirstName: local.FirstName, LastName: local.LastName, IsActive: local.IsActive}
	}
	if k, ok := store.KindOfUUID(ru.UUID); !ok || k != store.Users || (cluster != "" && !strings.HasPrefix(ru.UUID, cluster+"-")) {
		return a, time.Time{}, unauthorized("cluster %s answered user uuid %q", rm.ID, ru.UUID)
	}
	now := id.now()
	exp := now.Add(id.refresh)
	if tok.ExpiresAt != nil {
		if !tok.ExpiresAt.After(now) {
			return a, time.Time{}, unauthorized("token %s expired at %s", tok.UUID, tok.ExpiresAt)
		}
		if tok.ExpiresAt.Before(exp) {
			exp = *tok.ExpiresAt
		}
	}
	if tok.Scopes == nil {
		// absent or null: Arvados's default. An empty list stays empty
		// (it allows nothing but api_client_authorizations/current).
		tok.Scopes = []string{"all"}
	}
	u := store.User{UUID: ru.UUID, Email: ru.Email, Username: ru.Username, FirstName: ru.FirstName, LastName: ru.LastName, IsAdmin: ru.IsAdmin, IsActive: ru.IsActive}
	if cluster != "" {
		var err error
		if u, err = id.mirror(cluster, u); err != nil {
			return a, time.Time{}, err
		}
	}
	a.Token = store.Token{UUID: tok.UUID, OwnerUUID: u.UUID, ExpiresAt: tok.ExpiresAt, Scopes: tok.Scopes}
	a.User = u
	return a, exp, nil
}

// mirror stores the local copy of a user of cluster. The remote anonymous
// user is this cluster's anonymous user; the remote system user is named
// "root" "from cluster <id>". A mirrored user is active here
// when it is active at home and either its cluster's users are activated
// automatically (RemoteClusters.<id>.ActivateUsers, or it is the
// LoginCluster) or an admin here activated its local copy; it is never an
// admin here.
func (id *Identity) mirror(cluster string, u store.User) (store.User, error) {
	if id.st == nil {
		return u, nil
	}
	if strings.HasSuffix(u.UUID, "-tpzed-anonymouspublic") {
		return id.st.User(id.st.AnonymousUserUUID())
	}
	if strings.HasSuffix(u.UUID, "-tpzed-000000000000000") {
		u.FirstName, u.LastName = "root", "from cluster "+cluster
	}
	activate := id.cfg.RemoteClusters[cluster].ActivateUsers || cluster == id.cfg.Login.LoginCluster
	if prev, err := id.st.User(u.UUID); err == nil {
		activate = activate || prev.IsActive
	}
	u.IsActive = u.IsActive && activate
	u.IsAdmin = false
	m, err := id.st.EnsureUser(u)
	if err != nil {
		return u, StoreError(fmt.Errorf("mirroring user %s of cluster %s: %w", u.UUID, cluster, err))
	}
	return m, nil
}

// askJSON GETs path at rm with send as the bearer token and decodes a 200
// answer into v. Status mapping (spec 2.4): 4xx → 401; 5xx → that status
// with the remote's messages; transport failure → 502.
func (id *Identity) askJSON(rm *remotes.Remote, send, path, cluster string, v any) error {
	id.validations.Add(1)
	status, body, err := rm.Get(path, send)
	if err != nil {
		id.log.Warn("cannot validate remote token", "cluster", rm.ID, "path", path, "token", signing.Fingerprint(send), "error", err.Error())
		return request.WrapError(fasthttp.StatusBadGateway, "failed to validate remote token with cluster "+rm.ID, fmt.Errorf("asking %s at %s: %w", path, rm.BaseURL, err))
	}
	switch {
	case status == fasthttp.StatusOK:
	case status >= 500:
		id.log.Warn("cannot validate remote token", "cluster", rm.ID, "path", path, "token", signing.Fingerprint(send), "status", status)
		var eb request.ErrorBody
		_ = json.Unmarshal(body, &eb)
		return request.WrapError(status, "failed to validate remote token", &RemoteErrors{cluster: rm.ID, status: status, msgs: eb.Errors})
	default:
		id.log.Info("remote cluster refused token", "cluster", rm.ID, "path", path, "token", signing.Fingerprint(send), "status", status)
		return unauthorized("cluster %s answered %d on %s", rm.ID, status, path)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return request.WrapError(fasthttp.StatusBadGateway, "failed to validate remote token with cluster "+rm.ID, fmt.Errorf("decoding %s from %s: %w", path, rm.BaseURL, err))
	}
	return nil
}

// ValidateToken implements TokenValidator: valid local tokens, the
// SystemRootToken and validated remote tokens, of active users other than
// the anonymous user. It does not look at the token's scopes; block
// writes use ValidateTokenFor, which does.
func (id *Identity) ValidateToken(_ context.Context, token string) (bool, error) {
	_, ok, err := id.validate(token)
	return ok, err
}

// validate is ValidateToken, with the token's authorization.
func (id *Identity) validate(token string) (store.Authorization, bool, error) {
	a, err := id.Authenticate(token, "")
	if err != nil {
		if request.StatusOf(err) == fasthttp.StatusUnauthorized {
			return a, false, nil
		}
		return a, false, err
	}
	if id.IsSystem(a) {
		return a, true, nil
	}
	if strings.HasSuffix(a.User.UUID, "-tpzed-anonymouspublic") {
		return a, false, nil
	}
	if id.st != nil {
		u, err := id.st.User(a.User.UUID)
		if err != nil {
			if store.StatusOf(err) == fasthttp.StatusNotFound {
				return a, false, nil
			}
			return a, false, StoreError(err)
		}
		return a, u.IsActive, nil
	}
	return a, a.User.IsActive, nil
}

// UpgradeV1 implements TokenUpgrader: the v2 form of a v1 token issued
// here (from the store, or from the upstream controller's token record).
func (id *Identity) UpgradeV1(_ context.Context, token string) (string, bool, error) {
	if signing.ParseToken(token).Version != signing.TokenV1 {
		return "", false, nil
	}
	if id.upstream == nil {
		v2, ok := id.st.UpgradeV1(token)
		return v2, ok, nil
	}
	a, err := id.localAuth(token, "")
	if err != nil {
		if request.StatusOf(err) == fasthttp.StatusUnauthorized {
			return "", false, nil
		}
		return "", false, err
	}
	return "v2/" + a.Token.UUID + "/" + token, true, nil
}

// CheckLoginClusterForward returns a 401 error when token must not be
// forwarded to the LoginCluster because this cluster issued it (spec 2.5);
// the local anonymous token is allowed. It returns nil when no
// LoginCluster is configured.
func (id *Identity) CheckLoginClusterForward(token string) error {
	lc := id.cfg.Login.LoginCluster
	if lc == "" || lc == id.local {
		return nil
	}
	if strings.HasPrefix(token, "v2/"+id.local+"-") && !strings.HasPrefix(token, "v2/"+id.local+"-gj3su-anonymouspublic/") {
		return request.NewError(fasthttp.StatusUnauthorized, "cannot use a locally issued token to forward a request to our login cluster")
	}
	return nil
}

// Forget drops every cached validation (for tests and operators).
func (id *Identity) Forget() {
	id.mu.Lock()
	clear(id.cache)
	id.mu.Unlock()
}

// identStoreError turns a store error into an *request.HTTPError with the store's
// status and client message.
func StoreError(err error) error {
	var se *store.Error
	if errors.As(err, &se) {
		return request.WrapError(se.Status, se.Msg, err)
	}
	return request.WrapError(fasthttp.StatusInternalServerError, "internal server error", err)
}

// identEqual compares secrets in constant time.
func SecretEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// UseRemotes makes the identity layer share the server's remote cluster
// registry (one HTTP client and one set of limits per cluster).
func (id *Identity) UseRemotes(r *remotes.Registry) { id.remotes = r }

// CountCurrent counts one users/current or api_client_authorizations/current
// request answered here (tests use CurrentHits to prove that peers cache
// validations).
func (id *Identity) CountCurrent() { id.currentHits.Add(1) }

// CurrentHits returns how many CountCurrent calls there were.
func (id *Identity) CurrentHits() int64 { return id.currentHits.Load() }

// Validations returns how many validation round trips went to other
// clusters (or the upstream).
func (id *Identity) Validations() int64 { return id.validations.Load() }
