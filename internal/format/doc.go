// Package format encodes and decodes every on-disk structure of in-mem: WAL
// segment headers, WAL records and their writesets, and the MANIFEST (and,
// in snapshot.go, snapshots). It is pure: no file system, no state. Decoders
// treat their input as hostile — they verify checksums before trusting any
// field, check every length against the bytes remaining and a fixed maximum
// before allocating, and return errors (wrapping ErrCorrupt), never panic.
//
// docs/FORMAT.md is the specification; this package is its implementation.
// All integers are little-endian. Checksums are CRC-32C (Castagnoli).
package format
