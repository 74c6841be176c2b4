//go:build !linux

// File.SyncData of the OS file system where fdatasync is not used: a full
// fsync.

package vfs

import "os"

// syncData falls back to a full fsync where fdatasync is not available (on
// macOS, os.File.Sync is F_FULLFSYNC, which is what durability needs).
func syncData(f *os.File) error { return f.Sync() }

// preallocate extends the file (sparsely) where fallocate is not used.
func preallocate(f *os.File, size int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}
