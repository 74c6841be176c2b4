package inmem_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// vectorDB builds an in-memory database with n random vectors of dimension
// dim in collection "c"; a quarter of them carry group "a", the rest "b".
func vectorDB(b *testing.B, n, dim int) (*inmem.DB, inmem.RunID) {
	db := openMem(b)
	run := inmem.NewRunID()
	if _, err := db.Vectors().CreateCollection(ctx, run, "c", dim, inmem.Cosine); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	metaA := inmem.MustValue(map[string]any{"group": "a"})
	metaB := inmem.MustValue(map[string]any{"group": "b"})
	for i := 0; i < n; i += 1000 {
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			for j := i; j < i+1000 && j < n; j++ {
				meta := metaB
				if j%4 == 0 {
					meta = metaA
				}
				if err := tx.Vectors().Upsert("c", fmt.Sprint("v", j), randVec(r, dim), meta); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	// Apply the index before measuring.
	if _, err := db.Vectors().Search(ctx, run, "c", randVec(r, dim), 1, nil); err != nil {
		b.Fatal(err)
	}
	return db, run
}

// BenchmarkVectorSearch: exact cosine top-10 over n vectors of dimension
// 384, with and without a metadata filter (which passes a quarter).
func BenchmarkVectorSearch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		db, run := vectorDB(b, n, 384)
		r := rand.New(rand.NewPCG(2, 2))
		q := randVec(r, 384)
		for _, f := range []struct {
			name   string
			filter inmem.Filter
		}{{"nofilter", nil}, {"filter", inmem.Filter{inmem.Eq("group", inmem.String("a"))}}} {
			b.Run(fmt.Sprintf("n=%d/%s", n, f.name), func(b *testing.B) {
				b.ReportAllocs()
				var lat []time.Duration
				for b.Loop() {
					start := time.Now()
					hits, err := db.Vectors().Search(ctx, run, "c", q, 10, f.filter)
					if err != nil || len(hits) != 10 {
						b.Fatal(err, len(hits))
					}
					lat = append(lat, time.Since(start))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e6, "p50-ms")
			})
		}
		db.Close()
	}
}

func BenchmarkVectorUpsert(b *testing.B) {
	db := openMem(b)
	run := inmem.NewRunID()
	db.Vectors().CreateCollection(ctx, run, "c", 384, inmem.Cosine)
	r := rand.New(rand.NewPCG(3, 3))
	vecs := make([][]float32, 1024)
	for i := range vecs {
		vecs[i] = randVec(r, 384)
	}
	meta := inmem.MustValue(map[string]any{"group": "a"})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := db.Vectors().Upsert(ctx, run, "c", fmt.Sprint("v", i%10_000), vecs[i%len(vecs)], meta); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
