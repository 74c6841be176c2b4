package inmem_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// benchDir returns a fresh directory on the disk the benchmarks measure
// (INMEM_BENCH_DIR, default the test's temporary directory).
func benchDir(b *testing.B) string {
	if d := os.Getenv("INMEM_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// BenchmarkRawAppendFdatasync is the baseline for Strict commits: append 4
// KiB to a file and fdatasync it, on the same disk, through the same vfs
// seam (the OS implementation).
func BenchmarkRawAppendFdatasync(b *testing.B) {
	f, err := vfs.OS().Create(filepath.Join(benchDir(b), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.SyncData(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStrictCommit measures Strict single-key commits with 1, 8 and 64
// concurrent writers and reports how many commits each fsync covered.
func BenchmarkStrictCommit(b *testing.B) {
	benchStrictCommits(b, []int{1, 8, 64}, 0)
}

// benchStrictCommits runs Strict single-key commits at each writer count,
// with WAL segments of segmentSize bytes (0: the default), and reports how
// many commits each fsync covered.
func benchStrictCommits(b *testing.B, writerCounts []int, segmentSize int64) {
	for _, writers := range writerCounts {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db, err := inmem.Open(benchDir(b), &inmem.Options{Durability: inmem.Strict, WALSegmentSize: segmentSize})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run := inmem.NewRunID()
			before := db.Stats().WAL
			b.ReportAllocs()
			runWriters(b, writers, func(w, i int) error {
				_, err := db.KV().Put(ctx, run, fmt.Sprintf("w%d/%s", w, benchKey(i%1000)), benchValue)
				return err
			})
			after := db.Stats().WAL
			if fsyncs := after.Fsyncs - before.Fsyncs; fsyncs > 0 {
				b.ReportMetric(float64(after.Records-before.Records)/float64(fsyncs), "commits/fsync")
			}
		})
	}
}

// runWriters runs exactly n goroutines that share b.N operations; op gets
// the writer's index and its own operation counter. Goroutines claim
// operations in chunks, so the shared counter itself does not bounce between
// cores on every operation.
func runWriters(b *testing.B, n int, op func(w, i int) error) {
	const chunk = 128
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := 0
			for {
				end := next.Add(chunk)
				start := end - chunk
				if start >= int64(b.N) {
					return
				}
				for j := start; j < min(end, int64(b.N)); j++ {
					if err := op(w, i); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}

func benchPut(b *testing.B, db *inmem.DB) {
	run := inmem.NewRunID()
	kv := db.KV()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := kv.Put(ctx, run, benchKey(i%100_000), benchValue); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkModePut compares single-goroutine puts in Buffered mode (record
// written to the page cache before the commit returns) with InMemory.
func BenchmarkModePut(b *testing.B) {
	b.Run("mode=inmemory", func(b *testing.B) {
		benchPut(b, openMem(b))
	})
	b.Run("mode=buffered", func(b *testing.B) {
		db, err := inmem.Open(benchDir(b), &inmem.Options{Durability: inmem.Buffered})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		benchPut(b, db)
	})
}
