package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inmemdb/inmem"
)

// Open a database in a directory, write, close, and find everything again.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "inmem-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "state")

	db, err := inmem.Open(path, nil) // Strict durability by default
	if err != nil {
		panic(err)
	}
	run := inmem.MustParseRunID("3f2b8c1e-5d4a-4b7e-9c21-0a1b2c3d4e5f")
	if _, err := db.KV().Put(ctx, run, "user/name", inmem.String("Ada")); err != nil {
		panic(err)
	}
	db.Close()

	db, err = inmem.Open(path, nil) // recovers from the WAL
	if err != nil {
		panic(err)
	}
	defer db.Close()
	got, _ := db.KV().Get(ctx, run, "user/name")
	fmt.Println(got.Value, got.Version)
	// Output: "Ada" txn:1
}

// One transaction across primitives commits or aborts as a unit.
func ExampleDB_Update() {
	ctx := context.Background()
	db, _ := inmem.Open("", nil)
	defer db.Close()
	run := inmem.NewRunID()

	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		if _, err := tx.Events().Append("tool_call", inmem.MustValue(map[string]any{"tool": "search"})); err != nil {
			return err
		}
		if _, err := tx.State().Set("phase", inmem.String("acting")); err != nil {
			return err
		}
		err := tx.KV().Put("last_tool", inmem.String("search"))
		return err
	})
	if err != nil {
		panic(err)
	}
	n, _ := db.Events().Len(ctx, run)
	phase, _ := db.State().Read(ctx, run, "phase")
	fmt.Println(n, phase.Value, phase.Version)

	// An error from the closure rolls everything back.
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		tx.Events().Append("tool_call", inmem.Null())
		return errors.New("changed my mind")
	})
	n, _ = db.Events().Len(ctx, run)
	fmt.Println(n, err)
	// Output:
	// 1 "acting" counter:1
	// 1 changed my mind
}

// Optimistic concurrency: a transaction whose reads changed before it
// committed fails with a retryable Conflict and writes nothing.
func ExampleTx_Commit_conflict() {
	ctx := context.Background()
	db, _ := inmem.Open("", nil)
	defer db.Close()
	run := inmem.NewRunID()
	db.KV().Put(ctx, run, "balance", inmem.Int(100))

	tx, _ := db.Begin(ctx, run, true)
	b, _ := tx.KV().Get("balance")
	n, _ := b.Value.AsInt()
	tx.KV().Put("balance", inmem.Int(n-30))

	db.KV().Put(ctx, run, "balance", inmem.Int(50)) // someone else commits first

	err := tx.Commit()
	fmt.Println(errors.Is(err, inmem.ErrConflict), inmem.IsRetryable(err))
	cur, _ := db.KV().Get(ctx, run, "balance")
	fmt.Println(cur.Value)
	// Output:
	// true true
	// 50
}

// JSON documents with paths, RFC 6902 patches and RFC 7396 merges.
func ExampleJSONStore() {
	ctx := context.Background()
	db, _ := inmem.Open("", nil)
	defer db.Close()
	run := inmem.NewRunID()
	js := db.JSON()

	doc, _ := inmem.ValueFromJSON([]byte(`{"plan": {"steps": ["search"]}, "notes": null}`))
	js.Create(ctx, run, "scratchpad", doc)
	js.Set(ctx, run, "scratchpad", "plan.steps[1]", inmem.String("summarize")) // dotted path, appends
	js.PatchJSON(ctx, run, "scratchpad", []byte(`[{"op": "replace", "path": "/notes", "value": "draft"}]`))
	js.Merge(ctx, run, "scratchpad", inmem.MustValue(map[string]any{"notes": nil, "done": false}))

	steps, _ := js.Get(ctx, run, "scratchpad", "/plan/steps")
	all, _ := js.Get(ctx, run, "scratchpad", "")
	fmt.Println(steps.Value)
	fmt.Println(all.Value)
	// Output:
	// ["search","summarize"]
	// {"done":false,"plan":{"steps":["search","summarize"]}}
}

// Exact nearest-neighbour search with a metadata filter.
func ExampleVectorStore_Search() {
	ctx := context.Background()
	db, _ := inmem.Open("", nil)
	defer db.Close()
	run := inmem.NewRunID()
	vs := db.Vectors()

	vs.CreateCollection(ctx, run, "memories", 3, inmem.Cosine)
	vs.Upsert(ctx, run, "memories", "likes-tea", []float32{1, 0, 0}, inmem.MustValue(map[string]any{"kind": "preference"}))
	vs.Upsert(ctx, run, "memories", "likes-coffee", []float32{0.9, 0.1, 0}, inmem.MustValue(map[string]any{"kind": "preference"}))
	vs.Upsert(ctx, run, "memories", "lives-in-paris", []float32{0, 1, 0}, inmem.MustValue(map[string]any{"kind": "fact"}))

	hits, err := vs.Search(ctx, run, "memories", []float32{1, 0.05, 0}, 2, inmem.Filter{inmem.Eq("kind", inmem.String("preference"))})
	if err != nil {
		panic(err)
	}
	for _, h := range hits {
		fmt.Printf("%s %.3f\n", h.Key, h.Score)
	}
	// Output:
	// likes-tea 0.999
	// likes-coffee 0.998
}

// Checkpoint writes a snapshot while writers continue; WAL-only compaction
// then deletes the log it covers.
func ExampleDB_Checkpoint() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "inmem-example")
	defer os.RemoveAll(dir)
	db, _ := inmem.Open(filepath.Join(dir, "state"), &inmem.Options{WALSegmentSize: 4096})
	defer db.Close()
	run := inmem.NewRunID()
	for i := range 100 {
		db.KV().Put(ctx, run, fmt.Sprint("k", i), inmem.Int(int64(i)))
	}
	info, _ := db.Checkpoint(ctx)
	c, _ := db.Compact(ctx, inmem.WALOnly)
	fmt.Println(info.Watermark, info.Entities, c.SegmentsRemoved > 0)
	// Output: txn:100 100 true
}
