package inmem

import (
	"context"
	"testing"
)

// A panic in an Update closure after enough conflicts to count as starving
// must unwind the starving count: left raised, it made every later commit
// of the process yield (about 50 times slower) for good.
func TestUpdate_PanicAfterConflictsUnwinds(t *testing.T) {
	ctx := context.Background()
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := NewRunID()
	if _, err := db.KV().Put(ctx, run, "k", Int(0)); err != nil {
		t.Fatal(err)
	}

	attempts := 0
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the closure's panic", r)
			}
		}()
		db.Update(ctx, run, func(tx *Tx) error {
			attempts++
			if _, err := tx.KV().Get("k"); err != nil {
				return err
			}
			if attempts > starvingAfter+1 {
				if db.starving.Load() != 1 {
					t.Errorf("starving = %d inside a starving attempt, want 1", db.starving.Load())
				}
				panic("boom")
			}
			// Another commit invalidates this attempt's read.
			if _, err := db.KV().Put(ctx, run, "k", Int(int64(attempts))); err != nil {
				return err
			}
			err := tx.KV().Put("k", Int(-1))
			return err
		})
	}()
	if attempts != starvingAfter+2 {
		t.Fatalf("the closure ran %d times, want %d", attempts, starvingAfter+2)
	}
	if n := db.starving.Load(); n != 0 {
		t.Fatalf("starving = %d after the panic, want 0", n)
	}
	// The panicking transaction was rolled back: its write never lands and
	// later transactions commit normally.
	got, err := db.KV().Get(ctx, run, "k")
	if err != nil || got.Value.Equal(Int(-1)) {
		t.Fatalf("Get(k) = %v, %v after the panic", got.Value, err)
	}
	if _, err := db.KV().Put(ctx, run, "k", Int(42)); err != nil {
		t.Fatal(err)
	}
}

// A panic in a View closure or in a pooled single operation's closure
// leaves no open transaction behind.
func TestView_PanicRollsBack(t *testing.T) {
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var leaked *Tx
	func() {
		defer func() { recover() }()
		db.View(context.Background(), NewRunID(), func(tx *Tx) error {
			leaked = tx
			panic("boom")
		})
	}()
	if leaked == nil || !leaked.txn.Done() {
		t.Fatal("the View transaction is still open after a panic")
	}
}
