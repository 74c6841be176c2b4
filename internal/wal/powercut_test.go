package wal

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

// bigPayload makes each record longer than a 4 KiB block, so that two
// records of one unsynced region never start in the same block.
const bigPayload = 5000

// crashDropping returns the image a power cut leaves when the block
// holding offset off of segment seg meets fate and every other unsynced
// block reaches the disk: unordered writeback lost an earlier page and
// kept later ones.
func crashDropping(m *vfs.MemFS, seg uint64, off int64, fate vfs.BlockFate) *vfs.MemFS {
	return m.Crash(vfs.CrashOptions{Mode: vfs.CrashRandom, Fate: func(path string, block int) vfs.BlockFate {
		if path == segPath(seg) && int64(block) == off/vfs.DefaultBlockSize {
			return fate
		}
		return vfs.BlockKeep
	}})
}

// checkCutAt replays img and checks that it recovers exactly the first
// want commits, cutting a torn tail at off that holds later valid
// records, keeps the cut bytes in a side file, and is idempotent.
func checkCutAt(t *testing.T, img *vfs.MemFS, want int, off int64) {
	t.Helper()
	before := readFile(t, img, segPath(1))
	r := replay(img, true, 0)
	if r.err != nil {
		t.Fatalf("replay: %v", r.err)
	}
	if got := r.versions(t); got != want {
		t.Fatalf("replayed %d commits, want %d", got, want)
	}
	if r.res.Torn == nil || r.res.Torn.Offset != off || r.res.Torn.Synced != off {
		t.Fatalf("torn tail %+v, want a cut at %d attested synced there", r.res.Torn, off)
	}
	if got := int64(len(readFile(t, img, segPath(1)))); got != off {
		t.Fatalf("segment is %d bytes after the repair, want %d", got, off)
	}
	if side := readFile(t, img, fmt.Sprintf("%s.torn-%d", segPath(1), off)); !bytes.Equal(side, before[off:]) {
		t.Fatal("the side file does not hold the bytes that were cut")
	}
	again := replay(img, true, 0)
	if again.err != nil || again.res.Torn != nil || again.versions(t) != want {
		t.Fatalf("second replay: %d commits, torn %+v, %v", len(again.commits), again.res.Torn, again.err)
	}
}

// TestPowerCutBufferedEarlierBlockLost is issue 9 item 5 in Buffered mode:
// a flush made commit 1 durable, commits 2..4 wait for the flusher, and
// the power cut loses the block where commit 2 starts while the blocks of
// commits 3 and 4 reach the disk. Nothing synced is damaged, so recovery
// must cut at commit 2 (Buffered promises a prefix) and not report
// corruption because valid records follow the damage.
func TestPowerCutBufferedEarlierBlockLost(t *testing.T) {
	for _, fate := range []vfs.BlockFate{vfs.BlockDrop, vfs.BlockZero, vfs.BlockGarbage} {
		t.Run(fmt.Sprint(fate), func(t *testing.T) {
			e := newEnv(t)
			w := e.open(e.mem, Buffered, 1<<20, 1)
			commitOne(t, w, mkCommit(1, 100))
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			_, off := w.SegmentSize()
			for v := uint64(2); v <= 4; v++ {
				commitOne(t, w, mkCommit(v, bigPayload))
			}
			checkCutAt(t, crashDropping(e.mem, 1, off, fate), 1, off)
		})
	}
}

// TestPowerCutStrictEarlierBlockLost is the same in Strict mode: commits 2
// and 3 form one batch whose fsync never completes (it fails, and the
// power goes); the disk kept commit 3's block and lost commit 2's. Neither
// was acknowledged, commit 1 was.
func TestPowerCutStrictEarlierBlockLost(t *testing.T) {
	e := newEnv(t)
	efs := vfs.NewErrorFS(e.mem)
	w := e.open(efs, Strict, 1<<20, 1)
	commitOne(t, w, mkCommit(1, 100))
	_, off := w.SegmentSize()
	efs.AddRule(vfs.Rule{OpKinds: vfs.OpSync, Path: "wal-*.seg", Index: -1})
	t2, t3 := w.Submit(mkCommit(2, bigPayload)), w.Submit(mkCommit(3, bigPayload))
	wantCode(t, t2.Wait(), dberr.Poisoned)
	wantCode(t, t3.Wait(), dberr.Poisoned)
	if pub, _, _ := e.snapshot(); len(pub) != 1 || pub[0] != 1 {
		t.Fatalf("published %v, want only commit 1", pub)
	}
	img := crashDropping(e.mem, 1, off, vfs.BlockDrop)
	if ends := recordEnds(readFile(t, img, segPath(1))); len(ends) != 1 {
		t.Fatalf("the image holds %d readable records before the damage, want 1", len(ends))
	}
	checkCutAt(t, img, 1, off)
}

// TestPowerCutSyncedDamageIsCorruption: damage below a synced offset that
// a later record attests hit bytes an fsync had made durable — no power cut
// does that, so it is Corruption naming the offset, and nothing is
// modified.
func TestPowerCutSyncedDamageIsCorruption(t *testing.T) {
	for _, mode := range []Mode{Strict, Buffered} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			e := newEnv(t)
			w := e.open(e.mem, mode, 1<<20, 1)
			commitOne(t, w, mkCommit(1, 100))
			_, off2 := w.SegmentSize()
			commitOne(t, w, mkCommit(2, bigPayload))
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			commitOne(t, w, mkCommit(3, 100)) // attests commit 2 as synced
			img := e.mem.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
			data := readFile(t, img, segPath(1))
			data[off2+100] ^= 0x10
			writeFile(t, img, segPath(1), data)
			r := replay(img, true, 0)
			de := wantCode(t, r.err, dberr.Corruption)
			if de.File != segPath(1) || de.Offset != off2 {
				t.Fatalf("corruption at %s:%d, want %s:%d", de.File, de.Offset, segPath(1), off2)
			}
			mustContain(t, r.err, "synced offset")
			if !bytes.Equal(readFile(t, img, segPath(1)), data) {
				t.Fatal("replay modified a corrupt segment")
			}
		})
	}
}

// TestPowerCutStaleRecordIsNotAttestation: bytes that are a valid record
// of another segment (stale blocks a file system exposes after a crash)
// carry another tag; they attest nothing, so damage before them stays a
// torn tail. Without the tag, their synced offset would make it look like
// corruption.
func TestPowerCutStaleRecordIsNotAttestation(t *testing.T) {
	e := newEnv(t)
	w := e.open(e.mem, Buffered, 600, 1)
	for v := uint64(1); v <= 3; v++ {
		commitOne(t, w, mkCommit(v, 200))
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if w.Segment() < 2 {
		t.Fatal("no rotation")
	}
	last := w.Segment()
	// A record of segment 1 that claims a high synced offset.
	stale := readFile(t, e.mem, segPath(1))[format.SegmentHeaderSize:]
	f, _, err := format.ParseRecordFrame(stale)
	if err != nil {
		t.Fatal(err)
	}
	rec := bytes.Clone(stale[:f.Size])

	img := e.mem.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	data := readFile(t, img, segPath(last))
	end := recordEnds(data)[len(recordEnds(data))-1]
	// Plausible where it will stand (end+3), were it of this segment.
	format.Reseal(rec, format.RecordSeal{Tag: format.SegmentTag(testUUID, 1), Synced: uint64(end) + 1})
	data = append(data[:end], 0xff, 0xff, 0xff) // damage in the unsynced region
	data = append(data, rec...)
	writeFile(t, img, segPath(last), data)
	r := replay(img, false, 0)
	if r.err != nil {
		t.Fatalf("replay: %v", r.err)
	}
	if r.res.Torn == nil || r.res.Torn.Offset != int64(end) || r.res.Torn.Synced != 0 {
		t.Fatalf("torn %+v, want a cut at %d with nothing attested", r.res.Torn, end)
	}
}

// TestReplayV1Segments: segments of format version 1 (records without a
// seal) still replay, before the version 2 segments a newer writer adds;
// in a version 1 last segment, damage followed by a valid record is still
// corruption (there is no synced offset to tell otherwise), and damage
// with nothing valid after it a torn tail.
func TestReplayV1Segments(t *testing.T) {
	e := newEnv(t)
	seg1, _ := segmentV1(1, mkCommit(1, 10), mkCommit(2, 20))
	writeFile(t, e.mem, segPath(1), seg1)
	seg2, ends2 := segmentV1(2, mkCommit(3, 30), mkCommit(4, 40), mkCommit(5, 50))
	writeFile(t, e.mem, segPath(2), seg2)

	r := replay(e.mem, false, 2)
	if r.err != nil || r.versions(t) != 5 || r.res.Torn != nil {
		t.Fatalf("v1 replay: %d commits, torn %+v, %v", len(r.commits), r.res.Torn, r.err)
	}

	t.Run("torn tail", func(t *testing.T) {
		img := e.mem.Crash(vfs.CrashOptions{})
		writeFile(t, img, segPath(2), seg2[:len(seg2)-3])
		r := replay(img, true, 2)
		if r.err != nil || r.versions(t) != 4 || r.res.Torn == nil || r.res.Torn.Offset != int64(ends2[1]) {
			t.Fatalf("%d commits, torn %+v, %v", len(r.commits), r.res.Torn, r.err)
		}
	})
	t.Run("damage before a valid record", func(t *testing.T) {
		img := e.mem.Crash(vfs.CrashOptions{})
		d := bytes.Clone(seg2)
		d[ends2[0]+10] ^= 1
		writeFile(t, img, segPath(2), d)
		de := wantCode(t, replay(img, true, 2).err, dberr.Corruption)
		if de.Offset != int64(ends2[0]) {
			t.Fatalf("corruption at %d, want %d", de.Offset, ends2[0])
		}
	})
	t.Run("then version 2", func(t *testing.T) {
		img := e.mem.Crash(vfs.CrashOptions{})
		w, err := e.start(e.options(img, Strict, 1<<20), 3)
		if err != nil {
			t.Fatal(err)
		}
		commitOne(t, w, mkCommit(6, 60))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		h, err := format.DecodeSegmentHeader(readFile(t, img, segPath(3)))
		if err != nil || h.Version != format.SegmentVersion {
			t.Fatalf("new segment header %+v, %v", h, err)
		}
		r := replay(img, false, 3)
		if r.err != nil || r.versions(t) != 6 {
			t.Fatalf("%d commits, %v", len(r.commits), r.err)
		}
	})
	t.Run("v1 record in a v2 segment", func(t *testing.T) {
		img := e.mem.Crash(vfs.CrashOptions{})
		d := format.AppendSegmentHeader(nil, format.SegmentHeader{Number: 2, UUID: testUUID})
		d = appendRecordV1(d, mkCommit(3, 30))
		writeFile(t, img, segPath(2), d)
		writeFile(t, img, segPath(3), format.AppendSegmentHeader(nil, format.SegmentHeader{Number: 3, UUID: testUUID}))
		de := wantCode(t, replay(img, false, 0).err, dberr.Corruption)
		if de.File != segPath(2) || de.Offset != format.SegmentHeaderSize {
			t.Fatalf("corruption at %s:%d", de.File, de.Offset)
		}
	})
}
