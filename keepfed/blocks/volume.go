package blocks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// Commit fsyncs the data and renames it into place.
func (w *VolumeWriter) Commit() error {
	if w.closed {
		return errors.New("block writer already closed")
	}
	w.closed = true
	name := w.f.Name()
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(name)
		return fmt.Errorf("syncing block: %w", err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("closing block: %w", err)
	}
	if err := os.Rename(name, w.final); err != nil {
		os.Remove(name)
		return fmt.Errorf("renaming block into place: %w", err)
	}
	return nil
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
