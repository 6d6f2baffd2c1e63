package keepfed

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/keepfed/keepfed/internal/manifestgen"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamedManifestHoldsSlot: a large signed manifest is streamed to
// the client after the handler returns, and the request keeps its
// concurrency slot until the stream ends, as a streamed block does: a
// client that stops reading holds a slot (not memory outside the limits)
// until WriteIdleTimeout cuts it, and then nothing.
func TestStreamedManifestHoldsSlot(t *testing.T) {
	cfg := secDoSConfig(t, "xhome", 8)
	cfg.KeepFed.MaxConcurrentRequestsPerClient = -1
	tc := startFullCluster(t, cfg, nil)
	ring := signing.NewKeyRing(cfg.Collections.BlobSigningTTL.D(), []byte(cfg.Collections.BlobSigningKey))
	signed := manifest.Sign(ring, testRootToken, time.Now().Add(time.Hour).Unix()).Append(nil, manifestgen.OneStream(100000)) // signed: more than any socket buffer holds
	body, err := json.Marshal(map[string]any{"collection": map[string]any{"manifest_text": string(signed)}})
	require.NoError(t, err)
	r := do(t, http.MethodPost, tc.url+"/arvados/v1/collections", testRootToken, body, "Content-Type", "application/json")
	require.Equal(t, 200, r.status, "%.300s", r.body)
	var c struct{ UUID string }
	require.NoError(t, json.Unmarshal(r.body, &c))
	adm := tc.srv.admission
	slots := func() int { adm.mu.Lock(); defer adm.mu.Unlock(); return adm.global }
	require.Eventually(t, func() bool { return slots() == 0 }, 5*time.Second, 10*time.Millisecond)

	// a reader that stops after the first bytes
	conn := dialFrom(t, tc, "127.0.0.1", 4096)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /arvados/v1/collections/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", c.UUID, testRootToken)
	require.NoError(t, err)
	first := make([]byte, 512)
	_, err = io.ReadFull(conn, first)
	require.NoError(t, err)
	assert.Contains(t, string(first), "200 OK")
	assert.Equal(t, 1, slots(), "the stalled stream holds its slot")
	assert.Eventually(t, func() bool { return slots() == 0 }, 5*time.Second, 10*time.Millisecond,
		"WriteIdleTimeout cuts the stalled stream and frees its slot")

	// a reader that reads it all frees it too
	r = do(t, http.MethodGet, tc.url+"/arvados/v1/collections/"+c.UUID, testRootToken, nil)
	require.NoError(t, r.readErr)
	require.Equal(t, 200, r.status)
	assert.Greater(t, len(r.body), len(signed))
	assert.Eventually(t, func() bool { return slots() == 0 }, 5*time.Second, 10*time.Millisecond)
}
