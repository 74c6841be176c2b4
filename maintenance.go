package inmem

import (
	"context"
	"errors"
	"maps"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/internal/store"
	"github.com/inmemdb/inmem/vfs"
)

// CheckpointInfo describes a snapshot written by Checkpoint.
type CheckpointInfo struct {
	SnapshotID uint64
	// Watermark is the commit version the snapshot is taken at: it holds
	// every commit up to and including it and none after.
	Watermark Version
	// Timestamp is when the checkpoint was taken.
	Timestamp Timestamp
	// Bytes is the size of the snapshot file.
	Bytes    int64
	Entities uint64
	Versions uint64
}

// Checkpoint writes a snapshot of the whole database at the current commit
// version, while readers and writers continue (it reads one MVCC point in
// time; nothing stops). Once the snapshot file is durable the MANIFEST names
// it, so recovery loads it and replays only later WAL records; superseded
// snapshots are then removed. In Buffered mode the WAL is fsynced first.
//
// In InMemory mode with a directory, Checkpoint still writes: it is an
// explicit request for a durable image (nothing else is ever written in that
// mode). A database without a directory returns InvalidArgument.
//
// A failure that leaves the old durable state standing (say a full disk
// while writing the snapshot) returns an Internal error and the database
// keeps working. A failed fsync or rename leaves the files in an unknown
// state: the database is poisoned, as by a failed WAL write, and the error
// is Poisoned (see docs/DURABILITY.md).
func (db *DB) Checkpoint(ctx context.Context) (CheckpointInfo, error) {
	db.life.RLock()
	defer db.life.RUnlock()
	s, err := db.maintainable("Checkpoint")
	if err != nil {
		return CheckpointInfo{}, err
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	u := s.maintenanceFS()
	info, err := s.checkpoint(ctx, u, nil)
	return info, s.maintenanceFailed(u, "Checkpoint", err)
}

// maintainable returns the storage of a database that maintenance may
// write to: open, with a directory, not read-only, automatic maintenance
// not halted. The caller holds
// db.life for reading.
func (db *DB) maintainable(op string) (*storage, error) {
	if err := db.checkOpen(op); err != nil {
		return nil, err
	}
	if db.store == nil {
		return nil, errorf(CodeInvalidArgument, op, "a database without a directory has no files to maintain")
	}
	if db.opts.ReadOnly {
		return nil, errorf(CodeInvalidArgument, op, "the database is open read-only")
	}
	if err := db.maintenanceHalted(op); err != nil { // automaint_halted.go
		return nil, err
	}
	return db.store, nil
}

// checkpoint writes and publishes a snapshot through fsys
// (store.Checkpoint). The caller holds snapMu.
func (s *storage) checkpoint(ctx context.Context, fsys vfs.FS, progress func(uint64)) (CheckpointInfo, error) {
	db := s.db
	if s.wal != nil {
		if err := s.wal.Sync(); err != nil {
			return CheckpointInfo{}, err
		}
	}
	if err := db.eng.Poisoned(); err != nil {
		return CheckpointInfo{}, err
	}
	if s.wal != nil {
		// Close the active segment, so that the snapshot covers all of it
		// and the WAL-only compaction that follows may delete it: without
		// this one segment always stayed, whatever the data size. Its
		// records are written but may not be published yet; wait for them,
		// so the watermark taken next is at or above every one of them.
		// The MANIFEST rewrite below names the new segment.
		last, err := s.wal.Rotate()
		if err != nil {
			return CheckpointInfo{}, err
		}
		db.eng.WaitVisible(last, ctx.Done())
		if err := db.eng.Poisoned(); err != nil {
			return CheckpointInfo{}, err
		}
	}
	var active uint64
	if s.wal != nil {
		active = s.wal.Segment()
	}
	w := db.eng.Visible()
	now := db.opts.Clock.Now()
	id, info, err := store.Checkpoint(ctx, fsys, s.man, store.CheckpointOptions{
		Watermark: w, ActiveSegment: active, Codec: db.opts.Codec, Created: now.UnixMicro(), Progress: progress, Logger: db.opts.Logger,
	}, db.eng)
	if err != nil {
		if err == ctx.Err() {
			return CheckpointInfo{}, ctxError("Checkpoint", err)
		}
		return CheckpointInfo{}, err
	}
	db.opts.Logger.Info("checkpoint", "snapshot", id, "watermark", w, "bytes", info.Bytes, "entities", info.Entities)
	return CheckpointInfo{
		SnapshotID: id, Watermark: Txn(w), Timestamp: TimestampOf(now),
		Bytes: info.Bytes, Entities: info.Entities, Versions: info.Versions,
	}, nil
}

// CompactMode selects what Compact does.
type CompactMode uint8

const (
	// WALOnly deletes closed WAL segments whose every record is at or
	// below the durable snapshot's watermark. It needs a snapshot
	// (Checkpoint) and never touches data or the active segment.
	WALOnly CompactMode = iota + 1
	// Full applies the retention policies (see compactfull.go), then
	// checkpoints and does what WALOnly does, and removes superseded
	// snapshots.
	Full
)

func (m CompactMode) String() string {
	switch m {
	case WALOnly:
		return "wal-only"
	case Full:
		return "full"
	}
	return "unknown"
}

// CompactInfo describes what a compaction reclaimed.
type CompactInfo struct {
	Mode CompactMode
	// ReclaimedBytes is the size of the files deleted (WAL segments,
	// superseded snapshots) plus, for Full, an estimate of the memory the
	// trim freed (removed versions, dropped stream entries, index room):
	// the engine is the primary copy, so both are what a long-lived process
	// gets back.
	ReclaimedBytes  int64
	SegmentsRemoved int
	// VersionsRemoved counts the versions retention removed (Full only),
	// purged tombstones and dropped stream entries included.
	VersionsRemoved uint64
	// SnapshotWatermark is the version the compaction's snapshot covers.
	SnapshotWatermark Version
	// Now is the clock's time the retention policies were applied at.
	Now Timestamp
}

// ErrCompactionRunning is returned by Compact while another compaction of
// the same database runs (compactions never queue silently). Its code is
// ConstraintViolation.
var ErrCompactionRunning = &Error{Code: dberr.ConstraintViolation, Op: "Compact", Msg: "another compaction is running", Offset: -1}

// Compact reclaims storage. Readers and writers keep working meanwhile; one
// compaction runs at a time, and it waits for a running Checkpoint or
// Export to finish (it removes the files a checkpoint supersedes). Failures
// poison the database as Checkpoint's do.
func (db *DB) Compact(ctx context.Context, mode CompactMode) (CompactInfo, error) {
	db.life.RLock()
	defer db.life.RUnlock()
	if mode == Full && db.store == nil {
		return db.compactMemory(ctx)
	}
	s, err := db.maintainable("Compact")
	if err != nil {
		return CompactInfo{}, err
	}
	if mode != WALOnly && mode != Full {
		return CompactInfo{}, errorf(CodeInvalidArgument, "Compact", "unknown compaction mode %d", mode)
	}
	if !s.compMu.TryLock() {
		return CompactInfo{}, ErrCompactionRunning
	}
	defer s.compMu.Unlock()
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if testHookCompacting != nil {
		testHookCompacting(s)
	}
	if err := s.db.eng.Poisoned(); err != nil {
		return CompactInfo{}, err
	}
	u := s.maintenanceFS()
	var info CompactInfo
	if mode == Full {
		info, err = s.compactFull(ctx, u)
	} else {
		info, err = s.compactWAL(ctx, u, mode)
	}
	return info, s.maintenanceFailed(u, "Compact", err)
}

// testHookCompacting, when set by a test, runs while a compaction holds its
// locks.
var testHookCompacting func(*storage)

// compactWAL deletes closed segments a durable snapshot covers
// (store.CompactWAL).
func (s *storage) compactWAL(ctx context.Context, fsys vfs.FS, mode CompactMode) (CompactInfo, error) {
	info := CompactInfo{Mode: mode, Now: TimestampOf(s.db.opts.Clock.Now())}
	m := s.man.Get()
	if !m.HasSnapshot {
		return info, errorf(CodeConstraintViolation, "Compact", "there is no snapshot yet: run Checkpoint first, WAL-only compaction only removes what a snapshot covers")
	}
	info.SnapshotWatermark = Txn(m.SnapshotWatermark)
	active := m.ActiveSegment
	last := s.segLast
	if s.wal != nil {
		active = s.wal.Segment()
		last = map[uint64]uint64{}
		maps.Copy(last, s.segLast)
		maps.Copy(last, s.wal.SegmentLast())
	}
	removed, freed, err := store.CompactWAL(ctx, fsys, s.dir, m.SnapshotWatermark, active, last, s.db.opts.Logger)
	info.SegmentsRemoved = len(removed)
	info.ReclaimedBytes += freed
	if err != nil {
		if err == ctx.Err() {
			return info, ctxError("Compact", err)
		}
		return info, err
	}
	for _, n := range removed {
		delete(s.segLast, n)
	}
	if err := store.RemoveStaleSnapshots(fsys, s.dir, s.man.Get(), s.db.opts.Logger); err != nil {
		return info, err
	}
	s.db.opts.Logger.Info("compacted", "mode", mode.String(), "segments", info.SegmentsRemoved, "bytes", info.ReclaimedBytes)
	return info, nil
}

// Export writes a checkpoint and copies it into dst, a new directory that
// then opens as a database holding everything up to the checkpoint (with its
// own lock; it shares the database UUID, being a copy). dst must not be
// inside the live directory and must not exist or be empty. The copy is
// verified before Export returns.
func (db *DB) Export(ctx context.Context, dst string) (CheckpointInfo, error) {
	db.life.RLock()
	defer db.life.RUnlock()
	s, err := db.maintainable("Export")
	if err != nil {
		return CheckpointInfo{}, err
	}
	if err := store.CheckDestination(s.fs, s.dir, dst); err != nil {
		return CheckpointInfo{}, err
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	u := s.maintenanceFS()
	info, err := s.checkpoint(ctx, u, nil)
	if err != nil {
		return CheckpointInfo{}, s.maintenanceFailed(u, "Export", err)
	}
	m := s.man.Get()
	src := filepath.Join(s.snapDir(), snapshot.FileName(m.SnapshotID))
	if err := store.WriteExport(s.fs, src, dst, m); err != nil {
		return CheckpointInfo{}, dberr.Wrap(dberr.Internal, "Export", err, "writing %s", dst)
	}
	if _, err := snapshot.Read(snapshot.ReadOptions{
		FS: s.fs, Path: filepath.Join(dst, store.SnapDirName, snapshot.FileName(m.SnapshotID)), UUID: m.UUID, Codec: db.opts.Codec,
		ID: m.SnapshotID, Watermark: m.SnapshotWatermark,
	}, func(*format.SnapshotEntity) error { return nil }); err != nil {
		return CheckpointInfo{}, err
	}
	return info, nil
}

// Import verifies the database directory src (an export, or a cleanly
// closed or checkpointed database) by opening it read-only, then copies it
// into dst, a new directory, and verifies the copy by opening it. src must
// not be open elsewhere: unlike a read-only open, Import takes its lock
// while copying (Locked if a writer holds it), because a copy of files that
// a writer changes meanwhile need not be consistent.
func Import(ctx context.Context, src, dst string, opts *Options) error {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.fill()
	if err := store.CheckDestination(o.FS, src, dst); err != nil {
		return err
	}
	ro := o
	ro.ReadOnly, ro.Durability = true, InMemory
	sdb, err := Open(src, &ro)
	if err != nil {
		return err
	}
	lock, err := store.Lock(o.FS, src, "Import")
	if err != nil {
		sdb.Close()
		return err
	}
	err = copyDatabase(ctx, o.FS, src, dst)
	if cerr := lock.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if cerr := sdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	vo := ro
	ddb, err := Open(dst, &vo)
	if err != nil {
		return err
	}
	return ddb.Close()
}

// copyDatabase copies the MANIFEST, the snapshot it names and every WAL
// segment of src into dst (MANIFEST last).
func copyDatabase(ctx context.Context, fsys vfs.FS, src, dst string) error {
	err := store.CopyDatabase(ctx, fsys, src, dst)
	var typed *dberr.Error
	if err == nil || errors.As(err, &typed) {
		return err // the MANIFEST's own errors
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return ctxError("Import", err)
	}
	return dberr.Wrap(dberr.Internal, "Import", err, "copying %s to %s", src, dst)
}
