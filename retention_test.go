package inmem_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

var retRun = inmem.MustParseRunID("11111111-2222-4333-8444-555555555555")

func openRet(t *testing.T, fsys vfs.FS, c *testClock) *inmem.DB {
	t.Helper()
	db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, Durability: inmem.Strict, Clock: c})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func mustCompactFull(t *testing.T, db *inmem.DB) inmem.CompactInfo {
	t.Helper()
	info, err := db.Compact(ctx, inmem.Full)
	if err != nil {
		t.Fatalf("Compact(Full): %v", err)
	}
	return info
}

// wantTrimmed checks err is HistoryTrimmed with the given requested and
// earliest retained versions.
func wantTrimmed(t *testing.T, err error, requested, earliest uint64) {
	t.Helper()
	var e *inmem.Error
	if !errors.As(err, &e) || !errors.Is(err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("err = %v, want HistoryTrimmed", err)
	}
	if e.Requested != inmem.Txn(requested) || e.EarliestRetained != inmem.Txn(earliest) {
		t.Fatalf("HistoryTrimmed requested %s earliest %s, want %d and %d", e.Requested, e.EarliestRetained, requested, earliest)
	}
}

func TestRetentionPolicyValidation(t *testing.T) {
	db := openMem(t)
	for _, p := range []inmem.RetentionPolicy{
		inmem.KeepLast(0), inmem.KeepLast(-3), inmem.KeepFor(0), inmem.KeepFor(-time.Second),
		inmem.Composite(inmem.KeepAll(), map[inmem.PrimitiveType]inmem.RetentionPolicy{inmem.PrimitiveKV: inmem.KeepLast(0)}),
	} {
		if _, err := db.SetRetentionPolicy(ctx, retRun, p); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("SetRetentionPolicy(%v) = %v, want InvalidArgument", p, err)
		}
	}
	for _, s := range []string{"", "last:", "last:0", "for:-1s", "for:xyz", "keep", "all;nope=all", "all;kv=last:1;kv=all", "all;system=all"} {
		if _, err := inmem.ParseRetentionPolicy(s); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("ParseRetentionPolicy(%q) = %v, want InvalidArgument", s, err)
		}
	}
	for _, s := range []string{"all", "last:10", "for:24h0m0s", "last:1;kv=all;event=for:1h0m0s"} {
		p, err := inmem.ParseRetentionPolicy(s)
		if err != nil || p.String() != s {
			t.Errorf("ParseRetentionPolicy(%q) = %v, %v; want it back", s, p, err)
		}
	}
}

// RT4: the policy is a versioned database entry, set atomically with other
// writes, and it survives recovery.
func TestRetentionInvariant_RT4(t *testing.T) {
	fsys := vfs.NewMem()
	c := &testClock{}
	db := openRet(t, fsys, c)
	got, err := db.RetentionPolicy(ctx, retRun)
	if err != nil || !got.Value.IsKeepAll() || got.Version.N != 0 {
		t.Fatalf("unset policy = %v, %v; want KeepAll at version 0", got, err)
	}
	v1, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(3))
	if err != nil {
		t.Fatal(err)
	}
	var v2 inmem.Version
	if err := db.Update(ctx, retRun, func(tx *inmem.Tx) error {
		if err := tx.KV().Put("k", inmem.Int(1)); err != nil {
			return err
		}
		return tx.SetRetentionPolicy(inmem.KeepFor(time.Hour))
	}); err != nil {
		t.Fatal(err)
	}
	k, _ := db.KV().Get(ctx, retRun, "k")
	v2 = k.Version
	if v2.N <= v1.N {
		t.Fatalf("second policy version %s not after %s", v2, v1)
	}
	def, err := db.SetRetentionPolicy(ctx, inmem.GlobalRun, inmem.KeepLast(1))
	if err != nil {
		t.Fatal(err)
	}
	check := func(db *inmem.DB) {
		t.Helper()
		got, err := db.RetentionPolicy(ctx, retRun)
		if err != nil || got.Value.String() != "for:1h0m0s" || got.Version != v2 {
			t.Fatalf("run policy = %v at %s, %v; want for:1h at %s (same commit as the KV write)", got.Value, got.Version, err, v2)
		}
		got, err = db.RetentionPolicy(ctx, inmem.GlobalRun)
		if err != nil || got.Value.String() != "last:1" || got.Version != def {
			t.Fatalf("default policy = %v at %s, %v; want last:1 at %s", got.Value, got.Version, err, def)
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openRet(t, fsys, c)
	check(db)
	mustCompactFull(t, db)
	db.Close()
	db = openRet(t, fsys, c)
	defer db.Close()
	check(db)
}

// RT1 and RT3: compaction keeps the retained versions, in order, with their
// versions; reads of trimmed versions answer HistoryTrimmed with the
// requested and earliest retained versions, before and after recovery.
func TestRetentionInvariant_RT1(t *testing.T) {
	fsys := vfs.NewMem()
	c := &testClock{}
	db := openRet(t, fsys, c)
	var vs []uint64
	for i := range 10 {
		vs = append(vs, mustPut(t, db, retRun, "k", inmem.Int(int64(i))).N)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(3)); err != nil {
		t.Fatal(err)
	}
	info := mustCompactFull(t, db)
	if info.VersionsRemoved != 7 || info.Mode != inmem.Full {
		t.Fatalf("CompactInfo = %+v, want 7 versions removed", info)
	}
	check := func(db *inmem.DB) {
		t.Helper()
		h, err := db.KV().History(ctx, retRun, "k")
		wantTrimmed(t, err, 0, vs[7])
		if len(h) != 3 {
			t.Fatalf("History has %d entries, want the 3 retained", len(h))
		}
		for i, e := range h {
			n, _ := e.Value.AsInt()
			if e.Version.N != vs[9-i] || n != int64(9-i) {
				t.Fatalf("History[%d] = %d at %s, want %d at %d", i, n, e.Version, 9-i, vs[9-i])
			}
		}
		for i := 7; i < 10; i++ {
			got, err := db.KV().GetAt(ctx, retRun, "k", inmem.Txn(vs[i]))
			if n, _ := got.Value.AsInt(); err != nil || n != int64(i) || got.Version.N != vs[i] {
				t.Fatalf("GetAt(%d) = %v, %v", vs[i], got, err)
			}
		}
		for i := range 7 {
			_, err := db.KV().GetAt(ctx, retRun, "k", inmem.Txn(vs[i]))
			wantTrimmed(t, err, vs[i], vs[7])
		}
	}
	check(db)
	db.Close()
	db = openRet(t, fsys, c)
	defer db.Close()
	check(db)
}

// RT2: a purged entity never answers NotFound for its old versions, and no
// read falls back to another version.
func TestRetentionInvariant_RT2(t *testing.T) {
	fsys := vfs.NewMem()
	c := &testClock{}
	db := openRet(t, fsys, c)
	a := mustPut(t, db, retRun, "gone", inmem.Int(1)).N
	del, err := db.KV().Delete(ctx, retRun, "gone")
	if err != nil {
		t.Fatal(err)
	}
	keep := mustPut(t, db, retRun, "kept", inmem.Int(2)).N
	if _, err := db.SetRetentionPolicy(ctx, inmem.GlobalRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	info := mustCompactFull(t, db)
	if info.VersionsRemoved != 2 {
		t.Fatalf("VersionsRemoved = %d, want 2 (the value and its tombstone)", info.VersionsRemoved)
	}
	check := func(db *inmem.DB) {
		t.Helper()
		_, err := db.KV().GetAt(ctx, retRun, "gone", inmem.Txn(a))
		wantTrimmed(t, err, a, del.N)
		if _, err := db.KV().Get(ctx, retRun, "gone"); !errors.Is(err, inmem.ErrNotFound) {
			t.Fatalf("Get(purged) = %v, want NotFound", err)
		}
		if _, err := db.KV().GetAt(ctx, retRun, "gone", inmem.Txn(del.N)); !errors.Is(err, inmem.ErrNotFound) {
			t.Fatalf("GetAt(purged, at its deletion) = %v, want NotFound", err)
		}
		got, err := db.KV().GetAt(ctx, retRun, "kept", inmem.Txn(keep))
		if n, _ := got.Value.AsInt(); err != nil || n != 2 {
			t.Fatalf("GetAt(kept) = %v, %v", got, err)
		}
		keys, err := db.KV().List(ctx, retRun, "")
		if err != nil || fmt.Sprint(keys) != "[kept]" {
			t.Fatalf("List = %v, %v", keys, err)
		}
	}
	check(db)
	// The purged key can be written again, and reads see only the new value.
	v := mustPut(t, db, retRun, "gone", inmem.Int(3)).N
	if n := mustGetInt(t, db, retRun, "gone"); n != 3 {
		t.Fatalf("rewritten key = %d", n)
	}
	db.Close()
	db = openRet(t, fsys, c)
	defer db.Close()
	_, err = db.KV().GetAt(ctx, retRun, "gone", inmem.Txn(a))
	wantTrimmed(t, err, a, del.N)
	got, err := db.KV().GetAt(ctx, retRun, "gone", inmem.Txn(v))
	if n, _ := got.Value.AsInt(); err != nil || n != 3 {
		t.Fatalf("GetAt(rewritten) = %v, %v", got, err)
	}
}

// RT3 with KeepFor: versions older than the window leave, the newest stays
// even when it is older than the window.
func TestRetentionInvariant_RT3(t *testing.T) {
	c := &testClock{}
	db := openClock(t, c)
	c.set(1_000_000)
	old := mustPut(t, db, retRun, "k", inmem.Int(1)).N
	c.set(2_000_000)
	mid := mustPut(t, db, retRun, "k", inmem.Int(2)).N
	lone := mustPut(t, db, retRun, "lone", inmem.Int(9)).N
	c.set(3_000_000)
	last := mustPut(t, db, retRun, "k", inmem.Int(3)).N
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepFor(1700*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	c.set(3_600_000)
	info := mustCompactFull(t, db)
	if info.VersionsRemoved != 1 || info.Now != inmem.Timestamp(3_600_000) {
		t.Fatalf("CompactInfo = %+v, want 1 version removed at now 3.6s", info)
	}
	_, err := db.KV().GetAt(ctx, retRun, "k", inmem.Txn(old))
	wantTrimmed(t, err, old, mid)
	for at, want := range map[uint64]int64{mid: 2, last: 3} {
		got, err := db.KV().GetAt(ctx, retRun, "k", inmem.Txn(at))
		if n, _ := got.Value.AsInt(); err != nil || n != want {
			t.Fatalf("GetAt(%d) = %v, %v; want %d", at, got, err, want)
		}
	}
	if got, err := db.KV().GetAt(ctx, retRun, "lone", inmem.Txn(lone)); err != nil {
		t.Fatalf("the only version of an entity must stay: %v, %v", got, err)
	}
}

// A transaction whose snapshot is older than the trim keeps reading what it
// saw: the trim is bounded by the oldest open snapshot.
func TestRetentionBoundedByOpenSnapshot(t *testing.T) {
	db := openMem(t)
	mustPut(t, db, retRun, "k", inmem.Int(1))
	tx, err := db.Begin(ctx, retRun, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := 2; i <= 5; i++ {
		mustPut(t, db, retRun, "k", inmem.Int(int64(i)))
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	info := mustCompactFull(t, db)
	got, err := tx.KV().Get("k")
	if n, _ := got.Value.AsInt(); err != nil || n != 1 {
		t.Fatalf("old snapshot reads %v, %v; want 1", got, err)
	}
	if info.VersionsRemoved != 0 {
		t.Fatalf("removed %d versions while a snapshot needs the oldest", info.VersionsRemoved)
	}
	tx.Rollback()
	if info = mustCompactFull(t, db); info.VersionsRemoved != 4 {
		t.Fatalf("after the snapshot closed removed %d, want 4", info.VersionsRemoved)
	}
	if n := mustGetInt(t, db, retRun, "k"); n != 5 {
		t.Fatalf("newest = %d", n)
	}
}

// A transaction that read a key as deleted conflicts with a rewrite of the
// key even after the key was purged in between.
func TestRetentionPurgeKeepsValidation(t *testing.T) {
	db := openMem(t)
	mustPut(t, db, retRun, "k", inmem.Int(1))
	if _, err := db.KV().Delete(ctx, retRun, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx, retRun, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if ok, err := tx.KV().Exists("k"); err != nil || ok {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if info := mustCompactFull(t, db); info.VersionsRemoved != 2 {
		t.Fatalf("VersionsRemoved = %d, want 2", info.VersionsRemoved)
	}
	mustPut(t, db, retRun, "k", inmem.Int(2))
	if err := tx.KV().Put("other", inmem.Int(1)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("Commit = %v, want Conflict", err)
	}
}

// Compact(Full) with only KeepAll removes nothing, and reads are identical
// (C1) with versions unchanged (C5).
func TestCompactionInvariant_FullKeepAll(t *testing.T) {
	fsys := vfs.NewMem()
	db := openRet(t, fsys, &testClock{})
	defer db.Close()
	var vs []uint64
	for i := range 5 {
		vs = append(vs, mustPut(t, db, retRun, "k", inmem.Int(int64(i))).N)
	}
	info := mustCompactFull(t, db)
	if info.VersionsRemoved != 0 {
		t.Fatalf("KeepAll removed %d versions", info.VersionsRemoved)
	}
	h, err := db.KV().History(ctx, retRun, "k")
	if err != nil || len(h) != 5 {
		t.Fatalf("History = %v, %v", h, err)
	}
	for i, e := range h {
		if e.Version.N != vs[4-i] {
			t.Fatalf("version renumbered: %s vs %d", e.Version, vs[4-i])
		}
	}
}

func TestCompactFullOneAtATimeAndSegments(t *testing.T) {
	fsys := vfs.NewMem()
	db := openRet(t, fsys, &testClock{})
	defer db.Close()
	if _, err := db.SetRetentionPolicy(ctx, inmem.GlobalRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		mustPut(t, db, retRun, fmt.Sprintf("k%d", i%10), padding)
	}
	info := mustCompactFull(t, db)
	if info.VersionsRemoved != 190 || info.SnapshotWatermark.N == 0 {
		t.Fatalf("CompactInfo = %+v", info)
	}
	// A second Full compaction supersedes the first snapshot and reclaims it.
	mustPut(t, db, retRun, "k0", padding)
	info = mustCompactFull(t, db)
	if info.VersionsRemoved != 1 || info.ReclaimedBytes <= 0 {
		t.Fatalf("second CompactInfo = %+v, want 1 version and the old snapshot reclaimed", info)
	}
}

// TestRetention_ScanOutlivesFullCompaction: a scan outside a transaction
// that its caller consumes slowly keeps seeing the snapshot it started at,
// even when every key is overwritten and a Full compaction with KeepLast(1)
// runs in the middle of it.
func TestRetention_ScanOutlivesFullCompaction(t *testing.T) {
	db := openRet(t, vfs.NewMem(), &testClock{})
	defer db.Close()
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if _, err := db.KV().Put(ctx, retRun, fmt.Sprintf("k%02d", i), inmem.Int(0)); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	for e, err := range db.KV().Scan(ctx, retRun, "k") {
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := e.Value.AsInt(); v != 0 {
			t.Fatalf("%s = %d, want the value at the scan's snapshot (0)", e.Key, v)
		}
		seen++
		if seen == 1 {
			for i := range n {
				if _, err := db.KV().Put(ctx, retRun, fmt.Sprintf("k%02d", i), inmem.Int(1)); err != nil {
					t.Fatal(err)
				}
			}
			mustCompactFull(t, db)
		}
	}
	if seen != n {
		t.Fatalf("scan saw %d keys, want %d: a compaction trimmed them from under it", seen, n)
	}
	// Point reads outside a transaction see the newest value afterwards.
	v, err := db.KV().Get(ctx, retRun, "k07")
	if err != nil {
		t.Fatal(err)
	}
	if x, _ := v.Value.AsInt(); x != 1 {
		t.Fatalf("k07 = %d, want 1", x)
	}
}
