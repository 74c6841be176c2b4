package store

import (
	"context"
	"log/slog"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/vfs"
)

// CheckpointOptions describes the snapshot Checkpoint writes.
type CheckpointOptions struct {
	Watermark uint64 // the commit version the snapshot is taken at
	// ActiveSegment, if above the MANIFEST's, is recorded as the active
	// segment with the snapshot: the segment a rotation the checkpoint
	// requested started (wal.Writer.Rotate), durable but not yet named.
	ActiveSegment uint64
	Codec         codec.Codec
	Created       int64 // Unix microseconds
	Progress      func(entities uint64)
	Logger        *slog.Logger
}

// Checkpoint writes a snapshot of src and publishes it in the database
// whose MANIFEST is man:
//
//  1. pick an id above the MANIFEST's and above every snapshot file
//     present, so a file a crash left behind is never reused;
//  2. write the snapshot (temporary name, fsync, rename, fsync SNAPSHOTS);
//  3. rewrite the MANIFEST to name it — only now, once it is durable;
//  4. remove the snapshots the MANIFEST no longer names, and orphaned
//     torn-tail side files.
//
// A crash before step 3 is durable leaves the old MANIFEST, which names
// the old snapshot; the new file is then stale and removed at the next
// open. If ctx is cancelled while the snapshot is written, Checkpoint
// returns ctx.Err() as is.
func Checkpoint(ctx context.Context, fsys vfs.FS, man *Manifest, o CheckpointOptions, src snapshot.Source) (id uint64, info snapshot.Info, err error) {
	dir := man.dir
	m := man.Get()
	id = m.SnapshotID + 1
	if names, err := fsys.List(SnapDir(dir)); err == nil {
		for _, n := range names {
			if x, ok := snapshot.ParseFileName(n); ok && x >= id {
				id = x + 1
			}
		}
	}
	info, err = snapshot.Write(ctx, snapshot.WriteOptions{
		FS: fsys, Dir: SnapDir(dir), ID: id, Watermark: o.Watermark, UUID: m.UUID, Codec: o.Codec,
		Created: o.Created, Progress: o.Progress,
	}, src)
	if err != nil {
		if ctx.Err() != nil {
			return id, info, ctx.Err()
		}
		return id, info, dberr.Wrap(dberr.Internal, "Checkpoint", err, "writing snapshot %d", id)
	}
	err = man.Update(fsys, func(m *format.Manifest) {
		m.HasSnapshot, m.SnapshotID, m.SnapshotWatermark = true, id, o.Watermark
		m.ActiveSegment = max(m.ActiveSegment, o.ActiveSegment)
	})
	if err != nil {
		return id, info, dberr.Wrap(dberr.Internal, "Checkpoint", err, "publishing snapshot %d in the MANIFEST", id)
	}
	if err := RemoveStaleSnapshots(fsys, dir, man.Get(), o.Logger); err != nil {
		return id, info, err
	}
	return id, info, RemoveOrphanTorn(fsys, dir, o.Logger)
}
