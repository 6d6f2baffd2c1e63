package manifest

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
)

// DefaultParallelThreshold is the manifest size from which Append and
// AppendPortableDataHash split the work across cores.
//
// Measured on the 2-core development VM (shared, so noisy; best of 3).
// BenchmarkThreshold, batch-signing prefixes of benchmark manifest (ii),
// serial vs 2 cores: 256 KiB 82 vs 132 µs, 512 KiB 198 vs 231 µs, 1 MiB
// 330 vs 386 µs, 2 MiB 795 vs 641 µs, 4 MiB 1348 vs 1433 µs, 8 MiB 3152
// vs 2811 µs; whole manifests: (i) 1.8 MB 2.77 vs 1.95 ms, (ii) 22 MB 8.5
// vs 5.8 ms. Below about 1 MiB waking a second core and copying the
// pieces together costs more than the split saves; above it the gain
// depends on how much of the work is hashing (which scales) rather than
// memory traffic (which does not on this VM: memcpy runs at 15.6 GB/s on
// one core, 17.7 GB/s on two).
const DefaultParallelThreshold = 1 << 20

// chunksPerWorker splits the manifest finer than one piece per worker so
// that uneven pieces (long lines, many signatures in one part) balance out.
const chunksPerWorker = 4

// pieceSize is the largest piece aimed for: small enough that finished
// pieces can be copied out (and their buffers reused) while others are
// still being worked on.
const pieceSize = 512 << 10

// parallelism says when and how widely to split a manifest.
type parallelism struct {
	threshold int // split manifests of at least this many bytes
	workers   int // 0: GOMAXPROCS
}

var (
	defaultParallel   = parallelism{threshold: DefaultParallelThreshold}
	serialParallelism = parallelism{workers: 1}
)

func newParallelism(threshold, workers int) parallelism {
	if threshold <= 0 {
		threshold = DefaultParallelThreshold
	}
	return parallelism{threshold: threshold, workers: workers}
}

func (p parallelism) nworkers(n int) int {
	if p.workers == 1 || n < p.threshold || n < 2 {
		return 1
	}
	w := p.workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return w
}

// Piece output buffers are kept on a free list rather than in a sync.Pool:
// a garbage collection (frequent while large manifests are rewritten)
// would empty a pool and every piece would grow a new buffer again. At
// most maxRetained bytes of buffers are kept.
const maxRetained = 64 << 20

var freeBufs struct {
	sync.Mutex
	bufs  []*[]byte
	bytes int
}

// getBuf returns an empty buffer, with at least want bytes of capacity if
// it has to make a new one.
func getBuf(want int) *[]byte {
	freeBufs.Lock()
	if n := len(freeBufs.bufs); n > 0 {
		b := freeBufs.bufs[n-1]
		freeBufs.bufs = freeBufs.bufs[:n-1]
		freeBufs.bytes -= cap(*b)
		freeBufs.Unlock()
		return b
	}
	freeBufs.Unlock()
	b := make([]byte, 0, max(want, 4<<10))
	return &b
}

func putBuf(b *[]byte) {
	*b = (*b)[:0]
	freeBufs.Lock()
	if freeBufs.bytes+cap(*b) <= maxRetained {
		freeBufs.bufs = append(freeBufs.bufs, b)
		freeBufs.bytes += cap(*b)
	}
	freeBufs.Unlock()
}

// batch is one split manifest being processed.
type batch struct {
	m      []byte
	bounds []int            // piece k is m[bounds[k]:bounds[k+1]]
	outs   []*[]byte        // output of piece k
	done   []sync.WaitGroup // piece k finished (for waiting in order)
	offs   []int            // where piece k goes in dst
	dst    []byte           // the output, once sized
	gate   sync.WaitGroup   // held until dst is sized
	copyNx atomic.Int32     // next piece to copy
	copies sync.WaitGroup   // pieces not yet copied
	next   atomic.Int32
	all    sync.WaitGroup // pieces not yet done
	procs  sync.WaitGroup // helper goroutines still running
	rw     Rewriter       // the rewrite to run, unless pdh
	pdh    bool           // cut pieces back for the portable data hash
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

// appendRewrite rewrites m with r into dst, split across workers when m is
// large enough.
func (p parallelism) appendRewrite(r *Rewriter, dst, m []byte) []byte {
	w := p.nworkers(len(m))
	if w == 1 {
		if cap(dst)-len(dst) >= r.maxLen(len(m)) {
			return r.appendChunk(dst, m)
		}
		b := getBuf(len(m) + len(m)/4)
		*b = r.appendChunk((*b)[:0], m)
		dst = appendExact(dst, *b)
		putBuf(b)
		return dst
	}
	// Segment by segment (bounding the memory held in piece buffers),
	// two phases: the pieces are rewritten into buffers on all cores;
	// then, their sizes known, all cores copy them into dst.
	start := len(dst)
	for seg := m; len(seg) > 0; {
		cut := segmentEnd(seg, false)
		dst = appendSegment(r, w, dst, seg[:cut], len(m), len(m)-len(seg)+cut, len(dst)-start)
		seg = seg[cut:]
	}
	return dst
}

// segmentSize bounds how much of a manifest is split into pieces at once,
// so that the piece buffers of a manifest of hundreds of MB stay small.
// (A variable so that tests can make it small.)
var segmentSize = 32 << 20

// segmentEnd returns where the first segment of m ends: at a space (before
// it for rewrites, after it for the PDH) about segmentSize bytes in, or at
// the end of m.
func segmentEnd(m []byte, afterSpace bool) int {
	if len(m) <= segmentSize+segmentSize/2 {
		return len(m)
	}
	sp := bytes.IndexByte(m[segmentSize:], ' ')
	if sp < 0 {
		return len(m)
	}
	cut := segmentSize + sp
	if afterSpace {
		cut++
	}
	return cut
}

// appendSegment rewrites one segment on w goroutines and appends it to
// dst. n is the whole manifest's length, doneIn the input consumed through
// this segment, outBefore the output written before it: when dst must grow,
// it grows once to the size the whole output will have at the rate so far,
// so that a large manifest grows dst once rather than once per segment.
func appendSegment(r *Rewriter, w int, dst, seg []byte, n, doneIn, outBefore int) []byte {
	bt := newBatch(seg, w, false)
	bt.rw = *r
	bt.spawn(w - 1)
	bt.work()
	bt.all.Wait()
	total := 0
	for k, o := range bt.outs {
		bt.offs[k] = len(dst) + total
		total += len(*o)
	}
	if cap(dst)-len(dst) < total {
		est := int(float64(outBefore+total) / float64(doneIn) * float64(n) * 1.01)
		dst = grow(dst, max(total, est-outBefore))
	}
	bt.dst = dst[:len(dst)+total]
	bt.gate.Done()
	bt.copyWork()
	bt.copies.Wait()
	dst = bt.dst
	bt.release()
	return dst
}

// appendPDH computes the portable data hash of m: pieces are cut back by
// worker goroutines while this goroutine hashes them in order, segment by
// segment.
func (p parallelism) appendPDH(dst, m []byte) []byte {
	w := p.nworkers(len(m))
	if w == 1 {
		return appendPDHSerial(dst, m)
	}
	h := getPDHWriter()
	for seg := m; len(seg) > 0; {
		cut := segmentEnd(seg, true)
		bt := newBatch(seg[:cut], w, true)
		bt.spawn(w - 1)
		for k := range bt.outs {
			bt.done[k].Wait()
			h.write(*bt.outs[k])
			putBuf(bt.outs[k])
			bt.outs[k] = nil
		}
		bt.all.Wait()
		bt.release()
		seg = seg[cut:]
	}
	dst = h.appendSum(dst)
	putPDHWriter(h)
	return dst
}

// appendExact appends src to dst, growing dst at most once to exactly the
// size needed.
func appendExact(dst, src []byte) []byte {
	return append(grow(dst, len(src)), src...)
}

// grow makes room for n more bytes in dst with at most one allocation of
// exactly the size needed.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	grown := make([]byte, len(dst), len(dst)+n)
	copy(grown, dst)
	return grown
}

// newBatch splits m into at least w*chunksPerWorker pieces of at most
// about pieceSize bytes (see splitPoints).
func newBatch(m []byte, w int, pdh bool) *batch {
	bt := batchPool.Get().(*batch)
	bt.m, bt.pdh = m, pdh
	bt.bounds = splitPoints(bt.bounds[:0], m, max(w*chunksPerWorker, len(m)/pieceSize), pdh)
	n := len(bt.bounds) - 1
	bt.outs = bt.outs[:0]
	for k := 0; k < n; k++ {
		bt.outs = append(bt.outs, nil)
	}
	if cap(bt.done) < n {
		bt.done = make([]sync.WaitGroup, n)
		bt.offs = make([]int, n)
	}
	bt.done = bt.done[:n]
	bt.offs = bt.offs[:n]
	if !pdh {
		bt.gate.Add(1)
		bt.copies.Add(n)
		bt.copyNx.Store(0)
	}
	for k := range bt.done {
		bt.done[k].Add(1)
	}
	bt.all.Add(n)
	bt.next.Store(0)
	return bt
}

// spawn starts n helper goroutines running work and, for a rewrite, then
// copyWork once the output is sized.
func (bt *batch) spawn(n int) {
	bt.procs.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			bt.work()
			if !bt.pdh {
				bt.gate.Wait()
				bt.copyWork()
			}
			bt.procs.Done()
		}()
	}
}

// copyWork copies rewritten pieces into bt.dst until none is left.
func (bt *batch) copyWork() {
	n := int32(len(bt.outs))
	for {
		k := bt.copyNx.Add(1) - 1
		if k >= n {
			return
		}
		copy(bt.dst[bt.offs[k]:], *bt.outs[k])
		bt.copies.Done()
	}
}

// work processes pieces until none is left.
func (bt *batch) work() {
	for bt.workOne() {
	}
}

// workOne processes the next piece, if any is left.
func (bt *batch) workOne() bool {
	k := int(bt.next.Add(1) - 1)
	if k >= len(bt.bounds)-1 {
		return false
	}
	piece := bt.m[bt.bounds[k]:bt.bounds[k+1]]
	o := getBuf(len(piece) + len(piece)/4)
	if bt.pdh {
		*o = appendPDHText(*o, piece)
	} else {
		*o = bt.rw.appendChunk(*o, piece)
	}
	bt.outs[k] = o
	bt.done[k].Done()
	bt.all.Done()
	return true
}

// release waits for the helpers to leave (a helper that found no piece
// left may still be looking at bt) and returns everything to the pools.
func (bt *batch) release() {
	bt.procs.Wait()
	for i, o := range bt.outs {
		if o != nil {
			putBuf(o)
			bt.outs[i] = nil
		}
	}
	bt.m, bt.rw, bt.pdh, bt.dst = nil, Rewriter{}, false, nil
	batchPool.Put(bt)
}

// splitPoints appends to dst the offsets 0 = b0 < b1 < ... < bn = len(m)
// of about n pieces of m. Every boundary is at a space: no token of any
// operation contains a space (Sign and Strip split tokens at all
// whitespace, the remote rewrite and the PDH rule at spaces), so cutting
// there never changes a token. For the rewrites a piece starts with the
// space (the remote rewrite only matches tokens preceded by one); for the
// PDH (afterSpace) a piece ends with it (its rule only cuts tokens followed
// by one). Cutting inside lines, not only between them, lets a manifest of
// one long stream use all cores too.
func splitPoints(dst []int, m []byte, n int, afterSpace bool) []int {
	dst = append(dst, 0)
	step := len(m) / n
	for k := 1; k < n && step > 0; k++ {
		at := k * step
		if at <= dst[len(dst)-1] {
			continue
		}
		sp := bytes.IndexByte(m[at:], ' ')
		if sp < 0 {
			break
		}
		at += sp
		if afterSpace {
			at++
		}
		if at >= len(m) {
			break
		}
		if at > dst[len(dst)-1] {
			dst = append(dst, at)
		}
	}
	return append(dst, len(m))
}
