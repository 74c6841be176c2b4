package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
)

var ctx = context.Background()

func openMem(t testing.TB) *inmem.DB {
	t.Helper()
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustPut(t testing.TB, db *inmem.DB, run inmem.RunID, key string, v inmem.Value) inmem.Version {
	t.Helper()
	ver, err := db.KV().Put(ctx, run, key, v)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return ver
}

func mustGetInt(t testing.TB, db *inmem.DB, run inmem.RunID, key string) int64 {
	t.Helper()
	got, err := db.KV().Get(ctx, run, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	n, ok := got.Value.AsInt()
	if !ok {
		t.Fatalf("Get(%q) = %v, want an Int", key, got.Value)
	}
	return n
}

func TestTx_Atomicity(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	boom := errors.New("boom")
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		for i := range 5 {
			if err := tx.KV().Put(fmt.Sprint("k", i), inmem.Int(int64(i))); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the closure's error", err)
	}
	for i := range 5 {
		if ok, _ := db.KV().Exists(ctx, run, fmt.Sprint("k", i)); ok {
			t.Fatalf("k%d visible after a rolled-back transaction", i)
		}
	}
	if err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		for i := range 5 {
			if err := tx.KV().Put(fmt.Sprint("k", i), inmem.Int(int64(i))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var versions []inmem.Version
	for i := range 5 {
		got, err := db.KV().Get(ctx, run, fmt.Sprint("k", i))
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, got.Version)
	}
	for _, v := range versions {
		if v != versions[0] {
			t.Fatalf("writes of one transaction carry different versions: %v", versions)
		}
	}
}

func TestTx_NoDirtyReads(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "k", inmem.Int(1))
	writer, err := db.Begin(ctx, run, true)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback()
	if err := writer.KV().Put("k", inmem.Int(2)); err != nil {
		t.Fatal(err)
	}
	if err := writer.KV().Put("new", inmem.Int(3)); err != nil {
		t.Fatal(err)
	}
	if got := mustGetInt(t, db, run, "k"); got != 1 {
		t.Fatalf("reader saw uncommitted value %d", got)
	}
	if ok, _ := db.KV().Exists(ctx, run, "new"); ok {
		t.Fatal("reader saw an uncommitted insert")
	}
	if err := db.View(ctx, run, func(tx *inmem.Tx) error {
		v, err := tx.KV().Get("k")
		if err != nil {
			return err
		}
		if n, _ := v.Value.AsInt(); n != 1 {
			return fmt.Errorf("transaction saw uncommitted value %d", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestTx_RepeatableReads(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "k", inmem.Int(1))
	tx, err := db.Begin(ctx, run, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	first, err := tx.KV().Get("k")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, run, "k", inmem.Int(2))
	if _, err := db.KV().Delete(ctx, run, "k"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, run, "other", inmem.Int(9))
	second, err := tx.KV().Get("k")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Value.Equal(second.Value) || first.Version != second.Version {
		t.Fatalf("read changed inside a transaction: %v then %v", first, second)
	}
	if ok, _ := tx.KV().Exists("other"); ok {
		t.Fatal("a key committed after the snapshot is visible")
	}
}

func TestTx_ReadYourWrites(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "a", inmem.Int(1))
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		kv := tx.KV()
		if err := kv.Put("a", inmem.Int(2)); err != nil {
			return err
		}
		if err := kv.Put("b", inmem.String("x")); err != nil {
			return err
		}
		if v, err := kv.Get("a"); err != nil || !v.Value.Equal(inmem.Int(2)) {
			return fmt.Errorf("own write not visible: %v %v", v, err)
		}
		if err := kv.Delete("a"); err != nil {
			return err
		}
		if ok, _ := kv.Exists("a"); ok {
			return errors.New("own delete not visible")
		}
		keys, err := kv.List("")
		if err != nil {
			return err
		}
		if fmt.Sprint(keys) != "[b]" {
			return fmt.Errorf("scan inside the transaction = %v, want [b]", keys)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTx_ConsistentSnapshotUnderConcurrentWriters keeps an invariant (the
// sum of a set of balances) across concurrent transfers and checks that no
// snapshot ever observes it broken.
func TestTx_ConsistentSnapshotUnderConcurrentWriters(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	const accounts, total = 8, 800
	for i := range accounts {
		mustPut(t, db, run, fmt.Sprint("acct/", i), inmem.Int(total/accounts))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				from, to := fmt.Sprint("acct/", (i+w)%accounts), fmt.Sprint("acct/", (i*3+w+1)%accounts)
				if from == to {
					continue
				}
				err := db.Update(ctx, run, func(tx *inmem.Tx) error {
					a, err := tx.KV().Get(from)
					if err != nil {
						return err
					}
					b, err := tx.KV().Get(to)
					if err != nil {
						return err
					}
					x, _ := a.Value.AsInt()
					y, _ := b.Value.AsInt()
					if err := tx.KV().Put(from, inmem.Int(x-1)); err != nil {
						return err
					}
					err = tx.KV().Put(to, inmem.Int(y+1))
					return err
				})
				if err != nil && !errors.Is(err, inmem.ErrConflict) {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 300 {
		err := db.View(ctx, run, func(tx *inmem.Tx) error {
			sum := int64(0)
			for e, err := range tx.KV().Scan("acct/") {
				if err != nil {
					return err
				}
				n, ok := e.Value.AsInt()
				if !ok {
					return fmt.Errorf("%s is not an int", e.Key)
				}
				sum += n
			}
			if sum != total {
				return fmt.Errorf("snapshot sum %d, want %d", sum, total)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
			break
		}
		sum := int64(0)
		for e, err := range db.KV().Scan(ctx, run, "acct/") {
			if err != nil {
				t.Fatal(err)
			}
			n, _ := e.Value.AsInt()
			sum += n
		}
		if sum != total {
			t.Errorf("DB-level scan sum %d, want %d", sum, total)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
}

func TestTx_ReadWriteConflict(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "k", inmem.Int(1))
	tx, err := db.Begin(ctx, run, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.KV().Get("k"); err != nil {
		t.Fatal(err)
	}
	if err := tx.KV().Put("other", inmem.Int(1)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, run, "k", inmem.Int(2))
	err = tx.Commit()
	if !errors.Is(err, inmem.ErrConflict) || !inmem.IsRetryable(err) {
		t.Fatalf("Commit = %v, want a retryable Conflict", err)
	}
	if ok, _ := db.KV().Exists(ctx, run, "other"); ok {
		t.Fatal("a conflicting transaction's write became visible")
	}
	var e *inmem.Error
	if !errors.As(err, &e) || e.Ref == nil || e.Ref.Key != "k" {
		t.Fatalf("conflict error does not name the key: %#v", e)
	}
}

func TestTx_ReadAbsentConflict(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	tx, _ := db.Begin(ctx, run, true)
	if ok, _ := tx.KV().Exists("k"); ok {
		t.Fatal("k exists")
	}
	if err := tx.KV().Put("flag", inmem.Bool(true)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, run, "k", inmem.Int(1))
	if err := tx.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("Commit after a key read as absent appeared = %v, want Conflict", err)
	}
}

func TestTx_CASExactlyOneWinner(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	base := mustPut(t, db, run, "cell", inmem.Int(0))
	const n = 16
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := db.KV().CAS(ctx, run, "cell", base, inmem.Int(int64(i+1)))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, inmem.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Fatalf("wins=%d conflicts=%d, want exactly one winner", wins.Load(), conflicts.Load())
	}
}

func TestTx_CASSemantics(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	kv := db.KV()
	v1, err := kv.CAS(ctx, run, "k", inmem.Version{}, inmem.Int(1))
	if err != nil {
		t.Fatalf("insert-if-absent: %v", err)
	}
	if _, err := kv.CAS(ctx, run, "k", inmem.Txn(0), inmem.Int(2)); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("CAS(absent) on a present key = %v, want Conflict", err)
	}
	_, err = kv.CAS(ctx, run, "k", inmem.Txn(v1.N+100), inmem.Int(2))
	var e *inmem.Error
	if !errors.As(err, &e) || e.Code != inmem.CodeConflict || e.Expected == nil || e.Actual == nil || *e.Actual != v1 {
		t.Fatalf("CAS mismatch error = %#v, want Conflict with expected/actual", err)
	}
	v2, err := kv.CAS(ctx, run, "k", v1, inmem.Int(2))
	if err != nil || v2.N <= v1.N {
		t.Fatalf("CAS on the current version = %v, %v", v2, err)
	}
	if _, err := kv.Delete(ctx, run, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.CAS(ctx, run, "k", inmem.Txn(0), inmem.Int(3)); err != nil {
		t.Fatalf("insert-if-absent after a delete: %v", err)
	}
	if _, err := kv.CAS(ctx, run, "k", inmem.Sequence(1), inmem.Int(3)); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("CAS with a Sequence version = %v, want InvalidArgument", err)
	}
}

func TestTx_FirstCommitterWins(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "k", inmem.Int(10))
	t1, _ := db.Begin(ctx, run, true)
	t2, _ := db.Begin(ctx, run, true)
	for i, tx := range []*inmem.Tx{t1, t2} {
		v, err := tx.KV().Get("k")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := v.Value.AsInt()
		if err := tx.KV().Put("k", inmem.Int(n+int64(i)+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := t1.Commit(); err != nil {
		t.Fatalf("first committer: %v", err)
	}
	if err := t2.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("second committer = %v, want Conflict", err)
	}
	if got := mustGetInt(t, db, run, "k"); got != 11 {
		t.Fatalf("k = %d, want the first committer's 11", got)
	}
}

func TestTx_BlindWritesBothCommit(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	t1, _ := db.Begin(ctx, run, true)
	t2, _ := db.Begin(ctx, run, true)
	t1.KV().Put("k", inmem.Int(1))
	t2.KV().Put("k", inmem.Int(2))
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(); err != nil {
		t.Fatalf("a blind write conflicted: %v", err)
	}
	if got := mustGetInt(t, db, run, "k"); got != 2 {
		t.Fatalf("k = %d, want the last writer's 2", got)
	}
	if t2.CommitVersion().N <= t1.CommitVersion().N {
		t.Fatalf("commit versions not increasing: %v then %v", t1.CommitVersion(), t2.CommitVersion())
	}
}

func TestTx_NoLostUpdate(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "counter", inmem.Int(0))
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := db.Update(ctx, run, func(tx *inmem.Tx) error {
					v, err := tx.KV().Get("counter")
					if err != nil {
						return err
					}
					n, _ := v.Value.AsInt()
					err = tx.KV().Put("counter", inmem.Int(n+1))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := mustGetInt(t, db, run, "counter"); got != workers*each {
		t.Fatalf("counter = %d, want %d", got, workers*each)
	}
}

// TestTx_WriteSkewAllowed documents that snapshot isolation permits write
// skew. Keys a transaction reads are validated, so read-modify-write through
// point reads is safe; but the ranges it scans are not (no phantom
// protection): two transactions that each scan a range, see it empty, and
// insert different keys into it both commit, breaking a "at most one"
// constraint.
func TestTx_WriteSkewAllowed(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	t1, _ := db.Begin(ctx, run, true)
	t2, _ := db.Begin(ctx, run, true)
	for _, p := range []struct {
		tx  *inmem.Tx
		key string
	}{{t1, "booking/room1/alice"}, {t2, "booking/room1/bob"}} {
		n := 0
		for _, err := range p.tx.KV().Scan("booking/room1/") {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 0 {
			t.Fatalf("bookings = %d", n)
		}
		p.tx.KV().Put(p.key, inmem.Bool(true))
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := t2.Commit(); err != nil {
		t.Fatalf("write skew was prevented (%v); snapshot isolation allows it", err)
	}
	keys, _ := db.KV().List(ctx, run, "booking/room1/")
	if len(keys) != 2 {
		t.Fatalf("bookings = %v, want both (the skew)", keys)
	}
}

func TestTx_RollbackIdempotentAndUseAfterFinish(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	tx, _ := db.Begin(ctx, run, true)
	tx.KV().Put("k", inmem.Int(1))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, inmem.ErrTxDone) {
		t.Fatalf("second Commit = %v, want ErrTxDone", err)
	}
	if err := tx.KV().Put("k", inmem.Int(2)); !errors.Is(err, inmem.ErrTxDone) {
		t.Fatalf("Put after Commit = %v, want ErrTxDone", err)
	}
	if _, err := tx.KV().Get("k"); !errors.Is(err, inmem.ErrTxDone) || !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("Get after Commit = %v, want ErrTxDone (InvalidArgument)", err)
	}
	tx2, _ := db.Begin(ctx, run, true)
	tx2.Rollback()
	tx2.Rollback()
	if err := tx2.Commit(); !errors.Is(err, inmem.ErrTxDone) {
		t.Fatalf("Commit after Rollback = %v", err)
	}
	ro, _ := db.Begin(ctx, run, false)
	if err := ro.KV().Put("k", inmem.Int(3)); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("Put in a read-only transaction = %v", err)
	}
	if err := ro.Commit(); err != nil {
		t.Fatalf("read-only Commit = %v", err)
	}
}

func TestTx_ConflictRetriesAreBounded(t *testing.T) {
	db, err := inmem.Open("", &inmem.Options{MaxConflictRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	mustPut(t, db, run, "k", inmem.Int(0))
	calls := 0
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		calls++
		if _, err := tx.KV().Get("k"); err != nil {
			return err
		}
		tx.KV().Put("k2", inmem.Int(1))
		mustPut(t, db, run, "k", inmem.Int(int64(calls))) // always invalidate
		return nil
	})
	if !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("Update = %v, want Conflict after the retries", err)
	}
	if calls != 4 {
		t.Fatalf("closure ran %d times, want 1 + 3 retries", calls)
	}
}

func TestTx_CancelledContext(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Update(cctx, run, func(tx *inmem.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context = %v", err)
	}
	if _, err := db.KV().Put(cctx, run, "k", inmem.Int(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context = %v", err)
	}
	if _, err := db.Begin(cctx, run, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin with a cancelled context = %v", err)
	}
	if err := db.View(cctx, run, func(tx *inmem.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("View with a cancelled context = %v", err)
	}
	if ok, _ := db.KV().Exists(ctx, run, "k"); ok {
		t.Fatal("a write with a cancelled context happened")
	}
}

func TestDB_UseAfterClose(t *testing.T) {
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	run := inmem.NewRunID()
	mustPut(t, db, run, "k", inmem.Int(1))
	tx, _ := db.Begin(ctx, run, true)
	tx.KV().Put("k", inmem.Int(2))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := tx.Commit(); !errors.Is(err, inmem.ErrClosed) {
		t.Fatalf("Commit after Close = %v", err)
	}
	if _, err := db.KV().Get(ctx, run, "k"); !errors.Is(err, inmem.ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if _, err := db.KV().Put(ctx, run, "k", inmem.Int(1)); !errors.Is(err, inmem.ErrClosed) {
		t.Fatalf("Put after Close = %v", err)
	}
	if err := db.Update(ctx, run, func(*inmem.Tx) error { return nil }); !errors.Is(err, inmem.ErrClosed) {
		t.Fatalf("Update after Close = %v", err)
	}
	if err := db.Flush(); !errors.Is(err, inmem.ErrClosed) {
		t.Fatalf("Flush after Close = %v", err)
	}
}
