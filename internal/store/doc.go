// Package store is the database directory and the file protocols on it.
// The root package decides when to checkpoint, compact, export or import;
// this package says how each step touches the files so that a crash at any
// operation leaves a directory that opens to the last durable state.
//
// # Layout
//
//	<dir>/LOCK          advisory lock held by the one writing process
//	<dir>/MANIFEST      names the database: UUID, codec, active WAL
//	                    segment, current snapshot (see internal/manifest)
//	<dir>/WAL/          log segments wal-<n>.log (see internal/wal)
//	<dir>/SNAPSHOTS/    snap-<id>.chk (see internal/snapshot)
//	<dir>/DATA/         reserved
//
// CreateLayout is the only function that creates this layout: for a new
// database, an export and an import alike. It creates the directory and its
// missing parents (syncing each parent), then the subdirectories, then
// syncs the directory. The MANIFEST is always written after the layout:
// until it exists, a directory holds nothing of value, and CheckDirectory
// accepts it as an interrupted creation.
//
// # Files written through a temporary name
//
// Every file that is published whole (the MANIFEST, a snapshot, a copied
// segment) is written as <name>.tmp, fsynced, renamed and its directory
// fsynced. A .tmp file therefore never holds anything anyone relies on, and
// RemoveTemp deletes those a crash left behind when the database is opened
// for writing.
//
// # MANIFEST updates
//
// Manifest holds the in-memory copy of the MANIFEST and serializes its
// rewrites: an update writes the new MANIFEST durably (internal/manifest)
// and only then replaces the copy, so the copy never runs ahead of the disk.
// The WAL records each new segment there once the segment is durable and
// before anything is written into it; a checkpoint records its snapshot
// there once the snapshot file is published.
//
// # Deleting files
//
// A file is deleted only after the MANIFEST that stops naming it is
// durable: superseded snapshots after the checkpoint's MANIFEST rewrite,
// WAL segments after a snapshot covering them is named. RemoveFiles removes
// them and syncs their directory once. A deletion a crash interrupted is
// redone at the next open (segments the snapshot covers, snapshots the
// MANIFEST does not name).
//
// # Checkpoint publication
//
// Checkpoint picks a snapshot id above the MANIFEST's and above every
// snapshot file present (a file a crash left behind is never reused),
// writes the snapshot through a temporary name, and only once it is durable
// rewrites the MANIFEST to name it. It then removes the snapshots the
// MANIFEST no longer names and orphaned torn-tail side files. A crash
// before the MANIFEST rewrite is durable leaves the old snapshot named and
// the new one stale.
//
// # WAL-only compaction
//
// CoveredSegments chooses the segments a durable snapshot covers: the
// oldest ones, each closed (below the active segment), known (its newest
// record version is recorded) and at or below the snapshot's watermark, up
// to the first that is not, so the segments left stay contiguous.
// CompactWAL removes them with their torn-tail side files.
//
// # Torn-tail side files
//
// Recovery keeps the bytes it cuts off a torn tail in
// WAL/wal-<n>.seg.torn-<offset> for inspection. A side file lives as long
// as its segment: compaction deletes it with the segment (TornFilesOf), and
// a side file whose segment is gone and lies below the oldest segment left
// (a crash between the two deletions) is an orphan that RemoveOrphanTorn
// deletes at open and checkpoint. A side file of the newest number is never
// an orphan: a segment whose header was torn is re-created under its
// number.
//
// # Uncertain failures
//
// Maintenance writes through UncertainFS, which notes a failed fsync or
// rename: after one the files on disk are in an unknown state (the old or
// the new MANIFEST may be durable), and the caller must stop trusting its
// in-memory view of them (the root package poisons the database). A failed
// create, write or unlink leaves the old durable state standing.
//
// # Copying a database
//
// Export and import copy files with CopyFileDurable (through a temporary
// name) into a fresh layout and write the MANIFEST last, so an interrupted
// copy is an interrupted creation, never a database with missing files.
package store
