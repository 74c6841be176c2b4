package inmem_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
)

// TestRetention_ConcurrentReadersDuringFullCompaction races readers of
// every kind against a writer and back-to-back Full compactions with
// KeepLast(1), which cut every chain and then reclaim what the cut left
// (the chain's inline first version is rewritten, replaced nodes are
// cleared) once no reader can reach it. Each commit writes one round
// number to every key, so every read can be checked exactly: point reads
// never go backwards and never see a round not yet committed, a
// transaction sees one round across all keys, scans and histories see
// whole values. A reclamation that rewrote a node a reader could still
// reach shows up as a wrong or zero value here, and as a race under -race.
func TestRetention_ConcurrentReadersDuringFullCompaction(t *testing.T) {
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	if _, err := db.SetRetentionPolicy(ctx, inmem.GlobalRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	const keys, rounds = 32, 150
	key := func(i int) string { return fmt.Sprintf("k%02d", i) }
	writeRound := func(r int64) {
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			for i := range keys {
				if err := tx.KV().Put(key(i), inmem.Int(r)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	writeRound(0)
	var committed atomic.Int64 // the newest round acknowledged
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	roundOf := func(v inmem.Value) (int64, bool) {
		n, ok := v.AsInt()
		return n, ok && n >= 0 && n <= rounds
	}

	wg.Add(1)
	go func() { // compactions, back to back
		defer wg.Done()
		for n := 0; n < 3 || !done.Load(); n++ {
			if _, err := db.Compact(ctx, inmem.Full); err != nil && !errors.Is(err, inmem.ErrCompactionRunning) {
				fail("Compact: %v", err)
				return
			}
		}
	}()
	reader := func(body func(i int) error) {
		defer wg.Done()
		for i := 0; i < 300 || !done.Load(); i++ {
			if err := body(i); err != nil {
				fail("%v", err)
				return
			}
		}
	}
	wg.Add(4)
	go reader(func(i int) error { // point reads: monotonic, never ahead
		last := make([]int64, keys)
		for k := range keys {
			low := committed.Load()
			got, err := db.KV().Get(ctx, run, key(k))
			if err != nil {
				return fmt.Errorf("Get %s: %w", key(k), err)
			}
			r, ok := roundOf(got.Value)
			if !ok || r < low || r < last[k] {
				return fmt.Errorf("Get %s = %v (version %v), committed round %d, last seen %d", key(k), got.Value, got.Version, low, last[k])
			}
			last[k] = r
		}
		return nil
	})
	go reader(func(int) error { // a transaction sees one round everywhere
		return db.View(ctx, run, func(tx *inmem.Tx) error {
			want := int64(-1)
			for k := range keys {
				got, err := tx.KV().Get(key(k))
				if err != nil {
					return err
				}
				r, ok := roundOf(got.Value)
				if !ok || (want >= 0 && r != want) {
					return fmt.Errorf("View: %s = %v, other keys at round %d", key(k), got.Value, want)
				}
				want = r
				if h, err := tx.KV().History(key(k)); err != nil && !errors.Is(err, inmem.ErrHistoryTrimmed) {
					return err
				} else if len(h) == 0 || h[0].Version != got.Version {
					return fmt.Errorf("History of %s starts at %v, Get read %v", key(k), h, got.Version)
				} else {
					for j := range h {
						if _, ok := roundOf(h[j].Value); !ok || (j > 0 && h[j].Version.N >= h[j-1].Version.N) {
							return fmt.Errorf("History of %s: %v", key(k), h)
						}
					}
				}
			}
			return nil
		})
	})
	go reader(func(int) error { // scans outside a transaction
		low := committed.Load()
		n := 0
		for e, err := range db.KV().Scan(ctx, run, "k") {
			if err != nil {
				return err
			}
			if r, ok := roundOf(e.Value); !ok || r < low {
				return fmt.Errorf("Scan: %s = %v, committed round %d", e.Key, e.Value, low)
			}
			n++
		}
		if n != keys {
			return fmt.Errorf("Scan saw %d keys, want %d", n, keys)
		}
		return nil
	})
	go reader(func(int) error { // scans inside a transaction: one round
		return db.View(ctx, run, func(tx *inmem.Tx) error {
			want := int64(-1)
			for e, err := range tx.KV().Scan("k") {
				if err != nil {
					return err
				}
				r, ok := roundOf(e.Value)
				if !ok || (want >= 0 && r != want) {
					return fmt.Errorf("tx Scan: %s = %v, other keys at round %d", e.Key, e.Value, want)
				}
				want = r
			}
			return nil
		})
	})

	for r := int64(1); r <= rounds; r++ {
		writeRound(r)
		committed.Store(r)
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
