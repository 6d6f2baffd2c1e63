package blocks

import (
	"crypto/md5"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"

	md5simd "github.com/minio/md5-simd"
)

// blockDigest is the md5 a block stream computes while it copies. Close
// gives back what the digest holds (a lane of the shared md5-simd server);
// the digest is not used after Close.
type blockDigest interface {
	io.Writer
	Sum(b []byte) []byte
	Close()
}

// md5Mode says which md5 implementation block streams use.
type md5Mode int

const (
	// md5Auto: crypto/md5 while fewer than md5LanesMinStreams blocks
	// stream at once, a lane of the shared md5-simd server from then on.
	md5Auto md5Mode = iota
	// md5Scalar: always crypto/md5 (one core per stream).
	md5Scalar
	// md5SIMD: always a lane of the shared md5-simd server.
	md5SIMD
)

// md5LanesMinStreams is where md5Auto switches to md5-simd: the first
// md5LanesMinStreams-1 concurrent block streams use crypto/md5, every
// further one a lane of the shared server. Measured (BenchmarkMD5Lanes,
// CPU per MB against crypto/md5; docs/BENCHMARKS.md): md5-simd costs 2.2×
// with one stream, about 1× with 4, 0.56-0.69× with 8 and 0.39× with 16
// (AVX-512, 16 lanes); the default costs 0.6× at 16 streams and up to 1.1×
// right at the switch, where the server has one lane to fill. A stream
// keeps the digest it started with.
const md5LanesMinStreams = 4

// md5Lanes hands out block digests. One md5-simd server (16 lanes with
// AVX-512, 2×8 with AVX2, crypto/md5 without either) is shared by every
// stream of the process; it starts on first use.
type md5Lanes struct {
	mode       md5Mode
	minStreams int64

	active atomic.Int64 // digests handed out and not yet closed
	once   sync.Once
	srv    md5simd.Server
}

// blockMD5 is the process's md5 source for block streams.
var blockMD5 = &md5Lanes{mode: md5ModeFromEnv(os.Getenv("KEEPFED_BLOCK_MD5")), minStreams: md5LanesMinStreams}

// md5ModeFromEnv reads KEEPFED_BLOCK_MD5: "crypto" (always crypto/md5),
// "simd" (always md5-simd), anything else the measured default (auto).
// It is there for benchmarks and as an operator's escape hatch.
func md5ModeFromEnv(v string) md5Mode {
	switch v {
	case "crypto":
		return md5Scalar
	case "simd":
		return md5SIMD
	}
	return md5Auto
}

// New returns a digest for one block stream.
func (l *md5Lanes) New() blockDigest {
	n := l.active.Add(1)
	if l.mode == md5SIMD || (l.mode == md5Auto && n >= l.minStreams) {
		l.once.Do(func() { l.srv = md5simd.NewServer() })
		return &laneDigest{Hasher: l.srv.NewHash(), lanes: l}
	}
	return &scalarDigest{Hash: md5.New(), lanes: l}
}

// scalarDigest is crypto/md5.
type scalarDigest struct {
	hash.Hash
	lanes *md5Lanes
}

func (d *scalarDigest) Close() {
	if d.lanes != nil {
		d.lanes.active.Add(-1)
		d.lanes = nil
	}
}

// laneDigest is one client of the shared md5-simd server.
type laneDigest struct {
	md5simd.Hasher
	lanes *md5Lanes
}

func (d *laneDigest) Close() {
	if d.lanes != nil {
		d.Hasher.Close()
		d.lanes.active.Add(-1)
		d.lanes = nil
	}
}
