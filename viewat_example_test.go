package inmem_test

import (
	"context"
	"fmt"
	"os"

	"github.com/inmemdb/inmem"
)

// ViewAt reads a run as it was at an earlier commit.
func ExampleDB_ViewAt() {
	ctx := context.Background()
	db, _ := inmem.Open("", nil)
	defer db.Close()
	run := inmem.NewRunID()
	step12, _ := db.KV().Put(ctx, run, "plan", inmem.String("search the web"))
	db.KV().Put(ctx, run, "plan", inmem.String("ask the user"))

	db.ViewAt(ctx, run, inmem.AtVersion(step12), func(tx *inmem.Tx) error {
		plan, _ := tx.KV().Get("plan")
		fmt.Println("then:", plan.Value)
		return nil
	})
	now, _ := db.KV().Get(ctx, run, "plan")
	fmt.Println("now:", now.Value)
	// Output:
	// then: "search the web"
	// now: "ask the user"
}

// Watch yields every commit after a version; a consumer resumes from the
// last version it handled.
func ExampleDB_Watch() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "inmem-watch")
	defer os.RemoveAll(dir)
	db, _ := inmem.Open(dir, nil)
	defer db.Close()
	run := inmem.NewRunID()
	db.KV().Put(ctx, run, "a", inmem.Int(1))
	db.Events().Append(ctx, run, "step", inmem.String("thinking"))
	last, _ := db.KV().Delete(ctx, run, "a")

	for c, err := range db.Watch(ctx, inmem.Txn(0), inmem.WatchFilter{Run: &run}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range c.Mutations {
			if m.Kind == m.Primitive.String() { // the entity itself, not an index record
				fmt.Println(c.Version, m.Op, m.Ref.Primitive, m.Ref.Key)
			}
		}
		if c.Version == last {
			break
		}
	}
	// Output:
	// txn:1 put kv a
	// txn:2 append event 0
	// txn:3 delete kv a
}
