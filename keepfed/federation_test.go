package keepfed

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/keepfed/keepfed/keepfed/identity"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fedCluster is a complete keepfed (NewCluster) on a loopback port.
type fedCluster struct {
	cfg *config.ClusterConfig
	url string
}

// startFederation starts two complete keepfeds that know each other, as
// an operator would configure them, and talks to them only over HTTP.
func startFederation(t *testing.T, home, remote string) (*fedCluster, *fedCluster) {
	t.Helper()
	cs := startClusters(t, home, remote)
	return cs[0], cs[1]
}

// startClusters starts one complete keepfed per id, each configured with
// all the others as proxy remotes whose users it activates.
func startClusters(t *testing.T, ids ...string) []*fedCluster {
	t.Helper()
	return startClustersWith(t, nil, ids...)
}

// startClustersWith is startClusters with mutate applied to every config.
func startClustersWith(t *testing.T, mutate func(*config.ClusterConfig), ids ...string) []*fedCluster {
	t.Helper()
	lns := make([]net.Listener, len(ids))
	peers := map[string]config.RemoteClusterConfig{}
	for i, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns[i] = ln
		peers[id] = config.RemoteClusterConfig{Host: ln.Addr().String(), Scheme: "http", Proxy: true, ActivateUsers: true}
	}
	out := make([]*fedCluster, len(ids))
	for i, id := range ids {
		ln := lns[i]
		cfg := testConfig(t, id)
		cfg.KeepFed.Listen = ln.Addr().String()
		cfg.KeepFed.ExternalURL = "http://" + ln.Addr().String()
		cfg.RemoteClusters = peers
		if mutate != nil {
			mutate(cfg)
		}
		serveCluster(t, cfg, ln)
		out[i] = &fedCluster{cfg: cfg, url: cfg.KeepFed.ExternalURL}
	}
	return out
}

// serveCluster serves a complete keepfed (NewCluster) for cfg on ln until
// the test ends.
func serveCluster(t *testing.T, cfg *config.ClusterConfig, ln net.Listener) {
	t.Helper()
	srv, err := NewCluster(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // test cleanup
		<-done
	})
}

// issueToken creates a user on c through the token endpoint (with the
// SystemRootToken) and returns a token for it.
func (c *fedCluster) issueToken(t *testing.T, email string) string {
	t.Helper()
	code, _, body := fedDo(t, "POST", c.url+identity.TokenManagementPath, testRootToken, []byte(`{"email":"`+email+`"}`))
	require.Equal(t, 200, code, string(body))
	var issued identity.IssuedToken
	require.NoError(t, json.Unmarshal(body, &issued))
	require.True(t, strings.HasPrefix(issued.Token, "v2/"+c.cfg.ClusterID+"-gj3su-"), issued.Token)
	return issued.Token
}

// putBlocks stores each block on c and returns the signed locators.
func (c *fedCluster) putBlocks(t *testing.T, token string, blocks [][]byte) []string {
	t.Helper()
	var locs []string
	for _, data := range blocks {
		sum := md5.Sum(data)
		hash := hex.EncodeToString(sum[:])
		code, hdr, body := fedDo(t, "PUT", c.url+"/"+hash, token, data)
		require.Equal(t, 200, code, string(body))
		assert.Equal(t, "1", hdr.Get("X-Keep-Replicas-Stored"))
		loc := strings.TrimSpace(string(body))
		require.True(t, strings.HasPrefix(loc, fmt.Sprintf("%s+%d+A", hash, len(data))), loc)
		locs = append(locs, loc)
	}
	return locs
}

// fedCollection is the part of a collection record the tests read.
type fedCollection struct {
	UUID string `json:"uuid"`
	PDH  string `json:"portable_data_hash"`
	MT   string `json:"manifest_text"`
}

// createCollection creates a collection on c and returns it.
func (c *fedCluster) createCollection(t *testing.T, token, name, mtext string) fedCollection {
	t.Helper()
	create, _ := json.Marshal(map[string]any{"collection": map[string]any{"name": name, "manifest_text": mtext}})
	code, _, body := fedDo(t, "POST", c.url+"/arvados/v1/collections", token, create, "Content-Type", "application/json")
	require.Equal(t, 200, code, string(body))
	var coll fedCollection
	require.NoError(t, json.Unmarshal(body, &coll))
	require.True(t, strings.HasPrefix(coll.UUID, c.cfg.ClusterID+"-4zz18-"), coll.UUID)
	return coll
}

// getCollection reads a collection through c.
func (c *fedCluster) getCollection(t *testing.T, token, id string) fedCollection {
	t.Helper()
	code, _, body := fedDo(t, "GET", c.url+"/arvados/v1/collections/"+id, token, nil)
	require.Equal(t, 200, code, string(body))
	var coll fedCollection
	require.NoError(t, json.Unmarshal(body, &coll))
	return coll
}

// fedDo sends one request and returns status, headers and body.
func fedDo(t *testing.T, method, url, token string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	r := do(t, method, url, token, body, hdr...)
	require.NoError(t, r.readErr)
	return r.status, r.header, r.body
}

// TestFederatedCollectionRead is the whole federation flow over HTTP: a
// user of the home cluster stores blocks and a collection on the remote
// cluster, then reads the collection and every block back through the
// home cluster (record proxy, +R rewrite, salted token, verified stream).
func TestFederatedCollectionRead(t *testing.T) {
	home, remote := startFederation(t, "xhome", "xrmte")

	// a user and token on the home cluster, issued through the
	// management endpoint
	token := home.issueToken(t, "alice@example.com")

	// blocks PUT on the remote cluster with the home token, then the
	// collection record there
	blocks := [][]byte{[]byte("hello from the remote cluster\n"), bytes.Repeat([]byte("federation "), 50000)}
	locs := remote.putBlocks(t, token, blocks)
	mtext := fmt.Sprintf(". %s %s 0:%d:a.txt %d:%d:b.txt\n", locs[0], locs[1], len(blocks[0]), len(blocks[0]), len(blocks[1]))
	coll := remote.createCollection(t, token, "fed sample", mtext)
	assert.Equal(t, manifest.PortableDataHash([]byte(mtext)), coll.PDH)

	// read it back through the home cluster: proxied, +A became +Rxrmte-
	viaHome := home.getCollection(t, token, coll.UUID)
	assert.Equal(t, coll.UUID, viaHome.UUID)
	assert.Equal(t, coll.PDH, viaHome.PDH)
	assert.Equal(t, coll.PDH, manifest.PortableDataHash([]byte(viaHome.MT)))
	assert.NotContains(t, viaHome.MT, "+A")
	assert.Equal(t, 2, strings.Count(viaHome.MT, "+Rxrmte-"), viaHome.MT)

	// and by content: the home cluster does not have it, the remote does
	byPDH := home.getCollection(t, token, coll.PDH)
	assert.Equal(t, coll.PDH, byPDH.PDH)
	assert.Equal(t, 2, strings.Count(byPDH.MT, "+Rxrmte-"), byPDH.MT)

	// every block through the home cluster's keep path with the home token
	fields := strings.Fields(viaHome.MT)
	for i, data := range blocks {
		loc := fields[1+i]
		require.Contains(t, loc, "+Rxrmte-")
		code, hdr, got := fedDo(t, "GET", home.url+"/"+loc, token, nil)
		require.Equal(t, 200, code, string(got))
		assert.Equal(t, data, got)
		assert.Equal(t, fmt.Sprint(len(data)), hdr.Get("Content-Length"))
		// HEAD with a local-copy request stores it on the home cluster and
		// answers a home signature for the caller's own token
		code, hdr, _ = fedDo(t, "HEAD", home.url+"/"+loc, token, nil, "X-Keep-Signature", "local, time=2026-11-24T00:00:00Z")
		require.Equal(t, 200, code)
		local := hdr.Get("X-Keep-Locator")
		require.NotEmpty(t, local)
		assert.NoError(t, home.cfg.KeyRing().Verify(local, token, time.Now().Unix()))
		code, _, got = fedDo(t, "GET", home.url+"/"+local, token, nil)
		require.Equal(t, 200, code)
		assert.Equal(t, data, got)
	}

	// the raw token never works as a signature at the remote: the remote
	// signed for the token salted for it
	salted, err := signing.SaltToken(token, "xrmte")
	require.NoError(t, err)
	remoteLoc := string(signing.AppendFromRemote(nil, fields[1], "xrmte"))
	code, _, _ := fedDo(t, "GET", remote.url+"/"+remoteLoc, salted, nil)
	assert.Equal(t, 200, code, "the remote's signature is for the salted token")
	code, _, _ = fedDo(t, "GET", remote.url+"/"+remoteLoc, token, nil)
	assert.Equal(t, 400, code, "and not for the raw one")

	// a cluster nobody configured is never contacted
	code, _, body := fedDo(t, "GET", home.url+"/arvados/v1/collections/xnone-4zz18-000000000000000", token, nil)
	assert.Equal(t, 404, code, string(body))
	assert.Contains(t, string(body), "no proxy available for cluster xnone")
}

// TestThirdClusterToken: a token issued by cluster C is used through
// cluster A for a record and blocks on cluster B. A salts it for B; B
// validates it with C, the issuer, never with A.
func TestThirdClusterToken(t *testing.T) {
	cs := startClusters(t, "xaaaa", "xbbbb", "xcccc")
	a, b, c := cs[0], cs[1], cs[2]
	token := c.issueToken(t, "carol@example.com")

	blocks := [][]byte{[]byte("carol's first block"), []byte("carol's second block")}
	locs := b.putBlocks(t, token, blocks)
	mtext := fmt.Sprintf(". %s %s 0:%d:one %d:%d:two\n", locs[0], locs[1], len(blocks[0]), len(blocks[0]), len(blocks[1]))
	coll := b.createCollection(t, token, "third cluster", mtext)

	viaA := a.getCollection(t, token, coll.UUID)
	assert.Equal(t, coll.PDH, viaA.PDH)
	require.Equal(t, 2, strings.Count(viaA.MT, "+Rxbbbb-"), viaA.MT)
	for i, loc := range strings.Fields(viaA.MT)[1:3] {
		code, _, got := fedDo(t, "GET", a.url+"/"+loc, token, nil)
		require.Equal(t, 200, code, string(got))
		assert.Equal(t, blocks[i], got)
	}
	// A token salted for A cannot be forwarded anywhere else: A refuses
	// to send it on rather than leak a token B could not validate anyway.
	saltedForA, err := signing.SaltToken(token, "xaaaa")
	require.NoError(t, err)
	code, _, body := fedDo(t, "GET", a.url+"/arvados/v1/collections/"+coll.UUID, saltedForA, nil)
	assert.Equal(t, 401, code, string(body))
}

// TestLoginClusterForwarding: with a LoginCluster, its tokens work through
// a satellite, and the satellite refuses to send its own tokens there.
func TestLoginClusterForwarding(t *testing.T) {
	cs := startClustersWith(t, func(cfg *config.ClusterConfig) { cfg.Login.LoginCluster = "xlogn" }, "xlogn", "xsate")
	login, sat := cs[0], cs[1]
	loginToken := login.issueToken(t, "lena@example.com")
	locs := login.putBlocks(t, loginToken, [][]byte{[]byte("on the login cluster")})
	coll := login.createCollection(t, loginToken, "at login", ". "+locs[0]+" 0:20:f\n")

	// the login cluster's token, through the satellite: proxied unsalted
	got := sat.getCollection(t, loginToken, coll.UUID)
	assert.Equal(t, coll.PDH, got.PDH)

	// a token the satellite issued is never sent to the login cluster
	satToken := sat.issueToken(t, "sam@example.com")
	code, _, body := fedDo(t, "GET", sat.url+"/arvados/v1/collections/"+coll.UUID, satToken, nil)
	assert.Equal(t, 401, code, string(body))
	assert.Contains(t, string(body), "cannot use a locally issued token to forward a request to our login cluster")
}
