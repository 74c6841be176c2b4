package inmem_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
)

// Appends never fail because other goroutines append too: with conflict
// retries switched off, any conflict between appenders would surface as an
// error. The outcome does not depend on timing or on the machine's load:
// a conflict is an error however rarely the race is lost.

// openNoRetry opens a Strict database on a real directory with Update's
// conflict retries switched off.
func openNoRetry(t *testing.T, dir string) *inmem.DB {
	t.Helper()
	db, err := inmem.Open(dir, &inmem.Options{Durability: inmem.Strict, MaxConflictRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// hammer runs fn(w, i) for i in [0, per) on each of workers goroutines,
// started together, and fails the test on the first error of each worker.
func hammer(t *testing.T, workers, per int, fn func(w, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range per {
				if err := fn(w, i); err != nil {
					errs <- fmt.Errorf("worker %d, op %d: %w", w, i, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func appendLoads(t *testing.T, fn func(t *testing.T, workers, per int)) {
	for _, c := range []struct{ workers, per int }{{8, 40}, {64, 8}} {
		t.Run(fmt.Sprintf("%dgoroutines", c.workers), func(t *testing.T) { fn(t, c.workers, c.per) })
	}
}

func TestAppends_EventsNeverConflict(t *testing.T) {
	appendLoads(t, func(t *testing.T, workers, per int) {
		dir := t.TempDir()
		db := openNoRetry(t, dir)
		run := inmem.NewRunID()
		var mu sync.Mutex
		var seqs []uint64
		hammer(t, workers, per, func(w, i int) error {
			v, err := db.Events().Append(ctx, run, fmt.Sprintf("t%d", w%3), inmem.MustValue([]any{w, i}))
			if err == nil {
				mu.Lock()
				seqs = append(seqs, v.N)
				mu.Unlock()
			}
			return err
		})
		slices.Sort(seqs)
		for i, s := range seqs {
			if s != uint64(i) {
				t.Fatalf("returned sequences are not 0..%d: position %d holds %d", workers*per-1, i, s)
			}
		}
		check := func(db *inmem.DB) {
			t.Helper()
			if rep := mustVerify(t, db, run); rep.Checked != uint64(workers*per) {
				t.Fatalf("chain has %d events, want %d", rep.Checked, workers*per)
			}
			// Each returned sequence names the event that was appended.
			evs, err := db.Events().Range(ctx, run, 0, uint64(workers*per))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, ev := range evs {
				seen[ev.Payload.String()] = true
			}
			if len(seen) != workers*per {
				t.Fatalf("%d distinct payloads, want %d", len(seen), workers*per)
			}
		}
		check(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openNoRetry(t, dir)
		defer db.Close()
		check(db)
	})
}

func TestAppends_TracesNeverConflict(t *testing.T) {
	appendLoads(t, func(t *testing.T, workers, per int) {
		dir := t.TempDir()
		db := openNoRetry(t, dir)
		run := inmem.NewRunID()
		root, err := db.Traces().Record(ctx, run, thought("root"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		ids := map[inmem.TraceID]string{}
		hammer(t, workers, per, func(w, i int) error {
			content := fmt.Sprintf("%d/%d", w, i)
			var id inmem.TraceID
			var err error
			if i%2 == 0 {
				id, err = db.Traces().Record(ctx, run, thought(content, "hot"))
			} else {
				id, err = db.Traces().RecordChild(ctx, run, root, thought(content))
			}
			if err == nil {
				mu.Lock()
				if prev, dup := ids[id]; dup {
					err = fmt.Errorf("id %d returned twice (%s and %s)", id, prev, content)
				}
				ids[id] = content
				mu.Unlock()
			}
			return err
		})
		check := func(db *inmem.DB) {
			t.Helper()
			n := workers * per
			for id := inmem.TraceID(2); id <= inmem.TraceID(n+1); id++ {
				tr, err := db.Traces().Get(ctx, run, id)
				if err != nil {
					t.Fatalf("trace %d: %v", id, err)
				}
				if want := (inmem.ThoughtTrace{Content: ids[id]}); tr.Value.Body != want {
					t.Fatalf("trace %d = %+v, want %+v", id, tr.Value.Body, want)
				}
			}
			if c, err := db.Traces().Count(ctx, run); err != nil || c != n+1 {
				t.Fatalf("Count = %d, %v; want %d", c, err, n+1)
			}
			if l, err := db.Traces().List(ctx, run); err != nil || len(l) != n+1 {
				t.Fatalf("List has %d traces, %v; want %d", len(l), err, n+1)
			}
			if kids, err := db.Traces().Children(ctx, run, root); err != nil || len(kids) != n/2 {
				t.Fatalf("root has %d children, %v; want %d", len(kids), err, n/2)
			}
		}
		check(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openNoRetry(t, dir)
		defer db.Close()
		check(db)
	})
}

func TestAppends_RunCreateNeverConflicts(t *testing.T) {
	appendLoads(t, func(t *testing.T, workers, per int) {
		dir := t.TempDir()
		db := openNoRetry(t, dir)
		parent, err := db.Runs().Create(ctx, "parent", inmem.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hammer(t, workers, per, func(w, i int) error {
			opts := inmem.RunOptions{}
			if i%2 == 1 {
				opts.Parent = &parent // every child bumps the parent's count
			}
			_, err := db.Runs().Create(ctx, fmt.Sprintf("run-%d-%d", w, i), opts)
			return err
		})
		check := func(db *inmem.DB) {
			t.Helper()
			if c, err := db.Runs().Count(ctx); err != nil || c != workers*per+1 {
				t.Fatalf("Count = %d, %v; want %d", c, err, workers*per+1)
			}
			kids, err := db.Runs().Children(ctx, parent)
			if err != nil || len(kids) != workers*per/2 {
				t.Fatalf("parent has %d children, %v; want %d", len(kids), err, workers*per/2)
			}
		}
		check(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openNoRetry(t, dir)
		defer db.Close()
		check(db)
		// The children count is exact: the parent can go only after the
		// last child.
		kids, _ := db.Runs().Children(ctx, parent)
		for i, k := range kids {
			if _, err := db.Runs().Delete(ctx, parent); !errors.Is(err, inmem.ErrConstraintViolation) {
				t.Fatalf("deleting the parent with %d children left: %v", len(kids)-i, err)
			}
			if _, err := db.Runs().Delete(ctx, k.Value.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Runs().Delete(ctx, parent); err != nil {
			t.Fatalf("deleting the parent after its children: %v", err)
		}
	})
}

func TestAppends_VectorInsertsNeverConflict(t *testing.T) {
	appendLoads(t, func(t *testing.T, workers, per int) {
		dir := t.TempDir()
		db := openNoRetry(t, dir)
		run := inmem.NewRunID()
		if _, err := db.Vectors().CreateCollection(ctx, run, "c", 2, inmem.Cosine); err != nil {
			t.Fatal(err)
		}
		hammer(t, workers, per, func(w, i int) error {
			_, err := db.Vectors().Upsert(ctx, run, "c", fmt.Sprintf("k%d-%d", w, i), []float32{float32(w) + 1, float32(i)}, inmem.Null())
			return err
		})
		check := func(db *inmem.DB) {
			t.Helper()
			if c, err := db.Vectors().Count(ctx, run, "c"); err != nil || c != workers*per {
				t.Fatalf("Count = %d, %v; want %d", c, err, workers*per)
			}
		}
		check(db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openNoRetry(t, dir)
		defer db.Close()
		check(db)
	})
}

// TestAppends_CASStillConflicts: a compare-and-swap is a real read-write
// dependency, and appending in the same transaction does not hide it.
func TestAppends_CASStillConflicts(t *testing.T) {
	db := openNoRetry(t, t.TempDir())
	defer db.Close()
	run := inmem.NewRunID()
	v0, err := db.State().Init(ctx, run, "cell", inmem.Int(0))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx, run, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Events().Append("before-cas", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.State().CAS("cell", v0, inmem.Int(1)); err != nil {
		t.Fatal(err)
	}
	// A concurrent CAS wins first, and so does a concurrent append.
	if _, err := db.State().CAS(ctx, run, "cell", v0, inmem.Int(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events().Append(ctx, run, "other", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("commit after a concurrent CAS = %v, want Conflict", err)
	}
	if n, _ := db.Events().Len(ctx, run); n != 1 {
		t.Fatalf("Len = %d, want 1: the conflicting transaction's append must not commit", n)
	}
	// And CAS calls racing on one cell: exactly one wins, the others
	// conflict.
	cur, _ := db.State().Read(ctx, run, "cell")
	var wins, conflicts int
	var mu sync.Mutex
	hammer(t, 8, 1, func(w, _ int) error {
		_, err := db.State().CAS(ctx, run, "cell", cur.Version, inmem.Int(int64(w)))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			wins++
		case errors.Is(err, inmem.ErrConflict):
			conflicts++
		default:
			return err
		}
		return nil
	})
	if wins != 1 || conflicts != 7 {
		t.Fatalf("%d CAS won and %d conflicted, want 1 and 7", wins, conflicts)
	}
	mustVerify(t, db, run)
}
