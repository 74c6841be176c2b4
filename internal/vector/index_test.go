package vector

import (
	"errors"
	"maps"
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestNewPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"dim 0":          func() { New(0, Cosine) },
		"dim -1":         func() { New(-1, Euclidean) },
		"metric 0":       func() { New(4, 0) },
		"metric 4":       func() { New(4, 4) },
		"metric invalid": func() { New(4, Metric(200)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with %s did not panic", name)
				}
			}()
			f()
		}()
	}
	ix := New(7, DotProduct)
	if ix.Dim() != 7 || ix.Metric() != DotProduct || ix.Len() != 0 || len(ix.Keys()) != 0 {
		t.Errorf("new index: dim %d metric %v len %d keys %v", ix.Dim(), ix.Metric(), ix.Len(), ix.Keys())
	}
}

func TestIndexBasics(t *testing.T) {
	ix := New(3, Cosine)
	in := []float32{1, 2, 3}
	must(t, ix.Upsert("b", in, 5, "pb"))
	in[0] = 99 // Upsert copied the vector
	must(t, ix.Upsert("a", []float32{0, 0, 1}, 6, nil))
	must(t, ix.Upsert("c", []float32{0, 1, 0}, 7, 42))

	vec, ver, p, ok := ix.Get("b")
	if !ok || !slices.Equal(vec, []float32{1, 2, 3}) || ver != 5 || p != "pb" {
		t.Fatalf("Get(b) = %v %d %v %v", vec, ver, p, ok)
	}
	vec[1] = -1 // Get returned a copy
	if v, _, _, _ := ix.Get("b"); v[1] != 2 {
		t.Fatal("Get did not return a copy")
	}
	if _, _, _, ok := ix.Get("zz"); ok {
		t.Fatal("Get of a missing key reported ok")
	}
	if got := ix.Keys(); !slices.Equal(got, []string{"a", "b", "c"}) || ix.Len() != 3 {
		t.Fatalf("Keys %v Len %d", got, ix.Len())
	}

	// Replace in place: same slot, new vector, norm, version and payload.
	slot := ix.slots["b"]
	must(t, ix.Upsert("b", []float32{0, 0, -2}, 8, "pb2"))
	if ix.slots["b"] != slot || ix.Len() != 3 {
		t.Fatal("Upsert of an existing key moved it")
	}
	if vec, ver, p, _ := ix.Get("b"); !slices.Equal(vec, []float32{0, 0, -2}) || ver != 8 || p != "pb2" {
		t.Fatalf("after replace Get(b) = %v %d %v", vec, ver, p)
	}
	checkInvariants(t, ix)
	hits, err := ix.Search([]float32{0, 0, 1}, 3, nil, nil)
	must(t, err)
	if got := hitKeys(hits); !slices.Equal(got, []string{"a", "c", "b"}) || hits[2].Score != -1 || hits[0].Payload != nil || hits[1].Payload != 42 {
		t.Fatalf("Search after replace = %+v", hits)
	}

	// Delete the first slot: the last one moves into it.
	if !ix.Delete("b") || ix.Delete("b") || ix.Delete("nope") {
		t.Fatal("Delete results wrong")
	}
	checkInvariants(t, ix)
	if ix.Len() != 2 || !slices.Equal(ix.Keys(), []string{"a", "c"}) {
		t.Fatalf("after delete: len %d keys %v", ix.Len(), ix.Keys())
	}
	if cap(ix.payloads) > 2 && ix.payloads[:3][2] != nil {
		t.Fatal("Delete kept a reference to the vacated payload")
	}
	if v, ver, p, ok := ix.Get("c"); !ok || !slices.Equal(v, []float32{0, 1, 0}) || ver != 7 || p != 42 {
		t.Fatalf("moved slot Get(c) = %v %d %v %v", v, ver, p, ok)
	}
	// Delete the last slot.
	if !ix.Delete("c") {
		t.Fatal("Delete(c) = false")
	}
	checkInvariants(t, ix)

	ix.Grow(100)
	if cap(ix.data) < 100*3 || cap(ix.keys) < 100 {
		t.Fatalf("Grow: cap data %d keys %d", cap(ix.data), cap(ix.keys))
	}
	must(t, ix.Upsert("d", []float32{1, 1, 1}, 1, nil))
	ix.Clear()
	checkInvariants(t, ix)
	if ix.Len() != 0 || len(ix.Keys()) != 0 {
		t.Fatal("Clear left entries")
	}
	if hits, err := ix.Search([]float32{1, 1, 1}, 5, nil, nil); err != nil || hits != nil {
		t.Fatalf("Search of empty index = %v, %v", hits, err)
	}
	must(t, ix.Upsert("a", []float32{1, 0, 0}, 1, nil))
	checkInvariants(t, ix)
}

func TestUpsertRejectsInvalidVectors(t *testing.T) {
	ix := New(3, Euclidean)
	must(t, ix.Upsert("keep", []float32{1, 2, 3}, 1, "p"))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		vec  []float32
		want error
	}{
		{nil, ErrDimension},
		{[]float32{1, 2}, ErrDimension},
		{[]float32{1, 2, 3, 4}, ErrDimension},
		{[]float32{1, nan, 3}, ErrNonFinite},
		{[]float32{inf, 0, 0}, ErrNonFinite},
		{[]float32{0, 0, -inf}, ErrNonFinite},
		{[]float32{3e19, 3e19, 0}, ErrNonFinite}, // squared length overflows
	} {
		for _, key := range []string{"keep", "new"} {
			err := ix.Upsert(key, tc.vec, 9, "x")
			if !errors.Is(err, tc.want) {
				t.Errorf("Upsert(%q, %v) error %v, want %v", key, tc.vec, err, tc.want)
			}
		}
	}
	err := ix.Upsert("new", []float32{1}, 0, nil)
	if err == nil || err.Error() != "vector: dimension mismatch: want 3, got 1" {
		t.Errorf("dimension error text %q", err)
	}
	checkInvariants(t, ix)
	if v, ver, p, ok := ix.Get("keep"); ix.Len() != 1 || !ok || !slices.Equal(v, []float32{1, 2, 3}) || ver != 1 || p != "p" {
		t.Errorf("failed Upserts changed the index: %v %v %v %v", v, ver, p, ok)
	}
}

// TestIndexStateMachine checks Upsert, Delete, Get, Len, Keys and an
// unfiltered full Search against a map model.
func TestIndexStateMachine(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const dim = 3
		metric := rapid.SampledFrom([]Metric{Cosine, Euclidean, DotProduct}).Draw(rt, "metric")
		ix := New(dim, metric)
		model := map[string]entry{}
		keyGen := rapid.SampledFrom([]string{"", "a", "b", "c", "d", "e", "f", "g", "h", "ab"})
		vecGen := rapid.SliceOfN(rapid.Float32Range(-4, 4), dim, dim)

		rt.Repeat(map[string]func(*rapid.T){
			"upsert": func(rt *rapid.T) {
				k := keyGen.Draw(rt, "key")
				v := vecGen.Draw(rt, "vec")
				ver := rapid.Uint64().Draw(rt, "version")
				p := rapid.Int().Draw(rt, "payload")
				if err := ix.Upsert(k, v, ver, p); err != nil {
					rt.Fatalf("Upsert: %v", err)
				}
				model[k] = entry{k, slices.Clone(v), ver, p}
			},
			"upsertWrongDim": func(rt *rapid.T) {
				k := keyGen.Draw(rt, "key")
				v := rapid.SliceOfN(rapid.Float32Range(-4, 4), 0, 5).Filter(func(v []float32) bool { return len(v) != dim }).Draw(rt, "vec")
				if err := ix.Upsert(k, v, 1, nil); !errors.Is(err, ErrDimension) {
					rt.Fatalf("Upsert of dim %d: %v", len(v), err)
				}
			},
			"delete": func(rt *rapid.T) {
				k := keyGen.Draw(rt, "key")
				_, want := model[k]
				if got := ix.Delete(k); got != want {
					rt.Fatalf("Delete(%q) = %v, want %v", k, got, want)
				}
				delete(model, k)
			},
			"get": func(rt *rapid.T) {
				k := keyGen.Draw(rt, "key")
				v, ver, p, ok := ix.Get(k)
				e, want := model[k]
				if ok != want || (ok && (!slices.Equal(v, e.vec) || ver != e.version || p != e.payload)) {
					rt.Fatalf("Get(%q) = %v %d %v %v, model %+v %v", k, v, ver, p, ok, e, want)
				}
			},
			"searchAll": func(rt *rapid.T) {
				q := vecGen.Draw(rt, "query")
				hits, err := ix.Search(q, len(model)+rapid.IntRange(0, 2).Draw(rt, "extra"), nil, nil)
				if err != nil {
					rt.Fatal(err)
				}
				if len(hits) != len(model) || !slices.IsSortedFunc(hits, CompareHits) {
					rt.Fatalf("Search returned %d hits for %d entries: %v", len(hits), len(model), hits)
				}
				for _, h := range hits {
					e, ok := model[h.Key]
					if !ok || h.Version != e.version || h.Payload != e.payload || h.Score != ScoreOf(metric, q, e.vec) {
						rt.Fatalf("hit %+v does not match model %+v", h, e)
					}
				}
			},
			"": func(rt *rapid.T) {
				checkInvariants(rt, ix)
				if ix.Len() != len(model) {
					rt.Fatalf("Len %d, model %d", ix.Len(), len(model))
				}
				if got, want := ix.Keys(), slices.Sorted(maps.Keys(model)); !slices.Equal(got, want) {
					rt.Fatalf("Keys %q, model %q", got, want)
				}
			},
		})
	})
}
