package inmem

import (
	"context"
	"fmt"
	"testing"
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
