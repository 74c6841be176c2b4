package inmem_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/inmemdb/inmem"
	"pgregory.net/rapid"

	gocmp "github.com/google/go-cmp/cmp"
)

// testClock is an injectable clock whose time (in µs) the test sets.
type testClock struct{ us atomic.Int64 }

func (c *testClock) Now() time.Time { return time.UnixMicro(c.us.Load()) }
func (c *testClock) set(us int64)   { c.us.Store(us) }

func openClock(t testing.TB, c *testClock) *inmem.DB {
	t.Helper()
	db, err := inmem.Open("", &inmem.Options{Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func traceIDs(vs []inmem.Versioned[inmem.Trace]) []inmem.TraceID {
	out := []inmem.TraceID{}
	for _, v := range vs {
		out = append(out, v.Value.ID)
	}
	return out
}

func thought(s string, tags ...string) inmem.TraceSpec {
	return inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: s}, Tags: tags}
}

func mustRecord(t testing.TB, db *inmem.DB, run inmem.RunID, spec inmem.TraceSpec) inmem.TraceID {
	t.Helper()
	id, err := db.Traces().Record(ctx, run, spec)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	return id
}

func mustChild(t testing.TB, db *inmem.DB, run inmem.RunID, parent inmem.TraceID, spec inmem.TraceSpec) inmem.TraceID {
	t.Helper()
	id, err := db.Traces().RecordChild(ctx, run, parent, spec)
	if err != nil {
		t.Fatalf("RecordChild(%d): %v", parent, err)
	}
	return id
}

func TestTraces_RecordAndGetEveryType(t *testing.T) {
	clock := &testClock{}
	clock.set(1_700_000_000_000_000)
	db := openClock(t, clock)
	run := inmem.NewRunID()
	meta := inmem.MustValue(map[string]any{"model": "m1", "tokens": 12})
	bodies := []inmem.TraceBody{
		inmem.ToolCallTrace{Tool: "search", Input: inmem.String("q"), Output: inmem.MustValue([]any{"r1", "r2"}), Duration: 1500 * time.Millisecond},
		inmem.DecisionTrace{Choice: "b", Options: []string{"a", "b"}, Reasoning: "b is cheaper"},
		inmem.QueryTrace{Query: "select", Results: inmem.MustValue([]any{1, 2})},
		inmem.ThoughtTrace{Content: "hmm"},
		inmem.ErrorTrace{Message: "timeout", Code: "E42"},
		inmem.ErrorTrace{Message: "no code"},
		inmem.CustomTrace{Name: "plan", Data: inmem.MustValue(map[string]any{"steps": 3})},
		inmem.CustomTrace{Name: "empty data"},
		inmem.DecisionTrace{Choice: "only"},
		inmem.ToolCallTrace{Tool: "noop"},
	}
	wantTypes := []inmem.TraceType{
		inmem.TraceTypeToolCall, inmem.TraceTypeDecision, inmem.TraceTypeQuery, inmem.TraceTypeThought,
		inmem.TraceTypeError, inmem.TraceTypeError, inmem.CustomTraceType("plan"), inmem.CustomTraceType("empty data"),
		inmem.TraceTypeDecision, inmem.TraceTypeToolCall,
	}
	for i, body := range bodies {
		clock.set(1_700_000_000_000_000 + int64(i))
		id, err := db.Traces().Record(ctx, run, inmem.TraceSpec{Body: body, Tags: []string{"t", fmt.Sprint(i), "t"}, Metadata: meta})
		if err != nil {
			t.Fatalf("Record(%T): %v", body, err)
		}
		if id != inmem.TraceID(i+1) {
			t.Fatalf("Record #%d got id %d, want %d", i, id, i+1)
		}
		got, err := db.Traces().Get(ctx, run, id)
		if err != nil {
			t.Fatal(err)
		}
		want := inmem.Trace{
			ID: id, Type: wantTypes[i], Body: body, Tags: []string{"t", fmt.Sprint(i)},
			Metadata: meta, RecordedAt: inmem.Timestamp(1_700_000_000_000_000 + int64(i)),
		}
		if diff := gocmp.Diff(want, got.Value, valueCmp, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Get(%d) mismatch (-want +got):\n%s", id, diff)
		}
		if got.Value.Body.TraceType() != got.Value.Type {
			t.Fatalf("body type %q != trace type %q", got.Value.Body.TraceType(), got.Value.Type)
		}
		if got.Version.Kind != inmem.TxnVersion || got.Version.N == 0 || got.Timestamp == 0 {
			t.Fatalf("Get(%d) version/timestamp = %v/%v", id, got.Version, got.Timestamp)
		}
	}
	// Pointer bodies are accepted and read back as structs.
	id := mustRecord(t, db, run, inmem.TraceSpec{Body: &inmem.ThoughtTrace{Content: "ptr"}})
	got, _ := db.Traces().Get(ctx, run, id)
	if b, ok := got.Value.Body.(inmem.ThoughtTrace); !ok || b.Content != "ptr" {
		t.Fatalf("pointer body read back as %#v", got.Value.Body)
	}
	if got.Value.Metadata.Kind() != inmem.KindNull || got.Value.Tags != nil {
		t.Fatalf("unset metadata/tags read back as %v/%v", got.Value.Metadata, got.Value.Tags)
	}
	if n, _ := db.Traces().Count(ctx, run); n != len(bodies)+1 {
		t.Fatalf("Count = %d", n)
	}
	if _, err := db.Traces().Get(ctx, run, 999); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Get(999) = %v, want NotFound", err)
	}
	if _, err := db.Traces().Get(ctx, inmem.NewRunID(), 1); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Get in another run = %v, want NotFound", err)
	}
}

// valueCmp compares Values structurally.
var valueCmp = gocmp.Comparer(func(a, b inmem.Value) bool { return a.Equal(b) })

func TestTraces_TypeValues(t *testing.T) {
	for _, c := range []struct {
		typ    inmem.TraceType
		valid  bool
		custom string
	}{
		{inmem.TraceTypeToolCall, true, ""}, {inmem.TraceTypeDecision, true, ""}, {inmem.TraceTypeQuery, true, ""},
		{inmem.TraceTypeThought, true, ""}, {inmem.TraceTypeError, true, ""},
		{inmem.CustomTraceType("x"), true, "x"}, {inmem.CustomTraceType("tool_call"), true, "tool_call"},
		{inmem.CustomTraceType("custom:y"), true, "custom:y"},
		{inmem.CustomTraceType(""), false, ""}, {"", false, ""}, {"bogus", false, ""}, {inmem.CustomTraceType("\xff"), false, "\xff"},
	} {
		if c.typ.Valid() != c.valid || c.typ.CustomName() != c.custom {
			t.Errorf("%q: Valid=%v CustomName=%q", c.typ, c.typ.Valid(), c.typ.CustomName())
		}
	}
	if inmem.CustomTraceType("tool_call") == inmem.TraceTypeToolCall {
		t.Fatal("a custom type must never equal a built-in one")
	}
}

// TestTraces_OrderedByTimestampThenID records with a clock that repeats and
// goes backwards: every listing must be ordered by (RecordedAt, ID), not by
// ID alone.
func TestTraces_OrderedByTimestampThenID(t *testing.T) {
	clock := &testClock{}
	db := openClock(t, clock)
	run := inmem.NewRunID()
	times := []int64{100, 50, 50, 100, 50, -7, 100}
	var ids []inmem.TraceID
	root := inmem.TraceID(0)
	for i, at := range times {
		clock.set(at)
		spec := inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: fmt.Sprint(i)}, Tags: []string{"all"}}
		if i%2 == 1 {
			spec.Body = inmem.ErrorTrace{Message: fmt.Sprint(i)}
		}
		var id inmem.TraceID
		if i == 0 {
			id = mustRecord(t, db, run, spec)
			root = id
		} else {
			id = mustChild(t, db, run, root, spec)
		}
		ids = append(ids, id)
	}
	type key struct {
		at int64
		id inmem.TraceID
	}
	var order []key
	for i, id := range ids {
		order = append(order, key{times[i], id})
	}
	slices.SortFunc(order, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.id, b.id))
	})
	var want []inmem.TraceID
	for _, k := range order {
		want = append(want, k.id)
	}
	// want = [6(-7), 2(50), 3(50), 5(50), 1(100), 4(100), 7(100)]
	if !slices.Equal(want, []inmem.TraceID{6, 2, 3, 5, 1, 4, 7}) {
		t.Fatalf("test setup: %v", want)
	}
	check := func(name string, got []inmem.Versioned[inmem.Trace], err error, want []inmem.TraceID) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(traceIDs(got), want) {
			t.Fatalf("%s = %v, want %v", name, traceIDs(got), want)
		}
		for i := 1; i < len(got); i++ {
			a, b := got[i-1].Value, got[i].Value
			if a.RecordedAt > b.RecordedAt || (a.RecordedAt == b.RecordedAt && a.ID >= b.ID) {
				t.Fatalf("%s not ordered by (timestamp, id) at %d", name, i)
			}
		}
	}
	ts := db.Traces()
	l, err := ts.List(ctx, run)
	check("List", l, err, want)
	l, err = ts.QueryByTag(ctx, run, "all")
	check("QueryByTag", l, err, want)
	l, err = ts.QueryByType(ctx, run, inmem.TraceTypeThought)
	check("QueryByType(thought)", l, err, []inmem.TraceID{3, 5, 1, 7})
	l, err = ts.QueryByType(ctx, run, inmem.TraceTypeError)
	check("QueryByType(error)", l, err, []inmem.TraceID{6, 2, 4})
	l, err = ts.Children(ctx, run, root)
	check("Children", l, err, []inmem.TraceID{6, 2, 3, 5, 4, 7})
	l, err = ts.Roots(ctx, run)
	check("Roots", l, err, []inmem.TraceID{1})
	// Half-open [from, to).
	l, err = ts.QueryByTime(ctx, run, 50, 100)
	check("QueryByTime[50,100)", l, err, []inmem.TraceID{2, 3, 5})
	l, err = ts.QueryByTime(ctx, run, 50, 101)
	check("QueryByTime[50,101)", l, err, []inmem.TraceID{2, 3, 5, 1, 4, 7})
	l, err = ts.QueryByTime(ctx, run, -8, 50)
	check("QueryByTime[-8,50)", l, err, []inmem.TraceID{6})
	l, err = ts.QueryByTime(ctx, run, 51, 100)
	check("QueryByTime[51,100)", l, err, []inmem.TraceID{})
	l, err = ts.QueryByTime(ctx, run, 100, 100)
	check("QueryByTime[100,100)", l, err, []inmem.TraceID{})
	l, err = ts.QueryByTime(ctx, run, -1<<63, 1<<63-1)
	check("QueryByTime[min,max)", l, err, want)
	tree, err := ts.Tree(ctx, run, root)
	if err != nil {
		t.Fatal(err)
	}
	var treeIDs []inmem.TraceID
	for _, n := range tree {
		treeIDs = append(treeIDs, n.Trace.Value.ID)
	}
	if !slices.Equal(treeIDs, []inmem.TraceID{1, 6, 2, 3, 5, 4, 7}) {
		t.Fatalf("Tree = %v", treeIDs)
	}
}

// TestTraces_SeparatorLikeTagsAndTypes uses tags and custom type names that
// contain separator-looking bytes, are prefixes of each other, look like
// encoded lengths or are very long: each query must return exactly the
// traces carrying that tag or type.
func TestTraces_SeparatorLikeTagsAndTypes(t *testing.T) {
	db := openClock(t, &testClock{}) // one timestamp: order by id
	run := inmem.NewRunID()
	long := strings.Repeat("x", 1024)
	names := []string{
		"a", "ab", "a/b", "a\x01b", "a\x00b", "", "/", "\x00", "\x00\x00\x00\x01a", "a\x00\x00\x00",
		"é", "custom:a", "tool_call", long, long[:1023], "a\x00\x00\x00\x00\x00\x00\x00\x01",
	}
	tagged := map[string][]inmem.TraceID{}
	typed := map[string][]inmem.TraceID{}
	for i, name := range names {
		// One trace tagged with name alone, one with name and its neighbour,
		// one of custom type name.
		id1 := mustRecord(t, db, run, thought("t", name))
		tagged[name] = append(tagged[name], id1)
		other := names[(i+1)%len(names)]
		id2 := mustRecord(t, db, run, thought("t", other, name))
		tagged[other] = append(tagged[other], id2)
		tagged[name] = append(tagged[name], id2)
		if name != "" {
			id3 := mustRecord(t, db, run, inmem.TraceSpec{Body: inmem.CustomTrace{Name: name}})
			typed[name] = append(typed[name], id3)
		}
	}
	for _, name := range names {
		got, err := db.Traces().QueryByTag(ctx, run, name)
		if err != nil {
			t.Fatalf("QueryByTag(%.20q): %v", name, err)
		}
		want := slices.Clone(tagged[name])
		slices.Sort(want)
		if !slices.Equal(traceIDs(got), want) {
			t.Errorf("QueryByTag(%.20q) = %v, want %v", name, traceIDs(got), want)
		}
		if name == "" {
			continue
		}
		got, err = db.Traces().QueryByType(ctx, run, inmem.CustomTraceType(name))
		if err != nil {
			t.Fatalf("QueryByType(%.20q): %v", name, err)
		}
		if !slices.Equal(traceIDs(got), typed[name]) {
			t.Errorf("QueryByType(custom %.20q) = %v, want %v", name, traceIDs(got), typed[name])
		}
	}
	// No built-in type was recorded, whatever the custom names look like.
	for _, typ := range []inmem.TraceType{inmem.TraceTypeToolCall, inmem.TraceTypeError, inmem.TraceTypeQuery} {
		if got, _ := db.Traces().QueryByType(ctx, run, typ); len(got) != 0 {
			t.Errorf("QueryByType(%s) = %v, want nothing", typ, traceIDs(got))
		}
	}
	if got, _ := db.Traces().QueryByType(ctx, run, inmem.TraceTypeThought); len(got) != 2*len(names) {
		t.Errorf("QueryByType(thought) = %d traces, want %d", len(got), 2*len(names))
	}
	if got, _ := db.Traces().QueryByTag(ctx, run, "never"); len(got) != 0 {
		t.Errorf("QueryByTag(never) = %v", traceIDs(got))
	}
}

func TestTraces_RecordChildParentMustExistInRun(t *testing.T) {
	db := openMem(t)
	run, other := inmem.NewRunID(), inmem.NewRunID()
	p := mustRecord(t, db, run, thought("p"))
	po := mustRecord(t, db, other, thought("other"))
	po2 := mustRecord(t, db, other, thought("other 2"))
	if _, err := db.Traces().RecordChild(ctx, run, 42, thought("c")); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("RecordChild of a missing parent = %v, want NotFound", err)
	}
	// po2 = 2 exists in other but not in run.
	if _, err := db.Traces().RecordChild(ctx, run, po2, thought("c")); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("RecordChild of a parent in another run = %v, want NotFound", err)
	}
	if _, err := db.Traces().RecordChild(ctx, run, 0, thought("c")); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("RecordChild(0) = %v, want InvalidArgument", err)
	}
	c := mustChild(t, db, run, p, thought("c"))
	if c != 2 {
		t.Fatalf("child id = %d (the failed attempts must not consume ids)", c)
	}
	got, _ := db.Traces().Get(ctx, run, c)
	if got.Value.Parent != p {
		t.Fatalf("child's parent = %d", got.Value.Parent)
	}
	if kids, _ := db.Traces().Children(ctx, other, po); len(kids) != 0 {
		t.Fatalf("other run's trace got children: %v", traceIDs(kids))
	}
	if _, err := db.Traces().Children(ctx, run, 99); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Children(missing) = %v", err)
	}
	if _, err := db.Traces().Tree(ctx, run, 99); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Tree(missing) = %v", err)
	}
}

func TestTraces_Tree(t *testing.T) {
	db := openClock(t, &testClock{}) // one timestamp: order by id
	run := inmem.NewRunID()
	//   1
	//   ├── 2
	//   │   ├── 4
	//   │   │   └── 7
	//   │   └── 5
	//   └── 3
	//       └── 6
	//   8 (another root)
	r := mustRecord(t, db, run, thought("1"))
	a := mustChild(t, db, run, r, thought("2"))
	b := mustChild(t, db, run, r, thought("3"))
	aa := mustChild(t, db, run, a, thought("4"))
	ab := mustChild(t, db, run, a, thought("5"))
	ba := mustChild(t, db, run, b, thought("6"))
	aaa := mustChild(t, db, run, aa, thought("7"))
	other := mustRecord(t, db, run, thought("8"))
	tree, err := db.Traces().Tree(ctx, run, r)
	if err != nil {
		t.Fatal(err)
	}
	type node struct {
		id    inmem.TraceID
		depth int
	}
	var got []node
	for _, n := range tree {
		got = append(got, node{n.Trace.Value.ID, n.Depth})
	}
	want := []node{{r, 0}, {a, 1}, {aa, 2}, {aaa, 3}, {ab, 2}, {b, 1}, {ba, 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("Tree = %v, want %v", got, want)
	}
	sub, _ := db.Traces().Tree(ctx, run, a)
	if len(sub) != 4 || sub[0].Depth != 0 || sub[0].Trace.Value.ID != a {
		t.Fatalf("subtree = %v", sub)
	}
	leaf, _ := db.Traces().Tree(ctx, run, other)
	if len(leaf) != 1 || leaf[0].Trace.Value.ID != other {
		t.Fatalf("leaf tree = %v", leaf)
	}
	roots, _ := db.Traces().Roots(ctx, run)
	if !slices.Equal(traceIDs(roots), []inmem.TraceID{r, other}) {
		t.Fatalf("Roots = %v", traceIDs(roots))
	}
	kids, _ := db.Traces().Children(ctx, run, a)
	if !slices.Equal(traceIDs(kids), []inmem.TraceID{aa, ab}) {
		t.Fatalf("Children(a) = %v", traceIDs(kids))
	}
	// A deep chain does not recurse.
	p := other
	for range 2000 {
		p = mustChild(t, db, run, p, thought("deep"))
	}
	deep, err := db.Traces().Tree(ctx, run, other)
	if err != nil || len(deep) != 2001 || deep[2000].Depth != 2000 {
		t.Fatalf("deep tree: %d nodes, %v", len(deep), err)
	}
}

func TestTraces_ConcurrentRecordsGetUniqueIDs(t *testing.T) {
	db, err := inmem.Open("", &inmem.Options{MaxConflictRetries: 10000})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	const workers, each = 4, 50
	var mu sync.Mutex
	var ids []inmem.TraceID
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id, err := db.Traces().Record(ctx, run, thought(fmt.Sprint(w, "/", i), fmt.Sprint("w", w)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(ids)
	for i, id := range ids {
		if id != inmem.TraceID(i+1) {
			t.Fatalf("ids are not unique and contiguous: %v", ids)
		}
	}
	if n, _ := db.Traces().Count(ctx, run); n != workers*each {
		t.Fatalf("Count = %d", n)
	}
	for w := range workers {
		if got, _ := db.Traces().QueryByTag(ctx, run, fmt.Sprint("w", w)); len(got) != each {
			t.Fatalf("worker %d has %d traces", w, len(got))
		}
	}
}

func TestTraces_BadInput(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	ts := db.Traces()
	deep := inmem.Null()
	for range 128 {
		deep = inmem.Array(deep)
	}
	bad := []struct {
		name string
		spec inmem.TraceSpec
	}{
		{"no body", inmem.TraceSpec{}},
		{"nil pointer body", inmem.TraceSpec{Body: (*inmem.ThoughtTrace)(nil)}},
		{"empty tool", inmem.TraceSpec{Body: inmem.ToolCallTrace{}}},
		{"negative duration", inmem.TraceSpec{Body: inmem.ToolCallTrace{Tool: "t", Duration: -1}}},
		{"empty choice", inmem.TraceSpec{Body: inmem.DecisionTrace{Options: []string{"a"}}}},
		{"bad option", inmem.TraceSpec{Body: inmem.DecisionTrace{Choice: "a", Options: []string{"\xff"}}}},
		{"empty query", inmem.TraceSpec{Body: inmem.QueryTrace{}}},
		{"empty thought", inmem.TraceSpec{Body: inmem.ThoughtTrace{}}},
		{"bad thought", inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "a\xffb"}}},
		{"empty error", inmem.TraceSpec{Body: inmem.ErrorTrace{Code: "x"}}},
		{"empty custom name", inmem.TraceSpec{Body: inmem.CustomTrace{Data: inmem.Int(1)}}},
		{"long custom name", inmem.TraceSpec{Body: inmem.CustomTrace{Name: strings.Repeat("n", 1025)}}},
		{"bad custom name", inmem.TraceSpec{Body: &inmem.CustomTrace{Name: "\xfe"}}},
		{"bad tool input", inmem.TraceSpec{Body: inmem.ToolCallTrace{Tool: "t", Input: inmem.String("\xff")}}},
		{"long tag", inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}, Tags: []string{strings.Repeat("t", 1025)}}},
		{"bad tag", inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}, Tags: []string{"ok", "\xff"}}},
		{"bad metadata", inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}, Metadata: inmem.ObjectOf(inmem.Field{Key: "\xff"})}},
		{"too deep metadata", inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}, Metadata: inmem.Array(deep)}},
		// The record holds the metadata one level down: it must fit too.
		{"metadata at the nesting limit", inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}, Metadata: deep}},
		{"oversized data", inmem.TraceSpec{Body: inmem.CustomTrace{Name: "big", Data: inmem.Bytes(make([]byte, 16<<20))}}},
	}
	for _, c := range bad {
		if _, err := ts.Record(ctx, run, c.spec); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("Record(%s) = %v, want InvalidArgument", c.name, err)
		}
	}
	okDeep := inmem.Null()
	for range 127 {
		okDeep = inmem.Array(okDeep)
	}
	parent := mustRecord(t, db, run, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}, Metadata: okDeep, Tags: []string{strings.Repeat("t", 1024)}})
	for _, c := range bad {
		if _, err := ts.RecordChild(ctx, run, parent, c.spec); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("RecordChild(%s) = %v, want InvalidArgument", c.name, err)
		}
	}
	if n, _ := ts.Count(ctx, run); n != 1 {
		t.Fatalf("bad input wrote something: Count = %d", n)
	}
	invalid := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("%s = %v, want InvalidArgument", name, err)
		}
	}
	_, err := ts.Get(ctx, run, 0)
	invalid("Get(0)", err)
	_, err = ts.Children(ctx, run, 0)
	invalid("Children(0)", err)
	_, err = ts.Tree(ctx, run, 0)
	invalid("Tree(0)", err)
	for _, typ := range []inmem.TraceType{"", "bogus", "Tool_Call", inmem.CustomTraceType(""), inmem.CustomTraceType("\xff"), inmem.CustomTraceType(strings.Repeat("n", 1025))} {
		_, err = ts.QueryByType(ctx, run, typ)
		invalid(fmt.Sprintf("QueryByType(%.20q)", typ), err)
	}
	_, err = ts.QueryByTag(ctx, run, "\xff")
	invalid("QueryByTag(invalid UTF-8)", err)
	_, err = ts.QueryByTag(ctx, run, strings.Repeat("t", 1025))
	invalid("QueryByTag(too long)", err)
	_, err = ts.QueryByTime(ctx, run, 10, 9)
	invalid("QueryByTime(10, 9)", err)

	// Read-only transactions cannot record.
	err = db.View(ctx, run, func(tx *inmem.Tx) error {
		_, err := tx.Traces().Record(thought("x"))
		return err
	})
	invalid("Record in View", err)

	// A finished transaction.
	tx, _ := db.Begin(ctx, run, true)
	tx.Rollback()
	if _, err := tx.Traces().Record(thought("x")); !errors.Is(err, inmem.ErrTxDone) {
		t.Errorf("Record after Rollback = %v", err)
	}
	if _, err := tx.Traces().List(); !errors.Is(err, inmem.ErrTxDone) {
		t.Errorf("List after Rollback = %v", err)
	}
	if _, err := tx.Traces().Count(); !errors.Is(err, inmem.ErrTxDone) {
		t.Errorf("Count after Rollback = %v", err)
	}

	// A closed database.
	db.Close()
	if _, err := ts.Record(ctx, run, thought("x")); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("Record after Close = %v", err)
	}
	if _, err := ts.List(ctx, run); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("List after Close = %v", err)
	}
	if _, err := ts.Get(ctx, run, 1); !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
}

func TestTraces_InTransaction(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	// Read-your-writes, and atomicity with KV.
	boom := errors.New("boom")
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		id, err := tx.Traces().Record(thought("a", "x"))
		if err != nil {
			return err
		}
		c, err := tx.Traces().RecordChild(id, thought("b", "x"))
		if err != nil {
			return err
		}
		if id != 1 || c != 2 {
			t.Errorf("ids in tx = %d, %d", id, c)
		}
		got, err := tx.Traces().QueryByTag("x")
		if err != nil || !slices.Equal(traceIDs(got), []inmem.TraceID{1, 2}) {
			t.Errorf("QueryByTag in tx = %v, %v", traceIDs(got), err)
		}
		if got[0].Version.N != 0 {
			t.Errorf("uncommitted trace has version %v", got[0].Version)
		}
		if n, _ := tx.Traces().Count(); n != 2 {
			t.Errorf("Count in tx = %d", n)
		}
		if err := tx.KV().Put("k", inmem.Int(1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n, _ := db.Traces().Count(ctx, run); n != 0 {
		t.Fatalf("rolled-back traces visible: %d", n)
	}
	var commit inmem.Version
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if _, err := tx.Traces().Record(thought("a")); err != nil {
			return err
		}
		err := tx.KV().Put("k", inmem.Int(1))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Traces().Get(ctx, run, 1)
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := db.KV().Get(ctx, run, "k")
	commit = kv.Version
	if got.Version != commit {
		t.Fatalf("trace and KV written in one transaction have versions %v and %v", got.Version, commit)
	}
	// An older snapshot does not see later traces.
	old, _ := db.Begin(ctx, run, false)
	defer old.Rollback()
	mustRecord(t, db, run, thought("later"))
	if l, _ := old.Traces().List(); len(l) != 1 {
		t.Fatalf("old snapshot sees %d traces", len(l))
	}
	if n, _ := db.Traces().Count(ctx, run); n != 2 {
		t.Fatalf("Count = %d", n)
	}
}

// TestTraces_RecordsCommute shows that two transactions recording in one
// run both commit: IDs are assigned at commit, so they never collide, and
// a child recorded under the transaction's own trace follows its parent.
func TestTraces_RecordsCommute(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	a, _ := db.Begin(ctx, run, true)
	b, _ := db.Begin(ctx, run, true)
	ida, err := a.Traces().Record(thought("a"))
	if err != nil {
		t.Fatal(err)
	}
	childA, err := a.Traces().RecordChild(ida, thought("a child"))
	if err != nil {
		t.Fatal(err)
	}
	idb, err := b.Traces().Record(thought("b"))
	if err != nil {
		t.Fatal(err)
	}
	if ida != idb {
		t.Fatalf("both transactions should pick id 1, got %d and %d", ida, idb)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatalf("second commit = %v, want success", err)
	}
	fa, err := a.Traces().FinalID(ida)
	if err != nil || fa != 2 {
		t.Fatalf("FinalID(a) = %d, %v; want 2", fa, err)
	}
	fc, err := a.Traces().FinalID(childA)
	if err != nil || fc != 3 {
		t.Fatalf("FinalID(child) = %d, %v; want 3", fc, err)
	}
	kids, err := db.Traces().Children(ctx, run, fa)
	if err != nil || len(kids) != 1 || kids[0].Value.ID != fc || kids[0].Value.Parent != fa {
		t.Fatalf("Children(%d) = %+v, %v", fa, kids, err)
	}
	if tr, err := db.Traces().Get(ctx, run, 1); err != nil || tr.Value.Body != (inmem.ThoughtTrace{Content: "b"}) {
		t.Fatalf("trace 1 = %+v, %v", tr, err)
	}
}

// TestTraces_MatchModel checks random workloads (random types, tags, times
// and parents, including repeated and backward timestamps) against a plain
// model of the queries.
func TestTraces_MatchModel(t *testing.T) {
	tags := []string{"", "a", "a/b", "a\x01b", "ab", "\x00"}
	customs := []string{"a", "a/b", "tool_call", "a\x01b"}
	rapid.Check(t, func(rt *rapid.T) {
		clock := &testClock{}
		db, err := inmem.Open("", &inmem.Options{Clock: clock})
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()
		run := inmem.NewRunID()
		type rec struct {
			id     inmem.TraceID
			parent inmem.TraceID
			typ    inmem.TraceType
			tags   []string
			at     int64
		}
		var model []rec
		n := rapid.IntRange(1, 30).Draw(rt, "n")
		for i := range n {
			at := rapid.Int64Range(-3, 3).Draw(rt, "at")
			clock.set(at)
			var body inmem.TraceBody
			switch k := rapid.IntRange(0, 2+len(customs)).Draw(rt, "kind"); {
			case k == 0:
				body = inmem.ThoughtTrace{Content: "t"}
			case k == 1:
				body = inmem.ErrorTrace{Message: "e"}
			case k == 2:
				body = inmem.ToolCallTrace{Tool: "x"}
			default:
				body = inmem.CustomTrace{Name: customs[k-3]}
			}
			ts := rapid.SliceOfDistinct(rapid.SampledFrom(tags), func(s string) string { return s }).Draw(rt, "tags")
			parent := inmem.TraceID(0)
			if i > 0 && rapid.Bool().Draw(rt, "child") {
				parent = inmem.TraceID(rapid.IntRange(1, i).Draw(rt, "parent"))
			}
			spec := inmem.TraceSpec{Body: body, Tags: ts}
			var id inmem.TraceID
			if parent == 0 {
				id, err = db.Traces().Record(ctx, run, spec)
			} else {
				id, err = db.Traces().RecordChild(ctx, run, parent, spec)
			}
			if err != nil {
				rt.Fatal(err)
			}
			model = append(model, rec{id, parent, body.TraceType(), ts, at})
		}
		sorted := slices.Clone(model)
		slices.SortFunc(sorted, func(a, b rec) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.id, b.id)) })
		filter := func(keep func(r rec) bool) []inmem.TraceID {
			out := []inmem.TraceID{}
			for _, r := range sorted {
				if keep(r) {
					out = append(out, r.id)
				}
			}
			return out
		}
		expect := func(name string, got []inmem.Versioned[inmem.Trace], err error, want []inmem.TraceID) {
			if err != nil {
				rt.Fatalf("%s: %v", name, err)
			}
			if !slices.Equal(traceIDs(got), want) {
				rt.Fatalf("%s = %v, want %v", name, traceIDs(got), want)
			}
		}
		ts := db.Traces()
		l, err := ts.List(ctx, run)
		expect("List", l, err, filter(func(rec) bool { return true }))
		for _, tag := range tags {
			l, err = ts.QueryByTag(ctx, run, tag)
			expect(fmt.Sprintf("QueryByTag(%q)", tag), l, err, filter(func(r rec) bool { return slices.Contains(r.tags, tag) }))
		}
		types := []inmem.TraceType{inmem.TraceTypeThought, inmem.TraceTypeError, inmem.TraceTypeToolCall}
		for _, c := range customs {
			types = append(types, inmem.CustomTraceType(c))
		}
		for _, typ := range types {
			l, err = ts.QueryByType(ctx, run, typ)
			expect(fmt.Sprintf("QueryByType(%q)", typ), l, err, filter(func(r rec) bool { return r.typ == typ }))
		}
		l, err = ts.Roots(ctx, run)
		expect("Roots", l, err, filter(func(r rec) bool { return r.parent == 0 }))
		for _, r := range model {
			l, err = ts.Children(ctx, run, r.id)
			expect(fmt.Sprintf("Children(%d)", r.id), l, err, filter(func(c rec) bool { return c.parent == r.id }))
		}
		from := rapid.Int64Range(-4, 4).Draw(rt, "from")
		to := rapid.Int64Range(from, 4).Draw(rt, "to")
		l, err = ts.QueryByTime(ctx, run, inmem.Timestamp(from), inmem.Timestamp(to))
		expect("QueryByTime", l, err, filter(func(r rec) bool { return r.at >= from && r.at < to }))
		if c, _ := ts.Count(ctx, run); c != n {
			rt.Fatalf("Count = %d, want %d", c, n)
		}
	})
}

func BenchmarkTraceRecord(b *testing.B) {
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	spec := inmem.TraceSpec{
		Body: inmem.ToolCallTrace{Tool: "search", Input: inmem.String("query text"), Output: inmem.String("result"), Duration: time.Millisecond},
		Tags: []string{"web", "step-1"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Traces().Record(ctx, run, spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTraceQueryByTag(b *testing.B) {
	db, err := inmem.Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	for i := range 10000 {
		if _, err := db.Traces().Record(ctx, run, thought("t", fmt.Sprint("tag", i%100))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.Traces().QueryByTag(ctx, run, "tag7")
		if err != nil || len(got) != 100 {
			b.Fatal(len(got), err)
		}
	}
}
