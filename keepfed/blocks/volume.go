package blocks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Volume is the embedded backend's block store: a directory holding each
// block in a file named by its md5, under a subdirectory named by the
// first three hex digits, as Arvados's directory (unix) volume lays them
// out:
//
//	<DataDir>/keep/<hash[0:3]>/<hash>
//
// Writes go to a temporary file in the block's directory, are fsynced and
// then renamed into place, so a reader never sees a partial block.
type Volume struct {
	root string
}

// ErrBlockNotFound is returned by Volume.Open for a block that is not
// stored.
var ErrBlockNotFound = errors.New("block not found")

// ErrCollision is returned by VolumeWriter.Commit when a block with the
// same hash is already stored with different content: the stored block is
// kept, as keepstore does ("hash collision", 500).
var ErrCollision = errors.New("hash collision")

// NewVolume opens (creating it if needed) the volume under dataDir.
func NewVolume(dataDir string) (*Volume, error) {
	root := filepath.Join(dataDir, "keep")
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("creating volume directory: %w", err)
	}
	return &Volume{root: root}, nil
}

// RemoveTemporary deletes the temporary files of writes that never
// finished (a process killed mid-PUT) and returns how many it removed.
// It must only run when no other process writes to the volume: NewCluster
// calls it holding the record store's exclusive lock on DataDir.
func (v *Volume) RemoveTemporary() (int, error) {
	dirs, err := os.ReadDir(v.root)
	if err != nil {
		return 0, fmt.Errorf("listing volume: %w", err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() || len(d.Name()) != 3 {
			continue
		}
		files, err := os.ReadDir(filepath.Join(v.root, d.Name()))
		if err != nil {
			return n, fmt.Errorf("listing volume: %w", err)
		}
		for _, f := range files {
			if len(f.Name()) > 4 && f.Name()[:4] == "tmp-" && f.Type().IsRegular() {
				if err := os.Remove(filepath.Join(v.root, d.Name(), f.Name())); err == nil {
					n++
				}
			}
		}
	}
	return n, nil
}

// Root returns the volume's directory.
func (v *Volume) Root() string { return v.root }

// BlockPath returns where the block with the given hash is stored.
func (v *Volume) BlockPath(hash string) string {
	return filepath.Join(v.root, hash[:3], hash)
}

// Open opens a stored block and returns its size.
func (v *Volume) Open(hash string) (*os.File, int64, error) {
	f, err := os.Open(v.BlockPath(hash))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, ErrBlockNotFound
		}
		return nil, 0, fmt.Errorf("opening block: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat block: %w", err)
	}
	return f, st.Size(), nil
}

// VolumeWriter writes one block to a temporary file; Commit puts it in
// place, Abort removes it. Exactly one of them must be called.
type VolumeWriter struct {
	f      *os.File
	final  string
	closed bool
}

// NewWriter starts writing the block with the given hash.
func (v *Volume) NewWriter(hash string) (*VolumeWriter, error) {
	dir := filepath.Join(v.root, hash[:3])
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating block directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "tmp-"+hash+"-*")
	if err != nil {
		return nil, fmt.Errorf("creating temporary block file: %w", err)
	}
	return &VolumeWriter{f: f, final: filepath.Join(dir, hash)}, nil
}

// Write writes block data.
func (w *VolumeWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("writing block: %w", err)
	}
	return n, nil
}

// Commit fsyncs the data and puts it in place without ever replacing a
// stored block: the temporary file is hard-linked to the block's name,
// which fails when the name exists. An existing block with the same
// bytes is only touched (its mtime set to now, as keepstore does); one
// with different bytes is kept and Commit returns ErrCollision. The
// temporary file is gone when Commit returns.
func (w *VolumeWriter) Commit() error {
	if w.closed {
		return errors.New("block writer already closed")
	}
	w.closed = true
	name := w.f.Name()
	defer os.Remove(name)
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("syncing block: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("closing block: %w", err)
	}
	err := os.Link(name, w.final)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return existing(name, w.final)
	}
	// a file system without hard links: check, then rename (a block
	// stored between the two is replaced by identical bytes, or by
	// different ones only in that window)
	if _, serr := os.Lstat(w.final); serr == nil {
		return existing(name, w.final)
	}
	if err := os.Rename(name, w.final); err != nil {
		return fmt.Errorf("renaming block into place: %w", err)
	}
	return nil
}

// existing settles a write of a block whose name is taken: equal bytes
// are a success (the stored block's mtime is set to now), different ones
// ErrCollision.
func existing(tmp, final string) error {
	same, err := sameContent(tmp, final)
	if err != nil {
		return fmt.Errorf("comparing with the stored block: %w", err)
	}
	if !same {
		return ErrCollision
	}
	now := time.Now()
	if err := os.Chtimes(final, now, now); err != nil {
		return fmt.Errorf("touching the stored block: %w", err)
	}
	return nil
}

// sameContent reports whether files a and b hold the same bytes.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil && eb != io.EOF && eb != io.ErrUnexpectedEOF {
			return false, eb
		}
	}
}

// IsNoSpace reports whether err means the volume is full: no space left
// on the device (ENOSPC) or the quota is exhausted (EDQUOT).
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Abort discards the data written so far. It is a no-op after Commit.
func (w *VolumeWriter) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	name := w.f.Name()
	w.f.Close()
	os.Remove(name)
}
