package inmem_test

// The recovery invariants R1–R5 of the spec (§8), in order; docs/INVARIANTS.md
// maps each to its statement.

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/vfs"
	"pgregory.net/rapid"
)

// TestRecoveryInvariant_R1_NoAcknowledgedCommitLost crashes a Strict
// workload with frequent rotations at every file-system operation index and
// checks that the recovered state holds every acknowledged commit, as a
// prefix of the commit order.
func TestRecoveryInvariant_R1_NoAcknowledgedCommitLost(t *testing.T) {
	const steps = 24
	probe := vfs.NewMem()
	db := mustOpenFS(t, probe, inmem.Strict, 2048)
	if _, err := runSteps(db, steps); err != nil {
		t.Fatal(err)
	}
	db.Close()
	total := probe.OpCount()
	modes := []vfs.CrashMode{vfs.CrashDropUnsynced, vfs.CrashRandom}
	images, partial := 0, 0
	defer func() {
		t.Logf("%d operations, %d crash images recovered, %d of them short of the full workload", total, images, partial)
		if images < total || partial == 0 {
			t.Errorf("the crash points did not exercise recovery (%d images, %d partial)", images, partial)
		}
	}()
	for k := 0; k < total; k++ {
		for _, mode := range modes {
			fsys := vfs.NewMem()
			fsys.CrashAt(k, vfs.CrashOptions{Mode: mode, Seed: uint64(k) * 7919})
			acked := 0
			if db, err := openFS(t, fsys, inmem.Strict, 2048); err == nil {
				acked, _ = runSteps(db, steps)
				db.Close()
			}
			img := fsys.CrashImage()
			if img == nil {
				continue // the workload finished before op k
			}
			db, err := openFS(t, img, inmem.Strict, 2048)
			if err != nil {
				t.Fatalf("crash at op %d (%v): recovery failed: %v", k, mode, err)
			}
			images++
			if checkPrefix(t, db, acked) < steps {
				partial++
			}
			// The recovered database keeps working and survives again.
			if err := commitStep(db, 1000); err != nil {
				t.Fatalf("crash at op %d: commit after recovery: %v", k, err)
			}
			db.Close()
		}
	}
}

// TestRecoveryInvariant_R1_GroupCommit crashes concurrent Strict writers
// (sharing fsyncs) and checks every acknowledged commit survives.
func TestRecoveryInvariant_R1_GroupCommit(t *testing.T) {
	for seed := range 12 {
		fsys := vfs.NewMem()
		db := mustOpenFS(t, fsys, inmem.Strict, 4096)
		fsys.CrashAt(fsys.OpCount()+20+seed*7, vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: uint64(seed)})
		var mu sync.Mutex
		acked := map[string]int64{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := inmem.NewRunID()
				for i := 0; ; i++ {
					key := fmt.Sprintf("w%d/%d", w, i)
					if _, err := db.KV().Put(ctx, crashRun, key, inmem.Int(int64(i))); err != nil {
						return
					}
					_ = run
					mu.Lock()
					acked[key] = int64(i)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		db.Close()
		img := fsys.CrashImage()
		if img == nil {
			t.Fatal("crash point not reached")
		}
		rdb := mustOpenFS(t, img, inmem.Strict, 4096)
		for key, want := range acked {
			got, err := rdb.KV().Get(ctx, crashRun, key)
			if err != nil {
				t.Fatalf("seed %d: acknowledged %s lost: %v", seed, key, err)
			}
			if n, _ := got.Value.AsInt(); n != want {
				t.Fatalf("seed %d: %s = %d, want %d", seed, key, n, want)
			}
		}
		if st := rdb.Stats(); len(acked) > 0 && st.CommitVersion < uint64(len(acked)) {
			t.Fatalf("seed %d: recovered version %d < %d acknowledged commits", seed, st.CommitVersion, len(acked))
		}
		rdb.Close()
	}
}

// TestRecoveryInvariant_R2_OrderPreserved checks that recovery reproduces
// the commit order: versions, history order and timestamps.
func TestRecoveryInvariant_R2_OrderPreserved(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 2048)
	run := inmem.NewRunID()
	var versions []inmem.Version
	for i := range 40 {
		v, err := db.KV().Put(ctx, run, fmt.Sprint("k", i%3), inmem.Int(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	hist := map[string][]inmem.Versioned[inmem.Value]{}
	for _, k := range []string{"k0", "k1", "k2"} {
		hist[k], _ = db.KV().History(ctx, run, k)
	}
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 2048)
	defer db.Close()
	for k, want := range hist {
		got, _ := db.KV().History(ctx, run, k)
		if len(got) != len(want) {
			t.Fatalf("%s: %d versions after recovery, %d before", k, len(got), len(want))
		}
		for i := range want {
			if got[i].Version != want[i].Version || got[i].Timestamp != want[i].Timestamp || !got[i].Value.Identical(want[i].Value) {
				t.Fatalf("%s[%d]: %+v after recovery, %+v before", k, i, got[i], want[i])
			}
		}
	}
	v, err := db.KV().Put(ctx, run, "next", inmem.Null())
	if err != nil || v.N != versions[len(versions)-1].N+1 {
		t.Fatalf("first commit after recovery got %v, %v; want version %d", v, err, versions[len(versions)-1].N+1)
	}
}

// TestRecoveryInvariant_R3_Idempotent checks that recovering twice gives the
// same state as once, and that a crash at any point during recovery (which
// may be cutting a torn tail) followed by another recovery gives it too.
func TestRecoveryInvariant_R3_Idempotent(t *testing.T) {
	base := vfs.NewMem()
	db := mustOpenFS(t, base, inmem.Buffered, 2048)
	if _, err := runSteps(db, 30); err != nil {
		t.Fatal(err)
	}
	// A power cut with Buffered data unsynced leaves a torn tail for
	// recovery to cut.
	torn := base.Crash(vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: 3})
	db.Close()

	reference := func(fsys vfs.FS) int {
		db := mustOpenFS(t, fsys, inmem.Strict, 2048)
		defer db.Close()
		return checkPrefix(t, db, 0)
	}
	want := reference(torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll}))
	again := torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	reference(again)
	if got := reference(again); got != want {
		t.Fatalf("second recovery gives step %d, first %d", got, want)
	}

	probe := torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	start := probe.OpCount()
	reference(probe)
	total := probe.OpCount() - start
	for k := 0; k < total; k++ {
		fsys := torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		fsys.CrashAt(fsys.OpCount()+k, vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: uint64(k)})
		if db, err := openFS(t, fsys, inmem.Strict, 2048); err == nil {
			db.Close()
		}
		img := fsys.CrashImage()
		if img == nil {
			t.Fatalf("crash point %d not reached", k)
		}
		if got := reference(img); got != want {
			t.Fatalf("crash at recovery op %d: recovered step %d, want %d", k, got, want)
		}
	}
}

// TestRecoveryInvariant_R4_SnapshotPlusWALEqualsPureWAL runs random
// workloads over all seven primitives with a checkpoint at a random point,
// then recovers the directory twice — from the snapshot plus the WAL after
// it, and from the whole WAL alone — and requires the same state, history
// included.
func TestRecoveryInvariant_R4_SnapshotPlusWALEqualsPureWAL(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fsys := vfs.NewMem()
		db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, WALSegmentSize: 2048, Clock: &stepClock{}})
		if err != nil {
			rt.Fatal(err)
		}
		runs := []inmem.RunID{
			inmem.MustParseRunID("00000000-0000-4000-8000-00000000000a"),
			inmem.MustParseRunID("00000000-0000-4000-8000-00000000000b"),
		}
		for _, run := range runs {
			if _, err := db.Vectors().CreateCollection(ctx, run, "mem", 3, inmem.Cosine); err != nil {
				rt.Fatal(err)
			}
			if _, err := db.JSON().Create(ctx, run, "doc", inmem.MustValue(map[string]any{"n": int64(0)})); err != nil {
				rt.Fatal(err)
			}
		}
		name := rapid.SampledFrom([]string{"a", "b", "c"})
		runGen := rapid.SampledFrom(runs)
		checkpointAt := rapid.IntRange(0, 40).Draw(rt, "checkpointAt")
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			if i == checkpointAt {
				if _, err := db.Checkpoint(ctx); err != nil {
					rt.Fatal(err)
				}
			}
			run := runGen.Draw(rt, "run")
			n := name.Draw(rt, "name")
			val := inmem.Int(int64(rapid.IntRange(0, 9).Draw(rt, "v")))
			// Errors such as NotFound or AlreadyExists are part of the
			// workload: only the committed state matters.
			switch rapid.IntRange(0, 11).Draw(rt, "op") {
			case 0:
				db.KV().Put(ctx, run, n, val)
			case 1:
				db.KV().Delete(ctx, run, n)
			case 2:
				db.Events().Append(ctx, run, n, val)
			case 3:
				db.State().Set(ctx, run, n, val)
			case 4:
				db.State().Delete(ctx, run, n)
			case 5:
				db.Traces().Record(ctx, run, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: n}, Tags: []string{n}})
			case 6:
				db.JSON().Set(ctx, run, "doc", "/"+n, val)
			case 7:
				db.JSON().Delete(ctx, run, "doc", "/"+n)
			case 8:
				db.Vectors().Upsert(ctx, run, "mem", n, []float32{1, float32(i), 2}, inmem.Null())
			case 9:
				db.Vectors().Delete(ctx, run, "mem", n)
			case 10:
				db.Runs().Create(ctx, fmt.Sprintf("run-%s-%d", n, i), inmem.RunOptions{})
			case 11:
				db.Update(ctx, run, func(tx *inmem.Tx) error {
					tx.KV().Put("x"+n, val)
					tx.Events().Append("multi", val)
					tx.State().Set("s"+n, val)
					return tx.Vectors().Upsert("mem", "x"+n, []float32{2, 1, float32(i)}, inmem.Null())
				})
			}
		}
		want := inmem.DumpState(db, inmem.Visible(db))
		wantVersion := inmem.Visible(db)
		wantHits := map[inmem.RunID]string{}
		for _, run := range runs {
			h, err := db.Vectors().Search(ctx, run, "mem", []float32{1, 1, 1}, 5, nil)
			if err != nil {
				rt.Fatal(err)
			}
			wantHits[run] = fmt.Sprint(h)
		}
		db.Close()

		withSnap := fsys.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		pure := fsys.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		b, err := vfs.ReadFile(pure, dbDir+"/MANIFEST")
		if err != nil {
			rt.Fatal(err)
		}
		m, err := format.DecodeManifest(b)
		if err != nil {
			rt.Fatal(err)
		}
		m.HasSnapshot, m.SnapshotID, m.SnapshotWatermark = false, 0, 0
		if err := manifest.Write(pure, dbDir, m); err != nil {
			rt.Fatal(err)
		}
		for name, img := range map[string]*vfs.MemFS{"snapshot+WAL": withSnap, "pure WAL": pure} {
			db, err := inmem.Open(dbDir, &inmem.Options{FS: img, WALSegmentSize: 2048, Clock: &stepClock{}})
			if err != nil {
				rt.Fatalf("%s: %v", name, err)
			}
			if got := inmem.DumpState(db, inmem.Visible(db)); got != want || inmem.Visible(db) != wantVersion {
				rt.Fatalf("%s recovery differs from the state before Close", name)
			}
			// The derived vector index, rebuilt by recovery, agrees too.
			for _, run := range runs {
				h, err := db.Vectors().Search(ctx, run, "mem", []float32{1, 1, 1}, 5, nil)
				if err != nil {
					rt.Fatal(err)
				}
				if fmt.Sprint(h) != wantHits[run] {
					rt.Fatalf("%s: search after recovery %v, before %s", name, h, wantHits[run])
				}
			}
			db.Close()
		}
	})
}

// TestRecoveryInvariant_R5_TornTail cuts the last segment at every byte and
// checks that recovery keeps exactly the complete records before the cut,
// saves the cut bytes, and that damage anywhere else is Corruption.
func TestRecoveryInvariant_R5_TornTail(t *testing.T) {
	base := vfs.NewMem()
	db := mustOpenFS(t, base, inmem.Strict, 1<<20)
	if _, err := runSteps(db, 12); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The database was never reopened, so the newest segment holds the
	// records.
	segs := segmentFiles(t, base)
	last := segs[len(segs)-1]
	data := readAll(t, base, last)
	if len(usedBytes(data)) != len(data) {
		t.Fatal("a cleanly closed segment still has its preallocated tail")
	}
	// Record boundaries, to know how many steps survive each cut.
	var ends []int
	for off := format.SegmentHeaderSize; off < len(data); {
		f, _, err := format.ParseRecordFrame(data[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += f.Size
		ends = append(ends, off)
	}
	for cut := format.SegmentHeaderSize; cut < len(data); cut++ {
		fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		truncate(t, fsys, last, int64(cut))
		db, err := openFS(t, fsys, inmem.Strict, 1<<20)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		want := 0
		for _, e := range ends {
			if e <= cut {
				want++
			}
		}
		if got := checkPrefix(t, db, want); got != want {
			t.Fatalf("cut at %d: recovered %d steps, want %d", cut, got, want)
		}
		db.Close()
		if got, want := len(readAll(t, fsys, last)), boundaryBefore(ends, cut); got != want {
			t.Fatalf("cut at %d: segment is %d bytes after recovery, want %d", cut, got, want)
		}
		if cut != boundaryBefore(ends, cut) {
			side := fmt.Sprintf("%s.torn-%d", last, boundaryBefore(ends, cut))
			if b, err := vfs.ReadFile(fsys, side); err != nil || !bytes.Equal(b, data[boundaryBefore(ends, cut):cut]) {
				t.Fatalf("cut at %d: side file %s: %v", cut, side, err)
			}
		}
	}
	// A zero-filled or garbage region at the end is a torn tail too.
	for _, fill := range []byte{0, 0xee} {
		fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		appendBytes(t, fsys, last, bytes.Repeat([]byte{fill}, 5000))
		db, err := openFS(t, fsys, inmem.Strict, 1<<20)
		if err != nil {
			t.Fatalf("tail filled with %#x: %v", fill, err)
		}
		checkPrefix(t, db, 12)
		db.Close()
	}
	// A damaged record followed by a valid one is corruption, and the
	// files are left untouched.
	fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	flipByte(t, fsys, last, ends[3]+10)
	beforeBytes := readAll(t, fsys, last)
	_, err := openFS(t, fsys, inmem.Strict, 1<<20)
	var e *inmem.Error
	if !errors.As(err, &e) || e.Code != inmem.CodeCorruption || e.File != last || e.Offset != int64(ends[3]) {
		t.Fatalf("damage before valid records = %v, want Corruption at %s:%d", err, last, ends[3])
	}
	if !bytes.Equal(readAll(t, fsys, last), beforeBytes) {
		t.Fatal("recovery modified a corrupt segment")
	}
}
