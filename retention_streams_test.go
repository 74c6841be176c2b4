package inmem_test

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// wantTrimmedV checks err is HistoryTrimmed with the given requested and
// earliest retained versions (of any kind).
func wantTrimmedV(t *testing.T, err error, requested, earliest inmem.Version) {
	t.Helper()
	var e *inmem.Error
	if !errors.As(err, &e) || !errors.Is(err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("err = %v, want HistoryTrimmed", err)
	}
	if e.Requested != requested || e.EarliestRetained != earliest {
		t.Fatalf("HistoryTrimmed requested %s earliest %s, want %s and %s", e.Requested, e.EarliestRetained, requested, earliest)
	}
}

func openDir(t *testing.T, dir string, c *testClock) *inmem.DB {
	t.Helper()
	db, err := inmem.Open(dir, &inmem.Options{Clock: c})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return db
}

func overrides(t inmem.PrimitiveType, p inmem.RetentionPolicy) inmem.RetentionPolicy {
	return inmem.Composite(inmem.KeepAll(), map[inmem.PrimitiveType]inmem.RetentionPolicy{t: p})
}

// checkTrimmedLog checks a log of 10 events whose first 6 were retired.
func checkTrimmedLog(t *testing.T, db *inmem.DB) {
	t.Helper()
	ev := db.Events()
	_, err := ev.Read(ctx, retRun, 5)
	wantTrimmedV(t, err, inmem.Sequence(5), inmem.Sequence(6))
	_, err = ev.Range(ctx, retRun, 0, math.MaxUint64)
	wantTrimmedV(t, err, inmem.Sequence(0), inmem.Sequence(6))
	_, err = ev.ListPage(ctx, retRun, inmem.EventListOptions{From: 2, Limit: 3})
	wantTrimmedV(t, err, inmem.Sequence(2), inmem.Sequence(6))
	tx, err := db.Begin(ctx, retRun, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Events().Read(0)
	tx.Rollback()
	wantTrimmedV(t, err, inmem.Sequence(0), inmem.Sequence(6))
	got, err := ev.Range(ctx, retRun, 6, math.MaxUint64)
	if err != nil || len(got) != 4 || got[0].Sequence != 6 {
		t.Fatalf("Range(retained) = %v, %v", got, err)
	}
	if r, err := ev.Read(ctx, retRun, 9); err != nil || r.Value.Sequence != 9 {
		t.Fatalf("Read(9) = %v, %v", r, err)
	}
	if n, err := ev.Len(ctx, retRun); err != nil || n != 10 {
		t.Fatalf("Len = %d, %v; sequences are never renumbered", n, err)
	}
	rep, err := ev.VerifyChain(ctx, retRun)
	if err != nil || !rep.OK || rep.Checked != 4 {
		t.Fatalf("VerifyChain after trimming = %v, %v", rep, err)
	}
	types, err := ev.Types(ctx, retRun)
	if err != nil || fmt.Sprint(types) != "[a]" {
		t.Fatalf("Types = %v, %v; a type whose events are all retired leaves", types, err)
	}
	as, err := ev.ReadByType(ctx, retRun, "a")
	if err != nil || len(as) != 4 || as[0].Sequence != 6 {
		t.Fatalf("ReadByType(a) = %v, %v", as, err)
	}
}

// Event logs are trimmed as a stream: KeepLast(4) retires all but the 4
// newest events, the chain stays verifiable from the first retained one,
// and reads below it are HistoryTrimmed — after recovery, export and
// import too.
func TestRetention_EventStreamKeepLast(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	c := &testClock{}
	db := openDir(t, dir, c)
	for i := range 10 {
		typ := "a"
		if i < 3 {
			typ = "b"
		}
		if _, err := db.Events().Append(ctx, retRun, typ, inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, overrides(inmem.PrimitiveEvent, inmem.KeepLast(4))); err != nil {
		t.Fatal(err)
	}
	info := mustCompactFull(t, db)
	if info.VersionsRemoved < 6 {
		t.Fatalf("VersionsRemoved = %d, want at least the 6 retired events", info.VersionsRemoved)
	}
	checkTrimmedLog(t, db)
	// A second compaction retires nothing more.
	if info := mustCompactFull(t, db); info.VersionsRemoved != 0 {
		t.Fatalf("second compaction removed %d versions", info.VersionsRemoved)
	}
	checkTrimmedLog(t, db)
	exp := filepath.Join(root, "export")
	if _, err := db.Export(ctx, exp); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDir(t, dir, c)
	checkTrimmedLog(t, db)
	// Appending after a trim extends the verifiable chain.
	if _, err := db.Events().Append(ctx, retRun, "a", inmem.Int(10)); err != nil {
		t.Fatal(err)
	}
	if rep, err := db.Events().VerifyChain(ctx, retRun); err != nil || !rep.OK || rep.Checked != 5 {
		t.Fatalf("VerifyChain after an append = %v, %v", rep, err)
	}
	db.Close()

	db = openDir(t, exp, c)
	checkTrimmedLog(t, db)
	db.Close()
	imp := filepath.Join(root, "imported")
	if err := inmem.Import(ctx, exp, imp, nil); err != nil {
		t.Fatal(err)
	}
	db = openDir(t, imp, c)
	defer db.Close()
	checkTrimmedLog(t, db)
}

// KeepFor retires the events older than the window but always keeps the
// newest; a transaction older than the retirement keeps reading the events.
func TestRetention_EventStreamKeepFor(t *testing.T) {
	c := &testClock{}
	db := openClock(t, c)
	for i := range 5 {
		c.set(int64(i+1) * 1_000_000)
		if _, err := db.Events().Append(ctx, retRun, "a", inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	old, err := db.Begin(ctx, retRun, false)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Rollback()
	if _, err := db.SetRetentionPolicy(ctx, retRun, overrides(inmem.PrimitiveEvent, inmem.KeepFor(2500*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	c.set(6_000_000) // keeps the events at 4s and 5s
	mustCompactFull(t, db)
	_, err = db.Events().Read(ctx, retRun, 2)
	wantTrimmedV(t, err, inmem.Sequence(2), inmem.Sequence(3))
	if r, err := old.Events().Read(0); err != nil || r.Value.Sequence != 0 {
		t.Fatalf("an older snapshot lost event 0: %v, %v", r, err)
	}
	if rep, err := old.Events().VerifyChain(); err != nil || !rep.OK || rep.Checked != 5 {
		t.Fatalf("older snapshot VerifyChain = %v, %v", rep, err)
	}
	old.Rollback()
	// The entries leave memory once the old snapshot is gone.
	if info := mustCompactFull(t, db); info.VersionsRemoved < 3 {
		t.Fatalf("VersionsRemoved after the snapshot closed = %d, want at least 3", info.VersionsRemoved)
	}
	if rep, err := db.Events().VerifyChain(ctx, retRun); err != nil || !rep.OK || rep.Checked != 2 {
		t.Fatalf("VerifyChain = %v, %v", rep, err)
	}
	// Far past the window only the newest event stays.
	c.set(60_000_000)
	mustCompactFull(t, db)
	_, err = db.Events().Read(ctx, retRun, 3)
	wantTrimmedV(t, err, inmem.Sequence(3), inmem.Sequence(4))
	if rep, err := db.Events().VerifyChain(ctx, retRun); err != nil || !rep.OK || rep.Checked != 1 {
		t.Fatalf("VerifyChain = %v, %v", rep, err)
	}
}

// Trace stores are trimmed as a stream in ID order; listings leave retired
// traces out and their index entries leave memory.
func TestRetention_TraceStream(t *testing.T) {
	c := &testClock{}
	db := openClock(t, c)
	tr := db.Traces()
	var ids []inmem.TraceID
	for i := range 6 {
		c.set(int64(i+1) * 1_000_000)
		id, err := tr.Record(ctx, retRun, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: fmt.Sprint(i)}, Tags: []string{"t"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	child, err := tr.RecordChild(ctx, retRun, ids[5], inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "child"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, overrides(inmem.PrimitiveTrace, inmem.KeepLast(3))); err != nil {
		t.Fatal(err)
	}
	info := mustCompactFull(t, db)
	// 4 records with 4 index entries each (time, type, parent, tag).
	if info.VersionsRemoved < 16 {
		t.Fatalf("VersionsRemoved = %d, want at least 16", info.VersionsRemoved)
	}
	first := ids[4]
	_, err = tr.Get(ctx, retRun, ids[0])
	wantTrimmedV(t, err, inmem.Sequence(uint64(ids[0])), inmem.Sequence(uint64(first)))
	_, err = tr.Children(ctx, retRun, ids[1])
	wantTrimmedV(t, err, inmem.Sequence(uint64(ids[1])), inmem.Sequence(uint64(first)))
	_, err = tr.RecordChild(ctx, retRun, ids[2], inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "late"}})
	wantTrimmedV(t, err, inmem.Sequence(uint64(ids[2])), inmem.Sequence(uint64(first)))
	for name, q := range map[string]func() ([]inmem.Versioned[inmem.Trace], error){
		"List":  func() ([]inmem.Versioned[inmem.Trace], error) { return tr.List(ctx, retRun) },
		"Tag":   func() ([]inmem.Versioned[inmem.Trace], error) { return tr.QueryByTag(ctx, retRun, "t") },
		"Roots": func() ([]inmem.Versioned[inmem.Trace], error) { return tr.Roots(ctx, retRun) },
	} {
		got, err := q()
		if err != nil || len(got) == 0 || got[0].Value.ID != first {
			t.Fatalf("%s = %v, %v; want retired traces left out", name, traceIDs(got), err)
		}
	}
	if n, err := tr.Count(ctx, retRun); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	if got, err := tr.Get(ctx, retRun, child); err != nil || got.Value.Parent != ids[5] {
		t.Fatalf("Get(child) = %v, %v", got, err)
	}
}

// A state cell read at a trimmed counter is HistoryTrimmed, never NotFound
// (RT2), and the deletions its history keeps carry their real counter.
func TestRetention_StateHistory(t *testing.T) {
	db := openMem(t)
	st := db.State()
	if _, err := st.Init(ctx, retRun, "c", inmem.Int(0)); err != nil {
		t.Fatal(err)
	}
	var last inmem.Version
	for i := 1; i <= 3; i++ {
		v, err := st.Set(ctx, retRun, "c", inmem.Int(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		last = v
	}
	if err := st.Delete(ctx, retRun, "c"); err != nil {
		t.Fatal(err)
	}
	again, err := st.Init(ctx, retRun, "c", inmem.Int(10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(2)); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	_, err = st.GetAt(ctx, retRun, "c", inmem.Counter(1))
	wantTrimmedV(t, err, inmem.Counter(1), inmem.Counter(again.N))
	h, err := st.History(ctx, retRun, "c")
	if !errors.Is(err, inmem.ErrHistoryTrimmed) || len(h) != 2 {
		t.Fatalf("History = %v, %v; want the 2 retained versions and HistoryTrimmed", h, err)
	}
	if !h[1].Deleted || h[1].Version != last || h[0].Version != again {
		t.Fatalf("History = %+v; want the deletion at counter %s under %s", h, last, again)
	}
	// Deleted and purged: old versions still answer HistoryTrimmed.
	if err := st.Delete(ctx, retRun, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	if _, err := st.GetAt(ctx, retRun, "c", inmem.Counter(1)); !errors.Is(err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("GetAt(purged, counter 1) = %v, want HistoryTrimmed", err)
	}
	if _, err := st.GetAt(ctx, retRun, "c", inmem.Txn(1)); !errors.Is(err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("GetAt(purged, txn 1) = %v, want HistoryTrimmed", err)
	}
	// A new incarnation continues the count.
	v, err := st.Init(ctx, retRun, "c", inmem.Int(20))
	if err != nil || v.N <= again.N {
		t.Fatalf("Init after purge = %s, %v; want a counter above %s", v, err, again)
	}
}

// JSON history: reads at trimmed versions, of a live and of a destroyed and
// purged document, are HistoryTrimmed.
func TestRetention_JSONHistory(t *testing.T) {
	db := openMem(t)
	js := db.JSON()
	obj := func(n int64) inmem.Value { return inmem.ObjectOf(inmem.Field{Key: "n", Value: inmem.Int(n)}) }
	v1, err := js.Create(ctx, retRun, "live", obj(1))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := js.Set(ctx, retRun, "live", "$.n", inmem.Int(2))
	if err != nil {
		t.Fatal(err)
	}
	g1, err := js.Create(ctx, retRun, "gone", obj(1))
	if err != nil {
		t.Fatal(err)
	}
	gd, err := js.Destroy(ctx, retRun, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, overrides(inmem.PrimitiveJSON, inmem.KeepLast(1))); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	_, err = js.GetAt(ctx, retRun, "live", v1)
	wantTrimmed(t, err, v1.N, v2.N)
	if got, err := js.GetAt(ctx, retRun, "live", v2); err != nil || got.Version != v2 {
		t.Fatalf("GetAt(retained) = %v, %v", got, err)
	}
	h, err := js.History(ctx, retRun, "live")
	if !errors.Is(err, inmem.ErrHistoryTrimmed) || len(h) != 1 {
		t.Fatalf("History(live) = %v, %v", h, err)
	}
	_, err = js.GetAt(ctx, retRun, "gone", g1)
	wantTrimmed(t, err, g1.N, gd.N)
	if h, err := js.History(ctx, retRun, "gone"); !errors.Is(err, inmem.ErrHistoryTrimmed) || len(h) != 0 {
		t.Fatalf("History(purged) = %v, %v", h, err)
	}
}

// A purged entity's old versions answer HistoryTrimmed from the per-(run,
// space) floor, which survives recovery from the snapshot alone, export
// and import.
func TestRetention_FloorsSurviveExportImport(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	c := &testClock{}
	db := openDir(t, dir, c)
	a := mustPut(t, db, retRun, "gone", inmem.Int(1)).N
	if _, err := db.KV().Delete(ctx, retRun, "gone"); err != nil {
		t.Fatal(err)
	}
	del := inmem.Visible(db)
	mustPut(t, db, retRun, "kept", inmem.Int(2))
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	check := func(name string, db *inmem.DB) {
		t.Helper()
		_, err := db.KV().GetAt(ctx, retRun, "gone", inmem.Txn(a))
		if !errors.Is(err, inmem.ErrHistoryTrimmed) {
			t.Fatalf("%s: GetAt(purged) = %v, want HistoryTrimmed", name, err)
		}
		wantTrimmed(t, err, a, del)
		h, err := db.KV().History(ctx, retRun, "gone")
		if !errors.Is(err, inmem.ErrHistoryTrimmed) || len(h) != 0 {
			t.Fatalf("%s: History(purged) = %v, %v", name, h, err)
		}
	}
	check("live", db)
	exp := filepath.Join(root, "export")
	if _, err := db.Export(ctx, exp); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openDir(t, dir, c) // the WAL before the snapshot is gone: floors come from it
	check("recovered", db)
	db.Close()
	imp := filepath.Join(root, "imported")
	if err := inmem.Import(ctx, exp, imp, nil); err != nil {
		t.Fatal(err)
	}
	db = openDir(t, imp, c)
	defer db.Close()
	check("imported", db)
}

// Stream retirement races with appends: every append succeeds, the chain
// verifies from the first retained event after every compaction, and the
// retained suffix is contiguous up to the head.
func TestRetention_EventStreamConcurrentAppends(t *testing.T) {
	db := openMem(t)
	if _, err := db.SetRetentionPolicy(ctx, retRun, overrides(inmem.PrimitiveEvent, inmem.KeepLast(10))); err != nil {
		t.Fatal(err)
	}
	const n = 600
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			typ := fmt.Sprint("t", i%7)
			if _, err := db.Events().Append(ctx, retRun, typ, inmem.Int(int64(i))); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var appendErr error
	for done := false; !done; {
		select {
		case appendErr = <-errc:
			done = true
		default:
		}
		mustCompactFull(t, db)
		rep, err := db.Events().VerifyChain(ctx, retRun)
		if err != nil || !rep.OK {
			t.Fatalf("VerifyChain during appends = %v, %v", rep, err)
		}
	}
	if appendErr != nil {
		t.Fatal(appendErr)
	}
	mustCompactFull(t, db)
	got, err := db.Events().Range(ctx, retRun, n-10, math.MaxUint64)
	if err != nil || len(got) != 10 || got[9].Sequence != n-1 {
		t.Fatalf("Range(last 10) = %d events, %v", len(got), err)
	}
	_, err = db.Events().Read(ctx, retRun, n-11)
	wantTrimmedV(t, err, inmem.Sequence(n-11), inmem.Sequence(n-10))
	if rep, err := db.Events().VerifyChain(ctx, retRun); err != nil || !rep.OK || rep.Checked != 10 {
		t.Fatalf("VerifyChain = %v, %v", rep, err)
	}
	types, err := db.Events().Types(ctx, retRun)
	if err != nil || len(types) != 7 {
		t.Fatalf("Types = %v, %v", types, err)
	}
}
