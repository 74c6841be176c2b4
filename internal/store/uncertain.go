package store

import (
	"sync/atomic"

	"github.com/inmemdb/inmem/vfs"
)

// UncertainFS is the file system maintenance (checkpoint, compaction,
// export) writes through. It remembers whether an operation failed in a
// way that leaves the durable state unknown: a failed fsync of a file or
// directory (the kernel may have dropped the dirty pages or entries, and a
// later fsync could report success over the loss) or a failed rename (it
// may or may not have happened). Other failures — creating or writing a
// temporary file, closing it, unlinking a file nothing names — leave the
// durable state as it was, so maintenance can simply report them and be
// tried again. What to do about an uncertain failure (the root package
// poisons the database) is the caller's decision.
type UncertainFS struct {
	vfs.FS
	failed atomic.Bool
}

// NewUncertainFS returns an UncertainFS over fsys with no failure noted.
func NewUncertainFS(fsys vfs.FS) *UncertainFS { return &UncertainFS{FS: fsys} }

// Failed reports whether an fsync or rename through u has failed.
func (u *UncertainFS) Failed() bool { return u.failed.Load() }

func (u *UncertainFS) note(err error) error {
	if err != nil {
		u.failed.Store(true)
	}
	return err
}

func (u *UncertainFS) Create(name string) (vfs.File, error) {
	f, err := u.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &uncertainFile{File: f, u: u}, nil
}

func (u *UncertainFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := u.FS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &uncertainFile{File: f, u: u}, nil
}

func (u *UncertainFS) Rename(oldname, newname string) error {
	return u.note(u.FS.Rename(oldname, newname))
}

func (u *UncertainFS) SyncDir(dir string) error { return u.note(u.FS.SyncDir(dir)) }

type uncertainFile struct {
	vfs.File
	u *UncertainFS
}

func (f *uncertainFile) Sync() error     { return f.u.note(f.File.Sync()) }
func (f *uncertainFile) SyncData() error { return f.u.note(f.File.SyncData()) }
