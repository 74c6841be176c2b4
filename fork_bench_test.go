package inmem_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// forkBenchN is the size of the runs the fork benchmarks use:
// INMEM_FORK_N (the figure is 1000000), 20000 by default so the
// suite stays fast in CI.
func forkBenchN(b *testing.B, def int) int {
	if s := os.Getenv("INMEM_FORK_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("INMEM_FORK_N=%q", s)
		}
		return n
	}
	return def
}

func forkKey(i int) string { return fmt.Sprintf("key-%08d", i) }

// loadRun registers a run holding n KV keys.
func loadRun(b testing.TB, db *inmem.DB, name string, n int) inmem.RunID {
	run := mustCreate(b, db, name, inmem.RunOptions{})
	for lo := 0; lo < n; lo += 1000 {
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			for i := lo; i < min(n, lo+1000); i++ {
				if err := tx.KV().Put(forkKey(i), inmem.Int(int64(i))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return run
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkFork forks a big run: the cost must not depend on its size.
// retained-B/op is the heap each call keeps, measured after GC; "create"
// registers plain runs as the baseline, since a fork is a registered run
// (record, name and index entries) plus its link.
func BenchmarkFork(b *testing.B) {
	db := openMem(b)
	n := forkBenchN(b, 20000)
	src := loadRun(b, db, "src", n)
	seq := 0 // run names stay unique across b.Run's repeated calls
	for _, fork := range []bool{false, true} {
		name := map[bool]string{false: "create", true: "fork"}[fork]
		b.Run(name, func(b *testing.B) {
			before := heapInUse()
			calls := 0
			for b.Loop() {
				runName := name + strconv.Itoa(seq)
				seq++
				var err error
				if fork {
					_, err = db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{Name: runName})
				} else {
					_, err = db.Runs().Create(ctx, runName, inmem.RunOptions{Parent: &src})
				}
				if err != nil {
					b.Fatal(err)
				}
				calls++
			}
			b.StopTimer()
			b.ReportMetric(float64(int64(heapInUse())-int64(before))/float64(calls), "retained-B/op")
			b.ReportMetric(float64(n), "entities")
		})
	}
}

// BenchmarkForkRead compares a read that falls through a fork to its source
// with the same read on the source.
func BenchmarkForkRead(b *testing.B) {
	db := openMem(b)
	n := forkBenchN(b, 20000)
	src := loadRun(b, db, "src", n)
	f, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = forkKey(i * 7919 % n)
	}
	for _, c := range []struct {
		name string
		run  inmem.RunID
	}{{"direct", src}, {"fork", f}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := db.KV().Get(ctx, c.run, keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	// The machine may be busy: interleave batches of both reads in one
	// loop and report their ratio, which load shifts far less than either
	// time.
	b.Run("ratio", func(b *testing.B) {
		var direct, fork time.Duration
		i := 0
		for b.Loop() {
			// Each side reads its own keys: reading the other's right
			// after it would find them in the cache.
			for _, c := range []struct {
				run inmem.RunID
				d   *time.Duration
				off int
			}{{src, &direct, 0}, {f, &fork, len(keys) / 2}} {
				start := time.Now()
				for j := range 64 {
					if _, err := db.KV().Get(ctx, c.run, keys[(i+j+c.off)%len(keys)]); err != nil {
						b.Fatal(err)
					}
				}
				*c.d += time.Since(start)
			}
			i += 64
		}
		b.ReportMetric(float64(fork)/float64(direct), "fork/direct")
	})
}

// BenchmarkDiff diffs two runs of n entities (100000 by default) that
// differ in 1% of them. "fork" is a source and a fork that changed every
// 100th key: the diff reads only the fork's writes. "unrelated" is the
// same change between two runs loaded separately, which a diff compares
// entity by entity: the baseline, and the cost any diff had before related
// runs got their own path.
func BenchmarkDiff(b *testing.B) {
	db := openMem(b)
	n := 100000
	if testing.Short() {
		n = 10000
	}
	src := loadRun(b, db, "src", n)
	f, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		b.Fatal(err)
	}
	other := loadRun(b, db, "other", n)
	for _, run := range []inmem.RunID{f, other} {
		err = db.Update(ctx, run, func(tx *inmem.Tx) error {
			for i := 0; i < n; i += 100 {
				if err := tx.KV().Put(forkKey(i), inmem.Int(-1)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	diff := func(b *testing.B, with inmem.RunID) {
		changes := 0
		for _, err := range db.Runs().Diff(ctx, src, with) {
			if err != nil {
				b.Fatal(err)
			}
			changes++
		}
		if changes != n/100 {
			b.Fatalf("%d changes, want %d", changes, n/100)
		}
	}
	for _, c := range []struct {
		name string
		with inmem.RunID
	}{{"fork", f}, {"unrelated", other}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				diff(b, c.with)
			}
			b.ReportMetric(float64(n), "entities")
		})
	}
	// Interleaved, so machine load shifts both sides alike.
	b.Run("ratio", func(b *testing.B) {
		var fork, unrelated time.Duration
		for b.Loop() {
			start := time.Now()
			diff(b, f)
			fork += time.Since(start)
			start = time.Now()
			diff(b, other)
			unrelated += time.Since(start)
		}
		b.ReportMetric(float64(unrelated)/float64(fork), "unrelated/fork")
	})
}
