// Package manifestgen generates the deterministic manifests that the
// manifest tests and the side-by-side benchmarks share: (i) one stream of
// many 64 MiB block locators, (ii) many streams of small files.
package manifestgen

import (
	"crypto/md5"
	"encoding/binary"
	"strconv"
)

const hexDigits = "0123456789abcdef"

// Hash appends a deterministic fake block hash for block number i.
func Hash(dst []byte, i uint64) []byte {
	var in [8]byte
	binary.LittleEndian.PutUint64(in[:], i)
	sum := md5.Sum(in[:])
	for _, b := range sum {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	return dst
}

// OneStream builds benchmark manifest (i): one stream with n locators
// of 64 MiB blocks and one file spanning all of them.
func OneStream(n int) []byte {
	m := make([]byte, 0, n*42+64)
	m = append(m, '.')
	for i := 0; i < n; i++ {
		m = append(m, ' ')
		m = Hash(m, uint64(i))
		m = append(m, "+67108864"...)
	}
	m = append(m, " 0:"...)
	m = strconv.AppendInt(m, int64(n)<<26, 10)
	m = append(m, ":genome.bam\n"...)
	return m
}

// SmallFiles builds benchmark manifest (ii): streams streams, each with
// blocks blocks and files small files whose names have up to 40 bytes
// (a few with escaped spaces).
func SmallFiles(streams, blocks, files int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789_-."
	m := make([]byte, 0, streams*(blocks*42+files*36+32))
	seed := uint64(1)
	rnd := func() uint64 { seed = seed*6364136223846793005 + 1442695040888963407; return seed >> 33 }
	for s := 0; s < streams; s++ {
		m = append(m, "./dir"...)
		m = strconv.AppendInt(m, int64(s/100), 10)
		m = append(m, "/sub"...)
		m = strconv.AppendInt(m, int64(s), 10)
		var total int64
		for b := 0; b < blocks; b++ {
			size := int64(1<<20 + rnd()%(1<<20))
			total += size
			m = append(m, ' ')
			m = Hash(m, uint64(s*blocks+b))
			m = append(m, '+')
			m = strconv.AppendInt(m, size, 10)
		}
		var pos int64
		for f := 0; f < files; f++ {
			size := total / int64(files)
			m = append(m, ' ')
			m = strconv.AppendInt(m, pos, 10)
			m = append(m, ':')
			m = strconv.AppendInt(m, size, 10)
			m = append(m, ':')
			nameLen := 1 + int(rnd()%40)
			for c := 0; c < nameLen; c++ {
				if c > 0 && c < nameLen-4 && rnd()%23 == 0 {
					m = append(m, `\040`...)
					c += 3
					continue
				}
				m = append(m, letters[rnd()%uint64(len(letters)-1)])
			}
			pos += size
		}
		m = append(m, '\n')
	}
	return m
}
