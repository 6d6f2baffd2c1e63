package remotes

import (
	"strconv"
	"testing"

	"github.com/keepfed/keepfed/keepfed/config"
	"github.com/stretchr/testify/assert"
)

func TestRemoteResolution(t *testing.T) {
	conf := map[string]config.RemoteClusterConfig{
		"bbbbb": {Host: "b.example:8443", Scheme: "http"},
		"ccccc": {Host: "c.example"},
	}
	star := config.RemoteClusterConfig{Proxy: true, Scheme: "https", Insecure: true}
	cases := []struct {
		name   string
		star   *config.RemoteClusterConfig
		suffix string
		id     string
		ok     bool
		base   string
	}{
		{"configured", nil, "", "bbbbb", true, "http://b.example:8443"},
		{"configured default scheme", nil, "", "ccccc", true, "https://c.example"},
		{"unknown without dns", nil, "", "ddddd", false, ""},
		{"dns mode", &star, "fed.example.org", "ddddd", true, "https://ddddd.fed.example.org"},
		{"dns mode suffix with dots", &star, ".fed.example.org.", "ddddd", true, "https://ddddd.fed.example.org"},
		{"configured wins over dns", &star, "fed.example.org", "bbbbb", true, "http://b.example:8443"},
		{"star without proxy", &config.RemoteClusterConfig{Proxy: false}, "fed.example.org", "ddddd", false, ""},
		{"proxy without suffix", &star, "", "ddddd", false, ""},
		{"uppercase id", &star, "fed.example.org", "DDDDD", false, ""},
		{"short id", &star, "fed.example.org", "dddd", false, ""},
		{"long id", &star, "fed.example.org", "dddddd", false, ""},
		{"dotted id", &star, "fed.example.org", "dd.dd", false, ""},
		{"slash id", &star, "fed.example.org", "d/d/d", false, ""},
		{"empty id", &star, "fed.example.org", "", false, ""},
		{"local id", &star, "fed.example.org", "aaaaa", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := map[string]config.RemoteClusterConfig{}
			for k, v := range conf {
				cl[k] = v
			}
			if c.star != nil {
				cl["*"] = *c.star
			}
			r := New(Config{Local: "aaaaa", Clusters: cl, DNSSuffix: c.suffix})
			assert.Equal(t, c.ok, r.Known(c.id))
			rm, ok := r.Lookup(c.id)
			assert.Equal(t, c.ok, ok)
			if ok {
				assert.Equal(t, c.base, rm.BaseURL)
			}
		})
	}
}

func TestDNSRemotesBounded(t *testing.T) {
	r := New(Config{Local: "aaaaa", Clusters: map[string]config.RemoteClusterConfig{"*": {Proxy: true}}, DNSSuffix: "x.example"})
	for i := 0; i < maxDNSRemotes*2; i++ {
		_, ok := r.Lookup("d" + strconv.Itoa(1000+i))
		assert.True(t, ok)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.LessOrEqual(t, len(r.live), maxDNSRemotes)
}
