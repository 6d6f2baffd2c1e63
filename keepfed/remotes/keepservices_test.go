package remotes

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelfKeepServicesPorts(t *testing.T) {
	cases := []struct {
		url  string
		host string
		port int
		ssl  bool
	}{
		{"https://keep.example.org", "keep.example.org", 443, true},
		{"http://keep.example.org", "keep.example.org", 80, false},
		{"https://[::1]:8443/", "::1", 8443, true},
	}
	for _, c := range cases {
		b, err := SelfKeepServices("zzzzz", c.url, time.Unix(1.8e9, 0))
		require.NoError(t, err)
		var list KeepServiceList
		require.NoError(t, json.Unmarshal(b, &list))
		assert.Equal(t, c.host, list.Items[0].Host)
		assert.Equal(t, c.port, list.Items[0].Port)
		assert.Equal(t, c.ssl, list.Items[0].SSL)
	}
}
