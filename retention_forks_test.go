package inmem_test

import (
	"errors"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// A fork overwrites an inherited key twice and then keeps only its newest
// version. GetAt of the fork at the version of its trimmed first write must
// be that write's value or HistoryTrimmed; it must never fall through to
// the parent's value, which the fork had already replaced then.
func TestRetention_ForkTrimmedOwnVersionNotInherited(t *testing.T) {
	db, fsys, c, src := openWithSource(t)
	defer func() { db.Close() }()
	v0 := mustPut(t, db, src, "k", inmem.Int(1))
	fork, err := db.Runs().Fork(ctx, src, v0, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f1 := mustPut(t, db, fork, "k", inmem.Int(10))
	d1, err := db.KV().Delete(ctx, fork, "k")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, fork, "k", inmem.Int(20))
	check := func(when string) {
		t.Helper()
		for _, at := range []inmem.Version{f1, d1} {
			got, err := db.KV().GetAt(ctx, fork, "k", at)
			if err == nil {
				if at == f1 && got.Value.Equal(inmem.Int(10)) {
					continue
				}
				t.Errorf("%s: fork GetAt(k, %v) = %v; want 10 (or HistoryTrimmed) at f1, NotFound/HistoryTrimmed at the delete — the parent's value leaked through", when, at, got.Value)
				continue
			}
			if errors.Is(err, inmem.ErrHistoryTrimmed) || (at == d1 && errors.Is(err, inmem.ErrNotFound)) {
				continue
			}
			t.Errorf("%s: fork GetAt(k, %v): %v", when, at, err)
		}
	}
	checkThroughCompaction(t, &db, fsys, c, fork, inmem.KeepLast(1), check)
}

// A fork reads its parent's events up to the fork point through the link.
// Retiring the parent's event log afterwards must not take those events
// away from the fork: the fork's own start entry says nothing was retired,
// so its reads must still return every inherited event and its chain must
// verify.
func TestRetention_ParentEventRetireKeepsForkEvents(t *testing.T) {
	db, fsys, c, src := openWithSource(t)
	defer func() { db.Close() }()
	for i := range 5 {
		if _, err := db.Events().Append(ctx, src, "e", inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	fork, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 8; i++ {
		if _, err := db.Events().Append(ctx, src, "e", inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		for seq := uint64(0); seq < 5; seq++ {
			r, err := db.Events().Read(ctx, fork, seq)
			if err != nil {
				t.Errorf("%s: fork Read(%d): %v", when, seq, err)
			} else if !r.Value.Payload.Equal(inmem.Int(int64(seq))) {
				t.Errorf("%s: fork Read(%d) payload = %v", when, seq, r.Value.Payload)
			}
		}
		if got, err := db.Events().Range(ctx, fork, 0, 100); err != nil || len(got) != 5 {
			t.Errorf("%s: fork Range = %d events, %v; want 5", when, len(got), err)
		}
		if rep, err := db.Events().VerifyChain(ctx, fork); err != nil || !rep.OK || rep.Checked != 5 {
			t.Errorf("%s: fork VerifyChain = %+v, %v", when, rep, err)
		}
	}
	checkThroughCompaction(t, &db, fsys, c, src, overrides(inmem.PrimitiveEvent, inmem.KeepLast(1)), check)
}

// The parent (and the first fork) change and delete keys after the fork
// points and keep only their newest versions; the forks, a fork of a fork
// included, still read every key as of their fork points.
func TestRetention_ParentTrimKeepsForkPointState(t *testing.T) {
	db, fsys, c, src := openWithSource(t)
	defer func() { db.Close() }()
	mustPut(t, db, src, "a", inmem.Int(0))
	mustPut(t, db, src, "a", inmem.Int(1))
	mustPut(t, db, src, "b", inmem.Int(2))
	if _, err := db.State().Set(ctx, src, "cell", inmem.Int(3)); err != nil {
		t.Fatal(err)
	}
	f1, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fa, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, f1, "c", inmem.Int(4))
	f2, err := db.Runs().Fork(ctx, f1, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Everything changes after the fork points.
	for _, r := range []inmem.RunID{src, f1} {
		mustPut(t, db, r, "a", inmem.Int(100))
		if _, err := db.KV().Delete(ctx, r, "b"); err != nil {
			t.Fatal(err)
		}
		mustPut(t, db, r, "zz", inmem.Int(1))
		if _, err := db.KV().Delete(ctx, r, "zz"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.State().Set(ctx, r, "cell", inmem.Int(300)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.KV().Delete(ctx, f1, "c"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a": 1, "b": 2}
	check := func(when string, run inmem.RunID, want map[string]int64) {
		t.Helper()
		for k, w := range want {
			g, err := db.KV().Get(ctx, run, k)
			if err != nil || !g.Value.Equal(inmem.Int(w)) {
				t.Errorf("%s: Get(%s) = %v, %v; want %d", when, k, g.Value, err, w)
			}
		}
		keys, err := db.KV().List(ctx, run, "")
		if err != nil || len(keys) != len(want) {
			t.Errorf("%s: List = %v, %v; want %d keys", when, keys, err, len(want))
		}
		if g, err := db.State().Read(ctx, run, "cell"); err != nil || !g.Value.Equal(inmem.Int(3)) {
			t.Errorf("%s: State.Get(cell) = %v, %v; want 3", when, g.Value, err)
		}
	}
	all := func(when string) {
		t.Helper()
		check(when+" fa", fa, want)
		check(when+" f2", f2, map[string]int64{"a": 1, "b": 2, "c": 4})
	}
	all("before compaction")
	for _, r := range []inmem.RunID{src, f1} {
		if _, err := db.SetRetentionPolicy(ctx, r, inmem.KeepLast(1)); err != nil {
			t.Fatal(err)
		}
	}
	mustCompactFull(t, db)
	all("after compaction")
	mustCompactFull(t, db)
	db.Close()
	db = openRet(t, fsys, c)
	all("reopened")
	mustCompactFull(t, db)
	all("reopened+compacted")
}

// As for events: retiring the parent's trace store must not drop the
// traces a fork inherited.
func TestRetention_ParentTraceRetireKeepsForkTraces(t *testing.T) {
	db, fsys, c, src := openWithSource(t)
	defer func() { db.Close() }()
	tr := db.Traces()
	var ids []inmem.TraceID
	for range 4 {
		id, err := tr.Record(ctx, src, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}, Tags: []string{"t"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	fork, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := tr.Record(ctx, src, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "y"}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, id := range ids {
			if _, err := db.Traces().Get(ctx, fork, id); err != nil {
				t.Errorf("%s: fork Get(%v): %v", when, id, err)
			}
		}
		if got, err := db.Traces().List(ctx, fork); err != nil || len(got) != len(ids) {
			t.Errorf("%s: fork List = %d traces, %v; want %d", when, len(got), err, len(ids))
		}
	}
	checkThroughCompaction(t, &db, fsys, c, src, overrides(inmem.PrimitiveTrace, inmem.KeepLast(1)), check)
}

// A fork of a run whose event log was already retired: the fork inherits
// a log whose first events are gone. Reads below the parent's start must
// be HistoryTrimmed (not NotFound) and the retained chain must verify.
// Retiring the fork's own log then leaves the parent's alone.
func TestRetention_ForkOfRetiredEventLog(t *testing.T) {
	db, _, _, src := openWithSource(t)
	defer func() { db.Close() }()
	for i := range 5 {
		if _, err := db.Events().Append(ctx, src, "e", inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SetRetentionPolicy(ctx, src, overrides(inmem.PrimitiveEvent, inmem.KeepLast(2))); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	fork, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, run inmem.RunID) {
		t.Helper()
		if _, err := db.Events().Read(ctx, run, 0); !errors.Is(err, inmem.ErrHistoryTrimmed) {
			t.Errorf("%s: Read(0) = %v; want HistoryTrimmed", when, err)
		}
		if r, err := db.Events().Read(ctx, run, 4); err != nil || !r.Value.Payload.Equal(inmem.Int(4)) {
			t.Errorf("%s: Read(4) = %v, %v", when, r.Value.Payload, err)
		}
		if rep, err := db.Events().VerifyChain(ctx, run); err != nil || !rep.OK {
			t.Errorf("%s: VerifyChain = %+v, %v", when, rep, err)
		}
	}
	check("src", src)
	check("fork", fork)
	// The fork appends and retires its own log; the parent keeps its own.
	for i := 5; i < 8; i++ {
		if _, err := db.Events().Append(ctx, fork, "e", inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SetRetentionPolicy(ctx, fork, overrides(inmem.PrimitiveEvent, inmem.KeepLast(1))); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	check("src after fork retire", src)
	if n, err := db.Events().Len(ctx, src); err != nil || n != 5 {
		t.Errorf("src Len = %d, %v", n, err)
	}
	if rep, err := db.Events().VerifyChain(ctx, fork); err != nil || !rep.OK || rep.Checked != 1 {
		t.Errorf("fork VerifyChain after its retire = %+v, %v", rep, err)
	}
}

// A fork that deletes a key it inherited holds a lone tombstone of its own,
// and that tombstone is what hides the parent's version: retention must not
// purge it, or reads fall through to the parent again and the deleted key
// comes back (found in review).
func TestRetention_ForkDeleteSurvivesPurge(t *testing.T) {
	db, fsys, c, src := openWithSource(t)
	defer func() { db.Close() }()
	mustPut(t, db, src, "k", inmem.Int(1))
	v1 := mustPut(t, db, src, "j", inmem.Int(1))
	fork, err := db.Runs().Fork(ctx, src, v1, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// k: a lone tombstone; j: a tombstone over the fork's own version.
	mustPut(t, db, fork, "j", inmem.Int(2))
	for _, k := range []string{"k", "j"} {
		if _, err := db.KV().Delete(ctx, fork, k); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(when string) {
		t.Helper()
		for _, k := range []string{"k", "j"} {
			if v, err := db.KV().Get(ctx, fork, k); err == nil {
				t.Fatalf("%s: fork Get(%s) = %v, nil; the fork's delete was undone", when, k, v)
			}
			if keys, err := db.KV().List(ctx, fork, ""); err != nil || len(keys) != 0 {
				t.Fatalf("%s: fork List = %v, %v; want none", when, keys, err)
			}
		}
	}
	checkThroughCompaction(t, &db, fsys, c, fork, inmem.KeepLast(1), gone)
}

// openWithSource opens a database on a fresh in-memory file system (see
// openRet) holding a run named "src" to fork from.
func openWithSource(t *testing.T) (*inmem.DB, vfs.FS, *testClock, inmem.RunID) {
	t.Helper()
	fsys, c := vfs.NewMem(), &testClock{}
	db := openRet(t, fsys, c)
	src, err := db.Runs().Create(ctx, "src", inmem.RunOptions{})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db, fsys, c, src
}

// checkThroughCompaction runs check before a Full compaction under policy
// on run, after it, and after a reopen, which replaces *db.
func checkThroughCompaction(t *testing.T, db **inmem.DB, fsys vfs.FS, c *testClock, run inmem.RunID, policy inmem.RetentionPolicy, check func(when string)) {
	t.Helper()
	check("before compaction")
	if _, err := (*db).SetRetentionPolicy(ctx, run, policy); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, *db)
	check("after compaction")
	(*db).Close()
	*db = openRet(t, fsys, c)
	check("reopened")
}
