package manifest

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

const (
	// Name is the MANIFEST's file name in the database directory.
	Name = "MANIFEST"
	// TempName is the name it is written under before the rename.
	TempName = "MANIFEST.tmp"
)

// Read reads and verifies the MANIFEST of dir. A missing file gives a
// NotFound error that also satisfies errors.Is(err, fs.ErrNotExist); a
// damaged one a Corruption error; an I/O error an Internal error wrapping
// it.
func Read(fsys vfs.FS, dir string) (format.Manifest, error) {
	path := filepath.Join(dir, Name)
	f, err := fsys.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return format.Manifest{}, dberr.Wrap(dberr.NotFound, "manifest.Read", err, "%s does not exist", path)
		}
		return format.Manifest{}, dberr.Wrap(dberr.Internal, "manifest.Read", err, "opening %s", path)
	}
	defer f.Close()
	// Read at most one byte more than the largest valid MANIFEST, whatever
	// the file's size says: it is enough to tell a file that is too long,
	// and a size read before the bytes can be stale.
	b, err := io.ReadAll(io.LimitReader(f, format.MaxManifestSize+1))
	if err != nil {
		return format.Manifest{}, dberr.Wrap(dberr.Internal, "manifest.Read", err, "reading %s", path)
	}
	if len(b) > format.MaxManifestSize {
		return format.Manifest{}, dberr.NewCorruption(path, -1, "MANIFEST is longer than %d bytes", format.MaxManifestSize)
	}
	m, err := format.DecodeManifest(b)
	if err != nil {
		return format.Manifest{}, dberr.NewCorruption(path, 0, "%v", err)
	}
	return m, nil
}

// Write atomically replaces the MANIFEST of dir with m. On error the
// MANIFEST is the old one or the new one, whole, and MANIFEST.tmp is
// removed (best effort: recovery removes it otherwise).
func Write(fsys vfs.FS, dir string, m format.Manifest) error {
	// The encoding would be unreadable, and it would replace a good one.
	if !codec.ValidID(m.CodecID) {
		return dberr.New(dberr.InvalidArgument, "manifest.Write", "codec ID %q is not 1 to 64 printable ASCII bytes", m.CodecID)
	}
	tmp := filepath.Join(dir, TempName)
	if err := write(fsys, dir, tmp, m); err != nil {
		fsys.Remove(tmp)
		return dberr.Wrap(dberr.Internal, "manifest.Write", err, "replacing %s", filepath.Join(dir, Name))
	}
	return nil
}

func write(fsys vfs.FS, dir, tmp string, m format.Manifest) error {
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(format.AppendManifest(nil, m))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, Name)); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
