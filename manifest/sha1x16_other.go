//go:build !amd64

package manifest

// Without amd64 assembly the rewrite signs one locator at a time and scans
// bytes one at a time; the output is the same.
var (
	haveSHA1x16 = false
	haveWSMasks = false
)

func sha1x16Blocks(state *[5][16]uint32, w *[16][16]uint32, n int) {
	panic("sha1x16Blocks: no AVX-512 on this platform")
}

func classify(dst *maskWord, src *byte, words int) {
	panic("classify: no AVX2 on this platform")
}

func classifySpacePlus(dst *spaceWord, src *byte, words int) {
	panic("classifySpacePlus: no AVX2 on this platform")
}
