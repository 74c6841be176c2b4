package vector

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var allMetrics = []Metric{Cosine, Euclidean, DotProduct}

// filterVariant is a filter/exclude pair a search test runs with.
type filterVariant struct {
	name    string
	filter  func(string, any) bool
	exclude func(string) bool
}

var filterVariants = []filterVariant{
	{"none", nil, nil},
	{"even-payload", func(_ string, p any) bool { return p.(int)%2 == 0 }, nil},
	{"exclude-3-and-filter-7", func(_ string, p any) bool { return p.(int)%7 != 0 }, func(k string) bool { return strings.HasSuffix(k, "3") }},
	{"sparse", func(_ string, p any) bool { return p.(int)%10 == 0 }, nil},
}

// model is a test's mirror of an index's contents.
type model map[string]entry

func (m model) upsert(t *testing.T, ix *Index, key string, vec []float32, version uint64, payload int) {
	t.Helper()
	must(t, ix.Upsert(key, vec, version, payload))
	m[key] = entry{key, slices.Clone(vec), version, payload}
}

func (m model) delete(t *testing.T, ix *Index, key string) {
	t.Helper()
	if !ix.Delete(key) {
		t.Fatalf("Delete(%q) = false", key)
	}
	delete(m, key)
}

// checkSearch runs query against ix under every scan configuration and
// compares the results for each k with the reference.
func checkSearch(t *testing.T, label string, ix *Index, ref []refHit, q []float32, fv filterVariant, ks []int) {
	t.Helper()
	for _, cfg := range searchConfigs {
		cfg.with(func() {
			for _, k := range ks {
				got, err := ix.Search(q, k, fv.filter, fv.exclude)
				if err != nil {
					t.Fatalf("%s: Search: %v", label, err)
				}
				checkHits(t, fmt.Sprintf("%s/%s/%s/k=%d", label, cfg.name, fv.name, k), got, ref, k)
			}
		})
	}
}

// separatedQuery draws random queries until the reference ranking of the
// top maxK+1 qualifying entries has no near-tie (see nearTie), so that the
// float32 index must reproduce the float64 reference order exactly. Exact
// ties from duplicate vectors remain and are ordered by key.
func separatedQuery(t *testing.T, r *rand.Rand, m Metric, dim int, entries model, fv filterVariant, maxK int) ([]float32, []refHit) {
	t.Helper()
	for range 100 {
		q := randVec(r, dim)
		ref := refSearch(m, entries, q, fv.filter, fv.exclude)
		if _, tie := nearTie(ref, maxK); !tie {
			return q, ref
		}
	}
	t.Fatalf("no query without near-ties in 100 draws (%v, dim %d, %d entries)", m, dim, len(entries))
	return nil, nil
}

// TestSearchMatchesReferenceRandom compares Search with a float64
// brute-force reference on random Gaussian data containing duplicate and
// zero vectors, for every metric, several k, with and without filters,
// sequential and parallel, before and after deletes and re-upserts.
func TestSearchMatchesReferenceRandom(t *testing.T) {
	sizes := []struct{ n, dim int }{{1, 5}, {7, 8}, {60, 16}, {500, 24}, {2000, 40}}
	for _, m := range allMetrics {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%v/n=%d/dim=%d", m, sz.n, sz.dim), func(t *testing.T) {
				r := newRand(uint64(sz.n*1000 + sz.dim*10 + int(m)))
				ix, mod := New(sz.dim, m), model{}
				var inserted []string // in insertion order, for reproducible picks
				fill := func(prefix string, count int) {
					for i := range count {
						key := fmt.Sprintf("%s%05d", prefix, r.IntN(1_000_000))
						vec := randVec(r, sz.dim)
						switch {
						case i%10 == 9 && len(inserted) > 0:
							// Duplicate a stored vector: an exact tie.
							if e, ok := mod[inserted[r.IntN(len(inserted))]]; ok {
								vec = slices.Clone(e.vec)
							}
						case i%50 == 17:
							vec = make([]float32, sz.dim)
						}
						mod.upsert(t, ix, key, vec, uint64(r.IntN(1000)), r.IntN(1000))
						inserted = append(inserted, key)
					}
				}
				ks := []int{1, 3, 10}
				if sz.n <= 60 {
					ks = append(ks, sz.n, sz.n+2)
				}
				maxK := slices.Max(ks)
				check := func(phase string) {
					checkInvariants(t, ix)
					for _, fv := range filterVariants {
						q, ref := separatedQuery(t, r, m, sz.dim, mod, fv, maxK)
						checkSearch(t, phase, ix, ref, q, fv, ks)
					}
				}

				fill("k", sz.n)
				check("initial")

				// Delete about a third, re-upsert some deleted keys with new
				// vectors, replace some live keys in place, add new keys.
				keys := ix.Keys()
				r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
				third := len(keys) / 3
				for _, k := range keys[:third] {
					mod.delete(t, ix, k)
				}
				for _, k := range keys[:third/2] {
					mod.upsert(t, ix, k, randVec(r, sz.dim), 5000, r.IntN(1000))
				}
				for _, k := range keys[third : third+third/3] {
					mod.upsert(t, ix, k, randVec(r, sz.dim), 6000, r.IntN(1000))
				}
				fill("n", sz.n/5+1)
				check("mutated")
			})
		}
	}
}

// spacedVec returns a vector whose score against q under m is target,
// up to float32 rounding, with a random component orthogonal to q.
func spacedVec(r *rand.Rand, m Metric, q []float32, target float64) []float32 {
	dim := len(q)
	qn := refNorm(q)
	qh := make([]float64, dim)
	for i := range q {
		qh[i] = float64(q[i]) / qn
	}
	// u: random unit vector orthogonal to q.
	u := make([]float64, dim)
	var proj, un float64
	for i := range u {
		u[i] = r.NormFloat64()
		proj += u[i] * qh[i]
	}
	for i := range u {
		u[i] -= proj * qh[i]
		un += u[i] * u[i]
	}
	un = math.Sqrt(un)
	c := 0.5 + 1.5*r.Float64() // random length for cosine
	v := make([]float32, dim)
	for i := range v {
		u[i] /= un
		switch m {
		case Cosine: // cos = target
			v[i] = float32(c * (target*qh[i] + math.Sqrt(1-target*target)*u[i]))
		case DotProduct: // q·v = target
			v[i] = float32(target/qn*qh[i] + 2*u[i])
		case Euclidean: // |q-v| = -target, along a random direction
			v[i] = float32(float64(q[i]) - target*u[i])
		}
	}
	return v
}

// TestSearchSpacedScoresFullOrder builds collections whose scores against
// the query are spread on a grid far coarser than float32 rounding, plus
// exact duplicates, so that the complete ranking of thousands of entries
// (k up to n and beyond) must match the reference exactly, including ties
// broken by key, on both the sequential and the parallel path.
func TestSearchSpacedScoresFullOrder(t *testing.T) {
	const n, spare, dim = 2500, 1500, 48
	for _, m := range allMetrics {
		t.Run(m.String(), func(t *testing.T) {
			r := newRand(100 + uint64(m))
			q := randVec(r, dim)
			targets := make([]float64, n+spare)
			for j := range targets {
				f := float64(j) / float64(len(targets)-1)
				switch m {
				case Cosine:
					targets[j] = -0.95 + 1.9*f
				case DotProduct:
					targets[j] = -10 + 20*f
				case Euclidean:
					targets[j] = -(0.5 + 5*f)
				}
			}
			r.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
			next := func() []float32 {
				v := spacedVec(r, m, q, targets[0])
				targets = targets[1:]
				return v
			}
			ix, mod := New(dim, m), model{}
			ix.Grow(n)
			perm := r.Perm(10 * n)
			for i := range n {
				key := fmt.Sprintf("s%05d", perm[i])
				vec := next()
				if i%8 == 7 { // exact duplicate of a random earlier entry
					vec = slices.Clone(mod[fmt.Sprintf("s%05d", perm[r.IntN(i)])].vec)
				}
				mod.upsert(t, ix, key, vec, uint64(i), i)
			}
			ks := []int{1, 10, 137, n/2 + 1, n + 5}
			check := func(phase string) {
				checkInvariants(t, ix)
				for _, fv := range filterVariants {
					ref := refSearch(m, mod, q, fv.filter, fv.exclude)
					if what, tie := nearTie(ref, len(ref)); tie {
						t.Fatalf("spaced construction produced a near-tie: %s", what)
					}
					checkSearch(t, phase, ix, ref, q, fv, ks)
				}
			}
			check("initial")

			keys := ix.Keys()
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for _, k := range keys[:n/3] {
				mod.delete(t, ix, k)
			}
			for _, k := range keys[:n/6] { // re-upsert deleted keys
				mod.upsert(t, ix, k, next(), 7, 1000+len(targets))
			}
			for _, k := range keys[n/3 : n/3+n/10] { // replace live keys in place
				mod.upsert(t, ix, k, next(), 8, 2000+len(targets))
			}
			live := ix.Keys()
			for i := range 100 { // more duplicates, some of replaced vectors
				src := mod[live[r.IntN(len(live))]]
				mod.upsert(t, ix, fmt.Sprintf("d%03d", i), src.vec, 9, i)
			}
			check("mutated")
		})
	}
}

// TestSearchTiesBrokenByKey: a group of identical best vectors, inserted
// in shuffled key order and spread over chunk boundaries, is returned in
// key order, and a k that cuts through the group keeps the smallest keys.
func TestSearchTiesBrokenByKey(t *testing.T) {
	r := newRand(7)
	const dim = 20
	for _, m := range allMetrics {
		ix := New(dim, m)
		q := randVec(r, dim)
		best := slices.Clone(q) // best under every metric among the others
		for i := range best {
			best[i] *= 4
		}
		if m == Euclidean {
			best = slices.Clone(q)
		}
		var dupKeys []string
		for _, i := range r.Perm(400) {
			key := fmt.Sprintf("x%04d", i)
			vec := randVec(r, dim)
			for j := range vec {
				vec[j] *= 0.05 // far below the duplicates' score
			}
			if i%8 == 0 {
				vec = best
				dupKeys = append(dupKeys, key)
			}
			must(t, ix.Upsert(key, vec, 0, i))
		}
		slices.Sort(dupKeys)
		for _, cfg := range searchConfigs {
			cfg.with(func() {
				for _, k := range []int{1, 7, len(dupKeys), len(dupKeys) + 3} {
					hits, err := ix.Search(q, k, nil, nil)
					must(t, err)
					want := dupKeys[:min(k, len(dupKeys))]
					if got := hitKeys(hits)[:len(want)]; !slices.Equal(got, want) {
						t.Fatalf("%v/%s/k=%d: got %v, want %v", m, cfg.name, k, got, want)
					}
					for _, h := range hits[:len(want)] {
						if h.Score != hits[0].Score {
							t.Fatalf("%v/%s: duplicates scored differently: %v", m, cfg.name, hits)
						}
					}
					if len(hits) > len(want) && hits[len(want)].Score >= hits[0].Score {
						t.Fatalf("%v/%s: non-duplicate ties the duplicates: %v", m, cfg.name, hits)
					}
				}
			})
		}
	}
}

func TestSearchZeroVectorsCosine(t *testing.T) {
	ix := New(4, Cosine)
	zero := make([]float32, 4)
	for _, k := range []string{"z3", "z1", "z2"} {
		must(t, ix.Upsert(k, zero, 0, nil))
	}
	must(t, ix.Upsert("pos", []float32{1, 2, 3, 4}, 0, nil))
	must(t, ix.Upsert("neg", []float32{-1, -2, -3, -4}, 0, nil))

	hits, err := ix.Search([]float32{1, 2, 3, 4}, 10, nil, nil)
	must(t, err)
	wantKeys := []string{"pos", "z1", "z2", "z3", "neg"}
	wantScores := []float32{1, 0, 0, 0, -1}
	if !slices.Equal(hitKeys(hits), wantKeys) {
		t.Fatalf("keys %v, want %v", hitKeys(hits), wantKeys)
	}
	for i, h := range hits {
		// Parallel vectors score ±1 up to rounding; zero vectors exactly 0.
		if math.Abs(float64(h.Score-wantScores[i])) > 1e-6 || (wantScores[i] == 0 && h.Score != 0) {
			t.Errorf("hit %s score %v, want %v", h.Key, h.Score, wantScores[i])
		}
	}
	// A zero query scores 0 against everything, so all tie: key order.
	hits, err = ix.Search(zero, 10, nil, nil)
	must(t, err)
	if !slices.Equal(hitKeys(hits), []string{"neg", "pos", "z1", "z2", "z3"}) {
		t.Fatalf("zero query keys %v", hitKeys(hits))
	}
	for _, h := range hits {
		if h.Score != 0 {
			t.Errorf("zero query: %s scored %v", h.Key, h.Score)
		}
	}
}

func TestSearchErrorsAndEdgeCases(t *testing.T) {
	ix := New(3, Cosine)
	for i := range 5 {
		must(t, ix.Upsert(keyOf(i), []float32{float32(i), 1, 0}, 0, i))
	}
	for _, q := range [][]float32{nil, {1, 2}, {1, 2, 3, 4}} {
		hits, err := ix.Search(q, 3, nil, nil)
		if !errors.Is(err, ErrDimension) || hits != nil {
			t.Errorf("Search(dim %d) = %v, %v; want ErrDimension", len(q), hits, err)
		}
		if want := fmt.Sprintf("want 3, got %d", len(q)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Search(dim %d) error %q does not say %q", len(q), err, want)
		}
	}
	for _, q := range [][]float32{{float32(math.NaN()), 0, 0}, {0, float32(math.Inf(-1)), 0}, {3e19, 3e19, 3e19}} {
		if _, err := ix.Search(q, 3, nil, nil); !errors.Is(err, ErrNonFinite) {
			t.Errorf("Search(%v) error %v, want ErrNonFinite", q, err)
		}
	}
	// A wrong-dimension query is an error even when k <= 0.
	if _, err := ix.Search([]float32{1}, 0, nil, nil); !errors.Is(err, ErrDimension) {
		t.Errorf("Search(k=0, wrong dim) error %v", err)
	}
	q := []float32{1, 1, 1}
	for _, k := range []int{0, -1, math.MinInt} {
		if hits, err := ix.Search(q, k, nil, nil); hits != nil || err != nil {
			t.Errorf("Search(k=%d) = %v, %v; want nil, nil", k, hits, err)
		}
	}
	if hits, err := ix.Search(q, math.MaxInt, nil, nil); err != nil || len(hits) != 5 {
		t.Errorf("Search(k=MaxInt) = %d hits, %v", len(hits), err)
	}
	if hits, err := ix.Search(q, 3, func(string, any) bool { return false }, nil); hits != nil || err != nil {
		t.Errorf("Search with reject-all filter = %v, %v", hits, err)
	}
	if hits, err := ix.Search(q, 3, nil, func(string) bool { return true }); hits != nil || err != nil {
		t.Errorf("Search with exclude-all = %v, %v", hits, err)
	}
	hits, err := ix.Search(q, 10, func(_ string, p any) bool { return p.(int) >= 2 }, func(k string) bool { return k == keyOf(3) })
	must(t, err)
	if got := hitKeys(hits); !slices.Equal(got, []string{keyOf(2), keyOf(4)}) {
		// cos((2,1,0),(1,1,1)) > cos((4,1,0),(1,1,1))
		t.Errorf("filtered hits %v", got)
	}
}

// TestSearchScoresMatchScoreOf: Search reports exactly the score ScoreOf
// computes, so callers can merge their own scored vectors consistently.
func TestSearchScoresMatchScoreOf(t *testing.T) {
	r := newRand(9)
	for _, m := range allMetrics {
		for _, dim := range []int{1, 3, 16, 17, 384} {
			ix := New(dim, m)
			vecs := map[string][]float32{}
			for i := range 50 {
				v := randVec(r, dim)
				vecs[keyOf(i)] = v
				must(t, ix.Upsert(keyOf(i), v, 0, nil))
			}
			q := randVec(r, dim)
			for _, cfg := range searchConfigs {
				cfg.with(func() {
					hits, err := ix.Search(q, 50, nil, nil)
					must(t, err)
					for _, h := range hits {
						if want := ScoreOf(m, q, vecs[h.Key]); h.Score != want {
							t.Fatalf("%v dim %d %s: %s scored %v, ScoreOf %v", m, dim, cfg.name, h.Key, h.Score, want)
						}
					}
				})
			}
		}
	}
}

func TestSearchCallbacks(t *testing.T) {
	r := newRand(11)
	ix := New(8, Euclidean)
	for i := range 1000 {
		must(t, ix.Upsert(keyOf(i), randVec(r, 8), 0, i))
	}
	for _, cfg := range searchConfigs {
		cfg.with(func() {
			var mu sync.Mutex
			excluded, filtered := map[string]int{}, map[string]int{}
			_, err := ix.Search(randVec(r, 8), 5,
				func(k string, p any) bool {
					mu.Lock()
					defer mu.Unlock()
					filtered[k]++
					if p.(int)%10 == 0 {
						t.Errorf("%s: filter called for excluded key %s", cfg.name, k)
					}
					return true
				},
				func(k string) bool {
					mu.Lock()
					defer mu.Unlock()
					excluded[k]++
					_, _, p, _ := ix.Get(k)
					return p.(int)%10 == 0
				})
			must(t, err)
			if len(excluded) != 1000 || len(filtered) != 900 {
				t.Errorf("%s: exclude saw %d keys, filter %d", cfg.name, len(excluded), len(filtered))
			}
			for k, c := range excluded {
				if c != 1 || filtered[k] > 1 {
					t.Fatalf("%s: %s: exclude called %d times, filter %d", cfg.name, k, c, filtered[k])
				}
			}
		})
	}
}

func TestSearchCallbackPanicPropagates(t *testing.T) {
	ix := New(2, DotProduct)
	for i := range 100 {
		must(t, ix.Upsert(keyOf(i), []float32{float32(i), 1}, 0, nil))
	}
	for _, cfg := range searchConfigs {
		cfg.with(func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("%s: recovered %v, want boom", cfg.name, r)
				}
			}()
			ix.Search([]float32{1, 1}, 3, func(k string, _ any) bool {
				if k == keyOf(77) {
					panic("boom")
				}
				return true
			}, nil)
			t.Errorf("%s: Search did not panic", cfg.name)
		})
	}
}

func TestSearchWorkers(t *testing.T) {
	small := New(384, Cosine)
	big := New(384, Cosine)
	v := randVec(newRand(1), 384)
	for i := range parallelThreshold/384 + 1 {
		if i < 10 {
			must(t, small.Upsert(keyOf(i), v, 0, nil))
		}
		must(t, big.Upsert(keyOf(i), v, 0, nil))
	}
	if w := small.workers(); w != 1 {
		t.Errorf("small index uses %d workers", w)
	}
	if w, want := big.workers(), runtime.GOMAXPROCS(0); w != want {
		t.Errorf("large index uses %d workers, want GOMAXPROCS=%d", w, want)
	}
	searchConfig{threshold: 0, workers: 50, stream: streamThreshold}.with(func() {
		if w := small.workers(); w != 10 {
			t.Errorf("workers capped at Len: got %d, want 10", w)
		}
	})
}

// TestSearchConcurrentReaders runs searches from several goroutines at
// once; under -race this verifies that Search does not write to the index.
func TestSearchConcurrentReaders(t *testing.T) {
	r := newRand(12)
	ix := New(16, Cosine)
	for i := range 3000 {
		must(t, ix.Upsert(keyOf(i), randVec(r, 16), uint64(i), i))
	}
	q := randVec(r, 16)
	var calls atomic.Int64
	filter := func(_ string, p any) bool { calls.Add(1); return p.(int)%3 != 0 }
	searchConfig{threshold: 0, workers: 3, stream: 0}.with(func() {
		want, err := ix.Search(q, 20, filter, nil)
		must(t, err)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5 {
					got, err := ix.Search(q, 20, filter, nil)
					if err != nil || !slices.Equal(got, want) {
						t.Errorf("concurrent Search differs: %v", err)
					}
				}
			})
		}
		wg.Wait()
	})
	if calls.Load() != 21*3000 {
		t.Errorf("filter called %d times, want %d", calls.Load(), 21*3000)
	}
}
