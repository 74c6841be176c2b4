package benchkit

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync, the cheapest call that makes appended data
// durable on Linux (and what in-mem's WAL uses).
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// preallocate reserves and zero-extends f to size bytes.
func preallocate(f *os.File, size int64) error {
	return unix.Fallocate(int(f.Fd()), 0, 0, size)
}
