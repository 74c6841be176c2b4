package store

import (
	"log/slog"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// TornFilesOf returns the paths of the torn-tail side files among names (a
// listing of the WAL directory walDir) that belong to one of the segments
// in nums.
func TornFilesOf(walDir string, names []string, nums map[uint64]bool) []string {
	var out []string
	for _, n := range names {
		if seg, _, ok := wal.ParseTornSideName(n); ok && nums[seg] {
			out = append(out, filepath.Join(walDir, n))
		}
	}
	return out
}

// OrphanTorn returns the side files of l (a listing of walDir) whose
// segment no longer exists and lies below the oldest segment left, so it
// was compacted away. A side file of the newest segment number whose header
// was torn is not an orphan: the writer reuses that number for its fresh
// segment. With no segment at all nothing is an orphan, for the same
// reason.
func OrphanTorn(walDir string, l wal.Listing) []string {
	if len(l.Segments) == 0 {
		return nil
	}
	present := map[uint64]bool{}
	for _, seg := range l.Segments {
		present[seg.Number] = true
	}
	oldest := l.Segments[0].Number
	var out []string
	for _, n := range l.Other {
		if seg, _, ok := wal.ParseTornSideName(n); ok && !present[seg] && seg < oldest {
			out = append(out, filepath.Join(walDir, n))
		}
	}
	return out
}

// RemoveOrphanTorn removes the orphaned side files of the database in dir.
func RemoveOrphanTorn(fsys vfs.FS, dir string, log *slog.Logger) error {
	walDir := WALDir(dir)
	l, err := wal.List(fsys, walDir)
	if err != nil {
		return dberr.Wrap(dberr.Internal, "compact", err, "listing %s", walDir)
	}
	_, err = RemoveFiles(fsys, walDir, OrphanTorn(walDir, l), log)
	return err
}
