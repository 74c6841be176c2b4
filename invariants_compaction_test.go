package inmem_test

// The compaction invariants C1–C5 of the spec (§8), in order; docs/INVARIANTS.md
// maps each to its statement.

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

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

// The same invariants for Compact(ctx, Full), which applies retention
// before it checkpoints and compacts the WAL: with a KeepLast(2) policy,
// every version the policy retains must read as it did, keep its number
// and its place, and the database must behave the same.

// fullWorkload writes keys k0..k4 with 6 versions each (padded, so the WAL
// rotates), deletes k4, and sets KeepLast(2) for the run. It returns each
// key's history before any compaction (newest first).
func fullWorkload(t *testing.T, db *inmem.DB) map[string][]inmem.Versioned[inmem.Value] {
	t.Helper()
	for i := range 30 {
		if _, err := db.KV().Put(ctx, retRun, fmt.Sprint("k", i%5), inmem.String(fmt.Sprint(i, padding))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.KV().Delete(ctx, retRun, "k4"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(2)); err != nil {
		t.Fatal(err)
	}
	before := map[string][]inmem.Versioned[inmem.Value]{}
	for k := range 5 {
		key := fmt.Sprint("k", k)
		h, err := db.KV().History(ctx, retRun, key)
		if err != nil || len(h) < 6 {
			t.Fatalf("History(%s) = %d entries, %v", key, len(h), err)
		}
		before[key] = h
	}
	return before
}

func openFull(t *testing.T, fsys vfs.FS) *inmem.DB {
	t.Helper()
	db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, Durability: inmem.Strict, WALSegmentSize: 1024, Maintenance: noMaint})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// checkRetainedPrefix checks that every key's history is the newest two
// entries of its history before the compaction, identical in value,
// version, timestamp and order, with the rest answered as HistoryTrimmed.
func checkRetainedPrefix(t *testing.T, db *inmem.DB, before map[string][]inmem.Versioned[inmem.Value]) {
	t.Helper()
	for key, want := range before {
		h, err := db.KV().History(ctx, retRun, key)
		if !errors.Is(err, inmem.ErrHistoryTrimmed) {
			t.Fatalf("History(%s) error = %v, want HistoryTrimmed", key, err)
		}
		if len(h) != 2 {
			t.Fatalf("History(%s) has %d entries, want the 2 retained", key, len(h))
		}
		for i, e := range h {
			w := want[i]
			if e.Version != w.Version || e.Timestamp != w.Timestamp || e.Deleted != w.Deleted || !e.Value.Equal(w.Value) {
				t.Fatalf("History(%s)[%d] = %+v, want %+v", key, i, e, w)
			}
			got, err := db.KV().GetAt(ctx, retRun, key, e.Version)
			if w.Deleted {
				if !errors.Is(err, inmem.ErrNotFound) {
					t.Fatalf("GetAt(%s, %s) = %v, want NotFound (deleted)", key, e.Version, err)
				}
				continue
			}
			if err != nil || got.Version != w.Version || !got.Value.Equal(w.Value) || got.Timestamp != w.Timestamp {
				t.Fatalf("GetAt(%s, %s) = %+v, %v; want %+v", key, e.Version, got, err, w)
			}
		}
		for _, w := range want[2:] {
			if _, err := db.KV().GetAt(ctx, retRun, key, w.Version); !errors.Is(err, inmem.ErrHistoryTrimmed) {
				t.Fatalf("GetAt(%s, trimmed %s) = %v, want HistoryTrimmed", key, w.Version, err)
			}
		}
	}
}

// TestCompactionInvariant_C1_ReadEquivalenceFull: every retained version
// reads the same after Compact(Full), and after reopening its directory.
func TestCompactionInvariant_C1_ReadEquivalenceFull(t *testing.T) {
	fsys := vfs.NewMem()
	db := openFull(t, fsys)
	before := fullWorkload(t, db)
	other := inmem.NewRunID() // a KeepAll run: nothing of it may change
	for i := range 5 {
		mustPut(t, db, other, "x", inmem.Int(int64(i)))
	}
	otherBefore, _ := db.KV().History(ctx, other, "x")
	info, err := db.Compact(ctx, inmem.Full)
	if err != nil || info.VersionsRemoved != 4*4+5 {
		t.Fatalf("Compact(Full) = %+v, %v; want 21 versions removed (k4 has a tombstone too)", info, err)
	}
	check := func() {
		t.Helper()
		checkRetainedPrefix(t, db, before)
		h, err := db.KV().History(ctx, other, "x")
		if err != nil || fmt.Sprint(h) != fmt.Sprint(otherBefore) {
			t.Fatalf("a KeepAll run changed: %v, %v", h, err)
		}
	}
	check()
	db.Close()
	db = openFull(t, fsys)
	defer db.Close()
	check()
}

// TestCompactionInvariant_C2_TransactionsBehaveTheSameFull: after
// Compact(Full) and a reopen, CAS and conflict detection behave as before;
// a CAS naming a trimmed version is a Conflict, never a silent success.
func TestCompactionInvariant_C2_TransactionsBehaveTheSameFull(t *testing.T) {
	fsys := vfs.NewMem()
	db := openFull(t, fsys)
	before := fullWorkload(t, db)
	mustCompactFull(t, db)
	db.Close()
	db = openFull(t, fsys)
	defer db.Close()
	cur, trimmed := before["k0"][0], before["k0"][3]
	if _, err := db.KV().CAS(ctx, retRun, "k0", trimmed.Version, inmem.Int(0)); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("CAS at a trimmed version = %v, want Conflict", err)
	}
	if _, err := db.KV().CAS(ctx, retRun, "k0", cur.Version, inmem.Int(100)); err != nil {
		t.Fatalf("CAS at the current version = %v", err)
	}
	tx, _ := db.Begin(ctx, retRun, true)
	tx.KV().Get("k1")
	tx.KV().Put("other", inmem.Null())
	mustPut(t, db, retRun, "k1", inmem.Int(7))
	if err := tx.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("read-write conflict after Full compaction = %v", err)
	}
	// A purged-then-recreated key behaves like a new one.
	if _, err := db.KV().Put(ctx, retRun, "k4", inmem.Int(4)); err != nil {
		t.Fatal(err)
	}
	if n := mustGetInt(t, db, retRun, "k4"); n != 4 {
		t.Fatalf("k4 = %d", n)
	}
}

// TestCompactionInvariant_C3_NoReorderingFull: retained versions keep
// their order (versions and timestamps descending) through Compact(Full)
// and a reopen, and a later write goes on top.
func TestCompactionInvariant_C3_NoReorderingFull(t *testing.T) {
	fsys := vfs.NewMem()
	db := openFull(t, fsys)
	before := fullWorkload(t, db)
	mustCompactFull(t, db)
	db.Close()
	db = openFull(t, fsys)
	defer db.Close()
	checkRetainedPrefix(t, db, before)
	v := mustPut(t, db, retRun, "k2", inmem.Int(-1))
	h, _ := db.KV().History(ctx, retRun, "k2")
	if len(h) != 3 || h[0].Version != v || h[1].Version != before["k2"][0].Version || h[2].Version != before["k2"][1].Version {
		t.Fatalf("history after a new write = %v", h)
	}
	for i := 1; i < len(h); i++ {
		if h[i].Version.N >= h[i-1].Version.N || h[i].Timestamp > h[i-1].Timestamp {
			t.Fatalf("history out of order at %d: %v", i, h)
		}
	}
}

// TestCompactionInvariant_C4_OnlyBelowWatermarkFull: Compact(Full)
// removes only WAL segments its new snapshot covers, never the active one.
func TestCompactionInvariant_C4_OnlyBelowWatermarkFull(t *testing.T) {
	fsys := vfs.NewMem()
	db := openFull(t, fsys)
	defer db.Close()
	fullWorkload(t, db)
	maxVersion := map[string]uint64{}
	segs := segmentFiles(t, fsys)
	for _, seg := range segs {
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
	active := segs[len(segs)-1]
	info := mustCompactFull(t, db)
	if info.SegmentsRemoved == 0 {
		t.Fatalf("Compact(Full) removed no segment: %+v", info)
	}
	w := info.SnapshotWatermark.N
	remaining := segmentFiles(t, fsys)
	for _, seg := range segs {
		kept := slices.Contains(remaining, seg)
		switch {
		// The floors Full compaction commits may rotate the WAL, closing
		// the segment that was active; only a segment still active when
		// the covered ones are deleted must stay.
		case seg == active && !kept && remaining[len(remaining)-1] <= seg:
			t.Fatal("Full compaction removed the active segment")
		case !kept && maxVersion[seg] > w:
			t.Fatalf("Full compaction removed %s holding version %d above the watermark %d", seg, maxVersion[seg], w)
		}
	}
}

// TestCompactionInvariant_C5_VersionIdentityFull: Compact(Full) and
// recovery never renumber a retained version, and commits after it take
// versions above every version ever assigned.
func TestCompactionInvariant_C5_VersionIdentityFull(t *testing.T) {
	fsys := vfs.NewMem()
	db := openFull(t, fsys)
	before := fullWorkload(t, db)
	high := inmem.Visible(db)
	mustCompactFull(t, db)
	db.Close()
	db = openFull(t, fsys)
	defer db.Close()
	checkRetainedPrefix(t, db, before)
	if v := mustPut(t, db, retRun, "new", inmem.Int(1)); v.N <= high {
		t.Fatalf("a commit after Full compaction got version %s, not above %d", v, high)
	}
}
