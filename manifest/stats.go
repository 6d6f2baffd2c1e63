package manifest

import "bytes"

// FileStats returns the number of files a manifest holds and their total
// size, as Arvados computes a collection's file_count and file_size_total:
// a file is a distinct (directory, name) pair however many segments or
// streams it spans, a zero-length "." (an empty directory's placeholder)
// is not a file, and the size is the sum of every file segment. It checks
// the manifest as Check does and builds no Streams, so memory stays in
// proportion to the number of distinct files.
func FileStats(m []byte) (count int, size int64, err error) {
	seen := map[string]struct{}{}
	var key []byte
	v := &visitor{file: func(stream, name []byte, n int64) {
		size += n
		if bytes.IndexByte(stream, '\\') >= 0 {
			stream = AppendUnescape(nil, string(stream))
		}
		if bytes.IndexByte(name, '\\') >= 0 {
			name = AppendUnescape(nil, string(name))
		}
		if n == 0 && string(name) == "." {
			return
		}
		key = append(append(append(key[:0], stream...), '/'), name...)
		if _, ok := seen[string(key)]; !ok {
			seen[string(key)] = struct{}{}
		}
	}}
	if err := scanWith(m, v); err != nil {
		return 0, 0, err
	}
	return len(seen), size, nil
}

// EachLocator checks m as Check does and calls fn with every block
// locator, in order, hints included. The string is valid only during the
// call. An error from fn ends the scan and is returned as it is. Nothing
// is allocated per locator: this is how a large manifest's signatures
// are verified without building its Streams.
func EachLocator(m []byte, fn func(loc string) error) error {
	return scanWith(m, &visitor{locator: func(tok []byte) error { return fn(b2s(tok)) }})
}

// scanWith validates m line by line, giving each line's tokens to v.
func scanWith(m []byte, v *visitor) error {
	for line := 1; len(m) > 0; line++ {
		i := bytes.IndexByte(m, '\n')
		if i < 0 {
			return syntaxErr(line, 0, nil, "no newline at end of manifest")
		}
		if err := scanLineWith(m[:i], line, nil, v); err != nil {
			return err
		}
		m = m[i+1:]
	}
	return nil
}
