package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Normalize returns m in the normal form Arvados's Go SDK writes
// (Collection.FileSystem then MarshalManifest, spec 4.3): one stream per
// directory, streams sorted, files sorted, each stream listing the blocks
// its files use in file order, file names without '/', and a placeholder
// file "\056" in every empty directory. It accepts what the Go SDK accepts,
// which is more than Check does (any hash, any hints, names that are not
// escaped canonically), and when the Go SDK refuses m it returns an error
// with the SDK's message, e.g. `malformed manifest_text: line 1: no
// trailing newline`.
func Normalize(m []byte) ([]byte, error) {
	root := newNormDir(nil)
	if err := root.load(m); err != nil {
		return nil, fmt.Errorf("malformed manifest_text: %w", err)
	}
	return root.marshal(make([]byte, 0, len(m)), "."), nil
}

// The Go SDK's file system errors that loading can report.
var (
	errInvalidArgument = errors.New("invalid argument")
	errFileExists      = errors.New("file exists")
	errIsDirectory     = errors.New("cannot rewrite a directory")
)

// emptyBlock is the locator of the empty block.
const emptyBlock = "d41d8cd98f00b204e9800998ecf8427e+0"

// normDir and normFile model the Go SDK's collection file system.
type normDir struct {
	parent   *normDir
	children map[string]any // *normDir or *normFile
}

type normFile struct {
	segs []normSeg
}

// normSeg is length bytes at offset of block locator (of size bytes).
type normSeg struct {
	locator              string
	size, offset, length int64
}

func newNormDir(parent *normDir) *normDir {
	return &normDir{parent: parent, children: map[string]any{}}
}

// load reads a manifest the way the Go SDK's loadManifest does.
func (root *normDir) load(txt []byte) error {
	lines := bytes.Split(txt, []byte{'\n'})
	if len(lines[len(lines)-1]) != 0 {
		return fmt.Errorf("line %d: no trailing newline", len(lines))
	}
	lines = lines[:len(lines)-1]
	var blocks []normSeg
	for i, line := range lines {
		lineno := i + 1
		var dirname string
		anyFileTokens := false
		var pos int64
		segIdx := 0
		blocks = blocks[:0]
		for ti, tok := range bytes.Split(line, []byte{' '}) {
			if ti == 0 {
				dirname = Unescape(string(tok))
				continue
			}
			if bytes.IndexByte(tok, ':') < 0 {
				if anyFileTokens {
					return fmt.Errorf("line %d: bad file segment %q", lineno, tok)
				}
				toks := bytes.SplitN(tok, []byte{'+'}, 3)
				if len(toks) < 2 {
					return fmt.Errorf("line %d: bad locator %q", lineno, tok)
				}
				length, err := strconv.ParseInt(string(toks[1]), 10, 32)
				if err != nil || length < 0 {
					return fmt.Errorf("line %d: bad locator %q", lineno, tok)
				}
				blocks = append(blocks, normSeg{locator: string(tok), size: length, length: length})
				continue
			} else if len(blocks) == 0 {
				return fmt.Errorf("line %d: bad locator %q", lineno, tok)
			}
			toks := bytes.SplitN(tok, []byte{':'}, 3)
			if len(toks) != 3 {
				return fmt.Errorf("line %d: bad file segment %q", lineno, tok)
			}
			anyFileTokens = true
			offset, err := strconv.ParseInt(string(toks[0]), 10, 64)
			if err != nil || offset < 0 {
				return fmt.Errorf("line %d: bad file segment %q", lineno, tok)
			}
			length, err := strconv.ParseInt(string(toks[1]), 10, 64)
			if err != nil || length < 0 {
				return fmt.Errorf("line %d: bad file segment %q", lineno, tok)
			}
			fn, err := root.createFileAndParents(dirname + "/" + Unescape(string(toks[2])))
			if fn == nil && err == nil && length == 0 {
				// An empty file named "." keeps an otherwise empty
				// directory in the manifest.
				continue
			}
			if err != nil || (fn == nil && length != 0) {
				return fmt.Errorf("line %d: cannot use name %q with length %d: %s", lineno, toks[2], length, err)
			}
			// Map the stream range to block ranges. A range that starts
			// before the previous one restarts from the first block.
			if pos > offset {
				segIdx, pos = 0, 0
			}
			for ; segIdx < len(blocks); segIdx++ {
				b := blocks[segIdx]
				next := pos + b.length
				if next <= offset || b.length == 0 {
					pos = next
					continue
				}
				if pos >= offset+length {
					break
				}
				var blkOff int64
				if pos < offset {
					blkOff = offset - pos
				}
				blkLen := b.length - blkOff
				if pos+blkOff+blkLen > offset+length {
					blkLen = offset + length - pos - blkOff
				}
				fn.segs = append(fn.segs, normSeg{locator: b.locator, size: b.size, offset: blkOff, length: blkLen})
				if next > offset+length {
					break
				}
				pos = next
			}
			if segIdx == len(blocks) && pos < offset+length {
				return fmt.Errorf("line %d: invalid segment in %d-byte stream: %q", lineno, pos, tok)
			}
		}
		switch {
		case !anyFileTokens:
			return fmt.Errorf("line %d: no file segments", lineno)
		case len(blocks) == 0:
			return fmt.Errorf("line %d: no locators", lineno)
		case dirname == "":
			return fmt.Errorf("line %d: no stream name", lineno)
		}
	}
	return nil
}

// createFileAndParents finds or creates the file at path (components
// separated by '/', "" and "." ignored, ".." going up), creating
// directories on the way. The name "." returns no file and no error.
func (root *normDir) createFileAndParents(path string) (*normFile, error) {
	names := strings.Split(path, "/")
	basename := names[len(names)-1]
	dir := root
	for _, name := range names[:len(names)-1] {
		switch name {
		case "", ".":
			continue
		case "..":
			if dir == root {
				return nil, errInvalidArgument
			}
			dir = dir.parent
			continue
		}
		switch c := dir.children[name].(type) {
		case nil:
			sub := newNormDir(dir)
			dir.children[name] = sub
			dir = sub
		case *normDir:
			dir = c
		default:
			return nil, errFileExists
		}
	}
	switch basename {
	case ".":
		return nil, nil
	case "", "..":
		return nil, fmt.Errorf("invalid file part %q in path %q", basename, path)
	}
	switch c := dir.children[basename].(type) {
	case nil:
		f := &normFile{}
		dir.children[basename] = f
		return f, nil
	case *normFile:
		return c, nil
	default:
		return nil, errIsDirectory
	}
}

// marshal appends the Go SDK's MarshalManifest output for dir, named
// prefix, and its subdirectories.
func (dir *normDir) marshal(dst []byte, prefix string) []byte {
	names := make([]string, 0, len(dir.children))
	for name := range dir.children {
		names = append(names, name)
	}
	sort.Strings(names)
	var dirs, files []string
	for _, name := range names {
		if _, ok := dir.children[name].(*normDir); ok {
			dirs = append(dirs, name)
		} else {
			files = append(files, name)
		}
	}
	type filePart struct {
		name           string
		offset, length int64
	}
	var parts []filePart
	var blocks []string
	var streamLen int64
	for _, name := range files {
		f := dir.children[name].(*normFile)
		if len(f.segs) == 0 {
			parts = append(parts, filePart{name: name})
			continue
		}
		for _, seg := range f.segs {
			if len(blocks) > 0 && blocks[len(blocks)-1] == seg.locator {
				streamLen -= seg.size
			} else {
				blocks = append(blocks, seg.locator)
			}
			next := filePart{name: name, offset: streamLen + seg.offset, length: seg.length}
			if p := len(parts) - 1; p >= 0 && parts[p].name == name && parts[p].offset+parts[p].length == next.offset {
				parts[p].length += next.length
			} else {
				parts = append(parts, next)
			}
			streamLen += seg.size
		}
	}
	switch {
	case len(parts) > 0:
		if len(blocks) == 0 {
			blocks = append(blocks, emptyBlock)
		}
		dst = AppendEscape(dst, prefix)
		for _, b := range blocks {
			dst = append(dst, ' ')
			dst = append(dst, b...)
		}
		for _, p := range parts {
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, p.offset, 10)
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, p.length, 10)
			dst = append(dst, ':')
			dst = AppendEscape(dst, p.name)
		}
		dst = append(dst, '\n')
	case len(dirs) == 0 && dir.parent != nil:
		dst = AppendEscape(dst, prefix)
		dst = append(dst, " "+emptyBlock+` 0:0:\056`+"\n"...)
	}
	for _, name := range dirs {
		dst = dir.children[name].(*normDir).marshal(dst, prefix+"/"+name)
	}
	return dst
}
