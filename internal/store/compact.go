package store

import (
	"context"
	"log/slog"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// CoveredSegments returns the segments of l that WAL-only compaction may
// delete once a snapshot at watermark is durable: the oldest ones, up to
// the first that must stay, so that the segments left are contiguous. A
// segment stays if it is the active one or newer, if last (each segment's
// newest record version) does not know it, or if a record in it is newer
// than the watermark.
func CoveredSegments(l wal.Listing, watermark, active uint64, last map[uint64]uint64) []wal.SegmentFile {
	var out []wal.SegmentFile
	for _, seg := range l.Segments {
		v, known := last[seg.Number]
		if seg.Number >= active || !known || v > watermark {
			break
		}
		out = append(out, seg)
	}
	return out
}

// CompactWAL deletes the segments of the database in dir that
// CoveredSegments chooses, with their torn-tail side files, and syncs the
// WAL directory. The caller makes sure the MANIFEST naming a snapshot at
// watermark is durable first. It returns the numbers of the segments it
// chose (also when removing them failed) and the bytes freed. A ctx
// cancelled before anything is removed returns ctx.Err() as is.
func CompactWAL(ctx context.Context, fsys vfs.FS, dir string, watermark, active uint64, last map[uint64]uint64, log *slog.Logger) (removed []uint64, freed int64, err error) {
	walDir := WALDir(dir)
	l, err := wal.List(fsys, walDir)
	if err != nil {
		return nil, 0, dberr.Wrap(dberr.Internal, "Compact", err, "listing the WAL")
	}
	if len(l.Segments) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
	}
	var doomed []string
	nums := map[uint64]bool{}
	for _, seg := range CoveredSegments(l, watermark, active, last) {
		doomed = append(doomed, seg.Path)
		nums[seg.Number] = true
		removed = append(removed, seg.Number)
	}
	doomed = append(doomed, TornFilesOf(walDir, l.Other, nums)...)
	freed, err = RemoveFiles(fsys, walDir, doomed, log)
	return removed, freed, err
}
