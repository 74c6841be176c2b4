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
