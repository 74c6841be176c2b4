package inmem_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

// benchDocLevels is how deep the benchmark documents nest.
const benchDocLevels = 10

// benchDoc builds a document of about size encoded bytes that nests
// benchDocLevels deep: every level is an object {"n": <next level>, "x": 0,
// "f00": "...", ...} with the filler fields spread evenly over the levels.
// The path "/x" is at depth 1 and "/n/n/n/n/n/n/n/n/n/x" at depth 10.
func benchDoc(size int) inmem.Value {
	const fieldBytes = 40 // a filler field encodes to about this much
	perLevel := max(1, size/benchDocLevels/fieldBytes)
	filler := inmem.String(strings.Repeat("v", fieldBytes-6))
	var doc inmem.Value
	for level := benchDocLevels - 1; level >= 0; level-- {
		fs := []inmem.Field{{Key: "x", Value: inmem.Int(0)}}
		for i := range perLevel {
			fs = append(fs, inmem.Field{Key: fmt.Sprintf("f%02d", i), Value: filler})
		}
		if level < benchDocLevels-1 {
			fs = append(fs, inmem.Field{Key: "n", Value: doc})
		}
		doc = inmem.ObjectOf(fs...)
	}
	return doc
}

var benchJSONPaths = []struct {
	name, path string
}{
	{"depth1", "/x"},
	{"depth10", strings.Repeat("/n", benchDocLevels-1) + "/x"},
}

var benchJSONSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"10KiB", 10 << 10}}

func BenchmarkJSONGet(b *testing.B) {
	for _, sz := range benchJSONSizes {
		for _, p := range benchJSONPaths {
			b.Run(sz.name+"/"+p.name, func(b *testing.B) {
				db := openMem(b)
				run := inmem.NewRunID()
				doc := benchDoc(sz.size)
				if _, err := db.JSON().Create(ctx, run, "doc", doc); err != nil {
					b.Fatal(err)
				}
				js := db.JSON()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := js.Get(ctx, run, "doc", p.path); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(doc.EncodedSize()), "docbytes")
			})
		}
	}
}

func BenchmarkJSONSet(b *testing.B) {
	for _, sz := range benchJSONSizes {
		for _, p := range benchJSONPaths {
			b.Run(sz.name+"/"+p.name, func(b *testing.B) {
				db := openMem(b)
				run := inmem.NewRunID()
				if _, err := db.JSON().Create(ctx, run, "doc", benchDoc(sz.size)); err != nil {
					b.Fatal(err)
				}
				js := db.JSON()
				b.ReportAllocs()
				i := int64(0)
				for b.Loop() {
					if _, err := js.Set(ctx, run, "doc", p.path, inmem.Int(i)); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
