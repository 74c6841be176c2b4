package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/inmemdb/inmem"
)

// scanSeq is a KV or JSON scan under test.
type scanSeq func(ctx context.Context, db *inmem.DB, run inmem.RunID, prefix string) func(func(inmem.Entry, error) bool)

var scanners = map[string]struct {
	put  func(t *testing.T, db *inmem.DB, run inmem.RunID, key string)
	scan scanSeq
	list func(ctx context.Context, db *inmem.DB, run inmem.RunID) ([]string, error)
}{
	"kv": {
		put: func(t *testing.T, db *inmem.DB, run inmem.RunID, key string) {
			mustPut(t, db, run, key, inmem.String(key))
		},
		scan: func(ctx context.Context, db *inmem.DB, run inmem.RunID, prefix string) func(func(inmem.Entry, error) bool) {
			return db.KV().Scan(ctx, run, prefix)
		},
		list: func(ctx context.Context, db *inmem.DB, run inmem.RunID) ([]string, error) {
			return db.KV().List(ctx, run, "")
		},
	},
	"json": {
		put: func(t *testing.T, db *inmem.DB, run inmem.RunID, key string) {
			if _, err := db.JSON().Create(ctx, run, key, inmem.String(key)); err != nil {
				t.Fatal(err)
			}
		},
		scan: func(ctx context.Context, db *inmem.DB, run inmem.RunID, prefix string) func(func(inmem.Entry, error) bool) {
			return db.JSON().Scan(ctx, run, prefix)
		},
		list: func(ctx context.Context, db *inmem.DB, run inmem.RunID) ([]string, error) {
			return db.JSON().List(ctx, run, "")
		},
	},
}

// drain runs a scan to its end and returns the keys and the error it ended
// with; a nil error means the sequence claimed to be complete.
func drain(seq func(func(inmem.Entry, error) bool), each func(n int)) (keys []string, err error) {
	for e, err := range seq {
		if err != nil {
			return keys, err
		}
		keys = append(keys, e.Key)
		if each != nil {
			each(len(keys))
		}
	}
	return keys, nil
}

func TestScan_ClosedDatabaseYieldsClosed(t *testing.T) {
	for name, s := range scanners {
		t.Run(name, func(t *testing.T) {
			db, err := inmem.Open("", nil)
			if err != nil {
				t.Fatal(err)
			}
			run := inmem.NewRunID()
			for i := range 300 { // more than one internal scan chunk
				s.put(t, db, run, fmt.Sprintf("k%03d", i))
			}
			seq := s.scan(ctx, db, run, "")
			// Closed in the middle of the iteration.
			keys, err := drain(seq, func(n int) {
				if n == 10 {
					db.Close()
				}
			})
			if !errors.Is(err, inmem.ErrClosed) || inmem.CodeOf(err) != inmem.CodeClosed {
				t.Fatalf("scan cut by Close ended with %v after %d keys", err, len(keys))
			}
			if len(keys) != 10 {
				t.Fatalf("scan yielded %d keys after Close", len(keys))
			}
			// Started on a closed database.
			keys, err = drain(s.scan(ctx, db, run, ""), nil)
			if !errors.Is(err, inmem.ErrClosed) || len(keys) != 0 {
				t.Fatalf("scan of a closed database = %d keys, %v", len(keys), err)
			}
			if _, err := s.list(ctx, db, run); !errors.Is(err, inmem.ErrClosed) {
				t.Fatalf("List of a closed database: %v", err)
			}
		})
	}
}

func TestScan_CanceledContextYieldsCanceled(t *testing.T) {
	for name, s := range scanners {
		t.Run(name, func(t *testing.T) {
			db := openMem(t)
			run := inmem.NewRunID()
			for i := range 300 {
				s.put(t, db, run, fmt.Sprintf("k%03d", i))
			}
			cctx, cancel := context.WithCancel(ctx)
			keys, err := drain(s.scan(cctx, db, run, ""), func(n int) {
				if n == 5 {
					cancel()
				}
			})
			if !errors.Is(err, context.Canceled) || !errors.Is(err, inmem.ErrCanceled) || inmem.CodeOf(err) != inmem.CodeCanceled {
				t.Fatalf("scan cut by cancel ended with %v (code %v)", err, inmem.CodeOf(err))
			}
			var e *inmem.Error
			if !errors.As(err, &e) || len(keys) != 5 {
				t.Fatalf("err %T, %d keys", err, len(keys))
			}
			keys, err = drain(s.scan(cctx, db, run, ""), nil)
			if inmem.CodeOf(err) != inmem.CodeCanceled || len(keys) != 0 {
				t.Fatalf("scan with a cancelled ctx = %d keys, %v", len(keys), err)
			}
			if _, err := s.list(cctx, db, run); inmem.CodeOf(err) != inmem.CodeCanceled {
				t.Fatalf("List with a cancelled ctx: %v", err)
			}
			// A full scan ends without an error.
			keys, err = drain(s.scan(ctx, db, run, ""), nil)
			if err != nil || len(keys) != 300 {
				t.Fatalf("full scan = %d keys, %v", len(keys), err)
			}
		})
	}
}

// A transaction's scan reports a finished transaction and its context.
func TestScan_TxErrors(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "a", inmem.Int(1))
	tx, err := db.Begin(ctx, run, false)
	if err != nil {
		t.Fatal(err)
	}
	seq := tx.KV().Scan("")
	tx.Rollback()
	if _, err := drain(seq, nil); !errors.Is(err, inmem.ErrTxDone) {
		t.Fatalf("scan of a finished transaction: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	err = db.View(cctx, run, func(tx *inmem.Tx) error {
		cancel()
		_, err := drain(tx.JSON().Scan(""), nil)
		return err
	})
	if inmem.CodeOf(err) != inmem.CodeCanceled {
		t.Fatalf("scan in a transaction whose ctx ended: %v", err)
	}
}

// lister is one primitive's paged listing, reduced to item keys.
type lister struct {
	add  func(db *inmem.DB, run inmem.RunID, key string) error // an item named key
	page func(db *inmem.DB, run inmem.RunID, after string, limit int) ([]string, string, error)
}

func entryKeys(p inmem.Page[inmem.Entry], err error) ([]string, string, error) {
	var keys []string
	for _, e := range p.Items {
		keys = append(keys, e.Key)
	}
	return keys, p.Next, err
}

func itemKey(i int) string { return fmt.Sprintf("k%05d", 2*i) }

var listers = map[string]lister{
	"kv": {
		add: func(db *inmem.DB, run inmem.RunID, key string) error {
			_, err := db.KV().Put(ctx, run, key, inmem.String(key))
			return err
		},
		page: func(db *inmem.DB, run inmem.RunID, after string, limit int) ([]string, string, error) {
			return entryKeys(db.KV().ListPage(ctx, run, "k", inmem.ListOptions{After: after, Limit: limit}))
		},
	},
	"json": {
		add: func(db *inmem.DB, run inmem.RunID, key string) error {
			_, err := db.JSON().Create(ctx, run, key, inmem.String(key))
			return err
		},
		page: func(db *inmem.DB, run inmem.RunID, after string, limit int) ([]string, string, error) {
			return entryKeys(db.JSON().ListPage(ctx, run, "k", inmem.ListOptions{After: after, Limit: limit}))
		},
	},
	"state": {
		add: func(db *inmem.DB, run inmem.RunID, key string) error {
			_, err := db.State().Init(ctx, run, key, inmem.String(key))
			return err
		},
		page: func(db *inmem.DB, run inmem.RunID, after string, limit int) ([]string, string, error) {
			return entryKeys(db.State().ListPage(ctx, run, "k", inmem.ListOptions{After: after, Limit: limit}))
		},
	},
	"runs": {
		add: func(db *inmem.DB, _ inmem.RunID, key string) error {
			_, err := db.Runs().Create(ctx, key, inmem.RunOptions{})
			return err
		},
		page: func(db *inmem.DB, _ inmem.RunID, after string, limit int) ([]string, string, error) {
			p, err := db.Runs().ListPage(ctx, inmem.ListOptions{After: after, Limit: limit})
			var keys []string
			for _, r := range p.Items {
				keys = append(keys, r.Value.Name)
			}
			return keys, p.Next, err
		},
	},
	"traces": {
		add: func(db *inmem.DB, run inmem.RunID, key string) error {
			_, err := db.Traces().Record(ctx, run, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: key}})
			return err
		},
		page: func(db *inmem.DB, run inmem.RunID, after string, limit int) ([]string, string, error) {
			p, err := db.Traces().ListPage(ctx, run, inmem.ListOptions{After: after, Limit: limit})
			var keys []string
			for _, tr := range p.Items {
				keys = append(keys, tr.Value.Body.(inmem.ThoughtTrace).Content)
			}
			return keys, p.Next, err
		},
	},
}

// pageAll walks a listing page by page; between pages it calls between.
func pageAll(t *testing.T, l lister, db *inmem.DB, run inmem.RunID, limit int, between func()) []string {
	t.Helper()
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		keys, next, err := l.page(db, run, after, limit)
		if err != nil {
			t.Fatalf("page %d (after %q): %v", pages, after, err)
		}
		eff := limit
		if eff == 0 {
			eff = inmem.DefaultListLimit
		}
		if len(keys) > eff || next != "" && len(keys) != eff {
			t.Fatalf("page %d has %d items, limit %d, next %q", pages, len(keys), limit, next)
		}
		all = append(all, keys...)
		if next == "" {
			return all
		}
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		after = next
		if between != nil {
			between()
		}
	}
}

func mustAdd(t *testing.T, l lister, db *inmem.DB, run inmem.RunID, key string) {
	t.Helper()
	if err := l.add(db, run, key); err != nil {
		t.Fatalf("add %q: %v", key, err)
	}
}

func TestListPage_EachItemOnceInOrder(t *testing.T) {
	const n = 137
	for name, l := range listers {
		t.Run(name, func(t *testing.T) {
			db := openMem(t)
			run := inmem.NewRunID()
			var want []string
			for i := range n {
				mustAdd(t, l, db, run, itemKey(i))
				want = append(want, itemKey(i))
			}
			for _, limit := range []int{0, 1, 2, 3, 10, n - 1, n, n + 1, 1 << 40} {
				if got := pageAll(t, l, db, run, limit, nil); !slices.Equal(got, want) {
					t.Fatalf("limit %d: paged %d items %v, want %d", limit, len(got), got, n)
				}
			}
		})
	}
}

// Items inserted while a listing is paged never make an item repeat or go
// missing, and the items that were there all along keep their order. KV,
// JSON and state get the new keys between the old ones; runs and traces,
// ordered by time, at the end.
func TestListPage_ConcurrentInserts(t *testing.T) {
	const n = 120
	for name, l := range listers {
		t.Run(name, func(t *testing.T) {
			db := openMem(t)
			run := inmem.NewRunID()
			var want []string
			for i := range n {
				mustAdd(t, l, db, run, itemKey(i))
				want = append(want, itemKey(i))
			}
			odd := 0
			got := pageAll(t, l, db, run, 7, func() {
				for range 3 {
					mustAdd(t, l, db, run, fmt.Sprintf("k%05d", 2*((odd*37)%n)+1))
					odd++
				}
			})
			checkPaged(t, got, want)

			// And with a writer goroutine racing the pages. It writes a
			// bounded number of items so that paging ends however the two
			// goroutines are scheduled.
			errc := make(chan error, 1)
			go func() {
				for i := range 300 {
					if err := l.add(db, run, fmt.Sprintf("k%05d/%d", 2*((i*53)%n)+1, i)); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			got = pageAll(t, l, db, run, 5, nil)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			checkPaged(t, got, want)
		})
	}
}

// checkPaged checks that got has no repeats and holds want, in order, among
// the items inserted meanwhile.
func checkPaged(t *testing.T, got, want []string) {
	t.Helper()
	seen := map[string]bool{}
	var old []string
	for _, k := range got {
		if seen[k] {
			t.Fatalf("%q listed twice", k)
		}
		seen[k] = true
		if slices.Contains(want, k) {
			old = append(old, k)
		}
	}
	if !slices.Equal(old, want) {
		t.Fatalf("the items present throughout paged as %v, want %v", old, want)
	}
}

func TestListPage_InvalidArguments(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	for name, l := range listers {
		for _, limit := range []int{-1, -1 << 40} {
			if _, _, err := l.page(db, run, "", limit); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
				t.Errorf("%s: limit %d: %v", name, limit, err)
			}
		}
	}
	if _, err := db.Events().ListPage(ctx, run, inmem.EventListOptions{Limit: -3}); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
		t.Errorf("events: negative limit: %v", err)
	}
	for _, bad := range []string{"zz", "abc"} {
		if _, err := db.Runs().ListPage(ctx, inmem.ListOptions{After: bad}); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
			t.Errorf("runs: cursor %q: %v", bad, err)
		}
		if _, err := db.Traces().ListPage(ctx, run, inmem.ListOptions{After: bad}); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
			t.Errorf("traces: cursor %q: %v", bad, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.KV().ListPage(cctx, run, "", inmem.ListOptions{}); inmem.CodeOf(err) != inmem.CodeCanceled {
		t.Errorf("kv: cancelled ctx: %v", err)
	}
	if _, err := db.Events().ListPage(cctx, run, inmem.EventListOptions{}); inmem.CodeOf(err) != inmem.CodeCanceled {
		t.Errorf("events: cancelled ctx: %v", err)
	}
	db.Close()
	if _, err := db.KV().ListPage(ctx, run, "", inmem.ListOptions{}); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("kv: closed: %v", err)
	}
	if _, err := db.Runs().ListPage(ctx, inmem.ListOptions{}); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("runs: closed: %v", err)
	}
}

func TestEventListPage(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	const n = 53
	for i := range n {
		if _, err := db.Events().Append(ctx, run, "e", inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{0, 1, 4, n - 1, n, n + 1, 1 << 40} {
		var got []uint64
		from, late := uint64(0), 0
		for {
			p, err := db.Events().ListPage(ctx, run, inmem.EventListOptions{From: from, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range p.Events {
				got = append(got, ev.Sequence)
			}
			if p.Next != from+uint64(len(p.Events)) {
				t.Fatalf("Next %d after %d events from %d", p.Next, len(p.Events), from)
			}
			from = p.Next
			if !p.More {
				break
			}
			// Appends between pages are picked up, never skipped.
			if late < 5 {
				late++
				if _, err := db.Events().Append(ctx, run, "late", inmem.Null()); err != nil {
					t.Fatal(err)
				}
			}
		}
		total, _ := db.Events().Len(ctx, run)
		if uint64(len(got)) != total {
			t.Fatalf("limit %d: paged %d events of %d", limit, len(got), total)
		}
		for i, s := range got {
			if s != uint64(i) {
				t.Fatalf("limit %d: event %d has sequence %d", limit, i, s)
			}
		}
	}
	p, err := db.Events().ListPage(ctx, run, inmem.EventListOptions{From: 1 << 60})
	if err != nil || len(p.Events) != 0 || p.More || p.Next != 1<<60 {
		t.Fatalf("page past the end = %+v, %v", p, err)
	}
}
