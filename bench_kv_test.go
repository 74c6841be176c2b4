package inmem_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/inmemdb/inmem"
)

// benchValue is a typical small agent-memory value: 100 bytes.
var benchValue = inmem.Bytes(make([]byte, 100))

func benchKey(i int) string { return fmt.Sprintf("key/%012d", i) }

func BenchmarkKVPut(b *testing.B) {
	db := openMem(b)
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

// loadKeys fills a run with n keys of one version each.
func loadKeys(b testing.TB, db *inmem.DB, run inmem.RunID, n int) {
	const batch = 1000
	for i := 0; i < n; i += batch {
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			for j := i; j < i+batch && j < n; j++ {
				if err := tx.KV().Put(benchKey(j), benchValue); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// million returns a database holding 1M keys of one version each in
// millionRun. Each benchmark builds its own and closes it, so the big heap
// does not slow the benchmarks that run after it in the same process.
func million(b *testing.B) *inmem.DB {
	db, err := inmem.Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	loadKeys(b, db, millionRun, 1_000_000)
	b.Cleanup(func() { db.Close() })
	return db
}

var millionRun = inmem.NewRunID()

func BenchmarkKVGetHot(b *testing.B) {
	db := million(b)
	kv := db.KV()
	key := benchKey(123_456)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kv.Get(ctx, millionRun, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKVGetUniform1M(b *testing.B) {
	db := million(b)
	kv := db.KV()
	keys := make([]string, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range keys {
		keys[i] = benchKey(r.IntN(1_000_000))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := kv.Get(ctx, millionRun, keys[i&(len(keys)-1)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkKVScan100(b *testing.B) {
	db := million(b)
	kv := db.KV()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range kv.Scan(ctx, millionRun, "key/0000001234") { // 100 keys
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100 {
			b.Fatalf("scanned %d", n)
		}
	}
}

func BenchmarkSnapshot(b *testing.B) {
	db := openMem(b)
	run := inmem.NewRunID()
	b.ReportAllocs()
	for b.Loop() {
		tx, err := db.Begin(ctx, run, false)
		if err != nil {
			b.Fatal(err)
		}
		tx.Rollback()
	}
}

func BenchmarkTxOneOp(b *testing.B) {
	db := openMem(b)
	run := inmem.NewRunID()
	mustPut(b, db, run, "k", inmem.Int(0))
	b.ReportAllocs()
	for b.Loop() {
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			err := tx.KV().Put("k", benchValue)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKVPutDisjoint runs 1 and 2 goroutines writing disjoint keys.
func BenchmarkKVPutDisjoint(b *testing.B) {
	for _, writers := range []int{1, 2} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db := openMem(b)
			run := inmem.NewRunID()
			keys := make([][]string, writers)
			for w := range keys {
				for i := range 100_000 {
					keys[w] = append(keys[w], fmt.Sprintf("w%d/%s", w, benchKey(i)))
				}
			}
			b.ReportAllocs()
			runWriters(b, writers, func(w, i int) error {
				_, err := db.KV().Put(ctx, run, keys[w][i%len(keys[w])], benchValue)
				return err
			})
		})
	}
}

// BenchmarkKVContended has two goroutines increment one counter through
// Update (read-modify-write, retried on conflict).
func BenchmarkKVContended(b *testing.B) {
	db := openMem(b)
	run := inmem.NewRunID()
	mustPut(b, db, run, "counter", inmem.Int(0))
	b.ReportAllocs()
	runWriters(b, 2, func(_, _ int) error {
		return db.Update(ctx, run, func(tx *inmem.Tx) error {
			v, err := tx.KV().Get("counter")
			if err != nil {
				return err
			}
			n, _ := v.Value.AsInt()
			err = tx.KV().Put("counter", inmem.Int(n+1))
			return err
		})
	})
}

// TestMemoryFootprint1M measures the heap held by 1M keys of one version
// each against the raw key and value bytes. It is a measurement, reported
// with -v; it fails only on a gross regression (over 4x).
func TestMemoryFootprint1M(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 1M keys")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	run := inmem.NewRunID()
	const n = 1_000_000
	loadKeys(t, db, run, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	raw := float64(n * (len(benchKey(0)) + benchValue.Len()))
	heap := float64(after.HeapAlloc - before.HeapAlloc)
	t.Logf("1M keys: raw key+value bytes %.1f MiB, heap %.1f MiB, ratio %.2f", raw/(1<<20), heap/(1<<20), heap/raw)
	if heap/raw > 4 {
		t.Errorf("heap is %.2fx the raw bytes", heap/raw)
	}
	runtime.KeepAlive(db)
	db.Close()
}

// BenchmarkKVGetReaders runs 1 and 2 goroutines reading 1000 keys of one
// run (ns per read, all goroutines together): reads take no lock, so two
// readers should take half the time per read.
func BenchmarkKVGetReaders(b *testing.B) {
	for _, readers := range []int{1, 2} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			db := openMem(b)
			run := inmem.NewRunID()
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = benchKey(i)
				mustPut(b, db, run, keys[i], benchValue)
			}
			b.ReportAllocs()
			runWriters(b, readers, func(_, i int) error {
				_, err := db.KV().Get(ctx, run, keys[i%len(keys)])
				return err
			})
		})
	}
}
