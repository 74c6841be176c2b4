package inmem_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// walSegments returns the WAL segment files of the database at dbDir.
func walSegments(t *testing.T, fsys vfs.FS) []string {
	t.Helper()
	names, err := fsys.List(filepath.Join(dbDir, "WAL"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, ".seg") {
			out = append(out, n)
		}
	}
	return out
}

// A checkpoint closes the active segment, so the WAL-only compaction after
// it deletes every segment the snapshot covers: with segments far larger
// than the data, only the fresh active segment is left (before, the
// segment holding every record stayed).
func TestCheckpointRotatesActiveSegment(t *testing.T) {
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := vfs.NewMem()
			db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, Durability: mode, WALSegmentSize: 1 << 20, Maintenance: noMaint})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 20; i++ {
				if err := commitStep(db, i); err != nil {
					t.Fatal(err)
				}
			}
			before := walSegments(t, fsys)
			cp, err := db.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			info, err := db.Compact(ctx, inmem.WALOnly)
			if err != nil {
				t.Fatal(err)
			}
			after := walSegments(t, fsys)
			if len(after) != 1 || info.SegmentsRemoved != len(before) || after[0] <= before[len(before)-1] {
				t.Fatalf("segments before %v, after checkpoint at %v and compaction %v (%+v): want only a new active segment",
					before, cp.Watermark, after, info)
			}
			// A checkpoint of an untouched segment does not rotate again.
			if _, err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			if got := walSegments(t, fsys); len(got) != 1 || got[0] != after[0] {
				t.Fatalf("an idle checkpoint rotated: %v -> %v", after, got)
			}
			if err := commitStep(db, 21); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = mustOpenFS(t, fsys, mode, 1<<20)
			defer db.Close()
			if n := mustGetInt(t, db, crashRun, "last"); n != 21 {
				t.Fatalf("last = %d after reopen, want 21", n)
			}
			for i := 1; i <= 21; i++ {
				if n := mustGetInt(t, db, crashRun, fmt.Sprintf("k%05d", i)); n != int64(i) {
					t.Fatalf("k%05d = %d", i, n)
				}
			}
		})
	}
}

// rotationWorkload commits, then checkpoints (rotating the active segment),
// compacts, commits, checkpoints and commits again. It returns the
// file-system operation count when the first checkpoint started and the
// last commit step acknowledged; everything before the checkpoint must
// succeed.
func rotationWorkload(t *testing.T, fsys *vfs.MemFS, crashFrom int) (from, acked int) {
	t.Helper()
	db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, Durability: inmem.Strict, WALSegmentSize: 1 << 20, Maintenance: noMaint})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	for i := 1; i <= 10; i++ {
		if err := commitStep(db, i); err != nil {
			t.Fatalf("commit %d before the checkpoint: %v", i, err)
		}
		acked = i
	}
	from = fsys.OpCount()
	if crashFrom >= 0 && crashFrom < from {
		t.Fatalf("crash point %d is before the checkpoint (op %d): the workload is not deterministic", crashFrom, from)
	}
	step := func(i int) bool {
		if commitStep(db, i) != nil {
			return false
		}
		acked = i
		return true
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		return from, acked
	}
	if _, err := db.Compact(ctx, inmem.WALOnly); err != nil {
		return from, acked
	}
	if !step(11) {
		return from, acked
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		return from, acked
	}
	step(12)
	return from, acked
}

// TestCrash_CheckpointRotation crashes at every file-system operation of a
// checkpoint that rotates the active segment, of the compaction that
// deletes the closed segment, and of the commits and checkpoint after
// them, in both crash modes: recovery finds every acknowledged commit, and
// the recovered database checkpoints, compacts and commits again.
func TestCrash_CheckpointRotation(t *testing.T) {
	probe := vfs.NewMem()
	from, acked := rotationWorkload(t, probe, -1)
	if acked != 12 {
		t.Fatalf("the uncrashed workload acknowledged %d steps, want 12", acked)
	}
	total := probe.OpCount()
	images := 0
	for k := from; k < total; k++ {
		for _, mode := range []vfs.CrashMode{vfs.CrashDropUnsynced, vfs.CrashRandom} {
			fsys := vfs.NewMem()
			fsys.CrashAt(k, vfs.CrashOptions{Mode: mode, Seed: uint64(k) * 7919})
			_, acked := rotationWorkload(t, fsys, k)
			img := fsys.CrashImage()
			if img == nil {
				continue
			}
			images++
			where := fmt.Sprintf("crash at op %d (%v)", k, mode)
			db, err := inmem.Open(dbDir, &inmem.Options{FS: img, Durability: inmem.Strict, WALSegmentSize: 1 << 20, Maintenance: noMaint})
			if err != nil {
				t.Fatalf("%s: recovery failed: %v", where, err)
			}
			if n := mustGetInt(t, db, crashRun, "last"); n < int64(acked) {
				t.Fatalf("%s: last = %d, want at least the acknowledged %d", where, n, acked)
			}
			for i := 1; i <= acked; i++ {
				if n := mustGetInt(t, db, crashRun, fmt.Sprintf("k%05d", i)); n != int64(i) {
					t.Fatalf("%s: k%05d = %d", where, i, n)
				}
			}
			if _, err := db.Checkpoint(ctx); err != nil {
				t.Fatalf("%s: Checkpoint after recovery: %v", where, err)
			}
			if _, err := db.Compact(ctx, inmem.WALOnly); err != nil {
				t.Fatalf("%s: Compact after recovery: %v", where, err)
			}
			if err := commitStep(db, 13); err != nil {
				t.Fatalf("%s: commit after recovery: %v", where, err)
			}
			db.Close()
		}
	}
	t.Logf("ops %d..%d, %d crash images recovered", from, total, images)
	if images != 2*(total-from) {
		t.Fatalf("only %d crash images for %d operations", images, total-from)
	}
}
