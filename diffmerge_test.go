package inmem_test

import (
	"errors"
	"iter"
	"testing"

	"github.com/inmemdb/inmem"
)

func collectDiff(t testing.TB, db *inmem.DB, a, b inmem.RunID) []inmem.EntityDiff {
	t.Helper()
	var out []inmem.EntityDiff
	for c, err := range db.Runs().Diff(ctx, a, b) {
		if err != nil {
			t.Fatalf("Diff: %v", err)
		}
		out = append(out, c)
	}
	return out
}

func TestDiff_ForkAndSource(t *testing.T) {
	db := openMem(t)
	src, at := forkFixture(t, db)
	f, err := db.Runs().Fork(ctx, src, at, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := collectDiff(t, db, src, f); len(got) != 0 {
		t.Fatalf("a fresh fork differs from its source: %+v", got)
	}
	mustPut(t, db, f, "a", inmem.Int(10)) // changed
	mustPut(t, db, f, "z", inmem.Int(26)) // added
	if _, err := db.KV().Delete(ctx, f, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JSON().Set(ctx, f, "doc", "/y", inmem.String("new")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JSON().Set(ctx, f, "doc", "/l", inmem.MustValue([]any{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	if _, err := db.State().Set(ctx, f, "phase", inmem.String("act")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events().Append(ctx, f, "fork", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events().Append(ctx, src, "src1", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events().Append(ctx, src, "src2", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	got := collectDiff(t, db, src, f)
	type row struct {
		kind inmem.DiffKind
		prim inmem.PrimitiveType
		key  string
	}
	want := []row{
		{inmem.DiffChanged, inmem.PrimitiveKV, "a"},
		{inmem.DiffRemoved, inmem.PrimitiveKV, "b"},
		{inmem.DiffAdded, inmem.PrimitiveKV, "z"},
		{inmem.DiffChanged, inmem.PrimitiveState, "phase"},
		{inmem.DiffChanged, inmem.PrimitiveJSON, "doc"},
		{inmem.DiffChanged, inmem.PrimitiveEvent, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("diff has %d changes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if g := got[i]; g.Kind != w.kind || g.Primitive != w.prim || g.Key != w.key {
			t.Fatalf("change %d = %v %v %q, want %+v", i, g.Kind, g.Primitive, g.Key, w)
		}
	}
	if a, _ := got[0].A.Value.AsInt(); a != 1 {
		t.Fatalf("A side of a: %v", got[0].A.Value)
	}
	if b, _ := got[0].B.Value.AsInt(); b != 10 {
		t.Fatalf("B side of a: %v", got[0].B.Value)
	}
	// The JSON patch turns A's document into B's.
	jd := got[4]
	scratch := inmem.NewRunID()
	if _, err := db.JSON().Create(ctx, scratch, "d", jd.A.Value); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JSON().Patch(ctx, scratch, "d", jd.Patch); err != nil {
		t.Fatalf("Patch(%+v): %v", jd.Patch, err)
	}
	res, err := db.JSON().Get(ctx, scratch, "d", "")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Value.Equal(jd.B.Value) {
		t.Fatalf("patched %v, want %v (patch %+v)", res.Value, jd.B.Value, jd.Patch)
	}
	ed := got[5].Events
	ea, eb := collectEvents(t, ed.A(ctx)), collectEvents(t, ed.B(ctx))
	if ed.Common != 2 || ed.ALen != 2 || ed.BLen != 1 || len(ea) != 2 || len(eb) != 1 || ea[0].Type != "src1" || eb[0].Type != "fork" {
		t.Fatalf("event diff %+v: %v / %v", ed, ea, eb)
	}
}

func TestDiff_OneRunAtTwoVersions(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	v1 := mustPut(t, db, run, "k", inmem.Int(1))
	mustPut(t, db, run, "k", inmem.Int(2))
	var got []inmem.EntityDiff
	for c, err := range db.Runs().DiffAt(ctx, inmem.RunAt{Run: run, At: v1}, inmem.RunAt{Run: run}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if len(got) != 1 || got[0].Kind != inmem.DiffChanged || got[0].Key != "k" {
		t.Fatalf("diff %+v", got)
	}
	future := inmem.Version{Kind: inmem.TxnVersion, N: 1 << 40}
	for _, err := range db.Runs().DiffAt(ctx, inmem.RunAt{Run: run, At: future}, inmem.RunAt{Run: run}) {
		if inmem.CodeOf(err) != inmem.CodeInvalidArgument {
			t.Fatalf("future version: %v", err)
		}
	}
}

func TestMerge_ThreeWay(t *testing.T) {
	for _, strategy := range []inmem.MergeStrategy{inmem.MergeFailOnConflict, inmem.MergeSourceWins, inmem.MergeTargetWins} {
		t.Run(strategy.String(), func(t *testing.T) {
			db := openMem(t)
			src, _ := forkFixture(t, db)
			at := mustPut(t, db, src, "x", inmem.Int(99))
			f, err := db.Runs().Fork(ctx, src, at, inmem.ForkOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mustPut(t, db, f, "a", inmem.Int(10))                  // only the fork: merged
			mustPut(t, db, f, "b", inmem.Int(20))                  // both, differently: conflict
			mustPut(t, db, src, "b", inmem.Int(21))                //
			mustPut(t, db, f, "c", inmem.Int(30))                  // both, the same way
			mustPut(t, db, src, "c", inmem.Int(30))                //
			mustPut(t, db, src, "d", inmem.Int(40))                // only the target
			if _, err := db.KV().Delete(ctx, f, "x"); err != nil { // deleted in the fork only
				t.Fatal(err)
			}
			if _, err := db.State().Set(ctx, f, "phase", inmem.String("act")); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Events().Append(ctx, f, "fork-ev", inmem.Int(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Events().Append(ctx, src, "src-ev", inmem.Int(2)); err != nil {
				t.Fatal(err)
			}
			before := kvMap(t, db, src)
			res, err := db.Runs().Merge(ctx, f, src, strategy)
			if len(res.Conflicts) != 1 || res.Conflicts[0].Key != "b" {
				t.Fatalf("conflicts %+v", res.Conflicts)
			}
			if strategy == inmem.MergeFailOnConflict {
				if inmem.CodeOf(err) != inmem.CodeConstraintViolation {
					t.Fatalf("Merge = %v, want ConstraintViolation", err)
				}
				if got := kvMap(t, db, src); !mapsEqual(got, before) {
					t.Fatalf("a failed merge wrote: %v -> %v", before, got)
				}
				n, _ := db.Events().Len(ctx, src)
				if n != 3 {
					t.Fatalf("a failed merge appended events: %d", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantB := int64(21)
			if strategy == inmem.MergeSourceWins {
				wantB = 20
			}
			want := map[string]int64{"a": 10, "b": wantB, "c": 30, "d": 40}
			if got := kvMap(t, db, src); !mapsEqual(got, want) {
				t.Fatalf("after merge %v, want %v", got, want)
			}
			st, _ := db.State().Read(ctx, src, "phase")
			if s, _ := st.Value.AsString(); s != "act" {
				t.Fatalf("state after merge %v", st.Value)
			}
			evs, _ := db.Events().Range(ctx, src, 0, 100)
			if len(evs) != 4 || evs[2].Type != "src-ev" || evs[3].Type != "fork-ev" {
				t.Fatalf("events after merge %+v", evs)
			}
			rep, err := db.Events().VerifyChain(ctx, src)
			if err != nil || !rep.OK {
				t.Fatalf("chain after merge %+v %v", rep, err)
			}
			// Merging again takes nothing new.
			res, err = db.Runs().Merge(ctx, f, src, strategy)
			if err != nil || res.Applied != 0 || res.Events != 0 {
				t.Fatalf("second merge %+v %v", res, err)
			}
		})
	}
}

func TestMerge_UnrelatedRefused(t *testing.T) {
	db := openMem(t)
	a := mustCreate(t, db, "a", inmem.RunOptions{})
	b := mustCreate(t, db, "b", inmem.RunOptions{Parent: &a})
	for _, pair := range [][2]inmem.RunID{{a, b}, {b, a}, {a, a}} {
		if _, err := db.Runs().Merge(ctx, pair[0], pair[1], inmem.MergeSourceWins); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
			t.Fatalf("Merge(%v, %v) = %v, want InvalidArgument", pair[0], pair[1], err)
		}
	}
	if _, err := db.Runs().Merge(ctx, inmem.NewRunID(), a, inmem.MergeSourceWins); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Merge(unregistered) = %v", err)
	}
}

func collectEvents(t testing.TB, seq iter.Seq2[inmem.Event, error]) []inmem.Event {
	t.Helper()
	var out []inmem.Event
	for ev, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}
