package manifest

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"sync"

	"github.com/keepfed/keepfed/signing"
)

// batchSigner computes +A signatures sixteen at a time with the 16-lane
// SHA-1 (AVX-512). In a manifest every signature has the same key, token,
// expiry and TTL, so the HMAC messages hash "@" token "@" expiry "@" ttl
// differ only in their first 32 bytes: the rest of the padded message
// blocks is laid out once, and each batch fills in sixteen hashes.
//
// One HMAC-SHA1 costs four SHA-1 compressions (three for the inner hash of
// a typical message, one for the outer hash); one core does them about ten
// times faster sixteen lanes at a time than one by one with the SHA
// instructions.
type batchSigner struct {
	inner, outer [5][16]uint32 // SHA-1 states after key^ipad, key^opad, in every lane
	blocks       int           // inner blocks after the pad block
	tmpl         [][16][16]uint32
	scratch      sync.Pool // *signScratch
}

// signScratch is one goroutine's working memory.
type signScratch struct {
	w     [][16][16]uint32 // inner message blocks, lane-major
	outer [16][16]uint32   // outer message block
	state [5][16]uint32
}

// newBatchSigner returns a signer for the key whose HMAC pad states are
// in and out (signing.Key.PadStates) and the message suffix
// "@" token "@" expiry "@" ttl, or nil without AVX-512.
func newBatchSigner(in, out [5]uint32, suffix string) *batchSigner {
	if !haveSHA1x16 {
		return nil
	}
	s := &batchSigner{}
	for i := range in {
		for lane := 0; lane < 16; lane++ {
			s.inner[i][lane], s.outer[i][lane] = in[i], out[i]
		}
	}
	// The inner message: 32 hash bytes, the suffix, SHA-1 padding, with the
	// pad block counted in the length.
	msgLen := signing.HashLen + len(suffix)
	s.blocks = (msgLen + 9 + 63) / 64
	msg := make([]byte, s.blocks*64)
	copy(msg[signing.HashLen:], suffix)
	msg[msgLen] = 0x80
	binary.BigEndian.PutUint64(msg[len(msg)-8:], uint64(64+msgLen)*8)
	s.tmpl = make([][16][16]uint32, s.blocks)
	for k := range s.tmpl {
		for t := 0; t < 16; t++ {
			word := binary.BigEndian.Uint32(msg[k*64+t*4:])
			for lane := 0; lane < 16; lane++ {
				s.tmpl[k][t][lane] = word
			}
		}
	}
	s.scratch.New = func() any {
		sc := &signScratch{w: make([][16][16]uint32, s.blocks)}
		copy(sc.w, s.tmpl)
		// The outer message: the 20-byte inner digest and padding.
		for lane := 0; lane < 16; lane++ {
			sc.outer[5][lane] = 0x80000000
			sc.outer[15][lane] = (64 + sha1.Size) * 8
		}
		return sc
	}
	return s
}

// sign computes the signatures (40 lowercase hex digits) of the hashes
// (32 bytes each) of lanes 0 to n-1 into sigs[lanes[i]]. Lanes from n on
// hash whatever an earlier batch left there; their results are unused.
func (s *batchSigner) sign(hashes *[16][]byte, n int, lanes *[16]int, sigs *[16][40]byte) {
	sc := s.scratch.Get().(*signScratch)
	w0 := &sc.w[0]
	for lane := 0; lane < n; lane++ {
		h := (*[32]byte)(hashes[lane])
		for t := 0; t < 8; t++ {
			w0[t][lane] = binary.BigEndian.Uint32(h[4*t:])
		}
	}
	sc.state = s.inner
	sha1x16Blocks(&sc.state, w0, s.blocks)
	copy(sc.outer[:5], sc.state[:])
	sc.state = s.outer
	sha1x16Blocks(&sc.state, &sc.outer, 1)
	for lane := 0; lane < n; lane++ {
		sig := &sigs[lanes[lane]]
		for i := 0; i < 5; i++ {
			v := sc.state[i][lane]
			hexPair(sig[8*i:], byte(v>>24))
			hexPair(sig[8*i+2:], byte(v>>16))
			hexPair(sig[8*i+4:], byte(v>>8))
			hexPair(sig[8*i+6:], byte(v))
		}
	}
	s.scratch.Put(sc)
}

// hexPairs holds the two lowercase hex digits of every byte.
var hexPairs = func() (t [256][2]byte) {
	for i := range t {
		t[i] = [2]byte{hexDigits[i>>4], hexDigits[i&15]}
	}
	return t
}()

func hexPair(dst []byte, b byte) {
	p := hexPairs[b]
	dst[0], dst[1] = p[0], p[1]
}

// signQueue collects up to 16 block tokens of a piece so that their
// signatures are computed in one batch before they are written out.
type signQueue struct {
	n     int
	spans [16][3]int // token start, end, and first whitespace in the piece
	hash  [16][]byte
	sigs  [16][40]byte
}

// compute fills q.sigs for the queued tokens of m: the hash of a token is
// the text before its first '+'; 32-byte hashes go through the batch
// signer, others (only in malformed manifests) through the scalar key.
func (q *signQueue) compute(r *Rewriter, m []byte) {
	batched := 0
	var lanes [16]int
	for i := 0; i < q.n; i++ {
		tok := m[q.spans[i][0]:q.spans[i][1]]
		hl := signing.HashLen
		if r.op != opToRemote && (len(tok) == hl || tok[hl] != '+') {
			// An odd token: the hash is the text before the first '+'.
			if hl = bytes.IndexByte(tok, '+'); hl < 0 {
				hl = len(tok)
			}
		}
		if hl == signing.HashLen {
			q.hash[batched] = tok[:hl]
			lanes[batched] = i
			batched++
			continue
		}
		r.key.AppendSignature(q.sigs[i][:0], b2s(tok[:hl]), r.token, r.expHex, r.ttlHex)
	}
	if batched > 0 {
		r.batch.sign(&q.hash, batched, &lanes, &q.sigs)
	}
}

// flush writes out the queued tokens of m with their signatures.
func (q *signQueue) flush(r *Rewriter, dst, m []byte, last int) ([]byte, int) {
	if q.n == 0 {
		return dst, last
	}
	q.compute(r, m)
	for i := 0; i < q.n; i++ {
		s, e := q.spans[i][0], q.spans[i][1]
		tok := m[s:e]
		dst = append(dst, m[last:s]...)
		w := len(tok)
		if r.op == opToRemote {
			w = q.spans[i][2] - s
			dst = appendToRemote(dst, tok[:w], r.cluster)
		} else if hasHint(tok, 'A', false) {
			dst = appendWithoutHints(dst, tok, false)
		} else {
			dst = append(dst, tok...)
		}
		dst = append(dst, '+', 'A')
		dst = append(dst, q.sigs[i][:]...)
		dst = append(dst, '@')
		dst = append(dst, r.expHex...)
		if w < len(tok) {
			dst = signing.AppendToRemote(dst, b2s(tok[w:]), r.cluster)
		}
		last = e
	}
	q.n = 0
	return dst, last
}
