package inmem

import (
	"context"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/vfs"
)

// Full compaction: retention, then a checkpoint, then WAL-only compaction.
//
// Retention runs first, in memory. Event logs and trace stores retire a
// prefix of their stream (retireStreams: a start entry is committed, then
// the retired entries are dropped once no snapshot predates it). Then
// engine.Trim: versions the policies drop leave their chains, purged
// tombstones leave the indexes, and the trim floors rise before any chain
// shrinks, so reads below them answer HistoryTrimmed from that moment on.
// Last, the vector index forgets deletion markers no snapshot needs. The raised floors are then committed
// as System entries, through the WAL like any commit, and the checkpoint
// that follows writes the trimmed state and the floors in one snapshot.
// A crash before the snapshot is durable recovers the old snapshot and the
// full WAL: every version comes back (nothing retained is lost; trimming is
// simply undone until the next compaction), and a floor committed before
// the crash only makes reads more conservative.

// trimNow applies the retention policies at the clock's now and persists
// the floors it raised. It returns the compaction's result so far.
func (db *DB) trimNow(ctx context.Context) (CompactInfo, error) {
	now := db.opts.Clock.Now()
	info := CompactInfo{Mode: Full, Now: TimestampOf(now)}
	rules, any := db.retentionRules(db.eng.Visible())
	if !any {
		return info, nil
	}
	dropped, droppedBytes, err := db.retireStreams(rules, now.UnixMicro())
	if err != nil {
		return info, err
	}
	res := db.eng.Trim(rules, now.UnixMicro())
	info.VersionsRemoved = res.VersionsRemoved + dropped
	// Memory released counts with the files: the engine is the primary
	// copy, so what it frees is what a long-lived process gets back.
	_, indexBytes := db.vectors.compact(db.eng.OldestSnapshot())
	info.ReclaimedBytes = res.BytesRemoved + droppedBytes + indexBytes
	if len(res.Floors) > 0 {
		if err := db.persistFloors(res.Floors); err != nil {
			return info, err
		}
	}
	// The floors' commit lifted the watermark above the trim: unless a
	// reader from before it is still going, the chains the trim cut can
	// take their oldest version back inline now rather than at the next
	// compaction (engine.ReclaimFirsts).
	db.eng.ReclaimFirsts()
	// Last, after the floors' commit, which may take a version from the
	// slab: what the engine keeps for speed goes too, or a database that
	// purged everything would hold it for as long as it lives.
	db.eng.ReleaseIdle()
	db.opts.Logger.Info("retention", "versions_removed", res.VersionsRemoved, "purged", res.EntitiesPurged, "bound", res.Bound)
	return info, nil
}

// persistFloors commits the raised floors. It bypasses the run checks of
// user writes: a closed run's history is trimmed too.
func (db *DB) persistFloors(floors []engine.FloorChange) error {
	txn := db.eng.Begin(core.GlobalRun, true)
	for _, f := range floors {
		// The engine's floor is the highest any change raised it to; two
		// changes of one space write that value once.
		txn.Put(f.Run, core.System, engine.FloorKey(f.Space), engine.FloorValue(db.eng.Floor(f.Run, f.Space)))
	}
	if _, err := txn.Commit(); err != nil {
		return err
	}
	return nil
}

// compactMemory is Full compaction of a database without a directory: only
// retention.
func (db *DB) compactMemory(ctx context.Context) (CompactInfo, error) {
	if err := db.checkOpen("Compact"); err != nil {
		return CompactInfo{}, err
	}
	if !db.memCompact.TryLock() {
		return CompactInfo{}, ErrCompactionRunning
	}
	defer db.memCompact.Unlock()
	return db.trimNow(ctx)
}

// compactFull is Compact(ctx, Full). The caller holds compMu and snapMu.
func (s *storage) compactFull(ctx context.Context, fsys vfs.FS) (CompactInfo, error) {
	before := s.snapshotSizes(fsys)
	info, err := s.db.trimNow(ctx)
	if err != nil {
		return info, err
	}
	cp, err := s.checkpoint(ctx, fsys, nil)
	if err != nil {
		return info, err
	}
	w, err := s.compactWAL(ctx, fsys, Full)
	if err != nil {
		return info, err
	}
	after := s.snapshotSizes(fsys)
	for name, size := range before {
		if _, ok := after[name]; !ok {
			info.ReclaimedBytes += size
		}
	}
	info.ReclaimedBytes += w.ReclaimedBytes
	info.SegmentsRemoved = w.SegmentsRemoved
	info.SnapshotWatermark = cp.Watermark
	return info, nil
}

// snapshotSizes returns the size of every file in the snapshot directory.
func (s *storage) snapshotSizes(fsys vfs.FS) map[string]int64 {
	out := map[string]int64{}
	names, err := fsys.List(s.snapDir())
	if err != nil {
		return out
	}
	for _, n := range names {
		if st, err := fsys.Stat(filepath.Join(s.snapDir(), n)); err == nil {
			out[n] = st.Size()
		}
	}
	return out
}
