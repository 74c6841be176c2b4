package vector

import (
	"fmt"
	"math"
	"testing"
)

// benchIndexes caches benchmark fixtures by size and metric.
var benchIndexes = map[string]*Index{}

func benchIndex(b *testing.B, n, dim int, m Metric) *Index {
	b.Helper()
	id := fmt.Sprintf("%d/%d/%v", n, dim, m)
	if ix, ok := benchIndexes[id]; ok {
		return ix
	}
	r := newRand(uint64(n))
	ix := New(dim, m)
	ix.Grow(n)
	v := make([]float32, dim)
	for i := range n {
		for j := range v {
			v[j] = r.Float32()*2 - 1
		}
		if err := ix.Upsert(keyOf(i), v, uint64(i), i); err != nil {
			b.Fatal(err)
		}
	}
	benchIndexes[id] = ix
	return ix
}

// evenPayload passes about half of the benchmark entries.
func evenPayload(_ string, p any) bool { return p.(int)&1 == 0 }

// BenchmarkSearch measures a top-10 search over dim-384 vectors.
func BenchmarkSearch(b *testing.B) {
	const dim, k = 384, 10
	cases := []struct {
		m      Metric
		n      int
		filter bool
	}{
		{Cosine, 10_000, false},
		{Cosine, 10_000, true},
		{Cosine, 100_000, false},
		{Cosine, 100_000, true},
		{Euclidean, 10_000, false},
		{DotProduct, 10_000, false},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%v/n=%d/nofilter", c.m, c.n)
		var filter func(string, any) bool
		if c.filter {
			name = fmt.Sprintf("%v/n=%d/filter50", c.m, c.n)
			filter = evenPayload
		}
		b.Run(name, func(b *testing.B) {
			ix := benchIndex(b, c.n, dim, c.m)
			q := randVec(newRand(99), dim)
			for b.Loop() {
				hits, err := ix.Search(q, k, filter, nil)
				if err != nil || len(hits) != k {
					b.Fatal(len(hits), err)
				}
			}
		})
	}
}

// BenchmarkSearchThreshold compares the sequential and the parallel scan
// around the parallel threshold (sizes in stored floats, dim 384); the
// threshold is set where parallel starts to win.
func BenchmarkSearchThreshold(b *testing.B) {
	const dim = 384
	for _, floats := range []int{1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21} {
		n := floats / dim
		ix := benchIndex(b, n, dim, Cosine)
		q := randVec(newRand(99), dim)
		for _, mode := range []struct {
			name      string
			threshold int
		}{{"sequential", math.MaxInt}, {"parallel", 0}} {
			b.Run(fmt.Sprintf("floats=%d/n=%d/%s", floats, n, mode.name), func(b *testing.B) {
				searchConfig{threshold: mode.threshold, stream: streamThreshold}.with(func() {
					for b.Loop() {
						if _, err := ix.Search(q, 10, nil, nil); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}

// BenchmarkSearchFilterDensity compares, for filters passing a random
// share of the slots, skipping the rejected slots with scoring whole runs
// (see scan): skipping wins while the vectors fit in the CPU caches,
// scoring whole runs once they do not.
func BenchmarkSearchFilterDensity(b *testing.B) {
	const dim = 384
	for _, n := range []int{10_000, 100_000} {
		ix := benchIndex(b, n, dim, Cosine)
		q := randVec(newRand(99), dim)
		for _, pct := range []uint32{10, 50, 75} {
			filter := func(k string, _ any) bool { return fnv32(k)%100 < pct }
			for _, mode := range []struct {
				name   string
				stream int
			}{{"skip", math.MaxInt}, {"whole", 0}} {
				b.Run(fmt.Sprintf("n=%d/pass=%d%%/%s", n, pct, mode.name), func(b *testing.B) {
					searchConfig{threshold: parallelThreshold, stream: mode.stream}.with(func() {
						for b.Loop() {
							if _, err := ix.Search(q, 10, filter, nil); err != nil {
								b.Fatal(err)
							}
						}
					})
				})
			}
		}
	}
}

// fnv32 is the FNV-1a hash, used for pseudo-random filters.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
