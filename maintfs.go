package inmem

import (
	"sync/atomic"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/vfs"
)

// uncertainFS is the file system maintenance (Checkpoint, Compact, Export)
// writes through. It remembers whether an operation failed in a way that
// leaves the durable state unknown: a failed fsync of a file or directory
// (the kernel may have dropped the dirty pages or entries, and a later fsync
// could report success over the loss) or a failed rename (it may or may not
// have happened). Other failures — creating or writing a temporary file,
// closing it, unlinking a file nothing names — leave the durable state as
// it was, so maintenance can simply report them and be tried again.
type uncertainFS struct {
	vfs.FS
	failed atomic.Bool
}

func (u *uncertainFS) note(err error) error {
	if err != nil {
		u.failed.Store(true)
	}
	return err
}

func (u *uncertainFS) Create(name string) (vfs.File, error) {
	f, err := u.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &uncertainFile{File: f, u: u}, nil
}

func (u *uncertainFS) OpenReadWrite(name string) (vfs.File, error) {
	f, err := u.FS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &uncertainFile{File: f, u: u}, nil
}

func (u *uncertainFS) Rename(oldname, newname string) error {
	return u.note(u.FS.Rename(oldname, newname))
}

func (u *uncertainFS) SyncDir(dir string) error { return u.note(u.FS.SyncDir(dir)) }

type uncertainFile struct {
	vfs.File
	u *uncertainFS
}

func (f *uncertainFile) Sync() error     { return f.u.note(f.File.Sync()) }
func (f *uncertainFile) SyncData() error { return f.u.note(f.File.SyncData()) }

// maintenanceFS returns the file system one maintenance call writes
// through.
func (s *storage) maintenanceFS() *uncertainFS { return &uncertainFS{FS: s.fs} }

// maintenanceFailed turns a failure of maintenance into its error. When the
// failure left the durable state unknown the database is poisoned, exactly
// as a failed WAL fsync poisons it: later commits and maintenance return
// Poisoned, reads keep working, and reopening runs recovery, which finds
// either the old or the new MANIFEST and the files each names (nothing a
// MANIFEST could name is deleted before the MANIFEST naming its successor
// is durable). Otherwise the error is returned as is and the database keeps
// working: the old durable state still stands.
func (s *storage) maintenanceFailed(u *uncertainFS, op string, err error) error {
	if err == nil || !u.failed.Load() {
		return err
	}
	p := dberr.Wrap(dberr.Poisoned, op, err, "the state of the files on disk is unknown after a failed fsync or rename; the database refuses writes until it is reopened")
	s.db.eng.Poison(p)
	return p
}
