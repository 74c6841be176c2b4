package store

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/vfs"
)

// Names inside a database directory.
const (
	LockName      = "LOCK"
	WALDirName    = "WAL"
	SnapDirName   = "SNAPSHOTS"
	DataDirName   = "DATA"
	ManifestName  = manifest.Name
	ManifestTemp  = manifest.TempName
	TempExtension = ".tmp"
)

// subdirs are the subdirectories of a database directory.
var subdirs = []string{WALDirName, SnapDirName, DataDirName}

// WALDir and SnapDir return the subdirectories of the database in dir.
func WALDir(dir string) string  { return filepath.Join(dir, WALDirName) }
func SnapDir(dir string) string { return filepath.Join(dir, SnapDirName) }

// CreateLayout creates dir (and its missing parents) with the
// subdirectories of a database, durably. It writes no MANIFEST.
func CreateLayout(fsys vfs.FS, dir string) error {
	if err := MkdirAllDurable(fsys, dir); err != nil {
		return err
	}
	for _, sub := range subdirs {
		if err := fsys.MkdirAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	return fsys.SyncDir(dir)
}

// MkdirAllDurable creates dir and any missing parents, and syncs the parent
// of each directory it created so that the new entries survive a power cut.
func MkdirAllDurable(fsys vfs.FS, dir string) error {
	dir = filepath.Clean(dir)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}

// CheckDirectory creates dir if needed and refuses a non-empty directory
// that is not an in-mem database, so that Open never scribbles over someone
// else's files. A directory holding only what an interrupted creation
// leaves (the lock, the subdirectories, a MANIFEST.tmp) is ours.
func CheckDirectory(fsys vfs.FS, dir string) error {
	if err := MkdirAllDurable(fsys, dir); err != nil {
		return dberr.Wrap(dberr.InvalidArgument, "Open", err, "cannot create %s", dir)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return dberr.Wrap(dberr.InvalidArgument, "Open", err, "cannot list %s", dir)
	}
	if slices.Contains(names, ManifestName) {
		return nil
	}
	for _, n := range names {
		switch n {
		case LockName, WALDirName, SnapDirName, DataDirName, ManifestTemp:
		default:
			return dberr.New(dberr.InvalidArgument, "Open", "%s is not empty and is not an in-mem database (found %q and no MANIFEST)", dir, n)
		}
	}
	return nil
}

// CheckNoFiles returns a Corruption error if the MANIFEST of dir is
// missing while its WAL or snapshot directory holds files: a database whose
// MANIFEST was lost, not an interrupted creation.
func CheckNoFiles(fsys vfs.FS, dir string) error {
	for _, sub := range []string{WALDirName, SnapDirName} {
		names, err := fsys.List(filepath.Join(dir, sub))
		if err == nil && len(names) > 0 {
			return dberr.NewCorruption(filepath.Join(dir, ManifestName), -1,
				"the MANIFEST is missing but %s holds %d files", sub, len(names))
		}
	}
	return nil
}

// Lock takes the directory's LOCK for op: Locked if another process holds
// it.
func Lock(fsys vfs.FS, dir, op string) (io.Closer, error) {
	lock, err := fsys.Lock(filepath.Join(dir, LockName))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, dberr.Wrap(dberr.Locked, op, err, "%s is open elsewhere", dir)
		}
		return nil, dberr.Wrap(dberr.Internal, op, err, "locking %s", dir)
	}
	return lock, nil
}

// CheckDestination refuses an export or import target inside the source
// directory, or one that already holds anything.
func CheckDestination(fsys vfs.FS, src, dst string) error {
	absSrc, err1 := filepath.Abs(src)
	absDst, err2 := filepath.Abs(dst)
	if err1 != nil || err2 != nil {
		return dberr.New(dberr.InvalidArgument, "Export", "cannot resolve %s or %s", src, dst)
	}
	if rel, err := filepath.Rel(absSrc, absDst); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return dberr.New(dberr.InvalidArgument, "Export", "destination %s is inside the database directory %s", dst, src)
	}
	names, err := fsys.List(dst)
	if err == nil && len(names) > 0 {
		if _, err := fsys.Stat(filepath.Join(dst, ManifestName)); err == nil {
			return dberr.New(dberr.AlreadyExists, "Export", "destination %s already holds a database", dst)
		}
		return dberr.New(dberr.InvalidArgument, "Export", "destination %s is not empty", dst)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return dberr.Wrap(dberr.InvalidArgument, "Export", err, "cannot list %s", dst)
	}
	return nil
}
