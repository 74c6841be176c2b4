package inmem_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/internal/wal"
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

// TestStorageInvariant_S4_SnapshotIsOnePointInTime checkpoints while writers
// run and checks the snapshot holds exactly the state at its watermark: every
// version up to it, none after.
func TestStorageInvariant_S4_SnapshotIsOnePointInTime(t *testing.T) {
	for round := range 3 {
		fsys := vfs.NewMem()
		db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := inmem.NewRunID()
				for i := 0; !stop.Load(); i++ {
					key := fmt.Sprintf("k%d", i%50)
					var err error
					if i%7 == 3 {
						_, err = db.KV().Delete(ctx, run, key)
					} else {
						_, err = db.KV().Put(ctx, run, key, inmem.Int(int64(i*10+w)))
					}
					if err != nil && !errors.Is(err, inmem.ErrNotFound) {
						t.Error(err)
						return
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		info, err := db.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if inmem.Visible(db) <= info.Watermark.N {
			t.Fatalf("round %d: no commit happened after the checkpoint; the test proves nothing", round)
		}
		live := inmem.DumpState(db, info.Watermark.N)
		snap := snapshotDump(t, fsys)
		db.Close()
		if live != snap {
			t.Fatalf("round %d: snapshot at %v differs from the live state at that version", round, info.Watermark)
		}
	}
}

// TestStorageInvariant_S5_SnapshotIsLogical checks that a snapshot depends
// only on the logical state: the same commits through WALs of different
// segment sizes, with or without a reopen in between, give identical images.
func TestStorageInvariant_S5_SnapshotIsLogical(t *testing.T) {
	var dumps []string
	for _, segSize := range []int64{1024, 1 << 20} {
		for _, reopen := range []bool{false, true} {
			fsys := vfs.NewMem()
			clock := &stepClock{}
			open := func() *inmem.DB {
				db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, WALSegmentSize: segSize, Clock: clock})
				if err != nil {
					t.Fatal(err)
				}
				return db
			}
			db := open()
			run := inmem.MustParseRunID("00000000-0000-4000-8000-000000000001")
			for i := range 60 {
				if i == 30 && reopen {
					db.Close()
					db = open()
				}
				if _, err := db.KV().Put(ctx, run, fmt.Sprint("k", i%9), inmem.Int(int64(i))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			db.Close()
			dumps = append(dumps, snapshotDump(t, fsys))
		}
	}
	for i := range dumps {
		if dumps[i] != dumps[0] {
			t.Fatalf("image %d differs from image 0:\n%s\nvs\n%s", i, dumps[i], dumps[0])
		}
	}
}

// stepClock advances one millisecond per reading: deterministic timestamps.
type stepClock struct{ n atomic.Int64 }

func (c *stepClock) Now() time.Time {
	return time.UnixMilli(1_700_000_000_000 + c.n.Add(1))
}

// TestStorageInvariant_S6_WatermarkBelowReplayedRecords checks that after a
// checkpoint taken under concurrent writers, recovery replays exactly the
// records above the watermark, starting right after it.
func TestStorageInvariant_S6_WatermarkBelowReplayedRecords(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 2048)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := inmem.NewRunID()
			for i := 0; !stop.Load(); i++ {
				db.KV().Put(ctx, run, fmt.Sprint("k", i%20), padding)
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	info, err := db.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	db.Close()
	w := info.Watermark.N
	var applied []uint64
	_, err = wal.Replay(wal.ReplayOptions{FS: fsys, Dir: filepath.Join(dbDir, "WAL"), UUID: dbUUID(t, fsys), Codec: codec.Identity{},
		Watermark: w, HasSnapshot: true}, wal.EachCommit(func(c *core.Commit) error {
		applied = append(applied, c.Version)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != w+1 {
		t.Fatalf("replay after watermark %d starts at %v", w, applied[:min(len(applied), 3)])
	}
	for i, v := range applied {
		if v <= w || (i > 0 && v != applied[i-1]+1) {
			t.Fatalf("replayed version %d (watermark %d)", v, w)
		}
	}
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

// TestCompactionInvariant_C1_ReadEquivalence checks that every read —
// values, versions, timestamps, history — is identical before and after a
// WAL-only compaction, and after reopening the compacted directory.
func TestCompactionInvariant_C1_ReadEquivalence(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1024)
	if _, err := runSteps(db, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, inmem.WALOnly); !errors.Is(err, inmem.ErrConstraintViolation) {
		t.Fatalf("Compact without a snapshot = %v, want a clear error", err)
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 41; i <= 50; i++ {
		if err := commitStep(db, i); err != nil {
			t.Fatal(err)
		}
	}
	before := inmem.DumpState(db, inmem.Visible(db))
	segsBefore := segmentFiles(t, fsys)
	info, err := db.Compact(ctx, inmem.WALOnly)
	if err != nil {
		t.Fatal(err)
	}
	if info.SegmentsRemoved == 0 || info.ReclaimedBytes == 0 {
		t.Fatalf("compaction removed nothing: %+v (segments %d)", info, len(segsBefore))
	}
	if got := inmem.DumpState(db, inmem.Visible(db)); got != before {
		t.Fatal("reads changed through compaction")
	}
	// C2: transactions behave the same after.
	if err := commitStep(db, 51); err != nil {
		t.Fatal(err)
	}
	after := inmem.DumpState(db, inmem.Visible(db))
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 1024)
	defer db.Close()
	if got := inmem.DumpState(db, inmem.Visible(db)); got != after {
		t.Fatal("reopening the compacted directory changed reads")
	}
	checkPrefix(t, db, 51)
}

// TestCompactionInvariant_C4_OnlyBelowWatermark checks that compaction
// removes only segments whose every record is at or below the durable
// snapshot's watermark, never the active segment.
func TestCompactionInvariant_C4_OnlyBelowWatermark(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1024)
	defer db.Close()
	if _, err := runSteps(db, 30); err != nil {
		t.Fatal(err)
	}
	info, err := db.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 31; i <= 45; i++ {
		commitStep(db, i)
	}
	w := info.Watermark.N
	maxVersion := map[string]uint64{}
	for _, seg := range segmentFiles(t, fsys) {
		data := usedBytes(readAll(t, fsys, seg))
		for off := format.SegmentHeaderSize; off < len(data); {
			f, _, err := format.ParseRecordFrame(data[off:])
			if err != nil {
				t.Fatal(err)
			}
			maxVersion[seg] = max(maxVersion[seg], f.Version)
			off += f.Size
		}
	}
	segs := segmentFiles(t, fsys)
	active := segs[len(segs)-1]
	if _, err := db.Compact(ctx, inmem.WALOnly); err != nil {
		t.Fatal(err)
	}
	remaining := segmentFiles(t, fsys)
	for _, seg := range segs {
		kept := slices.Contains(remaining, seg)
		switch {
		case seg == active && !kept:
			t.Fatal("compaction removed the active segment")
		case !kept && maxVersion[seg] > w:
			t.Fatalf("compaction removed %s holding version %d above the watermark %d", seg, maxVersion[seg], w)
		case kept && seg != active && maxVersion[seg] <= w && maxVersion[seg] > 0:
			t.Fatalf("compaction kept %s although the snapshot covers it", seg)
		}
	}
}

// TestCompactionInvariant_C5_VersionIdentity checks that compaction and
// recovery from the compacted directory never renumber a version.
func TestCompactionInvariant_C5_VersionIdentity(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1024)
	run := inmem.NewRunID()
	var vs []inmem.Version
	for i := range 30 {
		v, err := db.KV().Put(ctx, run, "k", inmem.Int(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
		if i == 20 {
			db.Checkpoint(ctx)
			db.Compact(ctx, inmem.WALOnly)
		}
	}
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 1024)
	defer db.Close()
	h, _ := db.KV().History(ctx, run, "k")
	if len(h) != len(vs) {
		t.Fatalf("history has %d versions, want %d", len(h), len(vs))
	}
	for i, e := range h {
		want := vs[len(vs)-1-i]
		if e.Version != want {
			t.Fatalf("history[%d] version %v, want %v", i, e.Version, want)
		}
		if n, _ := e.Value.AsInt(); n != int64(len(vs)-1-i) {
			t.Fatalf("history[%d] value %v", i, e.Value)
		}
	}
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

// TestCompactionInvariant_C2_TransactionsBehaveTheSame checks that after a
// WAL-only compaction (and a reopen of the compacted directory) reads,
// conflicts and CAS behave as before.
func TestCompactionInvariant_C2_TransactionsBehaveTheSame(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1024)
	run := inmem.NewRunID()
	for i := range 40 {
		mustPut(t, db, run, "k", inmem.Int(int64(i)))
	}
	db.Checkpoint(ctx)
	if info, err := db.Compact(ctx, inmem.WALOnly); err != nil || info.SegmentsRemoved == 0 {
		t.Fatalf("compaction: %+v, %v", info, err)
	}
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 1024)
	defer db.Close()
	cur, _ := db.KV().Get(ctx, run, "k")
	if _, err := db.KV().CAS(ctx, run, "k", inmem.Txn(cur.Version.N-1), inmem.Int(0)); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("a stale CAS after compaction = %v", err)
	}
	if _, err := db.KV().CAS(ctx, run, "k", cur.Version, inmem.Int(100)); err != nil {
		t.Fatalf("a current CAS after compaction = %v", err)
	}
	tx, _ := db.Begin(ctx, run, true)
	tx.KV().Get("k")
	tx.KV().Put("other", inmem.Null())
	mustPut(t, db, run, "k", inmem.Int(7))
	if err := tx.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("read-write conflict after compaction = %v", err)
	}
}

// TestCompactionInvariant_C3_NoReordering checks that compaction keeps the
// order of every key's history and of the commit versions across keys.
func TestCompactionInvariant_C3_NoReordering(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1024)
	run := inmem.NewRunID()
	for i := range 60 {
		mustPut(t, db, run, fmt.Sprint("k", i%4), inmem.Int(int64(i)))
	}
	before := inmem.DumpState(db, inmem.Visible(db))
	db.Checkpoint(ctx)
	db.Compact(ctx, inmem.WALOnly)
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 1024)
	defer db.Close()
	if after := inmem.DumpState(db, inmem.Visible(db)); after != before {
		t.Fatal("histories changed order (or content) through compaction")
	}
	for k := range 4 {
		h, _ := db.KV().History(ctx, run, fmt.Sprint("k", k))
		for i := 1; i < len(h); i++ {
			if h[i].Version.N >= h[i-1].Version.N || h[i].Timestamp > h[i-1].Timestamp {
				t.Fatalf("k%d history out of order at %d", k, i)
			}
		}
	}
}
