package inmem_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// BenchmarkWatch measures the change feed under 8 concurrent writers in
// Strict mode. One op is a batch of 8×16 commits; with a watcher, the op
// also waits until the watcher has seen the batch's last commit, so its
// time covers delivery. Metrics:
//   - commits/s: commits a second (compare "watched" with "unwatched", run
//     side by side: a watcher must not slow the writers);
//   - commit-p50-µs: a writer's commit latency;
//   - lag-p50-µs, lag-p99-µs: from a commit's start to the watcher
//     yielding it, so lag minus commit latency is what the feed adds.
func BenchmarkWatch(b *testing.B) {
	const writers, perWriter = 8, 16
	for _, watched := range []bool{false, true} {
		name := map[bool]string{false: "unwatched", true: "watched"}[watched]
		b.Run(name, func(b *testing.B) {
			db, err := inmem.Open(b.TempDir(), &inmem.Options{Durability: inmem.Strict})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run := inmem.NewRunID()
			keys := make([]string, writers*perWriter)
			for i := range keys {
				keys[i] = forkKey(i)
			}

			var (
				mu   sync.Mutex
				cond = sync.NewCond(&mu)
				seen uint64 // newest version the watcher yielded
				lags []time.Duration
			)
			wctx, cancel := context.WithCancel(ctx)
			watchDone := make(chan struct{})
			if watched {
				go func() {
					defer close(watchDone)
					filter := inmem.WatchFilter{Run: &run, Primitive: inmem.PrimitiveKV}
					for c, err := range db.Watch(wctx, inmem.Txn(0), filter) {
						if err != nil {
							return
						}
						now := time.Now()
						mu.Lock()
						for _, m := range c.Mutations {
							if start, ok := m.Value.AsInt(); ok {
								lags = append(lags, now.Sub(time.Unix(0, start)))
							}
						}
						seen = c.Version.N
						cond.Broadcast()
						mu.Unlock()
					}
				}()
			} else {
				close(watchDone)
			}

			commitLat := make([][]time.Duration, writers)
			commits := 0
			start := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				last := make([]uint64, writers)
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range perWriter {
							t0 := time.Now()
							v, err := db.KV().Put(ctx, run, keys[w*perWriter+i], inmem.Int(t0.UnixNano()))
							if err != nil {
								b.Error(err)
								return
							}
							commitLat[w] = append(commitLat[w], time.Since(t0))
							last[w] = v.N
						}
					}()
				}
				wg.Wait()
				commits += writers * perWriter
				if watched {
					target := slices.Max(last)
					mu.Lock()
					for seen < target {
						cond.Wait()
					}
					mu.Unlock()
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			<-watchDone

			b.ReportMetric(float64(commits)/elapsed.Seconds(), "commits/s")
			all := slices.Concat(commitLat...)
			b.ReportMetric(quantile(all, 0.5), "commit-p50-µs")
			if watched {
				b.ReportMetric(quantile(lags, 0.5), "lag-p50-µs")
				b.ReportMetric(quantile(lags, 0.99), "lag-p99-µs")
			}
		})
	}
}

// quantile returns the q-quantile of ds in microseconds.
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return float64(ds[int(q*float64(len(ds)-1))].Microseconds())
}
