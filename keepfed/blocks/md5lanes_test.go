package blocks

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// md5Vectors: RFC 1321's test suite plus lengths around md5's 64-byte
// block and md5-simd's 32 KiB internal block, and a multi-megabyte input.
func md5Vectors() map[string][]byte {
	v := map[string][]byte{
		"rfc-empty":    {},
		"rfc-a":        []byte("a"),
		"rfc-abc":      []byte("abc"),
		"rfc-message":  []byte("message digest"),
		"rfc-alphabet": []byte("abcdefghijklmnopqrstuvwxyz"),
		"rfc-alnum":    []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
		"rfc-digits":   []byte("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
	}
	for _, n := range []int{55, 56, 63, 64, 65, 127, 128, 32<<10 - 1, 32 << 10, 32<<10 + 1, 3<<20 + 17} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*31 + i>>9)
		}
		v[fmt.Sprint("len-", n)] = b
	}
	return v
}

var rfc1321 = map[string]string{
	"rfc-empty":    "d41d8cd98f00b204e9800998ecf8427e",
	"rfc-a":        "0cc175b9c0f1b6a831c399e269772661",
	"rfc-abc":      "900150983cd24fb0d6963f7d28e17f72",
	"rfc-message":  "f96b697d7cb7938d525a2f31aaf161d0",
	"rfc-alphabet": "c3fcd3d76192e4007dfb496cca67e13b",
	"rfc-alnum":    "d174ab98d277d9f5a5611c2c9f419d9f",
	"rfc-digits":   "57edf4a22be3c955ac49da2e2107b67a",
}

var md5Modes = map[string]md5Mode{"crypto-md5": md5Scalar, "md5-simd": md5SIMD, "auto": md5Auto}

// TestMD5LanesVectors runs every vector through every mode, all vectors of
// a mode at once (so md5-simd fills several lanes), written in uneven
// pieces.
func TestMD5LanesVectors(t *testing.T) {
	vectors := md5Vectors()
	for name, mode := range md5Modes {
		t.Run(name, func(t *testing.T) {
			lanes := &md5Lanes{mode: mode, minStreams: 2}
			var wg sync.WaitGroup
			var mu sync.Mutex
			got := map[string]string{}
			for vname, data := range vectors {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := lanes.New()
					defer d.Close()
					for p, step := data, 1; len(p) > 0; step = step*3 + 7 {
						n := min(step, len(p))
						_, _ = d.Write(p[:n])
						p = p[n:]
					}
					sum := hex.EncodeToString(d.Sum(nil))
					mu.Lock()
					got[vname] = sum
					mu.Unlock()
				}()
			}
			wg.Wait()
			for vname, data := range vectors {
				want := fmt.Sprintf("%x", md5.Sum(data))
				if w, ok := rfc1321[vname]; ok {
					require.Equal(t, w, want, "crypto/md5 on %s", vname)
				}
				assert.Equal(t, want, got[vname], vname)
			}
			assert.Zero(t, lanes.active.Load(), "every digest closed")
		})
	}
}

// TestBlockStreamMD5Modes: the block stream gives the same verdicts with
// either md5, on the same vectors.
func TestBlockStreamMD5Modes(t *testing.T) {
	for name, mode := range md5Modes {
		lanes := &md5Lanes{mode: mode, minStreams: 1}
		for vname, data := range md5Vectors() {
			hash := md5hex(data)
			bad := append([]byte(nil), data...)
			if len(bad) > 0 {
				bad[len(bad)/2] ^= 0x40
			}
			for _, c := range []struct {
				src  []byte
				want error
			}{{data, nil}, {bad, ErrChecksum}} {
				if c.want != nil && len(data) == 0 {
					continue
				}
				bs, err := newBlockStream(iotest.HalfReader(bytes.NewReader(c.src)), hash, int64(len(data)), nil)
				require.NoError(t, err)
				bs.digests = lanes
				var out bytes.Buffer
				_, err = bs.WriteTo(&out)
				if c.want == nil {
					require.NoError(t, err, "%s %s", name, vname)
					assert.True(t, bytes.Equal(data, out.Bytes()), "%s %s: body", name, vname)
				} else {
					assert.True(t, errors.Is(err, c.want), "%s %s: %v", name, vname, err)
				}
			}
		}
		assert.Zero(t, lanes.active.Load(), "%s: every digest closed", name)
	}
}

func TestMD5ModeFromEnv(t *testing.T) {
	assert.Equal(t, md5Scalar, md5ModeFromEnv("crypto"))
	assert.Equal(t, md5SIMD, md5ModeFromEnv("simd"))
	assert.Equal(t, md5Auto, md5ModeFromEnv(""))
	assert.Equal(t, md5Auto, md5ModeFromEnv("auto"))
}

func TestMD5LanesAutoSwitches(t *testing.T) {
	lanes := &md5Lanes{mode: md5Auto, minStreams: 3}
	a, b := lanes.New(), lanes.New()
	c := lanes.New()
	assert.IsType(t, &scalarDigest{}, a)
	assert.IsType(t, &scalarDigest{}, b)
	assert.IsType(t, &laneDigest{}, c)
	c.Close()
	c.Close() // twice is harmless
	d := lanes.New()
	assert.IsType(t, &laneDigest{}, d)
	for _, x := range []blockDigest{a, b, d} {
		x.Close()
	}
	assert.Zero(t, lanes.active.Load())
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMD5Lanes: crypto/md5, the shared md5-simd server and the
// default (auto: crypto/md5 for the first md5LanesMinStreams-1 streams,
// md5-simd for the others) at 1, 4, 8 and 16 concurrent streams, each stream hashing 8 MiB in the block stream's
// 256 KiB writes. MB/s is aggregate; cpu-ns/MB is the process's CPU time
// (getrusage) per MB hashed, the figure that decides md5LanesMinStreams.
func BenchmarkMD5Lanes(b *testing.B) {
	const perStream = 8 << 20
	data := make([]byte, perStream)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	want := md5.Sum(data)
	for _, impl := range []string{"crypto-md5", "md5-simd", "auto"} {
		for _, streams := range []int{1, 4, 8, 16} {
			b.Run(fmt.Sprintf("%s/streams-%d", impl, streams), func(b *testing.B) {
				lanes := &md5Lanes{mode: md5Modes[impl], minStreams: md5LanesMinStreams}
				b.SetBytes(int64(streams) * perStream)
				cpu0 := cpuTime()
				for b.Loop() {
					var wg sync.WaitGroup
					for range streams {
						wg.Add(1)
						go func() {
							defer wg.Done()
							d := lanes.New()
							defer d.Close()
							for p := data; len(p) > 0; p = p[streamBufSize:] {
								_, _ = d.Write(p[:streamBufSize])
							}
							var sum [md5.Size]byte
							if !bytes.Equal(d.Sum(sum[:0]), want[:]) {
								panic("md5 mismatch")
							}
						}()
					}
					wg.Wait()
				}
				cpu := cpuTime() - cpu0
				mb := float64(b.N) * float64(streams) * perStream / 1e6
				b.ReportMetric(float64(cpu.Nanoseconds())/mb, "cpu-ns/MB")
			})
		}
	}
}
