package inmem_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/vfs"
)

// snapshotDump loads a snapshot file into a fresh in-memory database (by
// opening a copy of its directory without the WAL) and dumps its state.
func snapshotDump(t testing.TB, img *vfs.MemFS) string {
	t.Helper()
	fsys := img.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	for _, seg := range segmentFiles(t, fsys) {
		if err := fsys.Remove(seg); err != nil {
			t.Fatal(err)
		}
	}
	m := readManifest(t, fsys)
	m.ActiveSegment = 0
	writeManifest(t, fsys, m)
	db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, ReadOnly: true})
	if err != nil {
		t.Fatalf("opening the snapshot alone: %v", err)
	}
	defer db.Close()
	if got := inmem.Visible(db); got != m.SnapshotWatermark {
		t.Fatalf("snapshot alone recovers to %d, watermark %d", got, m.SnapshotWatermark)
	}
	return inmem.DumpState(db, m.SnapshotWatermark)
}

// stepClock advances one millisecond per reading: deterministic timestamps.
type stepClock struct{ n atomic.Int64 }

func (c *stepClock) Now() time.Time {
	return time.UnixMilli(1_700_000_000_000 + c.n.Add(1))
}

// TestRecovery_SnapshotPlusWALEqualsWAL checks that recovering from a
// snapshot plus the WAL after it gives exactly the state (history included)
// that replaying the whole WAL gives.
func TestRecovery_SnapshotPlusWALEqualsWAL(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 2048)
	runA, runB := inmem.NewRunID(), inmem.NewRunID()
	for i := range 80 {
		run := runA
		if i%3 == 0 {
			run = runB
		}
		if i%11 == 5 {
			db.KV().Delete(ctx, run, fmt.Sprint("k", (i-1)%13))
		}
		if _, err := db.KV().Put(ctx, run, fmt.Sprint("k", i%13), inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
		if i == 50 {
			if _, err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()
	withSnap := fsys.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	pureWAL := fsys.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	m := readManifest(t, pureWAL)
	m.HasSnapshot, m.SnapshotID, m.SnapshotWatermark = false, 0, 0
	writeManifest(t, pureWAL, m)
	a := mustOpenFS(t, withSnap, inmem.Strict, 2048)
	b := mustOpenFS(t, pureWAL, inmem.Strict, 2048)
	defer a.Close()
	defer b.Close()
	if inmem.Visible(a) != inmem.Visible(b) || inmem.DumpState(a, inmem.Visible(a)) != inmem.DumpState(b, inmem.Visible(b)) {
		t.Fatal("snapshot + WAL recovery differs from pure WAL recovery")
	}
}

func readManifest(t testing.TB, fsys vfs.FS) format.Manifest {
	t.Helper()
	m, err := format.DecodeManifest(readAll(t, fsys, filepath.Join(dbDir, "MANIFEST")))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeManifest(t testing.TB, fsys vfs.FS, m format.Manifest) {
	t.Helper()
	p := filepath.Join(dbDir, "MANIFEST")
	fsys.Remove(p)
	f, err := fsys.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(format.AppendManifest(nil, m))
	f.Sync()
	f.Close()
}

// TestCompaction_OneAtATime checks that a second concurrent compaction
// fails instead of queueing, while readers and writers keep working.
func TestCompaction_OneAtATime(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1024)
	defer db.Close()
	runSteps(db, 20)
	db.Checkpoint(ctx)
	inside, release := make(chan struct{}), make(chan struct{})
	inmem.SetCompactingHook(func() {
		close(inside)
		<-release
	})
	defer inmem.SetCompactingHook(nil)
	first := make(chan error, 1)
	go func() {
		_, err := db.Compact(ctx, inmem.WALOnly)
		first <- err
	}()
	<-inside
	if _, err := db.Compact(ctx, inmem.WALOnly); !errors.Is(err, inmem.ErrCompactionRunning) {
		t.Fatalf("second concurrent Compact = %v, want ErrCompactionRunning", err)
	}
	// Readers and writers keep working while the compaction runs.
	if err := commitStep(db, 21); err != nil {
		t.Fatal(err)
	}
	checkPrefix(t, db, 21)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// TestCrash_Checkpoint crashes at every file-system operation of a
// checkpoint (snapshot write, rename, MANIFEST) and of the WAL-only
// compaction after it, and checks every acknowledged commit survives.
func TestCrash_Checkpoint(t *testing.T) {
	base := vfs.NewMem()
	db := mustOpenFS(t, base, inmem.Strict, 1024)
	if _, err := runSteps(db, 25); err != nil {
		t.Fatal(err)
	}
	db.Close()
	probe := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	start := probe.OpCount()
	checkpointAndCompact(t, probe)
	total := probe.OpCount() - start
	if m := readManifest(t, probe); !m.HasSnapshot {
		t.Fatal("the scenario wrote no snapshot")
	}
	t.Logf("crashing at each of %d operations", total)
	for k := 0; k < total; k++ {
		for _, mode := range []vfs.CrashMode{vfs.CrashDropUnsynced, vfs.CrashRandom} {
			fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
			fsys.CrashAt(fsys.OpCount()+k, vfs.CrashOptions{Mode: mode, Seed: uint64(k)})
			acked := checkpointAndCompact(t, fsys)
			img := fsys.CrashImage()
			if img == nil {
				t.Fatalf("crash point %d not reached", k)
			}
			db, err := openFS(t, img, inmem.Strict, 1024)
			if err != nil {
				t.Fatalf("crash at op %d of checkpoint/compaction (%v): %v", k, mode, err)
			}
			checkPrefix(t, db, max(acked, 25))
			db.Close()
		}
	}
}

// checkpointAndCompact opens the database, commits, checkpoints, commits,
// compacts and commits again, stopping at the first error; it returns the
// last acknowledged step.
func checkpointAndCompact(t *testing.T, fsys vfs.FS) int {
	db, err := openFS(t, fsys, inmem.Strict, 1024)
	if err != nil {
		return 0
	}
	defer db.Close()
	acked := 25
	step := func() bool {
		if err := commitStep(db, acked+1); err != nil {
			return false
		}
		acked++
		return true
	}
	if !step() {
		return acked
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		return acked
	}
	if !step() {
		return acked
	}
	if _, err := db.Compact(ctx, inmem.WALOnly); err != nil {
		return acked
	}
	step()
	return acked
}

// TestExport_RoundTrip exports a live database and opens the export.
func TestExport_RoundTrip(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "export")
	db, err := inmem.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	runSteps(db, 30)
	if _, err := db.Export(ctx, filepath.Join(src, "inside")); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("export into the live directory = %v", err)
	}
	info, err := db.Export(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	commitStep(db, 31) // after the export: not in it
	want := inmem.DumpState(db, info.Watermark.N)
	if _, err := db.Export(ctx, dst); !errors.Is(err, inmem.ErrAlreadyExists) {
		t.Fatalf("export over an existing database = %v", err)
	}
	db.Close()
	exp, err := inmem.Open(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := inmem.DumpState(exp, inmem.Visible(exp)); got != want || inmem.Visible(exp) != info.Watermark.N {
		t.Fatal("the export does not hold the state at its checkpoint")
	}
	checkPrefix(t, exp, 30)
	if err := commitStep(exp, 31); err != nil {
		t.Fatalf("writing to the export: %v", err)
	}
	exp.Close()
	// Import copies a verified database into a new directory.
	imp := filepath.Join(root, "imported")
	if err := inmem.Import(ctx, dst, imp, nil); err != nil {
		t.Fatal(err)
	}
	idb, err := inmem.Open(imp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idb.Close()
	checkPrefix(t, idb, 31)
	if err := inmem.Import(ctx, dst, imp, nil); !errors.Is(err, inmem.ErrAlreadyExists) {
		t.Fatalf("import over a database = %v", err)
	}
}

// TestCopyAfterCheckpoint copies a directory with cp -r semantics after a
// checkpoint while the database stays open, and opens the copy.
func TestCopyAfterCheckpoint(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "copy")
	db, err := inmem.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runSteps(db, 20)
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	clone, err := inmem.Open(dst, nil)
	if err != nil {
		t.Fatalf("opening a copy taken after Checkpoint: %v", err)
	}
	defer clone.Close()
	checkPrefix(t, clone, 20)
}

// TestSnapshot_CorruptionDetected flips bits across a snapshot file and
// checks each one is a Corruption error on Open, never a silent fallback to
// the WAL.
func TestSnapshot_CorruptionDetected(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1024)
	runSteps(db, 10)
	db.Checkpoint(ctx)
	db.Close()
	m := readManifest(t, fsys)
	path := filepath.Join(dbDir, "SNAPSHOTS", snapshot.FileName(m.SnapshotID))
	data := readAll(t, fsys, path)
	for off := 0; off < len(data); off += max(1, len(data)/97) {
		img := fsys.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		flipByte(t, img, path, off)
		_, err := openFS(t, img, inmem.Strict, 1024)
		if !errors.Is(err, inmem.ErrCorruption) && !errors.Is(err, inmem.ErrCodecMismatch) {
			t.Fatalf("flip at %d of %d: Open = %v, want Corruption", off, len(data), err)
		}
	}
	img := fsys.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	img.Remove(path)
	if _, err := openFS(t, img, inmem.Strict, 1024); !errors.Is(err, inmem.ErrCorruption) {
		t.Fatalf("missing snapshot: %v", err)
	}
	img = fsys.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	truncate(t, img, path, int64(len(data)-1))
	if _, err := openFS(t, img, inmem.Strict, 1024); !errors.Is(err, inmem.ErrCorruption) {
		t.Fatalf("truncated snapshot: %v", err)
	}
}

func FuzzSnapshotRead(f *testing.F) {
	fsys := vfs.NewMem()
	db := mustOpenFS(f, fsys, inmem.Strict, 1024)
	runSteps(db, 5)
	db.Checkpoint(ctx)
	db.Close()
	m := readManifest(f, fsys)
	path := filepath.Join(dbDir, "SNAPSHOTS", snapshot.FileName(m.SnapshotID))
	good := readAll(f, fsys, path)
	f.Add(good)
	f.Add(good[:60])
	f.Add(bytes.Repeat([]byte{1}, 100))
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := vfs.NewMem()
		file, _ := mem.Create("/s")
		file.Write(data)
		file.Close()
		snapshot.Read(snapshot.ReadOptions{FS: mem, Path: "/s", UUID: m.UUID, Codec: codec.Identity{}},
			func(*format.SnapshotEntity) error { return nil })
	})
}
