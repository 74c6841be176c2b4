package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/inmemdb/inmem"
	"pgregory.net/rapid"
)

// countVisits diffs a and b and returns the changes and how many entities
// the diff compared.
func countVisits(t *testing.T, db *inmem.DB, a, b inmem.RunAt) (changes, visits int) {
	t.Helper()
	inmem.SetDiffVisitHook(func(inmem.PrimitiveType, string) { visits++ })
	defer inmem.SetDiffVisitHook(nil)
	for c, err := range db.Runs().DiffAt(ctx, a, b) {
		if err != nil {
			t.Fatal(err)
		}
		if c.Primitive != inmem.PrimitiveEvent {
			changes++
		}
	}
	return changes, visits
}

// TestDiff_ForkVisitsOnlyWrites diffs a large run with forks that changed
// a few entities: the diff compares only the entities either side wrote
// since the fork point, never the thousands both still share.
func TestDiff_ForkVisitsOnlyWrites(t *testing.T) {
	db := openMem(t)
	const n = 5000
	src := loadRun(t, db, "src", n)
	fp := inmem.Txn(inmem.Visible(db))
	f, err := db.Runs().Fork(ctx, src, fp, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustPut(t, db, f, forkKey(i*400), inmem.Int(-1))
	}
	mustPut(t, db, f, "new-in-fork", inmem.Int(1))
	if _, err := db.KV().Delete(ctx, f, forkKey(7)); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		mustPut(t, db, src, forkKey(i*400+1), inmem.Int(-2))
	}
	if _, err := db.KV().Delete(ctx, src, forkKey(9)); err != nil {
		t.Fatal(err)
	}
	// A fork of the fork, and a sibling: both read through src.
	ff, err := db.Runs().Fork(ctx, f, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, ff, forkKey(3), inmem.Int(-3))
	sib, err := db.Runs().Fork(ctx, src, fp, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, sib, forkKey(5), inmem.Int(-4))
	unrelated := loadRun(t, db, "other", n)
	mustPut(t, db, unrelated, forkKey(0), inmem.Int(-5))

	for _, c := range []struct {
		name                string
		a, b                inmem.RunAt
		changes, maxVisited int
	}{
		{"fork vs source", inmem.RunAt{Run: src}, inmem.RunAt{Run: f}, 17, 17},
		{"fork vs fork point", inmem.RunAt{Run: src, At: fp}, inmem.RunAt{Run: f}, 12, 12},
		{"source at two versions", inmem.RunAt{Run: src, At: fp}, inmem.RunAt{Run: src}, 5, 5},
		// Before the fork existed it read nothing through a link.
		{"fork before its link", inmem.RunAt{Run: f, At: fp}, inmem.RunAt{Run: f}, n, n},
		{"fork of fork vs source", inmem.RunAt{Run: src}, inmem.RunAt{Run: ff}, 18, 18},
		{"siblings", inmem.RunAt{Run: f}, inmem.RunAt{Run: sib}, 13, 13},
		// Unrelated runs are compared entity by entity.
		{"unrelated", inmem.RunAt{Run: src}, inmem.RunAt{Run: unrelated}, 6, n},
	} {
		changes, visits := countVisits(t, db, c.a, c.b)
		if changes != c.changes || visits > c.maxVisited {
			t.Errorf("%s: %d changes, %d entities compared; want %d changes, at most %d compared", c.name, changes, visits, c.changes, c.maxVisited)
		}
	}
}

// TestDiff_RelatedRunsAgreeWithReads builds random trees of forks with
// writes on every side and checks every diff between two of their states
// against what reads of both states give.
func TestDiff_RelatedRunsAgreeWithReads(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		db := openMem(t)
		defer db.Close()
		keys := rapid.SampledFrom([]string{"k0", "k1", "k2", "k3", "k4"})
		first := mustCreate(t, db, "r0", inmem.RunOptions{})
		runs := []inmem.RunID{first}
		points := []inmem.RunAt{{Run: first}}
		for i := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			run := rapid.SampledFrom(runs).Draw(rt, "run")
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0, 1:
				v := mustPut(t, db, run, keys.Draw(rt, "key"), inmem.Int(rapid.Int64Range(0, 2).Draw(rt, "val")))
				points = append(points, inmem.RunAt{Run: run, At: v})
			case 2:
				v, err := db.KV().Delete(ctx, run, keys.Draw(rt, "key"))
				if e := (*inmem.Error)(nil); errors.As(err, &e) && e.Code == inmem.CodeNotFound {
					continue
				}
				if err != nil {
					rt.Fatal(err)
				}
				points = append(points, inmem.RunAt{Run: run, At: v})
			case 3, 4:
				// Fork at a recorded version of any run (possibly one
				// before the run held anything).
				at := rapid.SampledFrom(points).Draw(rt, "at")
				f, err := db.Runs().Fork(ctx, at.Run, at.At, inmem.ForkOptions{Name: fmt.Sprint("f", i)})
				if err != nil {
					rt.Fatal(err)
				}
				runs = append(runs, f)
				points = append(points, inmem.RunAt{Run: f, At: inmem.Txn(inmem.Visible(db))})
			case 5:
				r := mustCreate(t, db, fmt.Sprint("x", i), inmem.RunOptions{})
				runs = append(runs, r)
			}
		}
		for _, r := range runs {
			points = append(points, inmem.RunAt{Run: r})
		}
		for range 10 {
			a := rapid.SampledFrom(points).Draw(rt, "a")
			// Any run at any recorded version, its own or another's.
			b := inmem.RunAt{Run: rapid.SampledFrom(runs).Draw(rt, "b"), At: rapid.SampledFrom(points).Draw(rt, "bAt").At}
			if rapid.Bool().Draw(rt, "same run") {
				b.Run = a.Run
			}
			ma, mb := kvAt(rt, db, a), kvAt(rt, db, b)
			want := map[string]inmem.DiffKind{}
			for k, v := range ma {
				if w, ok := mb[k]; !ok {
					want[k] = inmem.DiffRemoved
				} else if w != v {
					want[k] = inmem.DiffChanged
				}
			}
			for k := range mb {
				if _, ok := ma[k]; !ok {
					want[k] = inmem.DiffAdded
				}
			}
			got := map[string]inmem.DiffKind{}
			for c, err := range db.Runs().DiffAt(ctx, a, b) {
				if err != nil {
					rt.Fatal(err)
				}
				if c.Primitive != inmem.PrimitiveKV {
					continue
				}
				got[c.Key] = c.Kind
				if (c.A == nil) != (c.Kind == inmem.DiffAdded) || (c.B == nil) != (c.Kind == inmem.DiffRemoved) {
					rt.Fatalf("%+v", c)
				}
				if c.A != nil && c.A.Value.String() != ma[c.Key] || c.B != nil && c.B.Value.String() != mb[c.Key] {
					rt.Fatalf("diff %v vs %v: %s is %v / %v, reads %v / %v", a, b, c.Key, c.A, c.B, ma, mb)
				}
			}
			if !maps.Equal(got, want) {
				rt.Fatalf("diff %v vs %v: %v, want %v (reads %v / %v)", a, b, got, want, ma, mb)
			}
		}
	})
}

// kvAt reads every KV entry of s.Run as of s.At.
func kvAt(rt interface{ Fatal(...any) }, db *inmem.DB, s inmem.RunAt) map[string]string {
	at := s.At
	if at == (inmem.Version{}) {
		at = inmem.Txn(inmem.Visible(db))
	}
	out := map[string]string{}
	err := db.ViewAt(ctx, s.Run, inmem.AtVersion(at), func(tx *inmem.Tx) error {
		for e, err := range tx.KV().Scan("") {
			if err != nil {
				return err
			}
			out[e.Key] = e.Value.String()
		}
		return nil
	})
	if err != nil {
		rt.Fatal(err)
	}
	return out
}

// TestDiff_EventSuffixesAreLazy diffs two logs that diverged by thousands
// of events: the diff carries their counts, and the suffixes are read on
// demand, also after the diff ended, and stop where the reader stops.
func TestDiff_EventSuffixesAreLazy(t *testing.T) {
	db := openMem(t)
	src := mustCreate(t, db, "src", inmem.RunOptions{})
	for i := range 3 {
		if _, err := db.Events().Append(ctx, src, fmt.Sprint("shared", i), inmem.Null()); err != nil {
			t.Fatal(err)
		}
	}
	f, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const forkEvents = 1500
	for lo := 0; lo < forkEvents; lo += 500 {
		err := db.Update(ctx, f, func(tx *inmem.Tx) error {
			for i := lo; i < lo+500; i++ {
				if _, err := tx.Events().Append(fmt.Sprint("f", i), inmem.Int(int64(i))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Events().Append(ctx, src, "src-only", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	var ed *inmem.EventDiff
	for c, err := range db.Runs().Diff(ctx, src, f) {
		if err != nil {
			t.Fatal(err)
		}
		if c.Events != nil {
			ed = c.Events
		}
	}
	if ed == nil || ed.Common != 3 || ed.ALen != 1 || ed.BLen != forkEvents {
		t.Fatalf("event diff %+v", ed)
	}
	// Written after the diff: the suffixes stay as of the diff.
	if _, err := db.Events().Append(ctx, f, "later", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	ea := collectEvents(t, ed.A(ctx))
	if len(ea) != 1 || ea[0].Type != "src-only" {
		t.Fatalf("A suffix %v", ea)
	}
	eb := collectEvents(t, ed.B(ctx))
	if len(eb) != forkEvents || eb[0].Type != "f0" || eb[forkEvents-1].Type != fmt.Sprint("f", forkEvents-1) || eb[0].Sequence != 3 {
		t.Fatalf("B suffix: %d events, first %+v", len(eb), eb[0])
	}
	n := 0
	for _, err := range ed.B(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 10 {
			break
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var last error
	for _, err := range ed.B(cctx) {
		last = err
	}
	var e *inmem.Error
	if !errors.As(last, &e) || e.Code != inmem.CodeCanceled {
		t.Fatalf("cancelled read: %v", last)
	}
}

// TestDiff_RelatedWhileWriting diffs a fork and its source at fixed
// versions while writers keep changing both: each diff equals what reads
// at those versions give.
func TestDiff_RelatedWhileWriting(t *testing.T) {
	db := openMem(t)
	src := loadRun(t, db, "src", 500)
	f, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for w, run := range []inmem.RunID{src, f} {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 300 {
				k := forkKey((i*37 + w) % 600)
				if i%5 == 4 {
					db.KV().Delete(ctx, run, k) // NotFound is fine
					continue
				}
				if _, err := db.KV().Put(ctx, run, k, inmem.Int(int64(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	check := func() {
		v := inmem.Txn(inmem.Visible(db))
		a, b := inmem.RunAt{Run: src, At: v}, inmem.RunAt{Run: f, At: v}
		got := map[string]inmem.DiffKind{}
		for c, err := range db.Runs().DiffAt(ctx, a, b) {
			if err != nil {
				t.Fatal(err)
			}
			if c.Primitive == inmem.PrimitiveKV {
				got[c.Key] = c.Kind
			}
		}
		ma, mb := kvAt(t, db, a), kvAt(t, db, b)
		for k, kind := range got {
			_, inA := ma[k]
			_, inB := mb[k]
			if inA == (kind == inmem.DiffAdded) || inB == (kind == inmem.DiffRemoved) {
				t.Fatalf("%s: %v, reads %v / %v", k, kind, inA, inB)
			}
		}
		for k, va := range ma {
			if vb, ok := mb[k]; ok && vb != va && got[k] != inmem.DiffChanged {
				t.Fatalf("%s differs (%s / %s) but diff says %v", k, va, vb, got[k])
			}
			if _, ok := mb[k]; !ok && got[k] != inmem.DiffRemoved {
				t.Fatalf("%s only in A but diff says %v", k, got[k])
			}
		}
		for k := range mb {
			if _, ok := ma[k]; !ok && got[k] != inmem.DiffAdded {
				t.Fatalf("%s only in B but diff says %v", k, got[k])
			}
		}
	}
	for range 10 {
		check()
	}
	<-done
	<-done
	check()
}
