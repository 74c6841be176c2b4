package wal

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

// tornBase returns a MemFS whose WAL holds commits 1..8 in three segments
// (3, 3 and 2 records), all synced, the last one still open: preallocated,
// its unused tail zeros.
func tornBase(t *testing.T) *vfs.MemFS {
	t.Helper()
	e := newEnv(t)
	r := recordSize(t, 100)
	w := e.open(e.mem, Buffered, format.SegmentHeaderSize+3*r, 1)
	for v := uint64(1); v <= 8; v++ {
		commitOne(t, w, mkCommit(v, 100))
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if w.Segment() != 3 {
		t.Fatalf("%d segments, want 3", w.Segment())
	}
	return e.mem
}

// TestReplayTornTailShapes damages the last segment every way a crash can
// and checks that Replay cuts exactly there, keeps the cut bytes (unless
// zeros), truncates, and finds nothing to repair the second time; without
// Repair it reports the same and changes nothing.
func TestReplayTornTailShapes(t *testing.T) {
	base := tornBase(t)
	last := segPath(3)
	data := readFile(t, base, last)
	ends := recordEnds(data)
	if len(ends) != 2 {
		t.Fatalf("last segment holds %d records", len(ends))
	}
	used := ends[1]

	type shape struct {
		file   []byte // the last segment's new content
		keep   int    // commits that survive
		offset int    // where the tail is cut
	}
	shapes := map[string]shape{
		// The open segment's preallocated zeros after the last record.
		"zero tail":    {data, 8, used},
		"garbage tail": {append(bytes.Clone(data[:used]), bytes.Repeat([]byte{0xee}, 300)...), 8, used},
		"length only":  {append(bytes.Clone(data[:used]), 0x30, 0, 0), 8, used},
		"bit flip in the last record": {func() []byte {
			d := bytes.Clone(data)
			d[ends[0]+60] ^= 4
			return d
		}(), 7, ends[0]},
		"last record claims an impossible synced offset": {func() []byte {
			d := bytes.Clone(data)
			format.Reseal(d[ends[0]:ends[1]], format.RecordSeal{Tag: format.SegmentTag(testUUID, 3), Synced: uint64(ends[0]) + 1})
			return d
		}(), 7, ends[0]},
		"last record carries another segment's tag": {func() []byte {
			d := bytes.Clone(data)
			format.Reseal(d[ends[0]:ends[1]], format.RecordSeal{Tag: format.SegmentTag(testUUID, 2), Synced: format.SegmentHeaderSize})
			return d
		}(), 7, ends[0]},
		"last record of another database": {func() []byte {
			d := bytes.Clone(data)
			other := testUUID
			other[0] ^= 1
			format.Reseal(d[ends[0]:ends[1]], format.RecordSeal{Tag: format.SegmentTag(other, 3), Synced: format.SegmentHeaderSize})
			return d
		}(), 7, ends[0]},
	}
	// Cut at every offset inside the segment's two records.
	for cut := format.SegmentHeaderSize + 1; cut < used; cut++ {
		switch {
		case cut < ends[0]:
			shapes[fmt.Sprintf("cut at %d", cut)] = shape{bytes.Clone(data[:cut]), 6, format.SegmentHeaderSize}
		case cut > ends[0]:
			shapes[fmt.Sprintf("cut at %d", cut)] = shape{bytes.Clone(data[:cut]), 7, ends[0]}
		}
	}
	for name, s := range shapes {
		t.Run(name, func(t *testing.T) {
			img := base.Crash(vfs.CrashOptions{})
			writeFile(t, img, last, s.file)

			dry := replay(img, false, 0)
			if dry.err != nil || dry.res.Torn == nil || dry.res.Torn.Offset != int64(s.offset) || dry.versions(t) != s.keep {
				t.Fatalf("without Repair: %d commits, torn %+v, %v; want %d, cut at %d", len(dry.commits), dry.res.Torn, dry.err, s.keep, s.offset)
			}
			if !bytes.Equal(readFile(t, img, last), s.file) {
				t.Fatal("Replay without Repair modified the segment")
			}

			r := replay(img, true, 0)
			if r.err != nil || r.res.Torn == nil || r.res.Torn.Offset != int64(s.offset) || r.versions(t) != s.keep {
				t.Fatalf("%d commits, torn %+v, %v; want %d, cut at %d", len(r.commits), r.res.Torn, r.err, s.keep, s.offset)
			}
			if got := readFile(t, img, last); !bytes.Equal(got, s.file[:s.offset]) {
				t.Fatalf("segment is %d bytes after the repair, want %d", len(got), s.offset)
			}
			cut := s.file[s.offset:]
			side := fmt.Sprintf("%s.torn-%d", last, s.offset)
			if b, err := vfs.ReadFile(img, side); bytes.Count(cut, []byte{0}) == len(cut) {
				if err == nil {
					t.Fatalf("side file %s for a tail of zeros", side)
				}
			} else if err != nil || !bytes.Equal(b, cut) {
				t.Fatalf("side file %s: %v", side, err)
			}
			again := replay(img, true, 0)
			if again.err != nil || again.res.Torn != nil || again.versions(t) != s.keep {
				t.Fatalf("second replay: %d commits, torn %+v, %v", len(again.commits), again.res.Torn, again.err)
			}
		})
	}
}

// TestReplayTornHeader: a newest segment whose header never became durable
// is a torn tail — removed, its number reused — unless the MANIFEST names
// it as active: then it was durable once, and its damage is corruption.
func TestReplayTornHeader(t *testing.T) {
	base := tornBase(t)
	// Rotation sealed segment 3 (cut to its records, synced) before it
	// created segment 4.
	seg3 := readFile(t, base, segPath(3))
	ends := recordEnds(seg3)
	writeFile(t, base, segPath(3), seg3[:ends[len(ends)-1]])
	hdr := format.AppendSegmentHeader(nil, format.SegmentHeader{Number: 4, UUID: testUUID})
	for _, n := range []int{0, 1, 20, format.SegmentHeaderSize - 1} {
		t.Run(fmt.Sprintf("%d header bytes", n), func(t *testing.T) {
			img := base.Crash(vfs.CrashOptions{})
			writeFile(t, img, segPath(4), hdr[:n])

			de := wantCode(t, replay(img, true, 4).err, dberr.Corruption)
			if de.File != segPath(4) {
				t.Fatalf("corruption in %s, want %s", de.File, segPath(4))
			}
			if _, err := img.Stat(segPath(4)); err != nil {
				t.Fatal("Replay removed a corrupt active segment")
			}

			r := replay(img, true, 3)
			if r.err != nil || r.versions(t) != 8 || r.res.Torn == nil || !r.res.Torn.Header || r.res.NextSegment != 4 {
				t.Fatalf("%d commits, torn %+v, next %d, %v", len(r.commits), r.res.Torn, r.res.NextSegment, r.err)
			}
			if _, err := img.Stat(segPath(4)); err == nil {
				t.Fatal("the segment with a torn header is still there")
			}
		})
	}
	t.Run("header only", func(t *testing.T) {
		img := base.Crash(vfs.CrashOptions{})
		writeFile(t, img, segPath(4), hdr)
		r := replay(img, true, 4)
		if r.err != nil || r.versions(t) != 8 || r.res.Torn != nil || r.res.NextSegment != 5 {
			t.Fatalf("%d commits, torn %+v, next %d, %v", len(r.commits), r.res.Torn, r.res.NextSegment, r.err)
		}
	})
}

// TestReplayCorruptionNotTorn: damage that no crash can cause is
// Corruption naming file and offset, and nothing is modified: a middle
// segment (synced whole before the next existed), damage below a synced
// offset a later record attests, a missing middle segment, a foreign
// segment.
func TestReplayCorruptionNotTorn(t *testing.T) {
	base := tornBase(t)
	seg2 := readFile(t, base, segPath(2))
	ends2 := recordEnds(seg2)
	cases := map[string]struct {
		damage func(img *vfs.MemFS)
		file   string
		offset int64
	}{
		"middle segment cut": {func(img *vfs.MemFS) { writeFile(t, img, segPath(2), seg2[:len(seg2)-3]) }, segPath(2), int64(ends2[1])},
		"middle segment zeroed record": {func(img *vfs.MemFS) {
			d := bytes.Clone(seg2)
			clear(d[ends2[0]:ends2[1]])
			writeFile(t, img, segPath(2), d)
		}, segPath(2), int64(ends2[0])},
		"middle segment missing": {func(img *vfs.MemFS) { img.Remove(segPath(2)) }, segPath(2), -1},
		"foreign segment": {func(img *vfs.MemFS) {
			d := bytes.Clone(seg2)
			other := testUUID
			other[15] ^= 1
			copy(d, format.AppendSegmentHeader(nil, format.SegmentHeader{Number: 2, UUID: other}))
			writeFile(t, img, segPath(2), d)
		}, segPath(2), 0},
		"last segment, damage below an attested synced offset": {func(img *vfs.MemFS) {
			// Records 7 and 8 were written before the flush; a record
			// written after it would attest both as synced. Forge one
			// from record 8's bytes.
			d := readFile(t, img, segPath(3))
			ends := recordEnds(d)
			rec := bytes.Clone(d[ends[0]:ends[1]])
			format.Reseal(rec, format.RecordSeal{Tag: format.SegmentTag(testUUID, 3), Synced: uint64(ends[1])})
			d[ends[0]-30] ^= 1 // inside record 7
			d = append(d[:ends[1]], rec...)
			writeFile(t, img, segPath(3), d)
		}, segPath(3), format.SegmentHeaderSize},
		"last segment, a record repeated": {func(img *vfs.MemFS) {
			d := readFile(t, img, segPath(3))
			ends := recordEnds(d)
			d = append(d[:ends[1]], d[ends[0]:ends[1]]...)
			writeFile(t, img, segPath(3), d)
		}, segPath(3), -2},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			img := base.Crash(vfs.CrashOptions{})
			c.damage(img)
			before := map[string][]byte{}
			names, _ := img.List(walDir)
			for _, n := range names {
				before[n] = readFile(t, img, walDir+"/"+n)
			}
			de := wantCode(t, replay(img, true, 3).err, dberr.Corruption)
			if de.File != c.file || (c.offset != -2 && de.Offset != c.offset) {
				t.Fatalf("corruption at %s:%d, want %s:%d", de.File, de.Offset, c.file, c.offset)
			}
			after, _ := img.List(walDir)
			if len(after) != len(names) {
				t.Fatalf("files %v became %v", names, after)
			}
			for _, n := range after {
				if !bytes.Equal(readFile(t, img, walDir+"/"+n), before[n]) {
					t.Fatalf("%s modified", n)
				}
			}
		})
	}
}
