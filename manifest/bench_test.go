package manifest

import (
	"sync"
	"testing"
	"time"

	"github.com/keepfed/keepfed/signing"
)

// Benchmark inputs, built once: (i) one stream of 20,000 signed 64 MiB
// block locators and one file; (ii) 10,000 streams of 3 signed blocks and
// 50 small files each.
var (
	benchOnce     sync.Once
	benchManifest map[string][]byte
)

const (
	benchKey    = "l0tntutgm4vgeuk4u20rndc439kv2bw9h4u1h4qxt214r2vf910jm5dlpwwtmpg2"
	benchToken  = "v2/7risu-gj3su-ah2bebz8hlo5g0q/hcvkrtrdil8dp5c2mzfxxcwl9run0wq4zbuzwslht4tp101eyu"
	benchExpiry = int64(2881198729)
	benchRemote = "cuwyk"
)

func benchRing() *signing.KeyRing { return signing.NewKeyRing(336*time.Hour, []byte(benchKey)) }

func benchInputs() map[string][]byte {
	benchOnce.Do(func() {
		// The inputs come signed by another key, as a remote cluster
		// would send them.
		other := Sign(signing.NewKeyRing(336*time.Hour, []byte("remote-key")), "v2/zzzzz-gj3su-000000000000000/secret", benchExpiry)
		benchManifest = map[string][]byte{
			"i":  other.Rewrite(genOneStream(20000)),
			"ii": other.Rewrite(genSmallFiles(10000, 3, 50)),
		}
	})
	return benchManifest
}

// BenchmarkRewrite runs every operation on both inputs, on one core
// (serial) and on all cores (parallel).
func BenchmarkRewrite(b *testing.B) {
	ring := benchRing()
	ops := []struct {
		name string
		r    Rewriter
	}{
		{"sign", Sign(ring, benchToken, benchExpiry)},
		{"sign-scalar", Sign(ring, benchToken, benchExpiry)},
		{"to-remote", ToRemote(benchRemote)},
		{"to-remote-signed", ToRemoteSigned(benchRemote, ring, benchToken, benchExpiry)},
		{"to-remote-signed-scalar", ToRemoteSigned(benchRemote, ring, benchToken, benchExpiry)},
		{"strip", Strip(false)},
		{"from-remote", FromRemote(benchRemote)},
	}
	in := benchInputs()
	for _, op := range ops {
		for _, name := range []string{"i", "ii"} {
			m := in[name]
			if op.name == "from-remote" {
				m = ToRemote(benchRemote).Rewrite(m)
			}
			dst := make([]byte, 0, op.r.MaxLen(m))
			b.Run(op.name+"/"+name+"/serial", func(b *testing.B) {
				b.SetBytes(int64(len(m)))
				b.ReportAllocs()
				for b.Loop() {
					dst = op.r.AppendSerial(dst[:0], m)
				}
			})
			b.Run(op.name+"/"+name+"/parallel", func(b *testing.B) {
				b.SetBytes(int64(len(m)))
				b.ReportAllocs()
				for b.Loop() {
					dst = op.r.Append(dst[:0], m)
				}
			})
		}
	}
	for _, name := range []string{"i", "ii"} {
		m := in[name]
		b.Run("pdh/"+name+"/serial", func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			var buf [64]byte
			for b.Loop() {
				appendPDHSerial(buf[:0], m)
			}
		})
		b.Run("pdh/"+name+"/parallel", func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			var buf [64]byte
			for b.Loop() {
				AppendPortableDataHash(buf[:0], m)
			}
		})
	}
}

// BenchmarkCheck validates both inputs.
func BenchmarkCheck(b *testing.B) {
	for _, name := range []string{"i", "ii"} {
		m := benchInputs()[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkThreshold signs a prefix of input (ii) of growing size serially
// and in parallel; the crossover is DefaultParallelThreshold.
func BenchmarkThreshold(b *testing.B) {
	r := Sign(benchRing(), benchToken, benchExpiry)
	full := benchInputs()["ii"]
	for _, size := range []int{64 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20} {
		m := full[:size]
		dst := make([]byte, 0, r.MaxLen(m))
		for _, mode := range []struct {
			name string
			r    Rewriter
		}{{"serial", r.WithParallelism(0, 1)}, {"parallel", r.WithParallelism(1, 0)}} {
			b.Run(itoa(size>>10)+"KiB/"+mode.name, func(b *testing.B) {
				b.SetBytes(int64(len(m)))
				for b.Loop() {
					dst = mode.r.Append(dst[:0], m)
				}
			})
		}
	}
}
