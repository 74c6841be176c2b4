package vector

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// randVec returns a vector of standard normal components.
func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// refDot and friends are float64 references for the float32 kernels.
func refDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func refSquaredL2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func refNorm(a []float32) float64 { return math.Sqrt(refDot(a, a)) }

// refScore returns the float64 reference score of stored vector v for
// query q, and the magnitude against which float32 rounding error is
// measured (the sum of absolute terms, which bounds cancellation).
func refScore(m Metric, q, v []float32) (score, scale float64) {
	var abs float64
	for i := range q {
		abs += math.Abs(float64(q[i]) * float64(v[i]))
	}
	switch m {
	case Cosine:
		nq, nv := refNorm(q), refNorm(v)
		if nq == 0 || nv == 0 {
			return 0, 1
		}
		return refDot(q, v) / (nq * nv), max(1, abs/(nq*nv))
	case Euclidean:
		d := math.Sqrt(refSquaredL2(q, v))
		return -d, max(1, d)
	case DotProduct:
		return refDot(q, v), max(1, abs)
	}
	panic("bad metric")
}

// scoreTol is the allowed difference between a float32 score and its
// float64 reference, relative to the reference's error scale.
const scoreTol = 1e-5

// entry is one stored vector in a test model.
type entry struct {
	key     string
	vec     []float32
	version uint64
	payload any
}

// refHit is a reference search result.
type refHit struct {
	key     string
	score   float64
	scale   float64
	version uint64
	payload any
}

// refSearch is a float64 brute-force reference for Index.Search: score
// every qualifying entry and sort by score descending, then key ascending.
// It returns all qualifying hits; the caller takes the top k.
func refSearch(m Metric, entries map[string]entry, q []float32, filter func(string, any) bool, exclude func(string) bool) []refHit {
	var hits []refHit
	for _, e := range entries {
		if exclude != nil && exclude(e.key) {
			continue
		}
		if filter != nil && !filter(e.key, e.payload) {
			continue
		}
		s, sc := refScore(m, q, e.vec)
		hits = append(hits, refHit{e.key, s, sc, e.version, e.payload})
	}
	slices.SortFunc(hits, func(a, b refHit) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return hits
}

// nearTie reports the first adjacent pair among the reference's top k+1
// hits whose scores differ, but by so little that float32 rounding could
// order them either way. Exactly equal scores (duplicate vectors) are
// real ties, ordered by key in both the reference and the index, and are
// not near-ties.
func nearTie(ref []refHit, k int) (string, bool) {
	for i := 1; i < min(k+1, len(ref)); i++ {
		a, b := ref[i-1], ref[i]
		if a.score == b.score {
			continue
		}
		if a.score-b.score <= 4*scoreTol*max(a.scale, b.scale) {
			return fmt.Sprintf("%s=%v and %s=%v", a.key, a.score, b.key, b.score), true
		}
	}
	return "", false
}

// checkHits compares Search results with the reference top k: keys,
// versions and payloads exactly, scores within tolerance.
func checkHits(t *testing.T, label string, got []Hit, ref []refHit, k int) {
	t.Helper()
	want := ref[:min(k, len(ref))]
	if len(got) != len(want) {
		t.Fatalf("%s: got %d hits, want %d\ngot  %v\nwant %v", label, len(got), len(want), hitKeys(got), refKeys(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Key != w.key {
			t.Fatalf("%s: hit %d key %q, want %q\ngot  %v\nwant %v", label, i, g.Key, w.key, hitKeys(got), refKeys(want))
		}
		if math.IsNaN(float64(g.Score)) || math.Abs(float64(g.Score)-w.score) > scoreTol*w.scale {
			t.Fatalf("%s: hit %d (%s) score %v, want %v (scale %v)", label, i, g.Key, g.Score, w.score, w.scale)
		}
		if g.Version != w.version || g.Payload != w.payload {
			t.Fatalf("%s: hit %d (%s) version/payload %v/%v, want %v/%v", label, i, g.Key, g.Version, g.Payload, w.version, w.payload)
		}
		if i > 0 && CompareHits(got[i-1], g) >= 0 {
			t.Fatalf("%s: hits %d and %d out of order: %+v, %+v", label, i-1, i, got[i-1], g)
		}
	}
}

func hitKeys(h []Hit) []string {
	out := make([]string, len(h))
	for i := range h {
		out[i] = h[i].Key
	}
	return out
}

func refKeys(h []refHit) []string {
	out := make([]string, len(h))
	for i := range h {
		out[i] = h[i].key
	}
	return out
}

// searchConfig overrides the scan tuning knobs.
type searchConfig struct {
	name                       string
	threshold, workers, stream int
}

// with runs f with the configuration's overrides, restoring the defaults
// afterwards.
func (c searchConfig) with(f func()) {
	oldT, oldW, oldS := parallelThreshold, searchWorkers, streamThreshold
	parallelThreshold, searchWorkers, streamThreshold = c.threshold, c.workers, c.stream
	defer func() { parallelThreshold, searchWorkers, streamThreshold = oldT, oldW, oldS }()
	f()
}

// searchConfigs are the scan configurations every search test runs under:
// sequential and parallel with even and uneven splits, each with filtered
// runs skipping or scored whole (see scan).
var searchConfigs = []searchConfig{
	{"sequential", math.MaxInt, 0, math.MaxInt},
	{"sequential-stream", math.MaxInt, 0, 0},
	{"parallel-gomaxprocs", 0, 0, math.MaxInt},
	{"parallel-2-stream", 0, 2, 0},
	{"parallel-3", 0, 3, math.MaxInt},
	{"parallel-7-stream", 0, 7, 0},
}

// fataler is the part of testing.TB and *rapid.T that checkInvariants uses.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkInvariants verifies the index's internal layout.
func checkInvariants(t fataler, ix *Index) {
	t.Helper()
	n := len(ix.keys)
	if len(ix.data) != n*ix.dim || len(ix.norms) != n || len(ix.versions) != n || len(ix.payloads) != n || len(ix.slots) != n {
		t.Fatalf("inconsistent lengths: data %d keys %d norms %d versions %d payloads %d slots %d (dim %d)",
			len(ix.data), n, len(ix.norms), len(ix.versions), len(ix.payloads), len(ix.slots), ix.dim)
	}
	for i, k := range ix.keys {
		if s, ok := ix.slots[k]; !ok || s != i {
			t.Fatalf("slot map: key %q at slot %d maps to %d (ok=%v)", k, i, s, ok)
		}
		if got, want := ix.norms[i], Norm(ix.data[i*ix.dim:(i+1)*ix.dim]); got != want {
			t.Fatalf("slot %d (%q): stored norm %v, want %v", i, k, got, want)
		}
	}
}

func keyOf(i int) string { return fmt.Sprintf("k%05d", i) }
