package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

func mustCreate(t testing.TB, db *inmem.DB, name string, opts inmem.RunOptions) inmem.RunID {
	t.Helper()
	id, err := db.Runs().Create(ctx, name, opts)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return id
}

func runIDs(vs []inmem.Versioned[inmem.RunInfo]) []inmem.RunID {
	out := []inmem.RunID{}
	for _, v := range vs {
		out = append(out, v.Value.ID)
	}
	return out
}

func TestRuns_CreateGetGetByName(t *testing.T) {
	clock := &testClock{}
	clock.set(1000)
	db := openClock(t, clock)
	runs := db.Runs()
	meta := inmem.MustValue(map[string]any{"agent": "planner"})
	parent := mustCreate(t, db, "parent", inmem.RunOptions{})
	clock.set(2000)
	id, err := runs.Create(ctx, "child run ☃", inmem.RunOptions{Parent: &parent, Tags: []string{"x", "y", "x"}, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	if id.IsGlobal() || id == parent {
		t.Fatalf("bad new id %v", id)
	}
	got, err := runs.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	info := got.Value
	if info.ID != id || info.Name != "child run ☃" || info.Parent == nil || *info.Parent != parent ||
		info.Status != inmem.RunActive || !slices.Equal(info.Tags, []string{"x", "y"}) || !info.Metadata.Equal(meta) ||
		info.Error != "" || info.CreatedAt != 2000 || info.UpdatedAt != 2000 {
		t.Fatalf("Get = %+v", info)
	}
	if got.Version.Kind != inmem.TxnVersion || got.Version.N == 0 || info.Version != got.Version || got.Timestamp == 0 {
		t.Fatalf("versions: %v %v %v", got.Version, info.Version, got.Timestamp)
	}
	byName, err := runs.GetByName(ctx, "child run ☃")
	if err != nil || byName.Value.ID != id || byName.Version != got.Version {
		t.Fatalf("GetByName = %+v, %v", byName, err)
	}
	p, _ := runs.Get(ctx, parent)
	if p.Value.Parent != nil || p.Value.Tags != nil || !p.Value.Metadata.IsNull() {
		t.Fatalf("parent record = %+v", p.Value)
	}
	if _, err := runs.Get(ctx, inmem.NewRunID()); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("Get(unknown) = %v", err)
	}
	if _, err := runs.GetByName(ctx, "nobody"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("GetByName(unknown) = %v", err)
	}
	if _, err := runs.Create(ctx, "orphan", inmem.RunOptions{Parent: new(inmem.NewRunID())}); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("Create with a missing parent = %v", err)
	}
	if n, _ := runs.Count(ctx); n != 2 {
		t.Fatalf("Count = %d", n)
	}
}

func TestRuns_NameValidation(t *testing.T) {
	db := openMem(t)
	for _, name := range []string{"", strings.Repeat("n", 257), "a\x00b", "a\nb", "tab\t", "\x7f", "c1\u0085", "\xff"} {
		if _, err := db.Runs().Create(ctx, name, inmem.RunOptions{}); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("Create(%.20q) = %v, want InvalidArgument", name, err)
		}
		if _, err := db.Runs().GetByName(ctx, name); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("GetByName(%.20q) = %v, want InvalidArgument", name, err)
		}
	}
	for _, name := range []string{strings.Repeat("n", 256), "a/b", "日本語", " spaced ", "_system/x"} {
		if _, err := db.Runs().Create(ctx, name, inmem.RunOptions{}); err != nil {
			t.Errorf("Create(%.20q) = %v", name, err)
		}
	}
	if n, _ := db.Runs().Count(ctx); n != 5 {
		t.Fatalf("Count = %d", n)
	}
}

func TestRuns_NamesUnique(t *testing.T) {
	db := openMem(t)
	mustCreate(t, db, "a", inmem.RunOptions{})
	if _, err := db.Runs().Create(ctx, "a", inmem.RunOptions{}); !errors.Is(err, inmem.ErrAlreadyExists) {
		t.Fatalf("duplicate Create = %v", err)
	}
	// Names that share prefixes are distinct.
	for _, name := range []string{"ab", "a b", "a/"} {
		mustCreate(t, db, name, inmem.RunOptions{})
	}
	got, _ := db.Runs().GetByName(ctx, "a")
	if got.Value.Name != "a" {
		t.Fatalf("GetByName(a) = %+v", got.Value)
	}
}

func TestRuns_ConcurrentCreateSameNameOneWins(t *testing.T) {
	db, err := inmem.Open("", &inmem.Options{MaxConflictRetries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for round := range 20 {
		name := fmt.Sprint("run-", round)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		ids := make([]inmem.RunID, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				ids[i], errs[i] = db.Runs().Create(ctx, name, inmem.RunOptions{})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		var winner inmem.RunID
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				winner = ids[i]
			case !errors.Is(err, inmem.ErrAlreadyExists):
				t.Fatalf("Create: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d winners", round, wins)
		}
		got, err := db.Runs().GetByName(ctx, name)
		if err != nil || got.Value.ID != winner {
			t.Fatalf("GetByName = %v, %v; want the winner %v", got.Value.ID, err, winner)
		}
	}
	if n, _ := db.Runs().Count(ctx); n != 20 {
		t.Fatalf("Count = %d", n)
	}
}

// lifecycle is the run lifecycle of the specification, written out
// independently of RunStatus.CanTransition.
var lifecycle = map[inmem.RunStatus][]inmem.RunStatus{
	inmem.RunActive:    {inmem.RunCompleted, inmem.RunFailed, inmem.RunCancelled, inmem.RunPaused, inmem.RunArchived},
	inmem.RunPaused:    {inmem.RunActive, inmem.RunFailed, inmem.RunCancelled, inmem.RunArchived},
	inmem.RunCompleted: {inmem.RunArchived},
	inmem.RunFailed:    {inmem.RunArchived},
	inmem.RunCancelled: {inmem.RunArchived},
	inmem.RunArchived:  nil,
}

// reach creates a run and drives it into status along a legal path.
func reach(t testing.TB, db *inmem.DB, name string, status inmem.RunStatus) inmem.RunID {
	t.Helper()
	id := mustCreate(t, db, name, inmem.RunOptions{})
	var err error
	switch status {
	case inmem.RunActive:
	case inmem.RunPaused:
		_, err = db.Runs().Pause(ctx, id)
	case inmem.RunCompleted:
		_, err = db.Runs().Complete(ctx, id)
	case inmem.RunFailed:
		_, err = db.Runs().Fail(ctx, id, "boom")
	case inmem.RunCancelled:
		_, err = db.Runs().Cancel(ctx, id)
	case inmem.RunArchived:
		_, err = db.Runs().Archive(ctx, id)
	}
	if err != nil {
		t.Fatalf("reach %s: %v", status, err)
	}
	if got, _ := db.Runs().Get(ctx, id); got.Value.Status != status {
		t.Fatalf("reach %s: status is %s", status, got.Value.Status)
	}
	return id
}

// TestRuns_StatusTransitions tries every one of the 6×6 (from, to) pairs.
func TestRuns_StatusTransitions(t *testing.T) {
	db := openMem(t)
	if len(inmem.RunStatuses) != 6 {
		t.Fatalf("%d statuses", len(inmem.RunStatuses))
	}
	for _, from := range inmem.RunStatuses {
		for _, to := range inmem.RunStatuses {
			legal := slices.Contains(lifecycle[from], to)
			if from.CanTransition(to) != legal {
				t.Errorf("CanTransition(%s → %s) = %v, the lifecycle says %v", from, to, !legal, legal)
			}
			id := reach(t, db, fmt.Sprint(from, "→", to), from)
			before, _ := db.Runs().Get(ctx, id)
			v, err := db.Runs().SetStatus(ctx, id, to)
			after, _ := db.Runs().Get(ctx, id)
			if legal {
				if err != nil {
					t.Errorf("%s → %s: %v", from, to, err)
					continue
				}
				if after.Value.Status != to || after.Version != v || v.N <= before.Version.N {
					t.Errorf("%s → %s: now %s at %v (returned %v)", from, to, after.Value.Status, after.Version, v)
				}
				continue
			}
			if !errors.Is(err, inmem.ErrConstraintViolation) {
				t.Errorf("%s → %s = %v, want ConstraintViolation", from, to, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, string(from)) || !strings.Contains(msg, string(to)) {
				t.Errorf("%s → %s: error %q does not name both statuses", from, to, msg)
			}
			if after.Version != before.Version || after.Value.Status != from {
				t.Errorf("%s → %s: a refused transition changed the run", from, to)
			}
		}
	}
}

func TestRuns_ConvenienceTransitions(t *testing.T) {
	db := openMem(t)
	runs := db.Runs()
	id := mustCreate(t, db, "r", inmem.RunOptions{})
	steps := []struct {
		do   func() (inmem.Version, error)
		want inmem.RunStatus
	}{
		{func() (inmem.Version, error) { return runs.Pause(ctx, id) }, inmem.RunPaused},
		{func() (inmem.Version, error) { return runs.Resume(ctx, id) }, inmem.RunActive},
		{func() (inmem.Version, error) { return runs.Fail(ctx, id, "tool crashed") }, inmem.RunFailed},
		{func() (inmem.Version, error) { return runs.Archive(ctx, id) }, inmem.RunArchived},
	}
	for _, s := range steps {
		if _, err := s.do(); err != nil {
			t.Fatal(err)
		}
		if got, _ := runs.Get(ctx, id); got.Value.Status != s.want {
			t.Fatalf("status %s, want %s", got.Value.Status, s.want)
		}
	}
	got, _ := runs.Get(ctx, id)
	if got.Value.Error != "tool crashed" {
		t.Fatalf("Error = %q (kept after archiving)", got.Value.Error)
	}
	if _, err := runs.Resume(ctx, id); !errors.Is(err, inmem.ErrConstraintViolation) {
		t.Fatalf("Resume of an archived run = %v", err)
	}
	c := mustCreate(t, db, "c", inmem.RunOptions{})
	if _, err := runs.Complete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Cancel(ctx, c); !errors.Is(err, inmem.ErrConstraintViolation) {
		t.Fatalf("Cancel of a completed run = %v", err)
	}
}

// TestRuns_ClosedRunsRefuseWrites: KV and trace writes into a run whose
// status is closed fail with RunClosed; open and unregistered runs accept
// them; reads keep working.
func TestRuns_ClosedRunsRefuseWrites(t *testing.T) {
	db := openMem(t)
	for _, status := range inmem.RunStatuses {
		id := reach(t, db, string(status), status)
		_, kvErr := db.KV().Put(ctx, id, "k", inmem.Int(1))
		_, trErr := db.Traces().Record(ctx, id, thought("x"))
		txErr := db.Update(ctx, id, func(tx *inmem.Tx) error {
			_, err := tx.Traces().Record(thought("x"))
			return err
		})
		if status.Closed() {
			for name, err := range map[string]error{"kv.Put": kvErr, "traces.Record": trErr, "tx traces.Record": txErr} {
				if !errors.Is(err, inmem.ErrRunClosed) {
					t.Errorf("%s into a %s run = %v, want RunClosed", name, status, err)
				}
			}
			if n, _ := db.Traces().Count(ctx, id); n != 0 {
				t.Errorf("%s run got traces", status)
			}
			continue
		}
		if kvErr != nil || trErr != nil || txErr != nil {
			t.Errorf("writes into a %s run: %v, %v, %v", status, kvErr, trErr, txErr)
		}
		if n, _ := db.Traces().Count(ctx, id); n != 2 {
			t.Errorf("%s run has %d traces", status, n)
		}
	}
	// Closing a run refuses further writes; reads of its data keep working.
	id := mustCreate(t, db, "closing", inmem.RunOptions{})
	mustPut(t, db, id, "k", inmem.Int(1))
	tr := mustRecord(t, db, id, thought("t"))
	mustChild(t, db, id, tr, thought("u"))
	if _, err := db.Runs().Complete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Traces().RecordChild(ctx, id, tr, thought("v")); !errors.Is(err, inmem.ErrRunClosed) {
		t.Fatalf("RecordChild into a completed run = %v", err)
	}
	if mustGetInt(t, db, id, "k") != 1 {
		t.Fatal("read of a closed run")
	}
	if tree, err := db.Traces().Tree(ctx, id, tr); err != nil || len(tree) != 2 {
		t.Fatalf("Tree of a closed run = %v, %v", tree, err)
	}
	// Unregistered runs are implicitly active.
	free := inmem.NewRunID()
	mustPut(t, db, free, "k", inmem.Int(1))
	mustRecord(t, db, free, thought("t"))
}

// TestRuns_CloseRacesWithWriter: a transaction that checked the run open
// before it was closed cannot commit after the close.
func TestRuns_CloseRacesWithWriter(t *testing.T) {
	db := openMem(t)
	id := mustCreate(t, db, "r", inmem.RunOptions{})
	for _, write := range []func(tx *inmem.Tx) error{
		func(tx *inmem.Tx) error { err := tx.KV().Put("k", inmem.Int(1)); return err },
		func(tx *inmem.Tx) error { _, err := tx.Traces().Record(thought("x")); return err },
	} {
		tx, _ := db.Begin(ctx, id, true)
		if err := write(tx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Runs().Pause(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); !errors.Is(err, inmem.ErrConflict) {
			t.Fatalf("commit after the run's status changed = %v, want Conflict", err)
		}
		if _, err := db.Runs().Resume(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Through Update, the retry sees the closed run.
	first := true
	err := db.Update(ctx, id, func(tx *inmem.Tx) error {
		if err := tx.KV().Put("k", inmem.Int(1)); err != nil {
			return err
		}
		if first {
			first = false
			if _, err := db.Runs().Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if !errors.Is(err, inmem.ErrRunClosed) {
		t.Fatalf("Update racing with Cancel = %v, want RunClosed", err)
	}
}

func TestRuns_TagsAndMetadata(t *testing.T) {
	clock := &testClock{}
	db := openClock(t, clock)
	runs := db.Runs()
	clock.set(10)
	a := mustCreate(t, db, "a", inmem.RunOptions{Tags: []string{"x"}})
	b := mustCreate(t, db, "b", inmem.RunOptions{Tags: []string{"x", "y"}})
	c := mustCreate(t, db, "c", inmem.RunOptions{})
	check := func(tag string, want ...inmem.RunID) {
		t.Helper()
		got, err := runs.QueryByTag(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		// Every run here has CreatedAt 10: the order is by ID.
		want = append([]inmem.RunID{}, want...)
		slices.SortFunc(want, func(p, q inmem.RunID) int { return strings.Compare(string(p[:]), string(q[:])) })
		if !slices.Equal(runIDs(got), want) {
			t.Fatalf("QueryByTag(%q) = %v, want %v", tag, runIDs(got), want)
		}
	}
	check("x", a, b)
	check("y", b)
	clock.set(20)
	v1, err := runs.AddTags(ctx, c, "y", "a/b", "", "y")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := runs.Get(ctx, c)
	if !slices.Equal(got.Value.Tags, []string{"y", "a/b", ""}) || got.Version != v1 || got.Value.UpdatedAt != 20 || got.Value.CreatedAt != 10 {
		t.Fatalf("after AddTags: %+v", got.Value)
	}
	check("y", b, c)
	check("a/b", c)
	check("", c)
	check("a", nil...)
	// Adding tags it has writes nothing and returns the current version.
	v2, err := runs.AddTags(ctx, c, "y", "")
	if err != nil || v2 != v1 {
		t.Fatalf("no-op AddTags = %v, %v; want %v", v2, err, v1)
	}
	v3, err := runs.RemoveTags(ctx, c, "y", "absent")
	if err != nil || v3.N <= v1.N {
		t.Fatalf("RemoveTags = %v, %v", v3, err)
	}
	if v4, _ := runs.RemoveTags(ctx, c, "absent"); v4 != v3 {
		t.Fatalf("no-op RemoveTags = %v, want %v", v4, v3)
	}
	check("y", b)
	check("", c)
	meta := inmem.MustValue(map[string]any{"k": []any{1, "two"}})
	if _, err := runs.SetMetadata(ctx, c, meta); err != nil {
		t.Fatal(err)
	}
	got, _ = runs.Get(ctx, c)
	if !got.Value.Metadata.Equal(meta) || !slices.Equal(got.Value.Tags, []string{"a/b", ""}) {
		t.Fatalf("after SetMetadata: %+v", got.Value)
	}
	// Tags and metadata can change in a closed run.
	if _, err := runs.Complete(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.AddTags(ctx, c, "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.SetMetadata(ctx, c, inmem.Null()); err != nil {
		t.Fatal(err)
	}
	check("done", c)
}

func TestRuns_QueryByStatusAndList(t *testing.T) {
	clock := &testClock{}
	db := openClock(t, clock)
	runs := db.Runs()
	var ids []inmem.RunID
	for i, at := range []int64{30, 10, 20, 10} {
		clock.set(at)
		ids = append(ids, mustCreate(t, db, fmt.Sprint("r", i), inmem.RunOptions{}))
	}
	byID := func(p, q inmem.RunID) int { return strings.Compare(string(p[:]), string(q[:])) }
	tens := []inmem.RunID{ids[1], ids[3]}
	slices.SortFunc(tens, byID)
	order := append(tens, ids[2], ids[0])
	l, err := runs.List(ctx)
	if err != nil || !slices.Equal(runIDs(l), order) {
		t.Fatalf("List = %v, %v; want %v", runIDs(l), err, order)
	}
	if n, _ := runs.Count(ctx); n != 4 {
		t.Fatalf("Count = %d", n)
	}
	if _, err := runs.Complete(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Pause(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	for status, want := range map[inmem.RunStatus][]inmem.RunID{
		inmem.RunActive:    tens,
		inmem.RunCompleted: {ids[2]},
		inmem.RunPaused:    {ids[0]},
		inmem.RunFailed:    {},
	} {
		got, err := runs.QueryByStatus(ctx, status)
		if err != nil || !slices.Equal(runIDs(got), want) {
			t.Fatalf("QueryByStatus(%s) = %v, %v; want %v", status, runIDs(got), err, want)
		}
	}
	if _, err := runs.Archive(ctx, ids[2]); err != nil {
		t.Fatal(err)
	}
	if got, _ := runs.QueryByStatus(ctx, inmem.RunCompleted); len(got) != 0 {
		t.Fatalf("status index kept the old entry: %v", runIDs(got))
	}
	if got, _ := runs.QueryByStatus(ctx, inmem.RunArchived); !slices.Equal(runIDs(got), []inmem.RunID{ids[2]}) {
		t.Fatalf("QueryByStatus(archived) = %v", runIDs(got))
	}
}

func TestRuns_Children(t *testing.T) {
	clock := &testClock{}
	db := openClock(t, clock)
	runs := db.Runs()
	clock.set(5)
	p := mustCreate(t, db, "p", inmem.RunOptions{})
	q := mustCreate(t, db, "q", inmem.RunOptions{})
	c3 := mustCreate(t, db, "c3", inmem.RunOptions{Parent: &p})
	clock.set(3) // created "earlier": listed first
	c1 := mustCreate(t, db, "c1", inmem.RunOptions{Parent: &p})
	c2 := mustCreate(t, db, "c2", inmem.RunOptions{Parent: &p})
	g := mustCreate(t, db, "g", inmem.RunOptions{Parent: &c1})
	want := []inmem.RunID{c1, c2}
	slices.SortFunc(want, func(a, b inmem.RunID) int { return strings.Compare(string(a[:]), string(b[:])) })
	want = append(want, c3)
	got, err := runs.Children(ctx, p)
	if err != nil || !slices.Equal(runIDs(got), want) {
		t.Fatalf("Children(p) = %v, %v; want %v", runIDs(got), err, want)
	}
	if got, _ := runs.Children(ctx, c1); !slices.Equal(runIDs(got), []inmem.RunID{g}) {
		t.Fatalf("Children(c1) = %v", runIDs(got))
	}
	if got, _ := runs.Children(ctx, q); len(got) != 0 {
		t.Fatalf("Children(q) = %v", runIDs(got))
	}
	if _, err := runs.Children(ctx, inmem.NewRunID()); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("Children(unregistered) = %v", err)
	}
	// A run with children cannot be deleted; its children can.
	if _, err := runs.Delete(ctx, c1); !errors.Is(err, inmem.ErrConstraintViolation) {
		t.Fatalf("Delete of a run with children = %v", err)
	}
	if got, _ := runs.Get(ctx, c1); got.Value.Status != inmem.RunActive {
		t.Fatalf("a refused Delete changed the run: %s", got.Value.Status)
	}
	if _, err := runs.Delete(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Delete(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if got, _ := runs.Children(ctx, p); !slices.Equal(runIDs(got), []inmem.RunID{c2, c3}) {
		t.Fatalf("Children(p) after deleting c1 = %v", runIDs(got))
	}
	for _, c := range []inmem.RunID{c2, c3} {
		if _, err := runs.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runs.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n, _ := runs.Count(ctx); n != 1 {
		t.Fatalf("Count = %d", n)
	}
}

// TestRuns_DeleteCascade deletes a run holding KV data and traces: every
// listing of the run is empty afterwards, the run is not found, other runs
// are untouched, and a reader holding an older snapshot still sees it all.
// (runs_internal_test.go covers every engine space.)
func TestRuns_DeleteCascade(t *testing.T) {
	db := openMem(t)
	runs := db.Runs()
	victim := mustCreate(t, db, "victim", inmem.RunOptions{Tags: []string{"t"}})
	other := mustCreate(t, db, "other", inmem.RunOptions{Tags: []string{"t"}})
	for _, run := range []inmem.RunID{victim, other} {
		for i := range 300 {
			mustPut(t, db, run, fmt.Sprint("k", i), inmem.Int(int64(i)))
		}
		root := mustRecord(t, db, run, thought("root", "tag"))
		for range 5 {
			mustChild(t, db, run, root, inmem.TraceSpec{Body: inmem.ToolCallTrace{Tool: "x"}, Tags: []string{"tag"}})
		}
	}
	old, _ := db.Begin(ctx, victim, false)
	defer old.Rollback()

	v, err := runs.Delete(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind != inmem.TxnVersion || v.N == 0 {
		t.Fatalf("Delete version = %v", v)
	}
	// The run is gone.
	if _, err := runs.Get(ctx, victim); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if _, err := runs.GetByName(ctx, "victim"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("GetByName after Delete = %v", err)
	}
	if _, err := runs.Delete(ctx, victim); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
	for _, q := range []func() ([]inmem.Versioned[inmem.RunInfo], error){
		func() ([]inmem.Versioned[inmem.RunInfo], error) { return runs.List(ctx) },
		func() ([]inmem.Versioned[inmem.RunInfo], error) { return runs.QueryByTag(ctx, "t") },
		func() ([]inmem.Versioned[inmem.RunInfo], error) { return runs.QueryByStatus(ctx, inmem.RunActive) },
	} {
		if got, err := q(); err != nil || !slices.Equal(runIDs(got), []inmem.RunID{other}) {
			t.Fatalf("index listing after Delete = %v, %v", runIDs(got), err)
		}
	}
	if got, _ := runs.QueryByStatus(ctx, inmem.RunArchived); len(got) != 0 {
		t.Fatalf("archived listing after Delete = %v", runIDs(got))
	}
	// Every listing of its data is empty.
	if keys, _ := db.KV().List(ctx, victim, ""); len(keys) != 0 {
		t.Fatalf("KV keys after Delete: %d", len(keys))
	}
	ts := db.Traces()
	if n, _ := ts.Count(ctx, victim); n != 0 {
		t.Fatalf("trace Count after Delete = %d", n)
	}
	for name, q := range map[string]func() ([]inmem.Versioned[inmem.Trace], error){
		"List":       func() ([]inmem.Versioned[inmem.Trace], error) { return ts.List(ctx, victim) },
		"Roots":      func() ([]inmem.Versioned[inmem.Trace], error) { return ts.Roots(ctx, victim) },
		"QueryByTag": func() ([]inmem.Versioned[inmem.Trace], error) { return ts.QueryByTag(ctx, victim, "tag") },
		"QueryByType": func() ([]inmem.Versioned[inmem.Trace], error) {
			return ts.QueryByType(ctx, victim, inmem.TraceTypeToolCall)
		},
		"QueryByTime": func() ([]inmem.Versioned[inmem.Trace], error) { return ts.QueryByTime(ctx, victim, -1<<63, 1<<63-1) },
	} {
		if got, err := q(); err != nil || len(got) != 0 {
			t.Fatalf("traces %s after Delete = %v, %v", name, traceIDs(got), err)
		}
	}
	if _, err := ts.Get(ctx, victim, 1); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("trace Get after Delete = %v", err)
	}
	// All of it went in one commit.
	hist, _ := db.KV().History(ctx, victim, "k0")
	if len(hist) != 2 || !hist[0].Deleted || hist[0].Version != v {
		t.Fatalf("k0 history = %+v; want a tombstone at %v", hist, v)
	}
	// The other run is untouched.
	if keys, _ := db.KV().List(ctx, other, ""); len(keys) != 300 {
		t.Fatalf("other run lost keys: %d", len(keys))
	}
	if n, _ := ts.Count(ctx, other); n != 6 {
		t.Fatalf("other run has %d traces", n)
	}
	if tree, _ := ts.Tree(ctx, other, 1); len(tree) != 6 {
		t.Fatalf("other run's tree has %d nodes", len(tree))
	}
	// The older snapshot still sees everything.
	if keys, _ := old.KV().List(""); len(keys) != 300 {
		t.Fatalf("old snapshot sees %d keys", len(keys))
	}
	if l, _ := old.Traces().List(); len(l) != 6 {
		t.Fatalf("old snapshot sees %d traces", len(l))
	}
	if info, err := old.Runs().Get(victim); err != nil || info.Value.Name != "victim" {
		t.Fatalf("old snapshot run = %v, %v", info, err)
	}
	// The id is free again: an implicitly active run, and the name can be
	// reused.
	mustPut(t, db, victim, "again", inmem.Int(1))
	if id := mustRecord(t, db, victim, thought("again")); id != 1 {
		t.Fatalf("trace ids restart after Delete: got %d", id)
	}
	mustCreate(t, db, "victim", inmem.RunOptions{})
}

func TestRuns_DeleteClosedAndUnregistered(t *testing.T) {
	db := openMem(t)
	for _, status := range inmem.RunStatuses {
		id := reach(t, db, string(status), status)
		if _, err := db.Runs().Delete(ctx, id); err != nil {
			t.Fatalf("Delete of a %s run: %v", status, err)
		}
	}
	if n, _ := db.Runs().Count(ctx); n != 0 {
		t.Fatalf("Count = %d", n)
	}
	if _, err := db.Runs().Delete(ctx, inmem.NewRunID()); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("Delete(unregistered) = %v", err)
	}
}

func TestRuns_TxFacade(t *testing.T) {
	db := openMem(t)
	// A transaction bound to some run registers a run and writes into it,
	// atomically.
	var id inmem.RunID
	boom := errors.New("boom")
	err := db.Update(ctx, inmem.NewRunID(), func(tx *inmem.Tx) error {
		var err error
		if id, err = tx.Runs().Create("tx-run", inmem.RunOptions{Tags: []string{"x"}}); err != nil {
			return err
		}
		got, err := tx.Runs().GetByName("tx-run")
		if err != nil || got.Value.ID != id || got.Version.N != 0 {
			t.Errorf("read-your-writes: %+v, %v", got, err)
		}
		if l, _ := tx.Runs().QueryByTag("x"); len(l) != 1 {
			t.Errorf("QueryByTag in tx = %v", runIDs(l))
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := db.Runs().Get(ctx, id); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Fatalf("rolled-back Create visible: %v", err)
	}
	err = db.Update(ctx, inmem.NewRunID(), func(tx *inmem.Tx) error {
		var err error
		if id, err = tx.Runs().Create("tx-run", inmem.RunOptions{}); err != nil {
			return err
		}
		if err := tx.Runs().Pause(id); err != nil {
			return err
		}
		return tx.Runs().AddTags(id, "a")
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := db.Runs().Get(ctx, id)
	if got.Value.Status != inmem.RunPaused || !slices.Equal(got.Value.Tags, []string{"a"}) {
		t.Fatalf("after tx: %+v", got.Value)
	}
	// A transaction bound to the run can write into it and close it; later
	// transactions see it closed.
	err = db.Update(ctx, id, func(tx *inmem.Tx) error {
		if err := tx.KV().Put("k", inmem.Int(1)); err != nil {
			return err
		}
		if err := tx.Runs().Resume(id); err != nil {
			return err
		}
		return tx.Runs().Complete(id)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.KV().Put(ctx, id, "k", inmem.Int(2)); !errors.Is(err, inmem.ErrRunClosed) {
		t.Fatalf("Put after Complete = %v", err)
	}
	// Delete inside a transaction.
	err = db.Update(ctx, inmem.GlobalRun, func(tx *inmem.Tx) error { return tx.Runs().Delete(id) })
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.KV().List(ctx, id, ""); len(keys) != 0 {
		t.Fatalf("keys after tx Delete: %v", keys)
	}
}

func TestRuns_BadInput(t *testing.T) {
	db := openMem(t)
	runs := db.Runs()
	id := mustCreate(t, db, "r", inmem.RunOptions{})
	g := inmem.GlobalRun
	invalid := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("%s = %v, want InvalidArgument", name, err)
		}
	}
	notFound := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, inmem.ErrRunNotFound) {
			t.Errorf("%s = %v, want RunNotFound", name, err)
		}
	}
	deep := inmem.Null()
	for range 129 {
		deep = inmem.Array(deep)
	}
	_, err := runs.Create(ctx, "x", inmem.RunOptions{Parent: &g})
	invalid("Create with the global run as parent", err)
	_, err = runs.Create(ctx, "x", inmem.RunOptions{Tags: []string{"\xff"}})
	invalid("Create with a bad tag", err)
	_, err = runs.Create(ctx, "x", inmem.RunOptions{Tags: []string{strings.Repeat("t", 1025)}})
	invalid("Create with a long tag", err)
	_, err = runs.Create(ctx, "x", inmem.RunOptions{Metadata: deep})
	invalid("Create with too-deep metadata", err)
	_, err = runs.Create(ctx, "x", inmem.RunOptions{Metadata: inmem.String("\xff")})
	invalid("Create with bad metadata", err)

	type op struct {
		name string
		do   func(inmem.RunID) error
	}
	ops := []op{
		{"Get", func(r inmem.RunID) error { _, err := runs.Get(ctx, r); return err }},
		{"Children", func(r inmem.RunID) error { _, err := runs.Children(ctx, r); return err }},
		{"SetStatus", func(r inmem.RunID) error { _, err := runs.SetStatus(ctx, r, inmem.RunPaused); return err }},
		{"Complete", func(r inmem.RunID) error { _, err := runs.Complete(ctx, r); return err }},
		{"Fail", func(r inmem.RunID) error { _, err := runs.Fail(ctx, r, "e"); return err }},
		{"Cancel", func(r inmem.RunID) error { _, err := runs.Cancel(ctx, r); return err }},
		{"Pause", func(r inmem.RunID) error { _, err := runs.Pause(ctx, r); return err }},
		{"Resume", func(r inmem.RunID) error { _, err := runs.Resume(ctx, r); return err }},
		{"Archive", func(r inmem.RunID) error { _, err := runs.Archive(ctx, r); return err }},
		{"AddTags", func(r inmem.RunID) error { _, err := runs.AddTags(ctx, r, "t"); return err }},
		{"RemoveTags", func(r inmem.RunID) error { _, err := runs.RemoveTags(ctx, r, "t"); return err }},
		{"SetMetadata", func(r inmem.RunID) error { _, err := runs.SetMetadata(ctx, r, inmem.Int(1)); return err }},
		{"Delete", func(r inmem.RunID) error { _, err := runs.Delete(ctx, r); return err }},
	}
	for _, o := range ops {
		invalid(o.name+"(global run)", o.do(g))
		notFound(o.name+"(unregistered)", o.do(inmem.NewRunID()))
	}
	_, err = runs.SetStatus(ctx, id, "running")
	invalid("SetStatus(unknown status)", err)
	_, err = runs.SetStatus(ctx, id, "")
	invalid("SetStatus(empty status)", err)
	_, err = runs.QueryByStatus(ctx, "Active")
	invalid("QueryByStatus(unknown status)", err)
	_, err = runs.QueryByTag(ctx, "\xff")
	invalid("QueryByTag(bad tag)", err)
	_, err = runs.AddTags(ctx, id, "ok", "\xff")
	invalid("AddTags(bad tag)", err)
	_, err = runs.RemoveTags(ctx, id, strings.Repeat("t", 1025))
	invalid("RemoveTags(long tag)", err)
	_, err = runs.SetMetadata(ctx, id, deep)
	invalid("SetMetadata(too deep)", err)
	_, err = runs.Fail(ctx, id, "\xff")
	invalid("Fail(bad message)", err)
	if _, err := runs.SetStatus(ctx, id, inmem.RunActive); !errors.Is(err, inmem.ErrConstraintViolation) {
		t.Errorf("SetStatus to the current status = %v", err)
	}
	got, _ := runs.Get(ctx, id)
	if got.Value.Status != inmem.RunActive || got.Value.Tags != nil || !got.Value.Metadata.IsNull() {
		t.Fatalf("bad input changed the run: %+v", got.Value)
	}
	if n, _ := runs.Count(ctx); n != 1 {
		t.Fatalf("bad input created runs: %d", n)
	}

	// Read-only transactions cannot write the index.
	err = db.View(ctx, g, func(tx *inmem.Tx) error { _, err := tx.Runs().Create("y", inmem.RunOptions{}); return err })
	invalid("Create in View", err)
	err = db.View(ctx, g, func(tx *inmem.Tx) error { return tx.Runs().Delete(id) })
	invalid("Delete in View", err)

	db.Close()
	if _, err := runs.Create(ctx, "z", inmem.RunOptions{}); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("Create after Close = %v", err)
	}
	if _, err := runs.List(ctx); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("List after Close = %v", err)
	}
	if _, err := runs.Delete(ctx, id); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("Delete after Close = %v", err)
	}
}

func BenchmarkRunCreate(b *testing.B) {
	db, err := inmem.Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		if _, err := db.Runs().Create(ctx, fmt.Sprint("run-", i), inmem.RunOptions{Tags: []string{"bench"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRuns_DeleteRacingWriters deletes runs while writers keep inserting new
// keys and traces into them: nothing written before the Delete's commit may
// survive it (anything live afterwards was written after, into the then
// unregistered run).
func TestRuns_DeleteRacingWriters(t *testing.T) {
	db, err := inmem.Open("", &inmem.Options{MaxConflictRetries: 10000})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for round := range 20 {
		id := mustCreate(t, db, fmt.Sprint("r", round), inmem.RunOptions{})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					_, err := db.KV().Put(ctx, id, fmt.Sprint(w, "-", i), inmem.Int(int64(i)))
					if err != nil && !errors.Is(err, inmem.ErrRunClosed) {
						t.Error(err)
						return
					}
					_, err = db.Traces().Record(ctx, id, thought("x"))
					if err != nil && !errors.Is(err, inmem.ErrRunClosed) {
						t.Error(err)
						return
					}
				}
			})
		}
		// Let the writers get going.
		for {
			if keys, _ := db.KV().List(ctx, id, ""); len(keys) > 20 {
				break
			}
		}
		// Without closing the run first, Delete would also starve here: the
		// writers keep changing keys it read. Fail rather than hang.
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		v, err := db.Runs().Delete(dctx, id)
		cancel()
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		for e, err := range db.KV().Scan(ctx, id, "") {
			if err != nil {
				t.Fatal(err)
			}
			if e.Version.N <= v.N {
				t.Fatalf("round %d: key %q written at %v survived the Delete at %v", round, e.Key, e.Version, v)
			}
		}
		traces, _ := db.Traces().List(ctx, id)
		for _, tr := range traces {
			if tr.Version.N <= v.N {
				t.Fatalf("round %d: trace %d written at %v survived the Delete at %v", round, tr.Value.ID, tr.Version, v)
			}
		}
	}
}
