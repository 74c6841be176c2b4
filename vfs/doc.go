// Package vfs is the file-system seam of in-mem. Every file operation of the
// storage layer goes through an FS, so that tests can replace the operating
// system with an in-memory file system that simulates power cuts (MemFS) or
// with a wrapper that injects I/O errors (ErrorFS).
//
// The interface is deliberately small and POSIX-shaped. Its durability model
// is the strict one that portable storage code must assume:
//
//   - Bytes written to a file are durable only after File.Sync or
//     File.SyncData returns without error.
//   - A directory entry (a created, renamed or removed name) is durable only
//     after the directory itself is synced (SyncDir).
//   - A failed sync may have lost data; callers must not retry it and expect
//     the earlier writes to be safe.
//
// Files are created with mode 0600 and directories with 0700: a database
// directory is private to its owner.
//
// The package has three implementations: Default (also returned by OS), the
// operating system; MemFS (NewMem), an in-memory file system that tracks
// durable state separately from current state and can produce the image a
// power cut could leave (Crash, CrashAt); and ErrorFS (NewErrorFS), a
// wrapper that fails selected operations. MemFS and ErrorFS number the
// mutating operations the same way, so a test can crash or fail "at every
// operation index" of a workload.
package vfs
