package config

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"12345", 12345, ""},
		{"10GiB", 10 << 30, ""},
		{"10Gi", 10 << 30, ""},
		{"500MB", 500e6, ""},
		{"500M", 500e6, ""},
		{"1T", 1e12, ""},
		{"1TB", 1e12, ""},
		{"1 Ki", 1024, ""},
		{"1.5KiB", 1536, ""},
		{"0.5G", 5e8, ""},
		{"4E", 4e18, ""},
		{"4EB", 4e18, ""},
		{"1E3", 1000, ""},
		{"1e3K", 1e6, ""},
		{"  7  ", 7, ""},
		{"8Ei", 0, "overflows"},
		{"9223372036854775807", math.MaxInt64, ""},
		{"9223372036854775808", 0, "overflows"},
		{"-1", 0, "negative"},
		{"-1.5G", 0, "negative"},
		{"", 0, "no number"},
		{"GiB", 0, "no number"},
		{"10X", 0, "unknown unit"},
		{"10gb", 0, "unknown unit"},
		{"1.2.3", 0, "bad number"},
		{"..", 0, "bad number"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseByteSize(c.in)
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestRemoteBlockCacheConfig(t *testing.T) {
	base := func(backend, cache string) string {
		extra := "      DataDir: /var/lib/keepfed\n"
		if backend == "arvados" {
			extra = "      Backend: arvados\n      Upstream: https://ctrl.example\n"
		}
		return "Clusters:\n  zzzzz:\n    Collections:\n      BlobSigningKey: k\n    KeepFed:\n" + extra + cache
	}
	cases := []struct {
		name, backend, cache string
		wantDir              string
		wantMax              int64
		wantClusters         []string
		err, warn            string
	}{
		{name: "off by default", wantDir: "", wantMax: 0},
		{name: "default dir", cache: "      RemoteBlockCache:\n        MaxSize: 10GiB\n", wantDir: "/var/lib/keepfed/remote-cache", wantMax: 10 << 30},
		{name: "integer size and clusters", cache: "      RemoteBlockCache:\n        Dir: /c\n        MaxSize: 1048576\n        Clusters: [xrmte, yrmte]\n", wantDir: "/c", wantMax: 1 << 20, wantClusters: []string{"xrmte", "yrmte"}},
		{name: "zero is off", cache: "      RemoteBlockCache:\n        MaxSize: 0\n", wantDir: ""},
		{name: "bad size", cache: "      RemoteBlockCache:\n        MaxSize: 10 bananas\n", err: "unknown unit"},
		{name: "negative size", cache: "      RemoteBlockCache:\n        MaxSize: -5\n", err: "negative"},
		{name: "bad cluster", cache: "      RemoteBlockCache:\n        MaxSize: 1G\n        Clusters: [Nope]\n", err: "RemoteBlockCache.Clusters"},
		{name: "arvados needs dir", backend: "arvados", cache: "      RemoteBlockCache:\n        MaxSize: 1G\n", err: "RemoteBlockCache.Dir is required"},
		{name: "arvados with dir", backend: "arvados", cache: "      RemoteBlockCache:\n        MaxSize: 1G\n        Dir: /c\n", wantDir: "/c", wantMax: 1e9},
		{name: "not the volume", cache: "      RemoteBlockCache:\n        MaxSize: 1G\n        Dir: /var/lib/keepfed/keep/\n", err: "must not be the block volume"},
		{name: "unknown key warns", cache: "      RemoteBlockCache:\n        MaxSize: 1G\n        MaxSise: 2G\n", wantDir: "/var/lib/keepfed/remote-cache", wantMax: 1e9, warn: "Clusters.zzzzz.KeepFed.RemoteBlockCache.MaxSise"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cc, warnings, err := ParseConfig([]byte(base(c.backend, c.cache)), "zzzzz")
			if err == nil {
				err = cc.Validate()
			}
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			if c.warn != "" {
				assert.Equal(t, []string{c.warn}, warnings)
			} else {
				assert.Empty(t, warnings)
			}
			rbc := cc.KeepFed.RemoteBlockCache
			assert.Equal(t, c.wantDir, rbc.Dir)
			assert.Equal(t, c.wantMax, int64(rbc.MaxSize))
			assert.Equal(t, c.wantMax > 0, rbc.Enabled())
			assert.Equal(t, c.wantClusters, rbc.Clusters)
		})
	}
}

// FuzzParseByteSize checks that ParseByteSize never panics, never returns
// a negative size, and agrees with strconv on plain integers.
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"0", "10GiB", "500MB", "1T", "1.5 Ki", "4E", "1E3", "-1", "8Ei", "1e400", "0.0000001K", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseByteSize(%q) = %d < 0", s, v)
		}
		if n, perr := strconv.ParseInt(strings.TrimSpace(s), 10, 64); perr == nil && n != v {
			t.Fatalf("ParseByteSize(%q) = %d, strconv says %d", s, v, n)
		}
	})
}
