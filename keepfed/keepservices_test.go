package keepfed

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/keepfed/keepfed/keepfed/remotes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeepServicesAccessible(t *testing.T) {
	cfg := testConfig(t, "zzzzz")
	tc := startCluster(t, cfg, Options{})
	for _, tok := range []string{"", "xxx"} {
		r := do(t, http.MethodGet, tc.url+"/arvados/v1/keep_services/accessible", tok, nil)
		require.Equal(t, 200, r.status)
		var list remotes.KeepServiceList
		require.NoError(t, json.Unmarshal(r.body, &list))
		assert.Equal(t, "arvados#keepServiceList", list.Kind)
		require.Len(t, list.Items, 1)
		it := list.Items[0]
		assert.Equal(t, "proxy", it.Type)
		assert.Equal(t, "127.0.0.1", it.Host)
		assert.Equal(t, tc.url, it.BaseURL())
		assert.False(t, it.SSL)
		assert.Equal(t, remotes.KeepServiceUUID("zzzzz", "", cfg.KeepFed.ExternalURL), it.UUID)
		assert.Regexp(t, `^zzzzz-bi6l4-[0-9a-f]{15}$`, it.UUID)
	}
}
