package inmem_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

type refVec struct {
	key  string
	vec  []float32
	meta inmem.Value
}

// refSearch is the float64 brute-force reference.
func refSearch(metric inmem.Metric, vecs []refVec, q []float32, k int, filter inmem.Filter) []string {
	type scored struct {
		key   string
		score float64
	}
	var all []scored
	for _, v := range vecs {
		if !filter.Matches(v.meta) {
			continue
		}
		var dot, qq, vv, sq float64
		for i := range q {
			a, b := float64(q[i]), float64(v.vec[i])
			dot += a * b
			qq += a * a
			vv += b * b
			sq += (a - b) * (a - b)
		}
		var s float64
		switch metric {
		case inmem.Cosine:
			if qq > 0 && vv > 0 {
				s = dot / math.Sqrt(qq*vv)
			}
		case inmem.DotProduct:
			s = dot
		case inmem.Euclidean:
			s = -math.Sqrt(sq)
		}
		all = append(all, scored{v.key, s})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].key < all[j].key
	})
	var out []string
	for i := 0; i < len(all) && i < k; i++ {
		out = append(out, all[i].key)
	}
	return out
}

func hitKeys(hits []inmem.VectorHit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Key)
	}
	return out
}

func TestVectors_SearchMatchesReference(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	r := rand.New(rand.NewPCG(1, 2))
	const dim = 16
	for _, metric := range []inmem.Metric{inmem.Cosine, inmem.Euclidean, inmem.DotProduct} {
		coll := metric.String()
		if _, err := db.Vectors().CreateCollection(ctx, run, coll, dim, metric); err != nil {
			t.Fatal(err)
		}
		var ref []refVec
		for i := range 600 {
			v := randVec(r, dim)
			meta := inmem.MustValue(map[string]any{"group": int64(i % 3), "name": fmt.Sprint("n", i%5)})
			key := fmt.Sprintf("v%04d", i)
			if _, err := db.Vectors().Upsert(ctx, run, coll, key, v, meta); err != nil {
				t.Fatal(err)
			}
			ref = append(ref, refVec{key, v, meta})
		}
		// Delete some and re-upsert some.
		for i := 0; i < 600; i += 7 {
			key := fmt.Sprintf("v%04d", i)
			if _, err := db.Vectors().Delete(ctx, run, coll, key); err != nil {
				t.Fatal(err)
			}
			ref = slices.DeleteFunc(ref, func(x refVec) bool { return x.key == key })
		}
		for _, filter := range []inmem.Filter{nil, {inmem.Eq("group", inmem.Int(1))}, {inmem.Eq("group", inmem.Int(2)), {Field: "name", Op: inmem.OpNe, Value: inmem.String("n1")}}} {
			for _, k := range []int{1, 10, 1000} {
				q := randVec(r, dim)
				hits, err := db.Vectors().Search(ctx, run, coll, q, k, filter)
				if err != nil {
					t.Fatal(err)
				}
				want := refSearch(metric, ref, q, k, filter)
				if !slices.Equal(hitKeys(hits), want) {
					t.Fatalf("%s k=%d filter=%v:\n got %v\nwant %v", metric, k, filter, hitKeys(hits), want)
				}
				for i := 1; i < len(hits); i++ {
					if hits[i].Score > hits[i-1].Score {
						t.Fatal("hits not sorted by score")
					}
				}
			}
		}
		n, _ := db.Vectors().Count(ctx, run, coll)
		if n != len(ref) {
			t.Fatalf("Count = %d, want %d", n, len(ref))
		}
	}
	if indexed, scanned := inmem.VectorSearchPaths(db); indexed == 0 || scanned != 0 {
		t.Fatalf("searches at the newest snapshot should use the index: %d indexed, %d scanned", indexed, scanned)
	}
}

func TestVectors_TiesBrokenByKey(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	db.Vectors().CreateCollection(ctx, run, "c", 3, inmem.Cosine)
	for _, k := range []string{"d", "b", "a", "c"} {
		db.Vectors().Upsert(ctx, run, "c", k, []float32{1, 2, 3}, inmem.Null())
	}
	hits, err := db.Vectors().Search(ctx, run, "c", []float32{1, 2, 3}, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hitKeys(hits), []string{"a", "b", "c"}) {
		t.Fatalf("ties = %v", hitKeys(hits))
	}
}

// A search inside a transaction sees the transaction's snapshot and its own
// writes; vector writes roll back with the transaction.
func TestVectors_TransactionalSearch(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	vs := db.Vectors()
	vs.CreateCollection(ctx, run, "mem", 2, inmem.DotProduct)
	vs.Upsert(ctx, run, "mem", "old", []float32{1, 0}, inmem.Null())
	vs.Upsert(ctx, run, "mem", "gone", []float32{0.9, 0}, inmem.Null())

	reader, _ := db.Begin(ctx, run, false)
	defer reader.Rollback()
	// Committed after the reader's snapshot: invisible to it.
	vs.Upsert(ctx, run, "mem", "new", []float32{5, 0}, inmem.Null())
	vs.Upsert(ctx, run, "mem", "old", []float32{-1, 0}, inmem.Null())
	vs.Delete(ctx, run, "mem", "gone")
	hits, err := reader.Vectors().Search("mem", []float32{1, 0}, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hitKeys(hits), []string{"old", "gone"}) || hits[0].Score != 1 {
		t.Fatalf("old snapshot sees %v %v", hitKeys(hits), hits)
	}

	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.Vectors().Upsert("mem", "mine", []float32{10, 0}, inmem.Null()); err != nil {
			return err
		}
		if err := tx.Vectors().Delete("mem", "new"); err != nil {
			return err
		}
		hits, err := tx.Vectors().Search("mem", []float32{1, 0}, 10, nil)
		if err != nil {
			return err
		}
		if !slices.Equal(hitKeys(hits), []string{"mine", "old"}) {
			return fmt.Errorf("own writes: %v", hitKeys(hits))
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}
	hits, _ = vs.Search(ctx, run, "mem", []float32{1, 0}, 10, nil)
	if !slices.Equal(hitKeys(hits), []string{"new", "old"}) {
		t.Fatalf("after rollback: %v", hitKeys(hits))
	}
}

// Concurrent writers and searchers: every search result equals a brute force
// over the state at the searcher's snapshot.
func TestVectors_ConcurrentSearchesExact(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	vs := db.Vectors()
	const dim = 8
	vs.CreateCollection(ctx, run, "c", dim, inmem.Euclidean)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 1500 {
				key := fmt.Sprintf("k%03d", r.IntN(300))
				if i%5 == 0 {
					vs.Delete(ctx, run, "c", key)
				} else if _, err := vs.Upsert(ctx, run, "c", key, randVec(r, dim), inmem.Null()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(5, 5))
	for range 200 {
		q := randVec(r, dim)
		err := db.View(ctx, run, func(tx *inmem.Tx) error {
			hits, err := tx.Vectors().Search("c", q, 5, nil)
			if err != nil {
				return err
			}
			var ref []refVec
			keys := []string{}
			for i := range 300 {
				key := fmt.Sprintf("k%03d", i)
				e, err := tx.Vectors().Get("c", key)
				if err != nil {
					continue
				}
				keys = append(keys, key)
				ref = append(ref, refVec{key, e.Value.Embedding, inmem.Null()})
			}
			if want := refSearch(inmem.Euclidean, ref, q, 5, nil); !slices.Equal(hitKeys(hits), want) {
				return fmt.Errorf("search %v, reference %v", hitKeys(hits), want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// The index is derived: after recovery (from the WAL and from a snapshot)
// searches return the same results.
func TestVectors_IndexRebuiltOnRecovery(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	run := inmem.NewRunID()
	r := rand.New(rand.NewPCG(3, 3))
	db.Vectors().CreateCollection(ctx, run, "c", 4, inmem.Cosine)
	for i := range 200 {
		db.Vectors().Upsert(ctx, run, "c", fmt.Sprint("k", i), randVec(r, 4), inmem.MustValue(map[string]any{"i": int64(i % 4)}))
		if i == 120 {
			db.Checkpoint(ctx)
		}
	}
	q := randVec(r, 4)
	want, _ := db.Vectors().Search(ctx, run, "c", q, 7, inmem.Filter{inmem.Eq("i", inmem.Int(2))})
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	defer db.Close()
	got, err := db.Vectors().Search(ctx, run, "c", q, 7, inmem.Filter{inmem.Eq("i", inmem.Int(2))})
	if err != nil || !slices.Equal(hitKeys(got), hitKeys(want)) || len(got) != 7 {
		t.Fatalf("after recovery %v (%v), before %v", hitKeys(got), err, hitKeys(want))
	}
}

func TestVectors_CollectionsAndBadInput(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	vs := db.Vectors()
	if _, err := vs.CreateCollection(ctx, run, "c", 3, inmem.Cosine); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.CreateCollection(ctx, run, "c", 3, inmem.Cosine); !errors.Is(err, inmem.ErrAlreadyExists) {
		t.Fatalf("duplicate collection: %v", err)
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"dim 0", func() error { _, err := vs.CreateCollection(ctx, run, "z", 0, inmem.Cosine); return err }()},
		{"dim too big", func() error { _, err := vs.CreateCollection(ctx, run, "z", 9000, inmem.Cosine); return err }()},
		{"bad metric", func() error { _, err := vs.CreateCollection(ctx, run, "z", 3, 9); return err }()},
		{"bad name", func() error { _, err := vs.CreateCollection(ctx, run, "", 3, inmem.Cosine); return err }()},
		{"wrong dim", func() error { _, err := vs.Upsert(ctx, run, "c", "k", []float32{1, 2}, inmem.Null()); return err }()},
		{"NaN", func() error {
			_, err := vs.Upsert(ctx, run, "c", "k", []float32{1, float32(math.NaN()), 0}, inmem.Null())
			return err
		}()},
		{"metadata not object", func() error { _, err := vs.Upsert(ctx, run, "c", "k", []float32{1, 2, 3}, inmem.Int(1)); return err }()},
		{"query dim", func() error { _, err := vs.Search(ctx, run, "c", []float32{1}, 3, nil); return err }()},
		{"negative k", func() error { _, err := vs.Search(ctx, run, "c", []float32{1, 2, 3}, -1, nil); return err }()},
		{"bad filter", func() error {
			_, err := vs.Search(ctx, run, "c", []float32{1, 2, 3}, 3, inmem.Filter{{Field: "x", Op: inmem.OpIn, Value: inmem.Int(1)}})
			return err
		}()},
	} {
		if !errors.Is(c.err, inmem.ErrInvalidArgument) && !errors.Is(c.err, inmem.ErrInvalidKey) {
			t.Errorf("%s: %v, want a typed InvalidArgument", c.name, c.err)
		}
	}
	if _, err := vs.Upsert(ctx, run, "nope", "k", []float32{1, 2, 3}, inmem.Null()); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("upsert into a missing collection: %v", err)
	}
	if _, err := vs.Delete(ctx, run, "c", "missing"); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
	v1, _ := vs.Upsert(ctx, run, "c", "k", []float32{1, 2, 3}, inmem.MustValue(map[string]any{"a": "x"}))
	emb := []float32{1, 2, 3}
	v2, _ := vs.Upsert(ctx, run, "c", "k", emb, inmem.Null())
	emb[0] = 99 // the store keeps its own copy
	got, err := vs.Get(ctx, run, "c", "k")
	if err != nil || got.Version != v2 || got.Value.Embedding[0] != 1 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	old, _ := vs.GetAt(ctx, run, "c", "k", v1)
	if m, _ := old.Value.Metadata.Get("a"); !m.Equal(inmem.String("x")) {
		t.Fatalf("GetAt = %+v", old)
	}
	h, _ := vs.History(ctx, run, "c", "k")
	if len(h) != 2 || h[0].Version != v2 {
		t.Fatalf("History = %+v", h)
	}
	// Collections of the same name in two runs are independent.
	other := inmem.NewRunID()
	vs.CreateCollection(ctx, other, "c", 2, inmem.Euclidean)
	infos, _ := vs.ListCollections(ctx, other)
	if len(infos) != 1 || infos[0].Dim != 2 {
		t.Fatalf("other run's collections: %+v", infos)
	}
	// Deleting a collection deletes its vectors; it can be recreated with
	// another dimension.
	if _, err := vs.DeleteCollection(ctx, run, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := vs.Get(ctx, run, "c", "k"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("vector of a deleted collection: %v", err)
	}
	vs.CreateCollection(ctx, run, "c", 2, inmem.DotProduct)
	vs.Upsert(ctx, run, "c", "z", []float32{1, 1}, inmem.Null())
	hits, err := vs.Search(ctx, run, "c", []float32{1, 0}, 5, nil)
	if err != nil || !slices.Equal(hitKeys(hits), []string{"z"}) {
		t.Fatalf("recreated collection search: %v %v", hitKeys(hits), err)
	}
}

func TestVectors_FilterOperators(t *testing.T) {
	meta := inmem.MustValue(map[string]any{"n": int64(5), "f": 2.5, "s": "m", "tag": "a"})
	cases := []struct {
		c    inmem.Condition
		want bool
	}{
		{inmem.Eq("n", inmem.Int(5)), true},
		{inmem.Eq("n", inmem.Float(5)), false}, // no coercion in equality
		{inmem.Condition{Field: "n", Op: inmem.OpGt, Value: inmem.Float(4.5)}, true},
		{inmem.Condition{Field: "f", Op: inmem.OpLte, Value: inmem.Int(2)}, false},
		{inmem.Condition{Field: "s", Op: inmem.OpLt, Value: inmem.String("z")}, true},
		{inmem.Condition{Field: "s", Op: inmem.OpLt, Value: inmem.Int(1)}, false},
		{inmem.Condition{Field: "missing", Op: inmem.OpNe, Value: inmem.Int(1)}, true},
		{inmem.Condition{Field: "tag", Op: inmem.OpIn, Value: inmem.Array(inmem.String("b"), inmem.String("a"))}, true},
		{inmem.Condition{Field: "missing", Op: inmem.OpGte, Value: inmem.Int(0)}, false},
	}
	for _, c := range cases {
		if got := (inmem.Filter{c.c}).Matches(meta); got != c.want {
			t.Errorf("%+v: %v, want %v", c.c, got, c.want)
		}
	}
}

// Many deletions make the index forget its deletion markers; a search at a
// snapshot older than that then scans chains, and stays exact.
func TestVectors_OldSnapshotAfterPruning(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	vs := db.Vectors()
	vs.CreateCollection(ctx, run, "c", 4, inmem.DotProduct)
	r := rand.New(rand.NewPCG(8, 8))
	var ref []refVec
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		for i := range 3000 {
			v := randVec(r, 4)
			key := fmt.Sprintf("k%04d", i)
			ref = append(ref, refVec{key, v, inmem.Null()})
			if err := tx.Vectors().Upsert("c", key, v, inmem.Null()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := db.Begin(ctx, run, false)
	defer old.Rollback()
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		for i := range 2500 {
			if err := tx.Vectors().Delete("c", fmt.Sprintf("k%04d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	q := randVec(r, 4)
	if _, err := vs.Search(ctx, run, "c", q, 3, nil); err != nil { // applies and prunes
		t.Fatal(err)
	}
	_, scannedBefore := inmem.VectorSearchPaths(db)
	hits, err := old.Vectors().Search("c", q, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := refSearch(inmem.DotProduct, ref, q, 10, nil); !slices.Equal(hitKeys(hits), want) {
		t.Fatalf("old snapshot after pruning: %v, want %v", hitKeys(hits), want)
	}
	if _, scanned := inmem.VectorSearchPaths(db); scanned == scannedBefore {
		t.Fatal("the old snapshot search did not take the exact scan path")
	}
}
