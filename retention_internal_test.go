package inmem

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
)

// Full compaction shrinks the vector index: deletion markers no reader can
// need leave, the index gives back the room of removed vectors, and
// searches still answer exactly.
func TestRetention_VectorIndexShrinks(t *testing.T) {
	ctx := context.Background()
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := NewRunID()
	vs := db.Vectors()
	if _, err := vs.CreateCollection(ctx, run, "c", 4, Cosine); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := vs.Upsert(ctx, run, "c", fmt.Sprint(i), []float32{1, float32(i), 0.5, 2}, Null()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 400 {
		if _, err := vs.Delete(ctx, run, "c", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	query := []float32{1, 450, 0.5, 2}
	before, err := vs.Search(ctx, run, "c", query, 5, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n := db.vectors.deletionMarkers(); n != 400 {
		t.Fatalf("deletion markers before compaction = %d, want 400", n)
	}
	if _, err := db.SetRetentionPolicy(ctx, GlobalRun, KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	info, err := db.Compact(ctx, Full)
	if err != nil {
		t.Fatal(err)
	}
	// 400 deleted vectors purged (value and tombstone each).
	if info.VersionsRemoved < 800 {
		t.Fatalf("VersionsRemoved = %d, want at least 800", info.VersionsRemoved)
	}
	if n := db.vectors.deletionMarkers(); n != 0 {
		t.Fatalf("deletion markers after compaction = %d, want 0", n)
	}
	_, indexBytes := db.vectors.compact(db.eng.OldestSnapshot())
	if indexBytes != 0 {
		t.Fatalf("a second index compaction released %d bytes", indexBytes)
	}
	// 400 versions of 4 floats and an id each: well over 10 KiB.
	if info.ReclaimedBytes < 10<<10 {
		t.Fatalf("ReclaimedBytes = %d, want the memory of 800 versions", info.ReclaimedBytes)
	}
	after, err := vs.Search(ctx, run, "c", query, 5, Filter{})
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("search after compaction = %v, %v; before %v", after, err, before)
	}
	if n, err := vs.Count(ctx, run, "c"); err != nil || n != 100 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

// The run index's secondary entries that a status change retired leave
// memory once the database-wide policy trims them.
func TestRetention_RunIndexShrinks(t *testing.T) {
	ctx := context.Background()
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stale []string
	for i := range 20 {
		id, err := db.Runs().Create(ctx, fmt.Sprint("r", i), RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		info, err := db.Runs().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		stale = append(stale, runIndexKey(runStatusPrefix(RunActive), info.Value.CreatedAt, id))
		if _, err := db.Runs().Complete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	present := func() int {
		txn := db.eng.Begin(GlobalRun, false)
		defer txn.Rollback()
		n := 0
		for _, k := range stale {
			if _, ok := txn.Latest(GlobalRun, core.Run, k); ok {
				n++
			}
		}
		return n
	}
	if n := present(); n != len(stale) {
		t.Fatalf("%d of %d retired status entries held before compaction", n, len(stale))
	}
	if _, err := db.SetRetentionPolicy(ctx, GlobalRun, KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, Full); err != nil {
		t.Fatal(err)
	}
	if n := present(); n != 0 {
		t.Fatalf("%d retired status entries still held after Full compaction", n)
	}
	if got, err := db.Runs().QueryByStatus(ctx, RunCompleted); err != nil || len(got) != 20 {
		t.Fatalf("List(completed) = %v, %v", got, err)
	}
}

// A stream's start entry is rewritten by every compaction that retires
// entries, and only its newest version is ever read: compaction keeps that
// one alone, and views of the past still answer HistoryTrimmed below it.
func TestRetention_StartEntriesKeepOneVersion(t *testing.T) {
	ctx := context.Background()
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := NewRunID()
	if _, err := db.SetRetentionPolicy(ctx, run, KeepLast(2)); err != nil {
		t.Fatal(err)
	}
	var early Version
	for round := range 4 {
		for i := range 3 {
			if _, err := db.Events().Append(ctx, run, "e", Int(int64(10*round+i))); err != nil {
				t.Fatal(err)
			}
		}
		if round == 0 {
			if early, err = db.KV().Put(ctx, run, "mark", Int(1)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Compact(ctx, Full); err != nil {
			t.Fatal(err)
		}
	}
	txn := db.eng.Begin(run, false)
	h := txn.History(run, core.System, evStartKey)
	txn.Rollback()
	if len(h) != 1 {
		t.Fatalf("the event start entry keeps %d versions, want 1", len(h))
	}
	err = db.ViewAt(ctx, run, AtVersion(early), func(tx *Tx) error {
		_, err := tx.Events().Read(1)
		return err
	})
	if !errors.Is(err, ErrHistoryTrimmed) {
		t.Fatalf("reading a retired event in a view of the past: %v, want HistoryTrimmed", err)
	}
}
