package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/vfs"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	FS    vfs.FS
	Dir   string // the WAL directory
	UUID  format.UUID
	Codec codec.Codec
	// Watermark is the snapshot watermark: records at or below it are
	// already in the engine and are skipped (0 without a snapshot).
	Watermark   uint64
	HasSnapshot bool
	// ActiveSegment is the MANIFEST's active segment (0: none yet).
	ActiveSegment uint64
	// Repair lets Replay cut a torn tail off the last segment (keeping the
	// cut bytes in a side file) and remove a newest segment with a torn
	// header. Without it Replay only reports what it would do.
	Repair bool
	Logger *slog.Logger
}

// TornTail describes the damaged end of the last segment.
type TornTail struct {
	Segment  uint64
	Path     string
	Offset   int64 // where the valid part ends
	Bytes    int64 // bytes cut
	SideFile string
	Header   bool // the segment's header itself was torn: the file was removed
	// Synced is the highest synced offset a record after the damage
	// attests (version 2 segments; at most Offset, or it would not be torn).
	Synced int64
}

// ReplayResult summarizes a replay.
type ReplayResult struct {
	Segments    []SegmentFile
	Records     int    // records applied
	Skipped     int    // records at or below the watermark
	LastVersion uint64 // newest version seen (Watermark if none)
	Torn        *TornTail
	// Covered lists the oldest segments whose every record is at or below
	// the watermark, up to the first one that is not (they may be deleted
	// once a snapshot covers them; deleting only a prefix keeps the
	// remaining segment numbers contiguous).
	Covered []SegmentFile
	// SegmentLast maps segment number to its newest record version (0 for
	// a segment without records).
	SegmentLast map[uint64]uint64
	// NextSegment is the number the next fresh segment must take.
	NextSegment uint64
	Bytes       int64
}

// Replay reads every segment in order and calls apply with the records
// newer than the watermark, in order and in batches, with the versions
// stored in them. It verifies
// segment headers (number, database UUID), that segment numbers are
// contiguous, that the MANIFEST's active segment exists, and that the
// replayed versions continue the watermark without a gap.
//
// A torn tail — damage in the LAST segment that a power cut can cause:
// incomplete or invalid bytes at or past the highest synced offset any
// valid record of the segment attests (see tornAt), including a
// zero-filled or garbage region — is cut there, with every record after it
// (with Repair), and reported. Any other damage is a Corruption error
// naming file and offset; Replay then modifies nothing.
func Replay(o ReplayOptions, apply func(batch []*core.Commit) error) (ReplayResult, error) {
	res := ReplayResult{LastVersion: o.Watermark, NextSegment: 1, SegmentLast: map[uint64]uint64{}}
	l, err := List(o.FS, o.Dir)
	if err != nil {
		return res, dberr.Wrap(dberr.Corruption, "recovery", err, "cannot list the WAL directory")
	}
	segs := l.Segments
	res.Segments = segs
	if o.ActiveSegment != 0 {
		found := false
		for _, s := range segs {
			found = found || s.Number == o.ActiveSegment
		}
		if !found {
			return res, dberr.NewCorruption(filepath.Join(o.Dir, SegmentName(o.ActiveSegment)), -1,
				"the MANIFEST names WAL segment %d as active but it is missing", o.ActiveSegment)
		}
	}
	if len(segs) > 0 {
		res.NextSegment = segs[len(segs)-1].Number + 1
	}
	if o.ActiveSegment >= res.NextSegment {
		res.NextSegment = o.ActiveSegment + 1
	}

	// A producer reads, verifies and decodes segments while the caller's
	// goroutine applies what it decoded: recovery runs on two cores.
	batches := make(chan []*core.Commit, 4)
	stop := make(chan struct{})
	var perr error
	var last uint64
	go func() {
		defer close(batches)
		last, perr = replaySegments(o, segs, &res, func(b []*core.Commit) bool {
			select {
			case batches <- b:
				return true
			case <-stop:
				return false
			}
		})
	}()
	var aerr error
	for b := range batches {
		if aerr != nil {
			continue // drain: the producer stops at its next send
		}
		if aerr = apply(b); aerr != nil {
			close(stop)
		}
	}
	if aerr != nil {
		return res, aerr
	}
	if perr != nil {
		return res, perr
	}
	res.LastVersion = last
	if res.Torn != nil && o.Repair {
		if err := repairTorn(o, res.Torn); err != nil {
			return res, err
		}
		if res.Torn.Header {
			// The removed segment's number is free again: reusing it keeps
			// segment numbers contiguous.
			res.NextSegment = res.Torn.Segment
		}
	}
	return res, nil
}

// replayBatch is how many decoded commits the producer hands over at once.
const replayBatch = 256

var errStopped = errors.New("replay stopped")

// replaySegments is Replay's producer: it verifies and decodes the segments
// in order, hands each decoded commit to send in batches, and fills res. It
// returns the newest version decoded (or the watermark).
func replaySegments(o ReplayOptions, segs []SegmentFile, res *ReplayResult, send func([]*core.Commit) bool) (last uint64, err error) {
	batch := make([]*core.Commit, 0, replayBatch)
	defer func() {
		if err == nil && len(batch) > 0 && !send(batch) {
			err = errStopped
		}
	}()
	last = o.Watermark // newest version decoded (or the watermark)
	seen := uint64(0)  // newest version seen, applied or skipped
	for i, seg := range segs {
		isLast := i == len(segs)-1
		// Segment numbers must be contiguous. The one exception: segments
		// a snapshot covers may have been deleted by compaction in any
		// order, so before the first record past the watermark a gap is
		// harmless — and if it hid records past the watermark, the version
		// continuity check below catches it.
		if i > 0 && seg.Number != segs[i-1].Number+1 && (!o.HasSnapshot || last != o.Watermark) {
			return last, dberr.NewCorruption(filepath.Join(o.Dir, SegmentName(segs[i-1].Number+1)), -1,
				"WAL segment %d is missing (found %d and %d)", segs[i-1].Number+1, segs[i-1].Number, seg.Number)
		}
		if i == 0 && !o.HasSnapshot && seg.Number != 1 {
			return last, dberr.NewCorruption(filepath.Join(o.Dir, SegmentName(1)), -1,
				"WAL segments 1..%d are missing and no snapshot covers them", seg.Number-1)
		}
		stream, err := openStream(o.FS, seg.Path)
		if err != nil {
			return last, dberr.Wrap(dberr.Corruption, "recovery", err, "cannot read %s", seg.Path)
		}
		data, err := stream.upTo(format.SegmentHeaderSize)
		if err != nil {
			return last, dberr.Wrap(dberr.Corruption, "recovery", err, "cannot read %s", seg.Path)
		}
		hdr, herr := format.DecodeSegmentHeader(data)
		if herr != nil {
			if data, err = stream.all(); err != nil {
				return last, dberr.Wrap(dberr.Corruption, "recovery", err, "cannot read %s", seg.Path)
			}
			res.Bytes += int64(len(data))
			// Rotation writes and fsyncs a header before anything else, so
			// only the newest segment can have a torn one, and it then holds
			// nothing acknowledged.
			if isLast && o.ActiveSegment != seg.Number {
				res.Torn = &TornTail{Segment: seg.Number, Path: seg.Path, Bytes: int64(len(data)), Header: true}
				break
			}
			return last, dberr.NewCorruption(seg.Path, 0, "segment header: %v", herr)
		}
		if hdr.Number != seg.Number {
			return last, dberr.NewCorruption(seg.Path, 0, "segment header says number %d", hdr.Number)
		}
		if hdr.UUID != o.UUID {
			return last, dberr.NewCorruption(seg.Path, 0, "segment belongs to database %s, not %s", hdr.UUID, o.UUID)
		}
		off := format.SegmentHeaderSize
		segLast := uint64(0)
		for {
			if data, err = stream.record(off); err != nil {
				return last, dberr.Wrap(dberr.Corruption, "recovery", err, "cannot read %s", seg.Path)
			}
			if off >= len(data) {
				break
			}
			frame, problem, ferr := format.ParseRecordFrame(data[off:])
			if problem == format.RecordOK {
				if ferr = format.CheckSeal(frame, hdr, int64(off)); ferr != nil {
					problem = format.RecordInvalid
				}
			}
			if problem != format.RecordOK {
				if data, err = stream.all(); err != nil {
					return last, dberr.Wrap(dberr.Corruption, "recovery", err, "cannot read %s", seg.Path)
				}
				if !isLast {
					return last, dberr.NewCorruption(seg.Path, int64(off), "%v", ferr)
				}
				torn, synced := tornAt(data, off, hdr, seen)
				if !torn && synced > int64(off) {
					return last, dberr.NewCorruption(seg.Path, int64(off), "%v, below the synced offset %d a later record attests", ferr, synced)
				}
				if !torn {
					return last, dberr.NewCorruption(seg.Path, int64(off), "%v", ferr)
				}
				res.Torn = &TornTail{Segment: seg.Number, Path: seg.Path, Offset: int64(off), Bytes: int64(len(data) - off), Synced: synced}
				break
			}
			if frame.Version <= seen {
				return last, dberr.NewCorruption(seg.Path, int64(off), "record version %d does not follow %d", frame.Version, seen)
			}
			seen = frame.Version
			if frame.Version <= o.Watermark {
				// Covered by the snapshot: skip without decoding.
				res.Skipped++
				segLast = frame.Version
				off += frame.Size
				continue
			}
			if frame.Version != last+1 {
				return last, dberr.NewCorruption(seg.Path, int64(off), "record version %d does not follow %d: versions %d..%d are missing", frame.Version, last, last+1, frame.Version-1)
			}
			c, err := format.DecodeRecord(frame, o.Codec, value.MaxDecodeDepth)
			if err != nil {
				return last, dberr.NewCorruption(seg.Path, int64(off), "%v", err)
			}
			if batch = append(batch, c); len(batch) == replayBatch {
				if !send(batch) {
					return last, errStopped
				}
				batch = make([]*core.Commit, 0, replayBatch)
			}
			res.Records++
			last, segLast = frame.Version, frame.Version
			off += frame.Size
		}
		res.Bytes += int64(len(data))
		res.SegmentLast[seg.Number] = segLast
		// Only a prefix of the log may be covered: an empty segment after
		// one holding newer records must stay, or the numbering would gap.
		if o.HasSnapshot && segLast <= o.Watermark && !isLast && len(res.Covered) == i {
			res.Covered = append(res.Covered, seg)
		}
	}
	return last, nil
}

// tornAt decides whether damage at off in the last segment is a torn tail,
// the end of what a crash left, and returns the highest synced offset a
// valid record after the damage attests (0 in a version 1 segment).
//
// Version 2: a crash can damage only bytes no fsync had made durable, and
// page writeback is unordered, so it may lose an unsynced page and keep a
// later one. Every record carries the synced offset of its segment when it
// was written; damage at or past the highest one attested is in the
// unsynced region and is a torn tail, however many valid records follow
// (they were never synced, and Buffered mode promises only a prefix, so
// they are cut too). Damage below it hit bytes that were synced: that is
// corruption. Records before off attest offsets at most their own, below
// off, so only those after the damage matter.
//
// Version 1 records carry no synced offset: damage is a torn tail only if
// no valid record newer than seen follows it.
func tornAt(data []byte, off int, hdr format.SegmentHeader, seen uint64) (torn bool, synced int64) {
	if hdr.RecordVersion() == format.RecordVersionV1 {
		found := false
		scanRecords(data, off+1, format.RecordVersionV1, nil, func(p int, f format.RecordFrame) bool {
			found = f.Version > seen
			return !found
		})
		return !found, 0
	}
	tag := hdr.Tag()
	scanRecords(data, off+1, format.RecordVersion, &tag, func(p int, f format.RecordFrame) bool {
		// Only a record of this segment whose seal is plausible where it
		// stands speaks for the segment: stale bytes from elsewhere fail
		// the tag, and a claim past its own offset is impossible.
		if f.Seal.Tag == tag && f.Seal.Synced <= uint64(p) && int64(f.Seal.Synced) > synced {
			synced = int64(f.Seal.Synced)
		}
		return true
	})
	return int64(off) >= synced, synced
}

// scanRecords calls fn with every offset at or after from where a record of
// format version ver with a valid frame starts (and, if tag is not nil, with
// that segment tag), in order, until fn returns false. Records may overlap:
// damage leaves no boundaries to trust.
func scanRecords(data []byte, from int, ver byte, tag *uint32, fn func(p int, f format.RecordFrame) bool) {
	for p := from; p+format.MinRecordSize <= len(data); p++ {
		// Jump to the next position whose record-version byte fits: the
		// unused, zero-filled tail of a preallocated segment is skipped at
		// memory speed.
		i := bytes.IndexByte(data[p+4:len(data)-format.MinRecordSize+5], ver)
		if i < 0 {
			return
		}
		p += i
		if data[p+5] != 0 {
			continue
		}
		// The tag is checked before the checksum: in a garbage region most
		// candidates then cost four byte compares, not a checksum over up
		// to the rest of the file.
		if tag != nil {
			if t, ok := format.PeekRecordTag(data[p:]); !ok || t != *tag {
				continue
			}
		}
		if f, problem, _ := format.ParseRecordFrame(data[p:]); problem == format.RecordOK && f.Format == ver {
			if !fn(p, f) {
				return
			}
		}
	}
}

// repairTorn keeps the torn bytes in a side file, then cuts them off (or
// removes a segment whose header is torn). Each step is durable before the
// next, so a crash in between is repaired again by the next recovery.
func repairTorn(o ReplayOptions, t *TornTail) error {
	data, err := vfs.ReadFile(o.FS, t.Path)
	if err != nil {
		return dberr.Wrap(dberr.Internal, "recovery", err, "rereading %s", t.Path)
	}
	cut := data[t.Offset:]
	// A tail of zeros is the unused part of a preallocated segment (or
	// blocks a power cut zeroed): there is nothing in it to keep.
	if len(cut) > 0 && !allZero(cut) {
		t.SideFile = filepath.Join(o.Dir, fmt.Sprintf("%s.torn-%d", SegmentName(t.Segment), t.Offset))
		if err := writeSideFile(o.FS, o.Dir, t.SideFile, cut); err != nil {
			return dberr.Wrap(dberr.Internal, "recovery", err, "saving the torn tail of %s", t.Path)
		}
	}
	if t.Header {
		if err := o.FS.Remove(t.Path); err != nil {
			return dberr.Wrap(dberr.Internal, "recovery", err, "removing %s", t.Path)
		}
		if err := o.FS.SyncDir(o.Dir); err != nil {
			return dberr.Wrap(dberr.Internal, "recovery", err, "syncing %s", o.Dir)
		}
	} else {
		f, err := o.FS.OpenReadWrite(t.Path)
		if err != nil {
			return dberr.Wrap(dberr.Internal, "recovery", err, "opening %s", t.Path)
		}
		err = f.Truncate(t.Offset)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return dberr.Wrap(dberr.Internal, "recovery", err, "truncating %s", t.Path)
		}
	}
	if o.Logger != nil {
		o.Logger.Warn("WAL torn tail truncated", "segment", t.Path, "offset", t.Offset, "bytes", t.Bytes, "synced", t.Synced, "kept_in", t.SideFile, "header", t.Header)
	}
	return nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func writeSideFile(fsys vfs.FS, dir, path string, b []byte) error {
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := fsys.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

// DumpRecord is one record read by Dump.
type DumpRecord struct {
	Segment uint64
	Offset  int64
	Size    int
	Commit  *core.Commit
}

// Dump reads every record of every segment in order, without the
// continuity checks of Replay, for inspection tools. It stops reading a
// segment at its first undecodable record and reports it through bad.
func Dump(fsys vfs.FS, dir string, cd codec.Codec, fn func(r DumpRecord) error, bad func(seg SegmentFile, off int64, err error)) error {
	l, err := List(fsys, dir)
	if err != nil {
		return err
	}
	for _, seg := range l.Segments {
		data, err := vfs.ReadFile(fsys, seg.Path)
		if err != nil {
			return err
		}
		hdr, err := format.DecodeSegmentHeader(data)
		if err != nil {
			bad(seg, 0, err)
			continue
		}
		for off := format.SegmentHeaderSize; off < len(data); {
			frame, _, err := format.ParseRecordFrame(data[off:])
			if err == nil {
				err = format.CheckSeal(frame, hdr, int64(off))
			}
			if err != nil {
				bad(seg, int64(off), err)
				break
			}
			c, err := format.DecodeRecord(frame, cd, value.MaxDecodeDepth)
			if err != nil {
				bad(seg, int64(off), err)
				break
			}
			if err := fn(DumpRecord{Segment: seg.Number, Offset: int64(off), Size: frame.Size, Commit: c}); err != nil {
				return err
			}
			off += frame.Size
		}
	}
	return nil
}

// EachCommit adapts a per-commit callback to Replay's batches.
func EachCommit(fn func(c *core.Commit) error) func([]*core.Commit) error {
	return func(batch []*core.Commit) error {
		for _, c := range batch {
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	}
}
