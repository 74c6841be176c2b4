package vfs

import (
	"errors"
	"io"
	"io/fs"
)

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer

	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// SyncData makes the file's data durable, together with the metadata
	// needed to read it back, such as its size (fdatasync). It skips metadata
	// like the modification time, which storage never relies on.
	SyncData() error
	// Truncate changes the size of the file. The change is durable only
	// after a later Sync.
	Truncate(size int64) error
	// Preallocate extends the file to at least size bytes of zeros,
	// reserving the disk space where the file system can (fallocate), and
	// leaves the file offset where it is. Writes into the reserved region
	// then change no file size, which makes their fdatasync cheaper. The new
	// size is durable only after a later Sync.
	Preallocate(size int64) error
	// Stat describes the file.
	Stat() (fs.FileInfo, error)
}

// FS is a file system.
type FS interface {
	// Create creates a new, empty file opened for reading and writing. It
	// fails with an error satisfying errors.Is(err, fs.ErrExist) if the name
	// exists. The new name is durable only after SyncDir of its directory.
	Create(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing; writes
	// go to the end of the file (the offset starts at the current size).
	OpenReadWrite(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Rename atomically renames oldname to newname, replacing newname if it
	// is a file. Durable only after SyncDir of the directory (or both
	// directories).
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents (mode 0700).
	MkdirAll(dir string) error
	// List returns the names of a directory's entries, sorted.
	List(dir string) ([]string, error)
	// Stat describes a file or directory. A missing name gives an error
	// satisfying errors.Is(err, fs.ErrNotExist).
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory's entries durable (fsync on the
	// directory).
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on the named file, creating it
	// if needed. It never waits: if another holder (in this process or any
	// other) has the lock it fails at once with an error satisfying
	// errors.Is(err, ErrLocked). Closing the returned Closer releases it; so
	// does the death of the holding process.
	Lock(name string) (io.Closer, error)
}

// ErrLocked is returned by FS.Lock when the lock is held elsewhere.
var ErrLocked = errors.New("vfs: file is locked by another holder")

// ReadFile reads a whole file.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// Read into a buffer of the file's size (plus one byte to see EOF)
	// instead of growing one: WAL segments can be megabytes.
	buf := make([]byte, 0, st.Size()+1)
	for {
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // the file grew: make room
		}
	}
}
