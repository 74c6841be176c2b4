package inmem_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
)

// BenchmarkKVScanChecked compares the Scan that yields its error (checking
// the database and ctx before every key) with the earlier Scan that stopped
// silently, over the same keys in the same run: the ratio of the two is the
// cost of an error path a caller cannot miss.
func BenchmarkKVScanChecked(b *testing.B) {
	db, err := inmem.Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	const n = 10_000
	for i := range n {
		if _, err := db.KV().Put(ctx, run, fmt.Sprintf("key/%06d", i), inmem.Int(int64(i))); err != nil {
			b.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx) // a cancellable ctx, as callers pass
	defer cancel()
	for _, size := range []struct {
		name, prefix string
		want         int
	}{{"100keys", "key/0012", 100}, {"10000keys", "key/", n}} {
		b.Run(size.name+"/before", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				for range inmem.ScanUnchecked(db, cctx, run, size.prefix) {
					got++
				}
				if got != size.want {
					b.Fatalf("scanned %d", got)
				}
			}
		})
		b.Run(size.name+"/after", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				for _, err := range db.KV().Scan(cctx, run, size.prefix) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != size.want {
					b.Fatalf("scanned %d", got)
				}
			}
		})
		b.Run(size.name+"/ListPage", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				opts := inmem.ListOptions{Limit: 1000}
				for {
					p, err := db.KV().ListPage(cctx, run, size.prefix, opts)
					if err != nil {
						b.Fatal(err)
					}
					got += len(p.Items)
					if p.Next == "" {
						break
					}
					opts.After = p.Next
				}
				if got != size.want {
					b.Fatalf("paged %d", got)
				}
			}
		})
	}
}
