package inmem_test

import (
	"errors"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// histPrim drives one primitive with history through the purge-and-rewrite
// scenario.
type histPrim struct {
	name  string
	write func(db *inmem.DB, key string, n int64) error
	del   func(db *inmem.DB, key string) error
	// history returns the entries' Deleted flags and values (Int), newest
	// first.
	history func(db *inmem.DB, key string) ([]bool, []int64, error)
}

func histOf[T any](h []inmem.Versioned[T], val func(T) int64) ([]bool, []int64) {
	del := make([]bool, len(h))
	vals := make([]int64, len(h))
	for i, e := range h {
		del[i] = e.Deleted
		if !e.Deleted {
			vals[i] = val(e.Value)
		}
	}
	return del, vals
}

func intOf(v inmem.Value) int64 { n, _ := v.AsInt(); return n }

var histPrims = []histPrim{
	{
		name: "KV",
		write: func(db *inmem.DB, key string, n int64) error {
			_, err := db.KV().Put(ctx, retRun, key, inmem.Int(n))
			return err
		},
		del: func(db *inmem.DB, key string) error { _, err := db.KV().Delete(ctx, retRun, key); return err },
		history: func(db *inmem.DB, key string) ([]bool, []int64, error) {
			h, err := db.KV().History(ctx, retRun, key)
			d, v := histOf(h, intOf)
			return d, v, err
		},
	},
	{
		name: "JSON",
		write: func(db *inmem.DB, key string, n int64) error {
			_, err := db.JSON().Create(ctx, retRun, key, jsonDoc(n))
			return err
		},
		del: func(db *inmem.DB, key string) error { _, err := db.JSON().Destroy(ctx, retRun, key); return err },
		history: func(db *inmem.DB, key string) ([]bool, []int64, error) {
			h, err := db.JSON().History(ctx, retRun, key)
			d, v := histOf(h, func(v inmem.Value) int64 {
				n, _ := v.Get("n")
				return intOf(n)
			})
			return d, v, err
		},
	},
	{
		name: "State",
		write: func(db *inmem.DB, key string, n int64) error {
			_, err := db.State().Set(ctx, retRun, key, inmem.Int(n))
			return err
		},
		del: func(db *inmem.DB, key string) error { return db.State().Delete(ctx, retRun, key) },
		history: func(db *inmem.DB, key string) ([]bool, []int64, error) {
			h, err := db.State().History(ctx, retRun, key)
			d, v := histOf(h, intOf)
			return d, v, err
		},
	},
	{
		name: "Vector",
		write: func(db *inmem.DB, key string, n int64) error {
			_, err := db.Vectors().Upsert(ctx, retRun, "c", key, []float32{float32(n), 1}, inmem.Null())
			return err
		},
		del: func(db *inmem.DB, key string) error { _, err := db.Vectors().Delete(ctx, retRun, "c", key); return err },
		history: func(db *inmem.DB, key string) ([]bool, []int64, error) {
			h, err := db.Vectors().History(ctx, retRun, "c", key)
			d, v := histOf(h, func(e inmem.VectorEntry) int64 { return int64(e.Embedding[0]) })
			return d, v, err
		},
	},
}

// historyTrimmedAt checks err is HistoryTrimmed (typed) with the given
// EarliestRetained, whatever was requested.
func historyTrimmedAt(t *testing.T, what string, err error, earliest uint64) {
	t.Helper()
	var e *inmem.Error
	if !errors.Is(err, inmem.ErrHistoryTrimmed) || !errors.As(err, &e) {
		t.Fatalf("%s: err = %v, want HistoryTrimmed", what, err)
	}
	if e.EarliestRetained != inmem.Txn(earliest) {
		t.Fatalf("%s: EarliestRetained = %s, want %s", what, e.EarliestRetained, inmem.Txn(earliest))
	}
}

// RT2 for a purged entity written again: Full compaction with KeepLast(1)
// purges a deleted key with its whole chain, so nothing per key remembers
// it existed. When the key is written again, History returns only the new
// versions, and must say older ones were trimmed rather than pass them
// off as the whole history. EarliestRetained is the trim floor (the purged
// tombstone's version), the same answer GetAt gives below it; it holds
// after a reopen, which rebuilds the floors from the snapshot.
func TestRetentionInvariant_RT2_HistoryAfterPurgeAndRewrite(t *testing.T) {
	for _, p := range histPrims {
		t.Run(p.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			c := &testClock{}
			db := openRet(t, fsys, c)
			defer func() { db.Close() }()
			if p.name == "Vector" {
				if _, err := db.Vectors().CreateCollection(ctx, retRun, "c", 2, inmem.Cosine); err != nil {
					t.Fatal(err)
				}
			}
			// Before any trim, History is whole and carries no error.
			if err := p.write(db, "k", 1); err != nil {
				t.Fatal(err)
			}
			put := inmem.Visible(db)
			if _, _, err := p.history(db, "k"); err != nil {
				t.Fatalf("History before any trim: %v", err)
			}
			if err := p.del(db, "k"); err != nil {
				t.Fatal(err)
			}
			del := inmem.Visible(db)
			if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
				t.Fatal(err)
			}
			mustCompactFull(t, db)

			// Purged: KeepLast(1) would keep the tombstone of a chain
			// that stayed; an empty history means the chain is gone.
			d, _, err := p.history(db, "k")
			if len(d) != 0 {
				t.Fatalf("History after the purge = %v entries, want none (no purge happened?)", d)
			}
			historyTrimmedAt(t, "History of the purged key", err, del)

			if err := p.write(db, "k", 2); err != nil {
				t.Fatal(err)
			}
			again := inmem.Visible(db)
			if again <= del {
				t.Fatalf("rewrite at %d, not above the purged tombstone %d", again, del)
			}
			check := func(stage string) {
				t.Helper()
				d, v, err := p.history(db, "k")
				if len(d) != 1 || d[0] || v[0] != 2 {
					t.Fatalf("%s: History = deleted %v values %v, want the rewrite only", stage, d, v)
				}
				historyTrimmedAt(t, stage+": History after purge and rewrite", err, del)
				// GetAt below the floor says the same.
				var gerr error
				switch p.name {
				case "KV":
					_, gerr = db.KV().GetAt(ctx, retRun, "k", inmem.Txn(put))
				case "JSON":
					_, gerr = db.JSON().GetAt(ctx, retRun, "k", inmem.Txn(put))
				case "State":
					_, gerr = db.State().GetAt(ctx, retRun, "k", inmem.Txn(put))
				case "Vector":
					_, gerr = db.Vectors().GetAt(ctx, retRun, "c", "k", inmem.Txn(put))
				}
				historyTrimmedAt(t, stage+": GetAt of the purged version", gerr, del)
				if p.name == "State" {
					// Counters go on across the purge (the high-water
					// mark stays), so counter 1 belonged to the purged
					// incarnation: trimmed, not "never had it".
					_, err := db.State().GetAt(ctx, retRun, "k", inmem.Counter(1))
					if !errors.Is(err, inmem.ErrHistoryTrimmed) {
						t.Fatalf("%s: GetAt(Counter 1) of the purged incarnation = %v, want HistoryTrimmed", stage, err)
					}
				}
			}
			check("live")
			db.Close()
			db = openRet(t, fsys, c)
			check("reopened")
			if _, err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			db.Close()
			db = openRet(t, fsys, c)
			check("reopened from a snapshot holding the rewrite")
		})
	}
}

// The rule is per (run, space), as GetAt's is: once a space has a trim
// floor, the History of a key first written after it carries
// HistoryTrimmed too (it cannot be told from a purged key written again),
// with the floor as EarliestRetained; a run whose space was never trimmed
// gives a whole history and no error.
func TestRetention_HistoryAfterFloorIsConservativePerSpace(t *testing.T) {
	db := openRet(t, vfs.NewMem(), &testClock{})
	defer db.Close()
	other := inmem.MustParseRunID("11111111-2222-4333-8444-666666666666")
	mustPut(t, db, retRun, "k", inmem.Int(1))
	mustPut(t, db, other, "k", inmem.Int(1))
	mustPut(t, db, retRun, "k", inmem.Int(2))
	floor := inmem.Visible(db) // the removed version stopped being current here
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	fresh := mustPut(t, db, retRun, "fresh", inmem.Int(1)).N
	h, err := db.KV().History(ctx, retRun, "fresh")
	if len(h) != 1 || h[0].Version.N != fresh {
		t.Fatalf("History(fresh) = %v", h)
	}
	historyTrimmedAt(t, "History of a key first written above the floor", err, floor)
	h, err = db.KV().History(ctx, retRun, "k")
	if len(h) != 1 || h[0].Version.N != floor {
		t.Fatalf("History(k) = %v", h)
	}
	historyTrimmedAt(t, "History of a trimmed key", err, floor)
	h, err = db.KV().History(ctx, other, "k")
	if err != nil || len(h) != 1 {
		t.Fatalf("History in an untrimmed run = %v, %v; want one entry and no error", h, err)
	}
}

// A fork's History lists its source's versions up to the fork point, but
// the fork pins only those current at or after it: a trim of the source
// may remove older ones. The fork's History must then carry HistoryTrimmed
// (from the source's floor) instead of listing what is left as whole.
func TestRetentionInvariant_RT2_ForkHistoryAfterSourceTrim(t *testing.T) {
	fsys := vfs.NewMem()
	c := &testClock{}
	db := openRet(t, fsys, c)
	defer func() { db.Close() }()
	src, err := db.Runs().Create(ctx, "src", inmem.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, src, "k", inmem.Int(1))
	v2 := mustPut(t, db, src, "k", inmem.Int(2))
	fork, err := db.Runs().Fork(ctx, src, v2, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := db.KV().History(ctx, fork, "k"); err != nil || len(h) != 2 {
		t.Fatalf("fork History before the trim = %v, %v; want both versions, no error", h, err)
	}
	if _, err := db.SetRetentionPolicy(ctx, src, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	check := func(stage string, n int) {
		t.Helper()
		h, err := db.KV().History(ctx, fork, "k")
		if len(h) != n || h[n-1].Version != v2 {
			t.Fatalf("%s: fork History = %v, want %d entries down to %s", stage, h, n, v2)
		}
		historyTrimmedAt(t, stage+": fork History", err, v2.N)
	}
	check("live", 1)
	// The fork's own writes join the same history.
	if _, err := db.KV().Put(ctx, fork, "k", inmem.Int(3)); err != nil {
		t.Fatal(err)
	}
	check("after the fork's own write", 2)
	db.Close()
	db = openRet(t, fsys, c)
	check("reopened", 2)
}
