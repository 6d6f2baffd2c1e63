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

	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fedCluster is a complete keepfed (NewCluster) on a loopback port.
type fedCluster struct {
	cfg *ClusterConfig
	url string
}

// startFederation starts two complete keepfeds that know each other, as
// an operator would configure them, and talks to them only over HTTP.
func startFederation(t *testing.T, home, remote string) (*fedCluster, *fedCluster) {
	t.Helper()
	lh, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	lr, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	peers := map[string]RemoteClusterConfig{
		home:   {Host: lh.Addr().String(), Scheme: "http", Proxy: true, ActivateUsers: true},
		remote: {Host: lr.Addr().String(), Scheme: "http", Proxy: true, ActivateUsers: true},
	}
	start := func(id string, ln net.Listener) *fedCluster {
		cfg := testConfig(t, id)
		cfg.KeepFed.Listen = ln.Addr().String()
		cfg.KeepFed.ExternalURL = "http://" + ln.Addr().String()
		cfg.RemoteClusters = peers
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
		return &fedCluster{cfg: cfg, url: cfg.KeepFed.ExternalURL}
	}
	return start(home, lh), start(remote, lr)
}

// do sends one request and returns status, headers and body.
func fedDo(t *testing.T, method, url, token string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// TestFederatedCollectionRead is the whole federation flow over HTTP: a
// user of the home cluster stores blocks and a collection on the remote
// cluster, then reads the collection and every block back through the
// home cluster (record proxy, +R rewrite, salted token, verified stream).
func TestFederatedCollectionRead(t *testing.T) {
	home, remote := startFederation(t, "xhome", "xrmte")

	// a user and token on the home cluster, issued through the
	// management endpoint
	code, _, body := fedDo(t, "POST", home.url+TokenManagementPath, testMgmtToken, []byte(`{"email":"alice@example.com"}`))
	require.Equal(t, 200, code, string(body))
	var issued IssuedToken
	require.NoError(t, json.Unmarshal(body, &issued))
	token := issued.Token
	require.True(t, strings.HasPrefix(token, "v2/xhome-gj3su-"), token)

	// blocks PUT on the remote cluster with the home token
	blocks := [][]byte{[]byte("hello from the remote cluster\n"), bytes.Repeat([]byte("federation "), 50000)}
	var locs []string
	for _, data := range blocks {
		sum := md5.Sum(data)
		hash := hex.EncodeToString(sum[:])
		code, hdr, body := fedDo(t, "PUT", remote.url+"/"+hash, token, data)
		require.Equal(t, 200, code, string(body))
		assert.Equal(t, "1", hdr.Get("X-Keep-Replicas-Stored"))
		loc := strings.TrimSpace(string(body))
		require.True(t, strings.HasPrefix(loc, fmt.Sprintf("%s+%d+A", hash, len(data))), loc)
		locs = append(locs, loc)
	}
	mtext := fmt.Sprintf(". %s %s 0:%d:a.txt %d:%d:b.txt\n", locs[0], locs[1], len(blocks[0]), len(blocks[0]), len(blocks[1]))

	// the collection record on the remote cluster
	create, _ := json.Marshal(map[string]any{"collection": map[string]any{"name": "fed sample", "manifest_text": mtext}})
	code, _, body = fedDo(t, "POST", remote.url+"/arvados/v1/collections", token, create, "Content-Type", "application/json")
	require.Equal(t, 200, code, string(body))
	var coll struct {
		UUID string `json:"uuid"`
		PDH  string `json:"portable_data_hash"`
		MT   string `json:"manifest_text"`
	}
	require.NoError(t, json.Unmarshal(body, &coll))
	require.True(t, strings.HasPrefix(coll.UUID, "xrmte-4zz18-"), coll.UUID)
	assert.Equal(t, manifest.PortableDataHash([]byte(mtext)), coll.PDH)

	// read it back through the home cluster: proxied, +A became +Rxrmte-
	code, _, body = fedDo(t, "GET", home.url+"/arvados/v1/collections/"+coll.UUID, token, nil)
	require.Equal(t, 200, code, string(body))
	var viaHome struct {
		UUID string `json:"uuid"`
		PDH  string `json:"portable_data_hash"`
		MT   string `json:"manifest_text"`
	}
	require.NoError(t, json.Unmarshal(body, &viaHome))
	assert.Equal(t, coll.UUID, viaHome.UUID)
	assert.Equal(t, coll.PDH, viaHome.PDH)
	assert.Equal(t, coll.PDH, manifest.PortableDataHash([]byte(viaHome.MT)))
	assert.NotContains(t, viaHome.MT, "+A")
	assert.Equal(t, 2, strings.Count(viaHome.MT, "+Rxrmte-"), viaHome.MT)

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
	code, _, _ = fedDo(t, "GET", remote.url+"/"+remoteLoc, salted, nil)
	assert.Equal(t, 200, code, "the remote's signature is for the salted token")
	code, _, _ = fedDo(t, "GET", remote.url+"/"+remoteLoc, token, nil)
	assert.Equal(t, 400, code, "and not for the raw one")

	// a cluster nobody configured is never contacted
	code, _, body = fedDo(t, "GET", home.url+"/arvados/v1/collections/xnone-4zz18-000000000000000", token, nil)
	assert.Equal(t, 404, code, string(body))
	assert.Contains(t, string(body), "no proxy available for cluster xnone")
}
