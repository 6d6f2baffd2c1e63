package manifest

import "bytes"

// FileStats returns the number of files a manifest holds and their total
// size, as Arvados computes a collection's file_count and file_size_total:
// a file is a distinct (directory, name) pair however many segments or
// streams it spans, a zero-length "." (an empty directory's placeholder)
// is not a file, and the size is the sum of every file segment. The
// manifest is read one line at a time, so memory stays in proportion to
// the longest line and the number of distinct files.
func FileStats(m []byte) (count int, size int64, err error) {
	seen := map[string]struct{}{}
	var key []byte
	var streams []Stream
	for line := 1; len(m) > 0; line++ {
		i := bytes.IndexByte(m, '\n')
		if i < 0 {
			return 0, 0, syntaxErr(line, 0, nil, "no newline at end of manifest")
		}
		streams = streams[:0]
		if err := scanLine(m[:i], line, &streams); err != nil {
			return 0, 0, err
		}
		m = m[i+1:]
		for _, s := range streams {
			for _, f := range s.Files {
				size += f.Size
				if f.Name == "." && f.Size == 0 {
					continue
				}
				key = append(append(append(key[:0], s.Name...), '/'), f.Name...)
				if _, ok := seen[string(key)]; !ok {
					seen[string(key)] = struct{}{}
				}
			}
		}
	}
	return len(seen), size, nil
}
