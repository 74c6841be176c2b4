package inmem_test

import (
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/vfs"
	"pgregory.net/rapid"
)

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
