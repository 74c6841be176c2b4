package inmem_test

import (
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// checkForkState checks what forkFixture plus the writes of
// TestFork_SurvivesReopenRecoveryExport look like from fork f and source src.
func checkForkState(t *testing.T, db *inmem.DB, src, f inmem.RunID, at inmem.Version, stage string) {
	t.Helper()
	info, err := db.Runs().Get(ctx, f)
	if err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	if info.Value.Parent == nil || *info.Value.Parent != src || info.Value.ForkedAt != at {
		t.Fatalf("%s: fork record %+v", stage, info.Value)
	}
	if got, want := kvMap(t, db, f), map[string]int64{"a": 1, "b": 2, "d": 4, "f": 6}; !mapsEqual(got, want) {
		t.Fatalf("%s: fork %v, want %v", stage, got, want)
	}
	if got, want := kvMap(t, db, src), map[string]int64{"a": 100, "b": 2, "c": 3, "d": 4}; !mapsEqual(got, want) {
		t.Fatalf("%s: source %v, want %v", stage, got, want)
	}
	rep, err := db.Events().VerifyChain(ctx, f)
	if err != nil || !rep.OK || rep.Checked != 3 {
		t.Fatalf("%s: fork chain %+v %v", stage, rep, err)
	}
}

func TestFork_SurvivesReopenRecoveryExport(t *testing.T) {
	fsys := vfs.NewMem()
	open := func(dir string) *inmem.DB {
		db, err := inmem.Open(dir, &inmem.Options{FS: fsys, Durability: inmem.Strict})
		if err != nil {
			t.Fatalf("Open(%s): %v", dir, err)
		}
		return db
	}
	db := open(dbDir)
	src, at := forkFixture(t, db)
	f, err := db.Runs().Fork(ctx, src, at, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, src, "a", inmem.Int(100))
	mustPut(t, db, f, "f", inmem.Int(6))
	if _, err := db.KV().Delete(ctx, f, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events().Append(ctx, f, "fork", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	checkForkState(t, db, src, f, at, "live")
	db.Close()

	db = open(dbDir) // WAL replay
	checkForkState(t, db, src, f, at, "after WAL replay")
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, inmem.Full); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = open(dbDir) // snapshot-based recovery
	checkForkState(t, db, src, f, at, "after snapshot recovery")
	if _, err := db.Export(ctx, "/export"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = open("/export")
	defer db.Close()
	checkForkState(t, db, src, f, at, "in the export")
}

// Retention never trims a version a live fork reads through; once the
// fork is gone, it may.
func TestFork_RetentionKeepsForkPoint(t *testing.T) {
	db := openMem(t)
	src := mustCreate(t, db, "src", inmem.RunOptions{})
	if _, err := db.SetRetentionPolicy(ctx, src, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	at := mustPut(t, db, src, "k", inmem.Int(1))
	f, err := db.Runs().Fork(ctx, src, at, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 5; i++ {
		mustPut(t, db, src, "k", inmem.Int(int64(i)))
	}
	if _, err := db.Compact(ctx, inmem.Full); err != nil {
		t.Fatal(err)
	}
	if got := mustGetInt(t, db, f, "k"); got != 1 {
		t.Fatalf("fork reads %d after trimming its source, want 1", got)
	}
	if got := mustGetInt(t, db, src, "k"); got != 5 {
		t.Fatalf("source reads %d", got)
	}
	// A fork below the source's trim floor is refused.
	if _, err := db.Runs().Delete(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, inmem.Full); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Runs().Fork(ctx, src, at, inmem.ForkOptions{}); inmem.CodeOf(err) != inmem.CodeHistoryTrimmed {
		t.Fatalf("Fork below the trim floor = %v, want HistoryTrimmed", err)
	}
}

func TestFork_Nested(t *testing.T) {
	db := openMem(t)
	src := mustCreate(t, db, "src", inmem.RunOptions{})
	mustPut(t, db, src, "a", inmem.Int(1))
	at1 := mustPut(t, db, src, "b", inmem.Int(2))
	f1, err := db.Runs().Fork(ctx, src, at1, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at2 := mustPut(t, db, f1, "c", inmem.Int(3))
	mustPut(t, db, src, "a", inmem.Int(10))
	f2, err := db.Runs().Fork(ctx, f1, at2, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, f1, "b", inmem.Int(20))
	mustPut(t, db, f2, "d", inmem.Int(4))
	if got, want := kvMap(t, db, f2), map[string]int64{"a": 1, "b": 2, "c": 3, "d": 4}; !mapsEqual(got, want) {
		t.Fatalf("nested fork %v, want %v", got, want)
	}
	res, err := db.Runs().Merge(ctx, f2, f1, inmem.MergeFailOnConflict)
	if err != nil || res.Applied != 1 {
		t.Fatalf("merge nested %+v %v", res, err)
	}
	if got, want := kvMap(t, db, f1), map[string]int64{"a": 1, "b": 20, "c": 3, "d": 4}; !mapsEqual(got, want) {
		t.Fatalf("after merge %v, want %v", got, want)
	}
}
