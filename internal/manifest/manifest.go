package manifest

import (
	"errors"
	"io/fs"
	"path/filepath"

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

// Read reads and verifies the MANIFEST of dir. A missing file gives an error
// satisfying errors.Is(err, fs.ErrNotExist); a damaged one a Corruption
// error.
func Read(fsys vfs.FS, dir string) (format.Manifest, error) {
	path := filepath.Join(dir, Name)
	st, err := fsys.Stat(path)
	if err != nil {
		return format.Manifest{}, err
	}
	if st.Size() > format.MaxManifestSize {
		return format.Manifest{}, dberr.NewCorruption(path, -1, "MANIFEST is %d bytes, at most %d expected", st.Size(), format.MaxManifestSize)
	}
	b, err := vfs.ReadFile(fsys, path)
	if err != nil {
		return format.Manifest{}, err
	}
	m, err := format.DecodeManifest(b)
	if err != nil {
		return format.Manifest{}, dberr.NewCorruption(path, 0, "%v", err)
	}
	return m, nil
}

// Write atomically replaces the MANIFEST of dir with m.
func Write(fsys vfs.FS, dir string, m format.Manifest) error {
	tmp := filepath.Join(dir, TempName)
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
