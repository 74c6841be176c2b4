package inmem_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem"
)

// The benchmarks here put in-mem (InMemory, KV Put and Get as
// single-operation transactions) beside a Go map behind a mutex, the floor
// of issue 14, in one run: compare the engine=inmem rows with the
// engine=map rows of the same run. Keys are 16 bytes in shuffled order,
// values 100 bytes converted from a reused []byte, as in `inmem bench`.

// floorKeys returns n distinct 16-byte keys ("w000" and a zero-padded
// number) in shuffled order.
func floorKeys(n int) []string {
	keys := make([]string, n)
	for i, p := range rand.New(rand.NewPCG(7, 1)).Perm(n) {
		keys[i] = fmt.Sprintf("w000%012d", p)
	}
	return keys
}

var floorValue = make([]byte, 100)

// floorStore is the face both engines show the benchmarks.
type floorStore interface {
	put(key string, v []byte)
	get(key string) bool
}

type mapFloor struct {
	mu sync.RWMutex
	m  map[string]string
}

func (f *mapFloor) put(key string, v []byte) {
	s := string(v) // a store owns its bytes
	f.mu.Lock()
	f.m[key] = s
	f.mu.Unlock()
}

func (f *mapFloor) get(key string) bool {
	f.mu.RLock()
	_, ok := f.m[key]
	f.mu.RUnlock()
	return ok
}

type inmemFloor struct {
	db  *inmem.DB
	kv  inmem.KVStore
	run inmem.RunID
}

func (f *inmemFloor) put(key string, v []byte) {
	if _, err := f.kv.Put(ctx, f.run, key, inmem.Bytes(v)); err != nil {
		panic(err)
	}
}

func (f *inmemFloor) get(key string) bool {
	_, err := f.kv.Get(ctx, f.run, key)
	return err == nil
}

func newFloorStore(b *testing.B, engine string) floorStore {
	if engine == "map" {
		return &mapFloor{m: make(map[string]string)}
	}
	db, err := inmem.Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return &inmemFloor{db: db, kv: db.KV(), run: inmem.NewRunID()}
}

var floorEngines = []string{"inmem", "map"}

// BenchmarkFloorPut puts each of 500k keys once into an empty store; every
// 500k operations the store starts again empty.
func BenchmarkFloorPut(b *testing.B) {
	keys := floorKeys(500_000)
	for _, engine := range floorEngines {
		b.Run("engine="+engine, func(b *testing.B) {
			s := newFloorStore(b, engine)
			b.ReportAllocs()
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				if i == len(keys) {
					b.StopTimer()
					s, i = newFloorStore(b, engine), 0
					b.StartTimer()
				}
				s.put(keys[i], floorValue)
				i++
			}
		})
	}
}

// BenchmarkFloorGet reads keys uniformly at random from a store holding n.
func BenchmarkFloorGet(b *testing.B) {
	for _, n := range []int{500_000, 5_000_000} {
		keys := floorKeys(n)
		for _, engine := range floorEngines {
			b.Run(fmt.Sprintf("keys=%d/engine=%s", n, engine), func(b *testing.B) {
				if n > 500_000 && testing.Short() {
					b.Skip("5M keys")
				}
				s := newFloorStore(b, engine)
				for _, k := range keys {
					s.put(k, floorValue)
				}
				order := rand.New(rand.NewPCG(1, 2)).Perm(n)
				runtime.GC() // the load's collection is not the reads' cost
				b.ReportAllocs()
				defer reportCPU(b)()
				i := 0
				for b.Loop() {
					if !s.get(keys[order[i]]) {
						b.Fatal("missing key")
					}
					if i++; i == n {
						i = 0
					}
				}
			})
		}
	}
}

// reportCPU reports the process's CPU time (user and system, all threads,
// the collector's included) per operation as cpu-ns/op, from the call to
// the call of the function it returns. On a machine shared with other
// jobs, wall-clock ns/op mostly measures waiting for a core; CPU time is
// the steadier figure to compare.
func reportCPU(b *testing.B) func() {
	start := cpuNanos()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuNanos()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
