package bench

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keepfed/keepfed/internal/manifestgen"
	"github.com/keepfed/keepfed/internal/testvectors"
	"github.com/keepfed/keepfed/manifest"
	"github.com/keepfed/keepfed/signing"
)

const manifestRemote = "cuwyk"

// TestManifestBaselinesAgreeWithVectors: the manifest baselines must give
// Arvados's answers, or the ratios would compare different work.
func TestManifestBaselinesAgreeWithVectors(t *testing.T) {
	var v struct {
		Cases []struct {
			ID, Manifest, Signed, Stripped, PDH string
			RemoteRewritten                     string `json:"remote_rewritten"`
		} `json:"cases"`
		Description struct {
			Fixed struct {
				ExpiryUnix int64 `json:"expiry_unix"`
				Key        string
				Remote     string `json:"remote_cluster_id"`
				Token      string
				TTLSeconds int64 `json:"ttl_seconds"`
			} `json:"fixed_parameters"`
		} `json:"description"`
	}
	testvectors.Load(t, "manifests.json", &v)
	require.NotEmpty(t, v.Cases)
	fx := v.Description.Fixed
	key, exp, ttl := []byte(fx.Key), time.Unix(fx.ExpiryUnix, 0), time.Duration(fx.TTLSeconds)*time.Second
	ring := signing.NewKeyRing(ttl, key)
	for _, c := range v.Cases {
		assert.Equal(t, c.Signed, BaselineSignManifest(c.Manifest, key, fx.Token, exp, ttl), c.ID+" sign")
		assert.Equal(t, c.Stripped, BaselineStripManifest(c.Manifest), c.ID+" strip")
		assert.Equal(t, c.RemoteRewritten, BaselineToRemote(c.Signed, fx.Remote, nil, "", exp, ttl), c.ID+" to-remote")
		assert.Equal(t, c.PDH, BaselinePortableDataHash(c.Manifest), c.ID+" pdh")
		if !strings.Contains(c.Signed, "\n ") && strings.HasSuffix(c.Signed, "\n") && !strings.Contains(c.Signed, "  ") {
			want := string(manifest.ToRemoteSigned(fx.Remote, ring, fx.Token, fx.ExpiryUnix).Rewrite([]byte(c.Signed)))
			if c.ID != "s-man-28" { // a locator ending a line: keepfed puts the local +A before the newline
				assert.Equal(t, want, BaselineToRemote(c.Signed, fx.Remote, key, fx.Token, exp, ttl), c.ID+" to-remote local sign")
			}
		}
	}
}

// Benchmark inputs: (i) one stream, 20,000 signed 64 MiB block locators,
// one file; (ii) 10,000 streams of 3 signed blocks and 50 small files with
// names up to 40 bytes. Both come signed by a remote cluster's key.
var (
	manifestInputsOnce sync.Once
	manifestInputs     map[string]string
)

func benchManifests() map[string]string {
	manifestInputsOnce.Do(func() {
		other := manifest.Sign(signing.NewKeyRing(sigTTL, []byte("remote-key")), "v2/zzzzz-gj3su-000000000000000/secret", sigExpiry.Unix())
		manifestInputs = map[string]string{
			"i":  string(other.Rewrite(manifestgen.OneStream(20000))),
			"ii": string(other.Rewrite(manifestgen.SmallFiles(10000, 3, 50))),
		}
	})
	return manifestInputs
}

// runManifestBench runs baseline, keepfed (one core) and keepfed-allcores
// on both inputs.
func runManifestBench(b *testing.B, baseline func(m string) string, r manifest.Rewriter) {
	for _, name := range []string{"i", "ii"} {
		m := benchManifests()[name]
		mb := []byte(m)
		dst := make([]byte, 0, r.MaxLen(mb))
		b.Run("baseline/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			for b.Loop() {
				_ = baseline(m)
			}
		})
		b.Run("keepfed/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			for b.Loop() {
				dst = r.AppendSerial(dst[:0], mb)
			}
		})
		b.Run("keepfed-allcores/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			for b.Loop() {
				dst = r.Append(dst[:0], mb)
			}
		})
	}
}

func BenchmarkManifestSign(b *testing.B) {
	key := []byte(sigKey)
	runManifestBench(b, func(m string) string { return BaselineSignManifest(m, key, sigToken, sigExpiry, sigTTL) },
		manifest.Sign(signing.NewKeyRing(sigTTL, key), sigToken, sigExpiry.Unix()))
}

func BenchmarkManifestToRemote(b *testing.B) {
	runManifestBench(b, func(m string) string { return BaselineToRemote(m, manifestRemote, nil, "", sigExpiry, sigTTL) },
		manifest.ToRemote(manifestRemote))
}

func BenchmarkManifestToRemoteLocalSign(b *testing.B) {
	key := []byte(sigKey)
	runManifestBench(b, func(m string) string { return BaselineToRemote(m, manifestRemote, key, sigToken, sigExpiry, sigTTL) },
		manifest.ToRemoteSigned(manifestRemote, signing.NewKeyRing(sigTTL, key), sigToken, sigExpiry.Unix()))
}

func BenchmarkManifestStrip(b *testing.B) {
	runManifestBench(b, BaselineStripManifest, manifest.Strip(false))
}

func BenchmarkManifestPDH(b *testing.B) {
	for _, name := range []string{"i", "ii"} {
		m := benchManifests()[name]
		mb := []byte(m)
		b.Run("baseline/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			for b.Loop() {
				_ = BaselinePortableDataHash(m)
			}
		})
		b.Run("keepfed/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			var buf [64]byte
			for b.Loop() {
				manifest.AppendPortableDataHash(buf[:0], mb)
			}
		})
	}
}

// TestManifestBenchInputsAgree checks that baseline and keepfed produce
// the same bytes on the benchmark inputs.
func TestManifestBenchInputsAgree(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("full-size inputs: too slow for -short and -race (make test runs it without -race)")
	}
	key := []byte(sigKey)
	ring := signing.NewKeyRing(sigTTL, key)
	for name, m := range benchManifests() {
		assert.Equal(t, BaselineSignManifest(m, key, sigToken, sigExpiry, sigTTL),
			string(manifest.Sign(ring, sigToken, sigExpiry.Unix()).Rewrite([]byte(m))), name+" sign")
		assert.Equal(t, BaselineToRemote(m, manifestRemote, key, sigToken, sigExpiry, sigTTL),
			string(manifest.ToRemoteSigned(manifestRemote, ring, sigToken, sigExpiry.Unix()).Rewrite([]byte(m))), name+" to-remote local sign")
		assert.Equal(t, BaselineStripManifest(m), string(manifest.Strip(false).Rewrite([]byte(m))), name+" strip")
		assert.Equal(t, BaselineToRemote(m, manifestRemote, nil, "", sigExpiry, sigTTL),
			string(manifest.ToRemote(manifestRemote).Rewrite([]byte(m))), name+" to-remote")
		assert.Equal(t, BaselinePortableDataHash(m), manifest.PortableDataHash([]byte(m)), name+" pdh")
	}
}
