package inmem_test

import (
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
)

// BenchmarkStrictCommitRotating is BenchmarkStrictCommit with segments so
// small that the WAL rotates every few hundred commits, to show what a
// rotation (seal, new segment, MANIFEST rewrite) costs the commits that
// wait behind it.
func BenchmarkStrictCommitRotating(b *testing.B) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db, err := inmem.Open(benchDir(b), &inmem.Options{Durability: inmem.Strict, WALSegmentSize: 64 << 10})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run := inmem.NewRunID()
			before := db.Stats().WAL
			b.ReportAllocs()
			runWriters(b, writers, func(w, i int) error {
				_, err := db.KV().Put(ctx, run, fmt.Sprintf("w%d/%s", w, benchKey(i%1000)), benchValue)
				return err
			})
			after := db.Stats().WAL
			if n := after.Records - before.Records; n > 0 {
				b.ReportMetric(float64(after.Fsyncs-before.Fsyncs)/float64(n), "fsyncs/commit")
			}
		})
	}
}
