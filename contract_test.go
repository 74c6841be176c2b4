package inmem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// A managed transaction refuses Commit and Rollback by hand: committing
// inside Update used to commit the data and then make Update fail with
// ErrTxDone, and a caller retrying that error applied the change twice.
func TestUpdate_ManagedTxRefusesCommit(t *testing.T) {
	ctx := context.Background()
	db := openMem(t)
	run := inmem.NewRunID()

	var commitErr, rollbackErr error
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.KV().Put("k", inmem.Int(1)); err != nil {
			return err
		}
		commitErr = tx.Commit()
		rollbackErr = tx.Rollback()
		// The transaction is still usable: nothing was finished by hand.
		err := tx.KV().Put("k2", inmem.Int(2))
		return err
	})
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	for name, e := range map[string]error{"Commit": commitErr, "Rollback": rollbackErr} {
		if !errors.Is(e, inmem.ErrTxManaged) || inmem.CodeOf(e) != inmem.CodeInvalidArgument {
			t.Errorf("%s inside Update = %v, want ErrTxManaged (InvalidArgument)", name, e)
		}
	}
	h, err := db.KV().History(ctx, run, "k")
	if err != nil || len(h) != 1 {
		t.Fatalf("History(k) = %d versions, %v; want exactly one commit", len(h), err)
	}
	if _, err := db.KV().Get(ctx, run, "k2"); err != nil {
		t.Fatalf("Get(k2) = %v; the closure's later write must commit", err)
	}

	// A closure that returns Commit's error commits nothing.
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.KV().Put("k3", inmem.Int(3)); err != nil {
			return err
		}
		return tx.Commit()
	})
	if !errors.Is(err, inmem.ErrTxManaged) {
		t.Fatalf("Update returning Commit's error = %v, want ErrTxManaged", err)
	}
	if _, err := db.KV().Get(ctx, run, "k3"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Get(k3) = %v, want NotFound", err)
	}

	// View manages its transaction too.
	err = db.View(ctx, run, func(tx *inmem.Tx) error {
		if e := tx.Commit(); !errors.Is(e, inmem.ErrTxManaged) {
			t.Errorf("Commit inside View = %v, want ErrTxManaged", e)
		}
		if e := tx.Rollback(); !errors.Is(e, inmem.ErrTxManaged) {
			t.Errorf("Rollback inside View = %v, want ErrTxManaged", e)
		}
		_, err := tx.KV().Get("k")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Begin's transactions are the caller's to finish.
	tx, err := db.Begin(ctx, run, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.KV().Put("k4", inmem.Int(4)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit of a Begin transaction = %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback after Commit = %v, want nil", err)
	}
}

// An ended context is an *Error of its own code that still matches the
// context package's errors.
func TestErrors_ContextIsTyped(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()

	calls := map[string]func(ctx context.Context) error{
		"Update": func(ctx context.Context) error {
			return db.Update(ctx, run, func(*inmem.Tx) error { return nil })
		},
		"View": func(ctx context.Context) error {
			return db.View(ctx, run, func(*inmem.Tx) error { return nil })
		},
		"Begin": func(ctx context.Context) error {
			_, err := db.Begin(ctx, run, true)
			return err
		},
		"kv.Put": func(ctx context.Context) error {
			_, err := db.KV().Put(ctx, run, "k", inmem.Int(1))
			return err
		},
	}
	for name, call := range calls {
		err := call(cancelled)
		var e *inmem.Error
		if !errors.As(err, &e) || e.Code != inmem.CodeCanceled {
			t.Errorf("%s with a cancelled context = %v, want an *Error of code Canceled", name, err)
		}
		if !errors.Is(err, context.Canceled) || !errors.Is(err, inmem.ErrCanceled) {
			t.Errorf("%s: errors.Is(context.Canceled / ErrCanceled) failed for %v", name, err)
		}
		err = call(expired)
		if inmem.CodeOf(err) != inmem.CodeDeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, inmem.ErrDeadlineExceeded) {
			t.Errorf("%s with an expired context = %v (code %v), want DeadlineExceeded", name, err, inmem.CodeOf(err))
		}
		if inmem.IsRetryable(err) {
			t.Errorf("%s: a context error must not be retryable", name)
		}
	}
}

// RunNotFound is a kind of NotFound.
func TestErrors_RunNotFoundIsNotFound(t *testing.T) {
	db := openMem(t)
	_, err := db.Runs().Get(context.Background(), inmem.NewRunID())
	if !errors.Is(err, inmem.ErrRunNotFound) || !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Runs().Get(unknown) = %v, want RunNotFound matching ErrNotFound", err)
	}
	if inmem.CodeOf(err) != inmem.CodeRunNotFound {
		t.Fatalf("code = %v, want RunNotFound", inmem.CodeOf(err))
	}
	// The hierarchy goes one way only.
	_, err = db.KV().Get(context.Background(), inmem.NewRunID(), "missing")
	if !errors.Is(err, inmem.ErrNotFound) || errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("KV Get(missing) = %v, want NotFound and not RunNotFound", err)
	}
}

// Keys and names are valid UTF-8 in every primitive: an invalid byte would
// print as U+FFFD, and the printed key would no longer address the entity.
func TestKeys_InvalidUTF8Refused(t *testing.T) {
	ctx := context.Background()
	db := openMem(t)
	run := inmem.NewRunID()
	const bad = "ke\xffy"
	writes := map[string]func() error{
		"kv.Put": func() error { _, err := db.KV().Put(ctx, run, bad, inmem.Int(1)); return err },
		"kv.Get": func() error { _, err := db.KV().Get(ctx, run, bad); return err },
		"state.Init": func() error {
			_, err := db.State().Init(ctx, run, bad, inmem.Int(1))
			return err
		},
		"json.Create": func() error {
			_, err := db.JSON().Create(ctx, run, bad, inmem.MustValue(map[string]any{}))
			return err
		},
		"vectors.CreateCollection": func() error {
			_, err := db.Vectors().CreateCollection(ctx, run, bad, 2, inmem.Cosine)
			return err
		},
		"vectors.Upsert key": func() error {
			if _, err := db.Vectors().CreateCollection(ctx, run, "c", 2, inmem.Cosine); err != nil && !errors.Is(err, inmem.ErrAlreadyExists) {
				return err
			}
			_, err := db.Vectors().Upsert(ctx, run, "c", bad, []float32{1, 0}, inmem.Null())
			return err
		},
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, inmem.ErrInvalidKey) {
			t.Errorf("%s with an invalid UTF-8 key = %v, want InvalidKey", name, err)
		}
	}
	keys, err := db.KV().List(ctx, run, "")
	if err != nil || len(keys) != 0 {
		t.Fatalf("List = %v, %v; nothing may have been written", keys, err)
	}
}
