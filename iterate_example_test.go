package inmem_test

import (
	"context"
	"fmt"

	"github.com/inmemdb/inmem"
)

func ExampleKVStore_ListPage() {
	db, _ := inmem.Open("", nil)
	defer db.Close()
	ctx := context.Background()
	run := inmem.NewRunID()
	for _, k := range []string{"task/1", "task/2", "task/3", "task/4", "task/5"} {
		db.KV().Put(ctx, run, k, inmem.String("todo"))
	}

	opts := inmem.ListOptions{Limit: 2}
	for {
		page, err := db.KV().ListPage(ctx, run, "task/", opts)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for _, e := range page.Items {
			fmt.Print(e.Key, " ")
		}
		fmt.Println("| next:", page.Next)
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	// Output:
	// task/1 task/2 | next: task/2
	// task/3 task/4 | next: task/4
	// task/5 | next:
}

func ExampleKVStore_Scan() {
	db, _ := inmem.Open("", nil)
	ctx := context.Background()
	run := inmem.NewRunID()
	db.KV().Put(ctx, run, "a", inmem.Int(1))
	db.KV().Put(ctx, run, "b", inmem.Int(2))

	scan := db.KV().Scan(ctx, run, "")
	db.Close() // the scan fails instead of looking empty
	for e, err := range scan {
		if err != nil {
			fmt.Println("error:", inmem.CodeOf(err))
			break
		}
		fmt.Println(e.Key, e.Value)
	}
	// Output:
	// error: Closed
}
