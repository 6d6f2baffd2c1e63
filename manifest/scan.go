package manifest

import "math/bits"

// maskWord classifies 64 bytes: bit i is set when byte i is a space,
// whitespace (space, \t, \n, \f, \r: Go's \s), a lowercase hex digit, '+'.
type maskWord struct {
	space, ws, hex, plus uint64
}

// maskWords is how many 64-byte words the masked scans classify at once.
const maskWords = 64

// classifyWindow classifies m[base:] for up to maskWords words, plus one
// word of lookahead, into cls, and returns the number of words that cover
// the window itself. Bytes past the end of m count as spaces and
// whitespace, and not as hex digits or '+'.
func classifyWindow(cls *[maskWords + 1]maskWord, m []byte, base int) int {
	rest := len(m) - base
	words := min((rest+63)/64, maskWords)
	fill := min(rest, (maskWords+1)*64)
	full := fill / 64
	if full > 0 {
		classify(&cls[0], &m[base], full)
	}
	next := full
	if tail := fill % 64; tail != 0 {
		cls[full] = classifyTail(m[base+full*64 : base+fill])
		next++
	}
	for ; next <= maskWords; next++ {
		cls[next] = maskWord{space: ^uint64(0), ws: ^uint64(0)}
	}
	return words
}

// classifyTail classifies fewer than 64 bytes without AVX2.
func classifyTail(b []byte) maskWord {
	var w maskWord
	for j, c := range b {
		bit := uint64(1) << j
		if c == ' ' {
			w.space |= bit
		}
		if isSpace[c] {
			w.ws |= bit
		}
		if lowerHex[c] {
			w.hex |= bit
		}
		if c == '+' {
			w.plus |= bit
		}
	}
	past := ^uint64(0) << len(b)
	w.space |= past
	w.ws |= past
	return w
}

// run32 returns the bits p of lo for which bits p to p+31 of the 128-bit
// value hi:lo are all set.
func run32(lo, hi uint64) uint64 {
	l, h := lo&(lo>>1|hi<<63), hi&(hi>>1)
	l, h = l&(l>>2|h<<62), h&(h>>2)
	l, h = l&(l>>4|h<<60), h&(h>>4)
	l, h = l&(l>>8|h<<56), h&(h>>8)
	return l & (l>>16 | h<<48)
}

// appendWhitespaceTokensMasked is appendWhitespaceTokens with the bytes
// classified 64 at a time (AVX2): a token is a block token when it starts
// after whitespace on a run of 32 hex digits, which bit operations on the
// masks find, so no other token is looked at byte by byte.
func (r *Rewriter) appendWhitespaceTokensMasked(dst, m []byte) []byte {
	var q signQueue
	var cls [maskWords + 1]maskWord
	last, pos, n := 0, 0, len(m)
	prev := uint64(1) // the byte before m counts as whitespace
	for base := 0; base < n; base += maskWords * 64 {
		words := classifyWindow(&cls, m, base)
		for wi := 0; wi < words; wi++ {
			c := &cls[wi]
			starts := ^c.ws & (c.ws<<1 | prev)
			prev = c.ws >> 63
			cand := starts & run32(c.hex, cls[wi+1].hex)
			for cand != 0 {
				i := base + wi*64 + bits.TrailingZeros64(cand)
				cand &= cand - 1
				if i < pos {
					continue
				}
				end := nextSpace(m, i+32)
				dst, last = r.blockToken(dst, m, &q, last, i, end)
				pos = end
			}
		}
	}
	dst, last = q.flush(r, dst, m, last)
	return append(dst, m[last:]...)
}

// spaceWord classifies 64 bytes for the remote rewrites: bit i is set
// when byte i is a space, '+'.
type spaceWord struct {
	space, plus uint64
}

// classifySpaceWindow is classifyWindow for spaceWord.
func classifySpaceWindow(cls *[maskWords + 1]spaceWord, m []byte, base int) int {
	rest := len(m) - base
	words := min((rest+63)/64, maskWords)
	fill := min(rest, (maskWords+1)*64)
	full := fill / 64
	if full > 0 {
		classifySpacePlus(&cls[0], &m[base], full)
	}
	next := full
	if tail := fill % 64; tail != 0 {
		w := classifyTail(m[base+full*64 : base+fill])
		cls[full] = spaceWord{space: w.space, plus: w.plus}
		next++
	}
	for ; next <= maskWords; next++ {
		cls[next] = spaceWord{space: ^uint64(0)}
	}
	return words
}

// appendSpaceTokensMasked is appendSpaceTokens with the spaces and '+'
// found 64 bytes at a time (AVX2): a block token starts after a space
// with '+' 32 bytes on; only those few places are checked for 32 hex
// digits.
func (r *Rewriter) appendSpaceTokensMasked(dst, m []byte) []byte {
	var q signQueue
	var cls [maskWords + 1]spaceWord
	last, n := 0, len(m)
	prev := uint64(0) // a token at the start of m is not preceded by a space
	for base := 0; base < n; base += maskWords * 64 {
		words := classifySpaceWindow(&cls, m, base)
		for wi := 0; wi < words; wi++ {
			c, next := &cls[wi], &cls[wi+1]
			after := c.space<<1 | prev
			prev = c.space >> 63
			cand := after & (c.plus>>32 | next.plus<<32)
			for cand != 0 {
				s := base + wi*64 + bits.TrailingZeros64(cand)
				cand &= cand - 1
				if isLowerHex32(m[s:]) {
					dst, last, _ = r.spaceToken(dst, m, &q, last, s)
				}
			}
		}
	}
	dst, last = q.flush(r, dst, m, last)
	return append(dst, m[last:]...)
}
