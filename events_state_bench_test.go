package inmem_test

import (
	"context"
	"testing"

	"github.com/inmemdb/inmem"
)

// BenchmarkEventAppend measures one DB-level append (a single-operation
// transaction) to a run's log with a small object payload.
func BenchmarkEventAppend(b *testing.B) {
	db, err := inmem.Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	run := inmem.NewRunID()
	el := db.Events()
	payload := inmem.ObjectOf(
		inmem.Field{Key: "tool", Value: inmem.String("search")},
		inmem.Field{Key: "step", Value: inmem.Int(42)},
	)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := el.Append(ctx, run, "tool_call", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStateCAS measures one DB-level compare-and-swap on a state cell,
// each expecting the counter the previous one produced.
func BenchmarkStateCAS(b *testing.B) {
	db, err := inmem.Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	run := inmem.NewRunID()
	st := db.State()
	ver, err := st.Init(ctx, run, "leader", inmem.Int(0))
	if err != nil {
		b.Fatal(err)
	}
	v := inmem.String("agent-7")
	b.ReportAllocs()
	for b.Loop() {
		if ver, err = st.CAS(ctx, run, "leader", ver, v); err != nil {
			b.Fatal(err)
		}
	}
}
