package inmem_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// dirBytes sums the sizes of the files matching pattern under dir.
func dirBytes(b *testing.B, pattern string) (files []string, total int64) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			b.Fatal(err)
		}
		total += st.Size()
	}
	return files, total
}

// loadMillion writes 1M keys (100-byte values) in batches of 1000 per
// commit.
func loadMillion(b *testing.B, db *inmem.DB, run inmem.RunID) {
	loadKeys(b, db, run, 1_000_000)
}

// BenchmarkCheckpoint1M measures a checkpoint of 1M keys (durable bytes per
// second, file fsynced and published) against BenchmarkRawSequentialWrite.
func BenchmarkCheckpoint1M(b *testing.B) {
	dir := benchDir(b)
	db, err := inmem.Open(filepath.Join(dir, "db"), &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	loadMillion(b, db, inmem.NewRunID())
	var bytes int64
	b.ResetTimer()
	for b.Loop() {
		info, err := db.Checkpoint(ctx)
		if err != nil {
			b.Fatal(err)
		}
		bytes = info.Bytes
	}
	b.SetBytes(bytes)
}

// BenchmarkRawSequentialWrite is the baseline for checkpoints: write 128 MiB
// in 1 MiB chunks and fsync, through the OS file system seam.
func BenchmarkRawSequentialWrite(b *testing.B) {
	dir := benchDir(b)
	chunk := make([]byte, 1<<20)
	const total = 128 << 20
	b.SetBytes(total)
	i := 0
	for b.Loop() {
		name := filepath.Join(dir, fmt.Sprint("raw", i))
		f, err := vfs.OS().Create(name)
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < total; n += len(chunk) {
			if _, err := f.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		os.Remove(name)
		i++
	}
}

// BenchmarkRecovery1MSnapshotPlus100kWAL measures Open of a directory with a
// snapshot of 1M keys and 100k WAL records after it.
func BenchmarkRecovery1MSnapshotPlus100kWAL(b *testing.B) {
	dir := filepath.Join(benchDir(b), "db")
	db, err := inmem.Open(dir, &inmem.Options{Durability: inmem.Buffered})
	if err != nil {
		b.Fatal(err)
	}
	run := inmem.NewRunID()
	loadMillion(b, db, run)
	if _, err := db.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		if _, err := db.KV().Put(ctx, run, benchKey(i*7%1_000_000), benchValue); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	_, snap := dirBytes(b, filepath.Join(dir, "SNAPSHOTS", "*.chk"))
	_, wal := dirBytes(b, filepath.Join(dir, "WAL", "*.seg"))
	b.ReportMetric(float64(snap)/(1<<20), "snapshot-MiB")
	b.ReportMetric(float64(wal)/(1<<20), "wal-MiB")
	b.ResetTimer()
	for b.Loop() {
		db, err := inmem.Open(dir, &inmem.Options{Durability: inmem.InMemory, ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if v := inmem.Visible(db); v != 1000+100_000 {
			b.Fatalf("recovered to %d", v)
		}
		db.Close()
	}
}

// walWith1KiBRecords builds a directory whose WAL holds n commits of one
// 1 KiB value each and returns it with the WAL's size.
func walWith1KiBRecords(b *testing.B, n int) (string, []string, int64) {
	dir := filepath.Join(benchDir(b), "db")
	db, err := inmem.Open(dir, &inmem.Options{Durability: inmem.Buffered})
	if err != nil {
		b.Fatal(err)
	}
	run := inmem.NewRunID()
	val := inmem.String(strings.Repeat("x", 1024))
	for i := range n {
		if _, err := db.KV().Put(ctx, run, benchKey(i%10_000), val); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	files, total := dirBytes(b, filepath.Join(dir, "WAL", "*.seg"))
	return dir, files, total
}

// BenchmarkWALReplay1KiB measures recovery throughput of a WAL of 64k
// records with 1 KiB values (bytes of WAL per second), against
// BenchmarkRawSequentialRead of the same files.
func BenchmarkWALReplay1KiB(b *testing.B) {
	dir, _, total := walWith1KiBRecords(b, 64<<10)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		db, err := inmem.Open(dir, &inmem.Options{Durability: inmem.InMemory, ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

// BenchmarkRawSequentialRead reads the files of the WAL of
// BenchmarkWALReplay1KiB through the vfs seam.
func BenchmarkRawSequentialRead(b *testing.B) {
	_, files, total := walWith1KiBRecords(b, 64<<10)
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			if _, err := vfs.ReadFile(vfs.OS(), f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkCommitDuringCheckpoint measures single-key commit latency on a
// database of 1M keys (InMemory durability with a directory, so the WAL's
// fsync does not hide the effect) while checkpoints run back to back on
// another goroutine, against the same commits with no checkpoint running
// (checkpoints read one MVCC point in time and never stop writers). It
// reports the median and 99th percentile latency.
func BenchmarkCommitDuringCheckpoint(b *testing.B) {
	for _, busy := range []bool{false, true} {
		name := "idle"
		if busy {
			name = "checkpointing"
		}
		b.Run(name, func(b *testing.B) {
			dir := filepath.Join(benchDir(b), "db")
			db, err := inmem.Open(dir, &inmem.Options{Durability: inmem.InMemory})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run := inmem.NewRunID()
			loadMillion(b, db, run)
			stop := make(chan struct{})
			done := make(chan int)
			go func() {
				n := 0
				for busy {
					select {
					case <-stop:
						done <- n
						return
					default:
					}
					if _, err := db.Checkpoint(ctx); err != nil {
						b.Error(err)
					}
					n++
				}
				<-stop
				done <- n
			}()
			lat := make([]time.Duration, 0, 1<<16)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				start := time.Now()
				if _, err := db.KV().Put(ctx, run, benchKey(i%1_000_000), benchValue); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				i++
			}
			b.StopTimer()
			close(stop)
			checkpoints := <-done
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			if busy {
				b.ReportMetric(float64(checkpoints), "checkpoints")
			}
		})
	}
}
