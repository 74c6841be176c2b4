// OS implementation.
//
// The operating-system FS maps every method onto one system call, with the
// durability rules of the package documentation taken at face value:
//
//   - Create opens with O_RDWR|O_CREATE|O_EXCL and mode 0600, so it never
//     truncates or reuses an existing file.
//   - MkdirAll creates directories with mode 0700.
//   - File.Sync is fsync; File.SyncData is fdatasync on Linux and fsync
//     elsewhere (on macOS the Go runtime's fsync is F_FULLFSYNC).
//   - SyncDir opens the directory read-only and fsyncs it.
//   - Lock is a non-blocking flock(2) (github.com/gofrs/flock) on the named
//     file. flock locks belong to an open file description, so a second Lock
//     of the same file fails with ErrLocked even inside the same process.
//     The kernel releases the lock when the holding process dies.
//
// The OS implementation adds no buffering and no caching: what the storage
// layer writes is what the kernel sees.

package vfs

import (
	"io"
	"io/fs"
	"os"

	"github.com/gofrs/flock"
)

// Default is the operating-system file system. It is the value returned by
// OS; storage code uses it unless a test substitutes another FS.
var Default FS = osFS{}

// OS returns the operating-system file system.
func OS() FS { return osFS{} }

type osFS struct{}

// osFile adds SyncData to *os.File. The embedded *os.File still offers its
// other methods (Seek, WriteAt, Fd, ...) to callers that type-assert.
type osFile struct {
	*os.File
}

// SyncData flushes the file's data and the metadata needed to read it back
// (fdatasync where available).
func (f osFile) SyncData() error { return syncData(f.File) }

// Preallocate reserves and zero-extends the file (fallocate on Linux).
func (f osFile) Preallocate(size int64) error { return preallocate(f.File, size) }

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o700) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) Lock(name string) (io.Closer, error) {
	fl := flock.New(name, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	if !ok {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	return osLock{fl}, nil
}

// osLock releases a flock and closes its descriptor. Closing twice is a
// no-op.
type osLock struct {
	fl *flock.Flock
}

func (l osLock) Close() error {
	if err := l.fl.Close(); err != nil {
		return &fs.PathError{Op: "unlock", Path: l.fl.Path(), Err: err}
	}
	return nil
}
