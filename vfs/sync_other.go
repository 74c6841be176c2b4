//go:build !linux

// File.SyncData of the OS file system where fdatasync is not used: a full
// fsync.

package vfs

import "os"

// syncData falls back to a full fsync where fdatasync is not available (on
// macOS, os.File.Sync is F_FULLFSYNC, which is what durability needs).
func syncData(f *os.File) error { return f.Sync() }
