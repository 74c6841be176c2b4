package inmem_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
)

// BenchmarkEventAppendHot measures DB-level appends to one run's log from
// 1, 8 and 64 goroutines, InMemory and Strict (a real directory). Retries
// are effectively unlimited so that a build whose appenders conflict still
// finishes; appends/s is the figure to compare.
func BenchmarkEventAppendHot(b *testing.B) {
	for _, mode := range []inmem.Durability{inmem.InMemory, inmem.Strict} {
		for _, g := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode, g), func(b *testing.B) {
				dir := ""
				if mode != inmem.InMemory {
					dir = b.TempDir()
				}
				db, err := inmem.Open(dir, &inmem.Options{Durability: mode, MaxConflictRetries: 1 << 20})
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
				if g == 1 {
					for b.Loop() {
						if _, err := el.Append(ctx, run, "tool_call", payload); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					// RunParallel starts parallelism×GOMAXPROCS goroutines.
					b.SetParallelism(max(1, g/runtime.GOMAXPROCS(0)))
					var failed atomic.Pointer[error]
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, err := el.Append(ctx, run, "tool_call", payload); err != nil {
								failed.CompareAndSwap(nil, &err)
								return
							}
						}
					})
					if err := failed.Load(); err != nil {
						b.Fatal(*err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
				if rep, err := el.VerifyChain(ctx, run); err != nil || !rep.OK {
					b.Fatalf("VerifyChain: %v, %v", rep, err)
				}
			})
		}
	}
}
