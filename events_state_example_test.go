package inmem_test

import (
	"context"
	"fmt"

	"github.com/inmemdb/inmem"
)

func ExampleEventLog() {
	db, _ := inmem.Open("", nil)
	defer db.Close()
	ctx := context.Background()
	run := inmem.NewRunID()
	events := db.Events()

	events.Append(ctx, run, "user_message", inmem.String("find flights to Lisbon"))
	events.Append(ctx, run, "tool_call", inmem.MustValue(map[string]any{"tool": "search", "q": "LIS"}))
	events.Append(ctx, run, "tool_call", inmem.MustValue(map[string]any{"tool": "book", "flight": "TP123"}))

	calls, _ := events.ReadByType(ctx, run, "tool_call")
	for _, ev := range calls {
		tool, _ := ev.Payload.Get("tool")
		fmt.Println(ev.Sequence, ev.Type, tool)
	}
	types, _ := events.Types(ctx, run)
	fmt.Println(types)
	report, _ := events.VerifyChain(ctx, run)
	fmt.Println(report)
	// Output:
	// 1 tool_call "search"
	// 2 tool_call "book"
	// [tool_call user_message]
	// chain ok: 3 events
}

func ExampleStateCells_CAS() {
	db, _ := inmem.Open("", nil)
	defer db.Close()
	ctx := context.Background()
	run := inmem.NewRunID()
	cells := db.State()

	ver, _ := cells.Init(ctx, run, "lock", inmem.String("free"))
	// Take the lock only if nobody changed it since we looked.
	ver, err := cells.CAS(ctx, run, "lock", ver, inmem.String("agent-1"))
	fmt.Println(ver, err)
	// A second agent still holding the old counter loses.
	_, err = cells.CAS(ctx, run, "lock", inmem.Counter(1), inmem.String("agent-2"))
	fmt.Println(inmem.IsRetryable(err))
	// Output:
	// counter:2 <nil>
	// true
}

func ExampleStateCells_TransitionOrInit() {
	db, _ := inmem.Open("", nil)
	defer db.Close()
	ctx := context.Background()
	run := inmem.NewRunID()

	// fn must be pure: it may run more than once under contention.
	increment := func(v inmem.Value) (inmem.Value, error) {
		n, _ := v.AsInt()
		return inmem.Int(n + 1), nil
	}
	for range 3 {
		db.State().TransitionOrInit(ctx, run, "retries", inmem.Int(0), increment)
	}
	got, _ := db.State().Read(ctx, run, "retries")
	fmt.Println(got.Value, got.Version)
	// Output: 3 counter:3
}
