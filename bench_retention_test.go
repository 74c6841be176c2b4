package inmem_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// retentionBenchKeys is the key count of the retention benchmarks: 1M,
// or INMEM_BENCH_RETENTION_KEYS for a quick run.
func retentionBenchKeys(b *testing.B) int {
	if s := os.Getenv("INMEM_BENCH_RETENTION_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			b.Fatalf("INMEM_BENCH_RETENTION_KEYS=%q: want an integer ≥ 1000", s)
		}
		return n
	}
	return 1_000_000
}

// loadVersions writes n keys, versions times each (100-byte values), in
// batches of 1000 puts per commit.
func loadVersions(b *testing.B, db *inmem.DB, run inmem.RunID, n, versions int) {
	b.Helper()
	for range versions {
		for lo := 0; lo < n; lo += 1000 {
			if err := db.Update(ctx, run, func(tx *inmem.Tx) error {
				for i := lo; i < min(lo+1000, n); i++ {
					if err := tx.KV().Put(benchKey(i), benchValue); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkFullCompaction trims n keys × 5 versions down to one with
// KeepLast(1). "trim" is a database without a directory (Compact(Full) is
// the trim alone); "dir" adds the checkpoint of the trimmed state, and
// "checkpoint-raw" is the baseline: a checkpoint of the same untrimmed
// database, in the same run.
func BenchmarkFullCompaction(b *testing.B) {
	n := retentionBenchKeys(b)
	for _, mode := range []string{"trim", "dir", "checkpoint-raw"} {
		b.Run(mode, func(b *testing.B) {
			var removed uint64
			var spent time.Duration
			for b.Loop() {
				b.StopTimer()
				dir := ""
				opts := &inmem.Options{Durability: inmem.InMemory, Maintenance: noMaint}
				if mode != "trim" {
					dir = filepath.Join(b.TempDir(), "db")
				}
				db, err := inmem.Open(dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				run := inmem.NewRunID()
				loadVersions(b, db, run, n, 5)
				if _, err := db.SetRetentionPolicy(ctx, run, inmem.KeepLast(1)); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				b.StartTimer()
				start := time.Now()
				if mode == "checkpoint-raw" {
					if _, err := db.Checkpoint(ctx); err != nil {
						b.Fatal(err)
					}
				} else {
					info, err := db.Compact(ctx, inmem.Full)
					if err != nil {
						b.Fatal(err)
					}
					if info.VersionsRemoved != uint64(4*n) {
						b.Fatalf("removed %d versions, want %d", info.VersionsRemoved, 4*n)
					}
					removed += info.VersionsRemoved
				}
				spent += time.Since(start)
				b.StopTimer()
				db.Close()
				b.StartTimer()
			}
			if removed > 0 {
				b.ReportMetric(float64(removed)/spent.Seconds(), "versions-removed/s")
			}
		})
	}
}

// BenchmarkCommitDuringFullCompaction measures single-put commit latency
// (p50, p99) on a database of n keys with KeepLast(1), idle and while Full
// compactions run back to back (each trims what the writer overwrote and
// checkpoints). Target: p99 while compacting ≤ 5× idle.
func BenchmarkCommitDuringFullCompaction(b *testing.B) {
	n := retentionBenchKeys(b)
	for _, busy := range []bool{false, true} {
		name := "idle"
		if busy {
			name = "compacting"
		}
		b.Run(name, func(b *testing.B) {
			db, err := inmem.Open(filepath.Join(b.TempDir(), "db"), &inmem.Options{Durability: inmem.InMemory, Maintenance: noMaint})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run := inmem.NewRunID()
			loadVersions(b, db, run, n, 1)
			if _, err := db.SetRetentionPolicy(ctx, run, inmem.KeepLast(1)); err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			done := make(chan int)
			go func() {
				c := 0
				for busy {
					select {
					case <-stop:
						done <- c
						return
					default:
					}
					if _, err := db.Compact(ctx, inmem.Full); err != nil {
						b.Error(err)
					}
					c++
				}
				<-stop
				done <- c
			}()
			lat := make([]time.Duration, 0, 1<<16)
			i := 0
			for b.Loop() {
				start := time.Now()
				if _, err := db.KV().Put(ctx, run, benchKey(i%n), benchValue); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				i++
			}
			b.StopTimer()
			close(stop)
			compactions := <-done
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			if busy {
				b.ReportMetric(float64(compactions), "compactions")
			}
		})
	}
}

// purgeHeapInUse returns the live heap after a full collection.
func purgeHeapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkTombstonePurge puts then deletes n distinct keys (1000 per
// commit) and runs Compact(Full) with KeepLast(1): the purge must give the
// memory back. It reports the heap with the purged database open against
// two baselines measured in the same iteration: a freshly opened empty
// database (the target: within 10%), and an empty database with the same
// retention policy set on one run (what the user's own configuration
// costs, which the purge cannot give back). Heaps are in bytes.
func BenchmarkTombstonePurge(b *testing.B) {
	n := retentionBenchKeys(b)
	var emptyHeap, policyHeap, purgedHeap, loadedHeap uint64
	for b.Loop() {
		b.StopTimer()
		base := purgeHeapInUse()
		empty, err := inmem.Open("", nil)
		if err != nil {
			b.Fatal(err)
		}
		emptyHeap = purgeHeapInUse() - base
		runtime.KeepAlive(empty)
		empty.Close()

		base = purgeHeapInUse()
		withPolicy, err := inmem.Open("", nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := withPolicy.SetRetentionPolicy(ctx, inmem.NewRunID(), inmem.KeepLast(1)); err != nil {
			b.Fatal(err)
		}
		policyHeap = purgeHeapInUse() - base
		runtime.KeepAlive(withPolicy)
		withPolicy.Close()

		base = purgeHeapInUse()
		db, err := inmem.Open("", nil)
		if err != nil {
			b.Fatal(err)
		}
		run := inmem.NewRunID()
		loadVersions(b, db, run, n, 1)
		for lo := 0; lo < n; lo += 1000 {
			if err := db.Update(ctx, run, func(tx *inmem.Tx) error {
				for i := lo; i < min(lo+1000, n); i++ {
					if err := tx.KV().Delete(benchKey(i)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := db.SetRetentionPolicy(ctx, run, inmem.KeepLast(1)); err != nil {
			b.Fatal(err)
		}
		loadedHeap = purgeHeapInUse() - base
		b.StartTimer()
		info, err := db.Compact(ctx, inmem.Full)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if info.VersionsRemoved != uint64(2*n) {
			b.Fatalf("removed %d versions, want %d", info.VersionsRemoved, 2*n)
		}
		purgedHeap = purgeHeapInUse() - base
		runtime.KeepAlive(db)
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(emptyHeap), "empty-B")
	b.ReportMetric(float64(policyHeap), "empty+policy-B")
	b.ReportMetric(float64(loadedHeap)/(1<<20), "before-MiB")
	b.ReportMetric(float64(purgedHeap), "purged-B")
	b.ReportMetric(float64(purgedHeap)/float64(emptyHeap), "purged/empty")
	b.ReportMetric(float64(purgedHeap)/float64(policyHeap), "purged/empty+policy")
	// Nothing is kept per purged key or per commit (see docs/PERFORMANCE.md,
	// "Tombstone purge"): the residual does not grow with n.
	b.ReportMetric((float64(purgedHeap)-float64(emptyHeap))/float64(n), "residual-B/key")
}
