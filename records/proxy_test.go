package records

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keepfed/keepfed/signing"
)

func TestNewConfig(t *testing.T) {
	keys := signing.NewKeyRing(time.Hour, []byte("k-0123456789012345678901234567890123456789012345678"))
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{LocalID: "zaaaa"}, ""},
		{"bad id", Config{LocalID: "ZAAAA"}, "local cluster id"},
		{"short id", Config{LocalID: "zaa"}, "local cluster id"},
		{"sign without keys", Config{LocalID: "zaaaa", SignRemoteLocators: true}, "KeyRing"},
		{"sign with empty key", Config{LocalID: "zaaaa", SignRemoteLocators: true, KeyRing: signing.NewKeyRing(time.Hour, nil)}, "KeyRing"},
		{"sign", Config{LocalID: "zaaaa", SignRemoteLocators: true, KeyRing: keys}, ""},
		{"bad upstream", Config{LocalID: "zaaaa", Upstream: &Target{BaseURL: "localhost:80"}}, "upstream"},
		{"upstream with path", Config{LocalID: "zaaaa", Upstream: &Target{BaseURL: "http://h/x"}}, "upstream"},
		{"upstream", Config{LocalID: "zaaaa", Upstream: &Target{BaseURL: "https://[::1]:8443"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.cfg.MaxRequestAmplification != 4 || p.cfg.MaxItemsPerResponse != 1000 || p.cfg.RequestTimeout != 5*time.Minute {
					t.Errorf("defaults %+v", p.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err %v want %q", err, tc.wantErr)
			}
		})
	}
}

func TestRemotesFromResolver(t *testing.T) {
	res := StaticResolver{"zcccc": {BaseURL: "http://c"}, "zbbbb": {BaseURL: "http://b"}, "zaaaa": {BaseURL: "http://a"}}
	p, err := New(Config{LocalID: "zaaaa", Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.cfg.Remotes, []string{"zbbbb", "zcccc"}) {
		t.Errorf("remotes %v", p.cfg.Remotes)
	}
	if tg, ok := res.Resolve("zbbbb"); !ok || tg.ID != "zbbbb" {
		t.Errorf("resolve %+v %v", tg, ok)
	}
	f := ResolverFunc(func(id string) (Target, bool) { return Target{BaseURL: "http://x"}, id == "zdddd" })
	if tg, ok := f.Resolve("zdddd"); !ok || tg.BaseURL != "http://x" {
		t.Errorf("ResolverFunc %+v %v", tg, ok)
	}
	if _, ok := p.resolve("zaaaa"); ok {
		t.Error("local cluster resolved as a remote")
	}
}

func TestParseBaseURL(t *testing.T) {
	cases := []struct {
		in, addr, host string
		tls, ok        bool
	}{
		{"http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1", false, true},
		{"https://zbbbb.example.org", "zbbbb.example.org:443", "zbbbb.example.org", true, true},
		{"http://h/", "h:80", "h", false, true},
		{"https://[::1]:9", "[::1]:9", "::1", true, true},
		{"ftp://h", "", "", false, false},
		{"http://", "", "", false, false},
		{"http://h?x=1", "", "", false, false},
	}
	for _, tc := range cases {
		tls, addr, host, err := parseBaseURL(tc.in)
		if (err == nil) != tc.ok || addr != tc.addr || host != tc.host || tls != tc.tls {
			t.Errorf("%q: %v %q %q %v", tc.in, tls, addr, host, err)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	b := newFakeCluster(t, idB)
	e := newEnv(t, Config{MaxBodySize: 10}, b)
	resp := call(e.h, "PUT", "/arvados/v1/workflows/"+wfB, []byte(strings.Repeat("x", 11)))
	if resp.StatusCode() != 413 || len(b.requests()) != 0 {
		t.Errorf("status %d, %d requests", resp.StatusCode(), len(b.requests()))
	}
	// Local requests are the local backend's business.
	resp = call(e.h, "PUT", "/arvados/v1/workflows/zaaaa-7fd4e-000000000000001", []byte(strings.Repeat("x", 11)))
	if resp.StatusCode() != 200 || e.local.calls.Load() != 1 {
		t.Errorf("local: status %d", resp.StatusCode())
	}
	// Response bodies beyond the limit are a 502.
	b.setOverride(answer(200, `{"name":"`+strings.Repeat("y", 100)+`"}`))
	resp = call(e.h, "GET", "/arvados/v1/workflows/"+wfB, nil)
	if resp.StatusCode() != 502 || !strings.Contains(errorsOf(t, resp)[0], "zbbbb") {
		t.Errorf("large response: %d %s", resp.StatusCode(), resp.Body())
	}
}
