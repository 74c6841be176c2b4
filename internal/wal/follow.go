package wal

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/vfs"
)

// FollowOptions configure a Follower.
type FollowOptions struct {
	FS    vfs.FS
	Dir   string // the WAL directory
	UUID  format.UUID
	Codec codec.Codec
	// Segment is the segment to start reading in (0: the oldest there is).
	Segment uint64
	// Last is the newest version already seen: records at or below it are
	// skipped, and the first record delivered must be Last+1. With Last 0
	// the follower starts at whatever record comes first, unless Exact.
	Last uint64
	// Exact makes Last binding also when it is 0: version 1 is then the
	// first record expected. A reader that starts at the newest segment
	// with no version in mind leaves it false.
	Exact bool
	// Floor, if set, returns the newest version compaction may have
	// removed from the log: the snapshot watermark the MANIFEST names
	// (compaction deletes only segments whose records are all at or below
	// it, and only after that MANIFEST is durable). A follower that has
	// read every record the directory holds and is still below it tells
	// HistoryTrimmed at once, instead of learning of the gap from the next
	// record a commit writes (an idle database may write none).
	Floor func() (uint64, error)
}

// Follower reads the records that another process's writer appends to a
// WAL directory, without changing any file. It only ever delivers complete
// records: at the writer's frontier (a record half written, the zeroed
// preallocated tail) it stops and delivers the rest on a later Poll. It
// follows rotation, and it tolerates segments that compaction deletes
// underneath as long as no record it has not delivered goes with them.
//
// A gap shows in one of two ways. If a record follows it, that record's
// version is not Last+1. If none does (a checkpoint rotated to a new,
// empty segment, then compaction deleted the rest), the segments alone
// cannot tell a gap from a log that simply ends there: a segment may be
// empty, a reopen starts a new one, numbers may be skipped. Floor can: the
// records up to it were complete in the files before Floor was read, so a
// follower that read everything after that and is still below it lost
// them.
type Follower struct {
	o    FollowOptions
	seg  uint64
	off  int64                // where the next record of seg starts (0: header not read yet)
	hdr  format.SegmentHeader // seg's header, once off != 0
	last uint64
}

// NewFollower returns a follower positioned at the start of o.Segment.
func NewFollower(o FollowOptions) *Follower {
	return &Follower{o: o, seg: o.Segment, last: o.Last}
}

// Last returns the newest version delivered (or skipped).
func (f *Follower) Last() uint64 { return f.last }

// followWindow is how much of a segment one read takes; a record that does
// not fit makes the window grow.
const followWindow = 64 << 10

// Poll delivers every complete record newer than Last that the directory
// holds now, in version order, and returns how many it delivered.
// Compaction removing records this follower had not read yet is a
// HistoryTrimmed error: found at the record that would skip versions, or,
// with a Floor, once the follower has read everything and is still below
// it. Damage in a segment the writer has finished (a newer one exists) is
// Corruption. If fn fails, Poll returns its error and delivers that record
// again on the next call.
func (f *Follower) Poll(ctx context.Context, fn func(c *core.Commit) error) (int, error) {
	delivered := 0
	for {
		err := ctx.Err()
		if err != nil {
			return delivered, dberr.FromContext("wal.Follow", err)
		}
		// The floor is read before the listing: every record at or below
		// it is then complete in a file the listing shows, or deleted.
		var floor uint64
		if f.o.Floor != nil {
			if floor, err = f.o.Floor(); err != nil {
				return delivered, err
			}
		}
		l, err := List(f.o.FS, f.o.Dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return delivered, dberr.Wrap(dberr.NotFound, "wal.Follow", err, "the WAL directory %s is gone", f.o.Dir)
			}
			return delivered, dberr.Wrap(dberr.Internal, "wal.Follow", err, "listing %s", f.o.Dir)
		}
		cur, next := false, uint64(0)
		for _, s := range l.Segments {
			if s.Number == f.seg {
				cur = true
			}
			if s.Number > f.seg && next == 0 {
				next = s.Number
			}
		}
		if !cur {
			if next == 0 {
				return delivered, f.checkFloor(floor) // nothing newer yet
			}
			// Not created yet when we started, or compacted away: the
			// version check of the next record, or the floor at the end
			// of the log, catches records lost with it.
			f.seg, f.off = next, 0
			continue
		}
		// A newer segment existed before this one was read: the writer had
		// sealed it, so everything in it is complete.
		sealed := next != 0
		n, err := f.readSegment(sealed, fn)
		delivered += n
		if errors.Is(err, fs.ErrNotExist) {
			continue // compacted between the listing and the read
		}
		if err != nil {
			return delivered, err
		}
		if !sealed {
			return delivered, f.checkFloor(floor) // at the writer's frontier
		}
		f.seg, f.off = next, 0
	}
}

// bound tells whether the next record must be Last+1.
func (f *Follower) bound() bool { return f.last != 0 || f.o.Exact }

// checkFloor is called once the follower has read every complete record
// of the log, with the floor read before the listing that showed it the
// log's end. Every record at or below floor was complete in the files
// then; still being below it means compaction deleted records this
// follower had not read.
func (f *Follower) checkFloor(floor uint64) error {
	if !f.bound() || f.last >= floor {
		return nil
	}
	return f.trimmed(floor + 1)
}

// trimmed is the error for a follower whose next record is gone; earliest
// is the oldest version it can still get.
func (f *Follower) trimmed(earliest uint64) error {
	e := dberr.New(dberr.HistoryTrimmed, "wal.Follow",
		"compaction removed WAL records this reader had not read yet (reopen to catch up from the snapshot)")
	e.Requested, e.EarliestRetained = core.Txn(f.last+1), core.Txn(earliest)
	return e
}

// readSegment delivers the complete records of the current segment from
// the follower's offset on.
func (f *Follower) readSegment(sealed bool, fn func(c *core.Commit) error) (int, error) {
	path := filepath.Join(f.o.Dir, SegmentName(f.seg))
	file, err := f.o.FS.Open(path)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return 0, dberr.Wrap(dberr.Internal, "wal.Follow", err, "reading %s", path)
	}
	size := st.Size()
	if f.off == 0 {
		hdr := make([]byte, format.SegmentHeaderSize)
		k, err := file.ReadAt(hdr, 0)
		if err != nil && err != io.EOF {
			return 0, dberr.Wrap(dberr.Internal, "wal.Follow", err, "reading %s", path)
		}
		h, herr := format.DecodeSegmentHeader(hdr[:k])
		if herr != nil {
			if !sealed {
				return 0, nil // the writer is still creating it
			}
			return 0, dberr.NewCorruption(path, 0, "segment header: %v", herr)
		}
		if h.Number != f.seg {
			return 0, dberr.NewCorruption(path, 0, "segment header says number %d", h.Number)
		}
		if h.UUID != f.o.UUID {
			return 0, dberr.NewCorruption(path, 0, "segment belongs to database %s, not %s", h.UUID, f.o.UUID)
		}
		f.hdr, f.off = h, format.SegmentHeaderSize
	}
	delivered := 0
	window := int64(followWindow)
	for f.off < size {
		remain := size - f.off
		// A fresh buffer each time: decoded values may share its memory.
		buf := make([]byte, min(window, remain))
		k, err := file.ReadAt(buf, f.off)
		if err != nil && err != io.EOF {
			return delivered, dberr.Wrap(dberr.Internal, "wal.Follow", err, "reading %s", path)
		}
		if int64(k) < int64(len(buf)) {
			size = f.off + int64(k) // the file shrank: a writer's repair cut it
			remain = int64(k)
		}
		buf = buf[:k]
		pos := 0
		for pos < len(buf) {
			frame, problem, ferr := format.ParseRecordFrame(buf[pos:])
			if problem == format.RecordIncomplete && int64(len(buf)) < remain {
				break // the record goes on past the window
			}
			if problem == format.RecordOK {
				// A record whose seal is not this segment's is stale bytes,
				// not the writer's: treat it as damage, as replay does.
				if serr := format.CheckSeal(frame, f.hdr, f.off+int64(pos)); serr != nil {
					problem, ferr = format.RecordInvalid, serr
				}
			}
			if problem != format.RecordOK {
				if sealed {
					return delivered, dberr.NewCorruption(path, f.off+int64(pos), "%v", ferr)
				}
				f.off += int64(pos)
				return delivered, nil // the writer's frontier
			}
			if frame.Version > f.last {
				if f.bound() && frame.Version != f.last+1 {
					return delivered, f.trimmed(frame.Version)
				}
				c, err := format.DecodeRecord(frame, f.o.Codec, value.MaxDecodeDepth)
				if err != nil {
					return delivered, dberr.NewCorruption(path, f.off+int64(pos), "%v", err)
				}
				if err := fn(c); err != nil {
					f.off += int64(pos)
					return delivered, err
				}
				f.last = frame.Version
				delivered++
			}
			pos += frame.Size
		}
		if pos == 0 {
			window *= 2
		}
		f.off += int64(pos)
	}
	return delivered, nil
}
