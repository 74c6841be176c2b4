package inmem

import (
	"path/filepath"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// Torn-tail side files (WAL/wal-<n>.seg.torn-<offset>) keep the bytes
// recovery cut off a torn tail, for inspection. They live as long as their
// segment: compaction deletes them with it, and a side file whose segment
// is gone (a crash between the two deletions, or a directory written before
// side files had a lifetime) is an orphan that Open and Checkpoint remove.

// tornFilesOf returns the paths of the side files among names (a WAL
// directory listing) that belong to one of the segments in nums.
func tornFilesOf(dir string, names []string, nums map[uint64]bool) []string {
	var out []string
	for _, n := range names {
		if seg, _, ok := wal.ParseTornSideName(n); ok && nums[seg] {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// orphanTorn returns the side files of l whose segment no longer exists and
// lies below the oldest segment left, so it was compacted away. A side file
// of the newest segment number whose header was torn is not an orphan: the
// writer reuses that number for its fresh segment.
func orphanTorn(dir string, l wal.Listing) []string {
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
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

// removeOrphanTorn removes orphaned side files.
func (s *storage) removeOrphanTorn(fsys vfs.FS) error {
	l, err := wal.List(fsys, s.walDir())
	if err != nil {
		return dberr.Wrap(dberr.Internal, "compact", err, "listing %s", s.walDir())
	}
	_, err = s.removeFiles(fsys, s.walDir(), orphanTorn(s.walDir(), l))
	return err
}
