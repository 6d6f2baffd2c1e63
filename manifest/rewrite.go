package manifest

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/keepfed/keepfed/signing"
)

// operation is what a Rewriter does to each block token.
type operation uint8

const (
	opCopy operation = iota
	opSign
	opStrip
	opToRemote
	opFromRemote
)

// Rewriter is one configured manifest rewrite: sign, strip, to-remote or
// from-remote. Build it with Sign, Strip, ToRemote, ToRemoteSigned or
// FromRemote, then call Append for each manifest. A Rewriter is a small
// value, immutable once built and safe for concurrent use. The zero value
// copies manifests unchanged.
//
// Which tokens are block tokens follows the Arvados code each operation
// reproduces: Sign and Strip look at every run of non-whitespace (space,
// \t, \n, \f, \r) that starts with 32 lowercase hex digits, as
// SignManifest does; ToRemote, ToRemoteSigned and FromRemote look at every
// match of ` [0-9a-f]{32}\+[^ ]*`, as the controller's rewrite does (the
// token is preceded by a space and runs to the next space, newlines
// included). All other bytes are copied unchanged.
type Rewriter struct {
	op      operation
	stripR  bool
	cluster string
	key     *signing.Key // nil: no +A is appended
	batch   *batchSigner // nil: sign one token at a time with key
	token   string
	expHex  string
	ttlHex  string
	par     parallelism
}

// Sign returns a Rewriter that does what Arvados's SignManifest does
// (spec 4.5): from every block token it removes all +A hints and appends a
// fresh "+A<sig>@<expiry>" made with the current key of keys for token and
// expiry (Unix seconds). With an empty key or token the +A hints are only
// removed, as in Arvados.
func Sign(keys *signing.KeyRing, token string, expiry int64) Rewriter {
	r := Rewriter{op: opSign, par: defaultParallel}
	r.setSigner(keys, token, expiry)
	return r
}

// Strip returns a Rewriter that removes every +A hint from block tokens,
// as RailsAPI does before storing a manifest. With remoteHints it also
// removes every +R hint, leaving plain hash+size (and other hints).
func Strip(remoteHints bool) Rewriter {
	return Rewriter{op: opStrip, stripR: remoteHints, par: defaultParallel}
}

// ToRemote returns a Rewriter that does what an Arvados controller does to
// a manifest fetched from cluster (spec 3.5): in every block token each
// "+A" becomes "+R<cluster>-". Signatures and expiries are untouched.
func ToRemote(cluster string) Rewriter {
	return Rewriter{op: opToRemote, cluster: cluster, par: defaultParallel}
}

// ToRemoteSigned is ToRemote followed, in the same pass, by a fresh local
// "+A" signature (keys' current key, the reader's token, expiry) appended
// to every block token, so that this cluster's keepstores also accept the
// locator. In a malformed manifest where the space-delimited token runs
// into other whitespace (a newline, a tab), the +A goes before it. With an
// empty key or token it is ToRemote.
func ToRemoteSigned(cluster string, keys *signing.KeyRing, token string, expiry int64) Rewriter {
	r := Rewriter{op: opToRemote, cluster: cluster, par: defaultParallel}
	r.setSigner(keys, token, expiry)
	return r
}

// FromRemote returns the inverse of ToRemote for a manifest being sent to
// cluster: in every block token, each hint "+R<cluster>-<rest>" becomes
// "+A<rest>", every +A hint (a signature of this cluster, meaningless
// there) is dropped, and all other hints, including +R hints of other
// clusters, are kept in order. FromRemote(c) undoes ToRemote(c) and
// ToRemoteSigned(c, ...) on any manifest without "+R<c>-" hints.
func FromRemote(cluster string) Rewriter {
	return Rewriter{op: opFromRemote, cluster: cluster, par: defaultParallel}
}

func (r *Rewriter) setSigner(keys *signing.KeyRing, token string, expiry int64) {
	if keys == nil || !keys.CanSign() || token == "" {
		return
	}
	r.key = keys.Current()
	r.token = token
	r.expHex = string(signing.AppendExpiryHex(nil, expiry))
	r.ttlHex = string(signing.AppendTTLHex(nil, keys.TTL()))
	in, out := r.key.PadStates()
	r.batch = newBatchSigner(in, out, "@"+r.token+"@"+r.expHex+"@"+r.ttlHex)
}

// WithoutBatch returns a copy of r that computes its +A signatures one at
// a time even where the CPU could compute sixteen at once (AVX-512). The
// output is identical; tests and benchmarks use it to compare the two.
func (r Rewriter) WithoutBatch() Rewriter {
	r.batch = nil
	return r
}

// WithParallelism returns a copy of r that splits manifests of at least
// threshold bytes across workers goroutines. threshold <= 0 keeps the
// default (DefaultParallelThreshold); workers <= 0 means GOMAXPROCS;
// workers == 1 never splits.
func (r Rewriter) WithParallelism(threshold, workers int) Rewriter {
	r.par = newParallelism(threshold, workers)
	return r
}

// Append appends the rewritten manifest m to dst and returns the extended
// buffer. m may be any bytes; invalid manifests are rewritten by the same
// token rules as Arvados applies (no validation is done here, use Check).
// If dst has room for MaxLen(m) more bytes nothing is allocated; otherwise
// at most one allocation grows dst. Manifests of at least the parallel
// threshold are split between tokens and rewritten on all cores; the
// output is identical to AppendSerial.
func (r Rewriter) Append(dst, m []byte) []byte {
	return r.par.appendRewrite(&r, dst, m)
}

// AppendSerial is Append on the calling goroutine only.
func (r Rewriter) AppendSerial(dst, m []byte) []byte {
	return serialParallelism.appendRewrite(&r, dst, m)
}

// Rewrite returns the rewritten manifest in a new buffer.
func (r Rewriter) Rewrite(m []byte) []byte { return r.Append(nil, m) }

// MaxLen returns an upper bound of the length of the rewrite of m (for any
// m of that length). A dst with that much spare capacity makes Append
// allocation-free.
func (r Rewriter) MaxLen(m []byte) int { return r.maxLen(len(m)) }

func (r *Rewriter) maxLen(n int) int {
	sig := 0
	if r.key != nil {
		// "+A" 40 hex "@" expiry per block token; a block token has at
		// least 32 bytes plus one separator.
		sig = (n/33 + 1) * (2 + signing.SignatureLen + 1 + len(r.expHex))
	}
	switch r.op {
	case opToRemote:
		// every "+A" (2 bytes) may become "+R<cluster>-".
		return n + n/2*(len(r.cluster)+1) + sig
	case opSign:
		return n + sig
	}
	return n
}

// appendChunk rewrites one piece of a manifest that starts at a line
// boundary (or the manifest start) into dst.
func (r *Rewriter) appendChunk(dst, m []byte) []byte {
	switch r.op {
	case opSign, opStrip:
		return r.appendWhitespaceTokens(dst, m)
	case opToRemote, opFromRemote:
		return r.appendSpaceTokens(dst, m)
	}
	return append(dst, m...)
}

// appendWhitespaceTokens runs Sign or Strip over m: tokens are maximal
// runs of non-whitespace, block tokens start with 32 lowercase hex digits.
func (r *Rewriter) appendWhitespaceTokens(dst, m []byte) []byte {
	if haveWSMasks {
		return r.appendWhitespaceTokensMasked(dst, m)
	}
	var q signQueue
	last, i, n := 0, 0, len(m)
	for i < n {
		if isSpace[m[i]] {
			i++
			continue
		}
		if n-i < 32 || !isLowerHex32(m[i:]) {
			i = nextSpace(m, i+1)
			continue
		}
		end := nextSpace(m, i+32)
		dst, last = r.blockToken(dst, m, &q, last, i, end)
		i = end
	}
	dst, last = q.flush(r, dst, m, last)
	return append(dst, m[last:]...)
}

// blockToken handles the Sign or Strip block token m[i:end]: written out
// now, queued for batch signing, or left to be copied with the text
// around it. last is the end of what has been written so far.
func (r *Rewriter) blockToken(dst, m []byte, q *signQueue, last, i, end int) ([]byte, int) {
	tok := m[i:end]
	switch {
	case r.op == opSign && r.batch != nil:
		q.spans[q.n] = [3]int{i, end, end}
		if q.n++; q.n == len(q.spans) {
			dst, last = q.flush(r, dst, m, last)
		}
	case r.op == opSign:
		dst = append(dst, m[last:i]...)
		dst = r.appendSigned(dst, tok)
		last = end
	case hasHint(tok, 'A', r.stripR):
		dst = append(dst, m[last:i]...)
		dst = appendWithoutHints(dst, tok, r.stripR)
		last = end
	}
	return dst, last
}

// appendSigned appends tok without its +A hints and with a fresh +A.
func (r *Rewriter) appendSigned(dst, tok []byte) []byte {
	hashLen := bytes.IndexByte(tok, '+')
	if hashLen < 0 {
		hashLen = len(tok)
	}
	if hasHint(tok[hashLen:], 'A', false) {
		dst = appendWithoutHints(dst, tok, false)
	} else {
		dst = append(dst, tok...)
	}
	return r.appendSignature(dst, tok[:hashLen])
}

// appendSignature appends "+A<sig>@<expiry>" for hash, if r signs.
func (r *Rewriter) appendSignature(dst, hash []byte) []byte {
	if r.key == nil {
		return dst
	}
	dst = append(dst, '+', 'A')
	dst = r.key.AppendSignature(dst, b2s(hash), r.token, r.expHex, r.ttlHex)
	dst = append(dst, '@')
	return append(dst, r.expHex...)
}

// hasHint reports whether tok has a hint starting with letter, or with
// 'R' when alsoR is set.
func hasHint(tok []byte, letter byte, alsoR bool) bool {
	for {
		p := bytes.IndexByte(tok, '+')
		if p < 0 || p+1 >= len(tok) {
			return false
		}
		if c := tok[p+1]; c == letter || (alsoR && c == 'R') {
			return true
		}
		tok = tok[p+1:]
	}
}

// appendWithoutHints appends tok with every "+A[^+]*" (and "+R[^+]*" when
// alsoR) removed.
func appendWithoutHints(dst, tok []byte, alsoR bool) []byte {
	p := bytes.IndexByte(tok, '+')
	if p < 0 {
		return append(dst, tok...)
	}
	dst = append(dst, tok[:p]...)
	rest := tok[p:]
	for len(rest) > 0 {
		n := bytes.IndexByte(rest[1:], '+') + 1
		if n == 0 {
			n = len(rest)
		}
		part := rest[:n]
		if len(part) < 2 || (part[1] != 'A' && (!alsoR || part[1] != 'R')) {
			dst = append(dst, part...)
		}
		rest = rest[n:]
	}
	return dst
}

// appendSpaceTokens runs ToRemote or FromRemote over m: block tokens are
// matches of ` [0-9a-f]{32}\+[^ ]*`.
func (r *Rewriter) appendSpaceTokens(dst, m []byte) []byte {
	if haveWSMasks {
		return r.appendSpaceTokensMasked(dst, m)
	}
	var q signQueue
	last, i, n := 0, 0, len(m)
	for {
		sp := bytes.IndexByte(m[i:], ' ')
		if sp < 0 {
			break
		}
		s := i + sp + 1
		if n-s < 33 || m[s+32] != '+' || !isLowerHex32(m[s:]) {
			i = s
			continue
		}
		var e int
		dst, last, e = r.spaceToken(dst, m, &q, last, s)
		if e == n {
			break
		}
		i = e
	}
	dst, last = q.flush(r, dst, m, last)
	return append(dst, m[last:]...)
}

// spaceToken handles the ToRemote or FromRemote block token that starts
// at s (after a space, 32 hex digits, '+') and runs to the next space,
// returned as e.
func (r *Rewriter) spaceToken(dst, m []byte, q *signQueue, last, s int) ([]byte, int, int) {
	// w: the first whitespace of any kind; e: the first space. They are
	// the same but in malformed manifests.
	w := nextSpace(m, s+33)
	e := w
	if w < len(m) && m[w] != ' ' {
		if j := bytes.IndexByte(m[w:], ' '); j >= 0 {
			e = w + j
		} else {
			e = len(m)
		}
	}
	tok := m[s:e]
	switch {
	case r.op == opToRemote && r.batch != nil:
		q.spans[q.n] = [3]int{s, e, w}
		if q.n++; q.n == len(q.spans) {
			dst, last = q.flush(r, dst, m, last)
		}
	case r.op == opToRemote && r.key != nil:
		// The local +A goes at the end of the locator proper, before any
		// other whitespace the space-delimited token runs into.
		dst = append(dst, m[last:s]...)
		dst = appendToRemote(dst, m[s:w], r.cluster)
		dst = r.appendSignature(dst, tok[:32])
		dst = signing.AppendToRemote(dst, b2s(m[w:e]), r.cluster)
		last = e
	case r.op == opToRemote:
		if hasHint(tok[32:], 'A', false) {
			dst = append(dst, m[last:s]...)
			dst = appendToRemote(dst, tok, r.cluster)
			last = e
		}
	case hasHint(tok[32:], 'A', true):
		dst = append(dst, m[last:s]...)
		dst = appendFromRemote(dst, tok, r.cluster)
		last = e
	}
	return dst, last, e
}

// appendFromRemote appends tok (32 hex digits, then '+' and hints) with
// "+R<cluster>-<rest>" hints turned into "+A<rest>", +A hints dropped (up
// to the next '+' or whitespace: a malformed token can run past a newline)
// and everything else kept. Unlike signing.AppendFromRemote, the first hint is
// treated like the others, so that a signed locator without a size hint
// also survives the round trip.
func appendFromRemote(dst, tok []byte, cluster string) []byte {
	dst = append(dst, tok[:32]...)
	rest := tok[32:]
	for len(rest) > 0 {
		n := bytes.IndexByte(rest[1:], '+') + 1
		if n == 0 {
			n = len(rest)
		}
		part := rest[1:n]
		switch {
		case len(part) > 0 && part[0] == 'A':
			dst = append(dst, part[nextSpace(part, 1):]...)
		case len(part) >= len(cluster)+2 && part[0] == 'R' && part[1+len(cluster)] == '-' &&
			string(part[1:1+len(cluster)]) == cluster:
			dst = append(dst, '+', 'A')
			dst = append(dst, part[2+len(cluster):]...)
		default:
			dst = append(dst, rest[:n]...)
		}
		rest = rest[n:]
	}
	return dst
}

// isSpace marks the bytes Go's regexp \s matches: the separators of
// SignManifest's tokens.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\f': true, '\r': true}

// lowerHex marks 0-9 and a-f.
var lowerHex = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = true
	}
	return t
}()

// isLowerHex32 reports whether b starts with 32 lowercase hex digits;
// len(b) must be at least 32.
func isLowerHex32(b []byte) bool {
	b = b[:32]
	for _, c := range b {
		if !lowerHex[c] {
			return false
		}
	}
	return true
}

// nextSpace returns the index of the first isSpace byte in m at or after
// i, or len(m). It tests eight bytes at a time for any byte below 0x21.
func nextSpace(m []byte, i int) int {
	for ; i+8 <= len(m); i += 8 {
		x := binary.LittleEndian.Uint64(m[i:])
		t := (x - 0x2121212121212121) &^ x & 0x8080808080808080
		if t == 0 {
			continue
		}
		// The lowest flagged byte is the first one below 0x21.
		for j := i + bits.TrailingZeros64(t)>>3; j < i+8; j++ {
			if isSpace[m[j]] {
				return j
			}
		}
	}
	for ; i < len(m); i++ {
		if isSpace[m[i]] {
			return i
		}
	}
	return len(m)
}

// b2s views b as a string without copying; b must not change while the
// string is in use.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// appendToRemote is signing.AppendToRemote for tok (32 hex digits, then
// hints), written for short tokens: it looks for '+' rather than for the
// substring "+A".
func appendToRemote(dst, tok []byte, cluster string) []byte {
	if len(tok) < signing.HashLen {
		return signing.AppendToRemote(dst, b2s(tok), cluster)
	}
	dst = append(dst, tok[:signing.HashLen]...)
	tok = tok[signing.HashLen:]
	for {
		i := bytes.IndexByte(tok, '+')
		if i < 0 {
			return append(dst, tok...)
		}
		if i+1 < len(tok) && tok[i+1] == 'A' {
			dst = append(dst, tok[:i]...)
			dst = append(dst, '+', 'R')
			dst = append(dst, cluster...)
			dst = append(dst, '-')
			tok = tok[i+2:]
			continue
		}
		dst = append(dst, tok[:i+1]...)
		tok = tok[i+1:]
	}
}

// PieceLen returns how much of m to rewrite next when rewriting it a
// piece at a time: all of it when it is at most about max bytes, else up
// to the last space before max (the first one after, when there is
// none). A space never falls inside a token, so rewriting the pieces one
// after another gives the rewrite of m whole; nor inside a JSON escape,
// so m may also be the escaped text of a manifest.
func PieceLen(m []byte, max int) int {
	if len(m) <= max {
		return len(m)
	}
	if i := bytes.LastIndexByte(m[:max], ' '); i > 0 {
		return i
	}
	if i := bytes.IndexByte(m[max:], ' '); i >= 0 {
		return max + i
	}
	return len(m)
}
