package manifest

//go:generate sh -c "go run gen_sha1x16.go > sha1x16_amd64.s"

// sha1x16Blocks runs the SHA-1 compression function on 16 independent
// states at once: state[i][lane] is word i of lane's state, and w holds n
// consecutive blocks, w[k*16+t][lane] being big-endian message word t of
// block k for lane. It needs AVX-512F.
//
//go:noescape
func sha1x16Blocks(state *[5][16]uint32, w *[16][16]uint32, n int)

// hasAVX512 reports whether the CPU and the OS support AVX-512F.
func hasAVX512() bool

// haveSHA1x16 enables batch signing (see newBatchSigner).
var haveSHA1x16 = hasAVX512()

// hasAVX2 reports whether the CPU and the OS support AVX2.
func hasAVX2() bool

// haveWSMasks enables the 64-bytes-at-a-time scans of scan.go (tests turn
// it off to compare with the portable scans).
var haveWSMasks = hasAVX2()

// classify writes, for each of the words 64-byte blocks of src, the bit
// masks of its spaces, whitespace, lowercase hex digits and '+'. It needs
// AVX2.
//
//go:noescape
func classify(dst *maskWord, src *byte, words int)

// classifySpacePlus writes, for each of the words 64-byte blocks of src,
// the bit masks of its spaces and '+'. It needs AVX2.
//
//go:noescape
func classifySpacePlus(dst *spaceWord, src *byte, words int)
