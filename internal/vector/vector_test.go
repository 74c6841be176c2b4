package vector

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestMetricStringAndParse(t *testing.T) {
	for _, tc := range []struct {
		m    Metric
		name string
		num  uint8
	}{{Cosine, "cosine", 1}, {Euclidean, "euclidean", 2}, {DotProduct, "dot_product", 3}} {
		if uint8(tc.m) != tc.num {
			t.Errorf("%s = %d, want %d", tc.name, tc.m, tc.num)
		}
		if tc.m.String() != tc.name || !tc.m.Valid() {
			t.Errorf("Metric(%d).String() = %q valid=%v", tc.m, tc.m.String(), tc.m.Valid())
		}
		for _, s := range []string{tc.name, upper(tc.name)} {
			m, err := ParseMetric(s)
			if err != nil || m != tc.m {
				t.Errorf("ParseMetric(%q) = %v, %v", s, m, err)
			}
		}
	}
	for _, bad := range []string{"", "cos", "l2", "dot product", "Metric(1)"} {
		if _, err := ParseMetric(bad); !errors.Is(err, ErrUnknownMetric) {
			t.Errorf("ParseMetric(%q) error %v, want ErrUnknownMetric", bad, err)
		}
	}
	for _, m := range []Metric{0, 4, 255} {
		if m.Valid() || m.String() == "" {
			t.Errorf("Metric(%d): valid=%v string=%q", m, m.Valid(), m.String())
		}
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestScoreOf(t *testing.T) {
	a := []float32{3, 4}
	b := []float32{4, 3}
	z := []float32{0, 0}
	for _, tc := range []struct {
		m    Metric
		x, y []float32
		want float32
	}{
		{Cosine, a, a, 1},
		{Cosine, a, []float32{-6, -8}, -1},
		{Cosine, a, b, 24.0 / 25},
		{Cosine, a, z, 0},
		{Cosine, z, a, 0},
		{Cosine, z, z, 0},
		{DotProduct, a, b, 24},
		{DotProduct, a, z, 0},
		{Euclidean, a, a, 0},
		{Euclidean, a, z, -5},
		{Euclidean, z, []float32{0, -2}, -2},
	} {
		if got := ScoreOf(tc.m, tc.x, tc.y); got != tc.want {
			t.Errorf("ScoreOf(%v, %v, %v) = %v, want %v", tc.m, tc.x, tc.y, got, tc.want)
		}
	}
	// Cosine is clamped to [-1, 1] even when rounding overshoots.
	r := newRand(3)
	for range 1000 {
		v := randVec(r, 1+r.IntN(40))
		if s := ScoreOf(Cosine, v, v); s > 1 || s < 0.9999 {
			t.Fatalf("cosine of a vector with itself = %v", s)
		}
		w := slices.Clone(v)
		for i := range w {
			w[i] = -w[i]
		}
		if s := ScoreOf(Cosine, v, w); s < -1 || s > -0.9999 {
			t.Fatalf("cosine of a vector with its negation = %v", s)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("ScoreOf with invalid metric did not panic")
			}
		}()
		ScoreOf(0, a, b)
	}()
}

func TestScoresNeverNaNAtExtremes(t *testing.T) {
	// Valid vectors (finite squared length) of very large and very small
	// magnitude: float32 overflow may saturate a score but never make it
	// NaN.
	big := float32(1.3e19) // 2*big^2 is just below MaxFloat32
	vecs := [][]float32{
		{big, big}, {big, -big}, {-big, -big}, {-big, big}, {big, 0}, {0, -big},
		{1e-30, 1e-30}, {1e-45, 0}, {0, 0}, {1, 1},
	}
	for _, m := range []Metric{Cosine, Euclidean, DotProduct} {
		for _, x := range vecs {
			for _, y := range vecs {
				s := ScoreOf(m, x, y)
				if math.IsNaN(float64(s)) {
					t.Errorf("ScoreOf(%v, %v, %v) is NaN", m, x, y)
				}
				if m == Cosine && (s < -1 || s > 1) {
					t.Errorf("ScoreOf(%v, %v, %v) = %v outside [-1, 1]", m, x, y, s)
				}
			}
		}
		ix := New(2, m)
		for i, v := range vecs {
			if err := ix.Upsert(string(rune('a'+i)), v, 0, nil); err != nil {
				t.Fatalf("Upsert(%v): %v", v, err)
			}
		}
		for _, q := range vecs {
			hits, err := ix.Search(q, len(vecs), nil, nil)
			if err != nil || len(hits) != len(vecs) {
				t.Fatalf("Search(%v): %d hits, %v", q, len(hits), err)
			}
			for _, h := range hits {
				if math.IsNaN(float64(h.Score)) {
					t.Errorf("%v: Search(%v) hit %s score NaN", m, q, h.Key)
				}
			}
		}
	}
}

func TestCompareHits(t *testing.T) {
	hs := []Hit{
		{Key: "b", Score: 1}, {Key: "a", Score: 1}, {Key: "c", Score: 2},
		{Key: "a", Score: -1}, {Key: "z", Score: float32(math.Inf(-1))}, {Key: "0", Score: 0},
	}
	slices.SortFunc(hs, CompareHits)
	want := []string{"c", "a", "b", "0", "a", "z"}
	if got := hitKeys(hs); !slices.Equal(got, want) {
		t.Errorf("sorted keys %v, want %v", got, want)
	}
	if CompareHits(Hit{Key: "x", Score: 0}, Hit{Key: "x", Score: float32(math.Copysign(0, -1))}) != 0 {
		t.Error("+0 and -0 with equal keys should compare equal")
	}
}

func TestMergeHits(t *testing.T) {
	a := []Hit{{Key: "a1", Score: 0.9}, {Key: "a2", Score: 0.5}, {Key: "a3", Score: 0.1}}
	b := []Hit{{Key: "b2", Score: 0.5}, {Key: "b1", Score: 0.95}} // unsorted
	c := []Hit{{Key: "a0", Score: 0.5, Version: 7}}
	aCopy, bCopy := slices.Clone(a), slices.Clone(b)

	got := MergeHits(4, a, b, nil, c)
	want := []string{"b1", "a1", "a0", "a2"}
	if !slices.Equal(hitKeys(got), want) {
		t.Errorf("MergeHits(4) = %v, want %v", hitKeys(got), want)
	}
	if got[2].Version != 7 {
		t.Errorf("MergeHits lost the version: %+v", got[2])
	}
	if len(got) != cap(got) {
		t.Errorf("MergeHits result has spare capacity %d > %d", cap(got), len(got))
	}
	if !slices.Equal(a, aCopy) || !slices.Equal(b, bCopy) {
		t.Error("MergeHits modified its inputs")
	}
	if all := MergeHits(100, a, b, c); len(all) != 6 || !slices.IsSortedFunc(all, CompareHits) {
		t.Errorf("MergeHits(100) = %v", all)
	}
	if MergeHits(0, a) != nil || MergeHits(-1, a) != nil || MergeHits(3) != nil || MergeHits(3, nil, []Hit{}) != nil {
		t.Error("MergeHits with k <= 0 or no hits should be nil")
	}
	// Equal hits keep their input order (stable), across and within lists.
	// Versions number the hits in input order.
	r := newRand(5)
	lists := make([][]Hit, 3)
	v := uint64(0)
	for i := range lists {
		for range 200 {
			lists[i] = append(lists[i], Hit{Key: string(rune('a' + r.IntN(3))), Score: float32(r.IntN(3)), Version: v})
			v++
		}
	}
	merged := MergeHits(500, lists...)
	for i := 1; i < len(merged); i++ {
		a, b := merged[i-1], merged[i]
		if CompareHits(a, b) > 0 || (CompareHits(a, b) == 0 && a.Version > b.Version) {
			t.Fatalf("MergeHits not sorted and stable at %d: %+v, %+v", i, a, b)
		}
	}
}

func TestMergeHitsWithSearch(t *testing.T) {
	// The intended use: index hits for committed vectors, excluding the
	// keys a transaction overwrote, merged with the transaction's own
	// writes scored by ScoreOf, equal the search of an index holding the
	// transaction's view.
	r := newRand(4)
	const dim = 12
	committed := New(dim, Cosine)
	view := New(dim, Cosine)
	for i := range 200 {
		k, v := keyOf(i), randVec(r, dim)
		must(t, committed.Upsert(k, v, 1, i))
		must(t, view.Upsert(k, v, 1, i))
	}
	own := map[string][]float32{}
	for i := range 30 {
		k := keyOf(r.IntN(260)) // some overwrite committed keys, some are new
		v := randVec(r, dim)
		own[k] = v
		must(t, view.Upsert(k, v, 2, -i))
	}
	q := randVec(r, dim)
	idxHits, err := committed.Search(q, 10, nil, func(k string) bool { _, ok := own[k]; return ok })
	must(t, err)
	var ownHits []Hit
	for k, v := range own {
		_, _, p, _ := view.Get(k)
		ownHits = append(ownHits, Hit{Key: k, Score: ScoreOf(Cosine, q, v), Payload: p, Version: 2})
	}
	got := MergeHits(10, idxHits, ownHits)
	want, err := view.Search(q, 10, nil, nil)
	must(t, err)
	if !slices.Equal(got, want) {
		t.Errorf("merged %v\nwant   %v", got, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
