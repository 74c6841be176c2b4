package inmem_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// tornFiles lists the torn-tail side files of the WAL directory.
func tornFiles(t testing.TB, fsys vfs.FS) []string {
	t.Helper()
	l, err := wal.List(fsys, filepath.Join(dbDir, "WAL"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range l.Other {
		if _, _, ok := wal.ParseTornSideName(n); ok {
			out = append(out, n)
		}
	}
	return out
}

func touch(t testing.TB, fsys vfs.FS, name string) {
	t.Helper()
	f, err := fsys.Create(filepath.Join(dbDir, "WAL", name))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("torn bytes"))
	f.Sync()
	f.Close()
}

// TestTornSideFile_Lifetime checks that the side file recovery writes for a
// torn tail lives as long as its segment: it survives reopening and
// checkpoints while the segment exists, compaction deletes it with the
// segment, and Open and Checkpoint delete side files whose segment is
// gone.
func TestTornSideFile_Lifetime(t *testing.T) {
	mem := vfs.NewMem()
	db := mustOpenFS(t, mem, inmem.Strict, 2048)
	runSteps(db, 3)
	db.Close()
	segs := segmentFiles(t, mem)
	last := segs[len(segs)-1]
	tornSeg, _ := wal.ParseSegmentName(filepath.Base(last))
	appendBytes(t, mem, last, bytes.Repeat([]byte{0xee}, 300))

	db = mustOpenFS(t, mem, inmem.Strict, 2048)
	side := tornFiles(t, mem)
	if len(side) != 1 || !strings.HasPrefix(side[0], filepath.Base(last)+".torn-") {
		t.Fatalf("side files after cutting a torn tail of %s: %v", last, side)
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tornFiles(t, mem); !slices.Equal(got, side) {
		t.Fatalf("Checkpoint removed the side file of a live segment: %v", got)
	}
	for i := 4; i <= 30; i++ {
		if err := commitStep(db, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := db.Compact(ctx, inmem.WALOnly)
	if err != nil {
		t.Fatal(err)
	}
	if info.SegmentsRemoved == 0 || slices.Contains(segmentFiles(t, mem), last) {
		t.Fatalf("compaction did not remove segment %d (removed %d)", tornSeg, info.SegmentsRemoved)
	}
	if got := tornFiles(t, mem); len(got) != 0 {
		t.Fatalf("side files left after compaction removed their segment: %v", got)
	}

	// Orphans — a side file whose segment is gone, as a directory written
	// before side files had a lifetime holds — are removed by Checkpoint...
	live, _ := wal.ParseSegmentName(filepath.Base(segmentFiles(t, mem)[0]))
	touch(t, mem, wal.TornSideName(tornSeg, 64))
	touch(t, mem, wal.TornSideName(live, 80)) // its segment exists: it stays
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := tornFiles(t, mem), []string{wal.TornSideName(live, 80)}; !slices.Equal(got, want) {
		t.Fatalf("side files after Checkpoint: %v, want %v", got, want)
	}
	checkPrefix(t, db, 30)
	db.Close()
	// ...and by Open.
	touch(t, mem, wal.TornSideName(tornSeg, 128))
	db = mustOpenFS(t, mem, inmem.Strict, 2048)
	if got, want := tornFiles(t, mem), []string{wal.TornSideName(live, 80)}; !slices.Equal(got, want) {
		t.Fatalf("side files after Open: %v, want %v", got, want)
	}
	checkPrefix(t, db, 30)
	db.Close()
}

func TestParseTornSideName(t *testing.T) {
	for _, c := range []struct {
		name string
		seg  uint64
		off  int64
		ok   bool
	}{
		{wal.TornSideName(7, 4096), 7, 4096, true},
		{"wal-3.seg.torn-0", 3, 0, true},
		{"wal-3.seg", 0, 0, false},
		{"wal-3.seg.torn-", 0, 0, false},
		{"wal-3.seg.torn--1", 0, 0, false},
		{"wal-3.seg.torn-1x", 0, 0, false},
		{"wal-x.seg.torn-1", 0, 0, false},
		{"wal-3.seg.torn-99999999999999999999", 0, 0, false},
	} {
		seg, off, ok := wal.ParseTornSideName(c.name)
		if seg != c.seg || off != c.off || ok != c.ok {
			t.Errorf("ParseTornSideName(%q) = %d, %d, %v; want %d, %d, %v", c.name, seg, off, ok, c.seg, c.off, c.ok)
		}
	}
}
