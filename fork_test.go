package inmem_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/inmemdb/inmem"
)

// forkFixture is a registered run with data in KV, state, JSON and events.
func forkFixture(t testing.TB, db *inmem.DB) (src inmem.RunID, at inmem.Version) {
	t.Helper()
	src = mustCreate(t, db, "src", inmem.RunOptions{})
	mustPut(t, db, src, "a", inmem.Int(1))
	mustPut(t, db, src, "b", inmem.Int(2))
	mustPut(t, db, src, "c", inmem.Int(3))
	if _, err := db.State().Set(ctx, src, "phase", inmem.String("plan")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JSON().Create(ctx, src, "doc", inmem.MustValue(map[string]any{"x": 1, "l": []any{1, 2}})); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"start", "step"} {
		if _, err := db.Events().Append(ctx, src, typ, inmem.String(typ)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := db.KV().Put(ctx, src, "d", inmem.Int(4))
	if err != nil {
		t.Fatal(err)
	}
	return src, v
}

// fataler is what the helpers need of a testing.TB or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func kvMap(t fataler, db *inmem.DB, run inmem.RunID) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for e, err := range db.KV().Scan(ctx, run, "") {
		if err != nil {
			t.Fatal(err)
		}
		n, _ := e.Value.AsInt()
		out[e.Key] = n
	}
	return out
}

func TestFork_ReadsThroughAndEvolvesIndependently(t *testing.T) {
	db := openMem(t)
	src, at := forkFixture(t, db)
	// Changes after the fork point must not show in the fork.
	mustPut(t, db, src, "a", inmem.Int(100))
	mustPut(t, db, src, "late", inmem.Int(5))
	f, err := db.Runs().Fork(ctx, src, at, inmem.ForkOptions{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := db.Runs().Get(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if info.Value.Parent == nil || *info.Value.Parent != src || info.Value.ForkedAt != at {
		t.Fatalf("fork record %+v", info.Value)
	}
	if got := mustGetInt(t, db, f, "a"); got != 1 {
		t.Fatalf("fork a = %d, want 1 (as of the fork point)", got)
	}
	if _, err := db.KV().Get(ctx, f, "late"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("fork sees a write after the fork point: %v", err)
	}
	// Writes on each side stay on that side; a delete hides the parent's.
	mustPut(t, db, f, "b", inmem.Int(20))
	mustPut(t, db, f, "e", inmem.Int(50))
	if _, err := db.KV().Delete(ctx, f, "c"); err != nil {
		t.Fatal(err)
	}
	if got, want := kvMap(t, db, f), map[string]int64{"a": 1, "b": 20, "d": 4, "e": 50}; !mapsEqual(got, want) {
		t.Fatalf("fork scan %v, want %v", got, want)
	}
	if got, want := kvMap(t, db, src), map[string]int64{"a": 100, "b": 2, "c": 3, "d": 4, "late": 5}; !mapsEqual(got, want) {
		t.Fatalf("source scan %v, want %v", got, want)
	}
	// State, JSON.
	st, err := db.State().Read(ctx, f, "phase")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Value.AsString(); s != "plan" {
		t.Fatalf("state %v", st.Value)
	}
	doc, err := db.JSON().Get(ctx, f, "doc", "x")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := doc.Value.AsInt(); n != 1 {
		t.Fatalf("json %v", doc.Value)
	}
	// Events continue the source's chain.
	if _, err := db.Events().Append(ctx, src, "src-only", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events().Append(ctx, f, "fork-only", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	evs, err := db.Events().Range(ctx, f, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{"start", "step", "fork-only"}) {
		t.Fatalf("fork events %v", types)
	}
	rep, err := db.Events().VerifyChain(ctx, f)
	if err != nil || !rep.OK || rep.Checked != 3 {
		t.Fatalf("fork chain %+v %v", rep, err)
	}
	rep, err = db.Events().VerifyChain(ctx, src)
	if err != nil || !rep.OK || rep.Checked != 3 {
		t.Fatalf("source chain %+v %v", rep, err)
	}
	if evs[2].PrevHash != evs[1].Hash {
		t.Fatalf("fork's first event does not link to the source head")
	}
	// Deleting the source while the fork lives is refused.
	if _, err := db.Runs().Delete(ctx, src); inmem.CodeOf(err) != inmem.CodeConstraintViolation {
		t.Fatalf("Delete(source with fork) = %v, want ConstraintViolation", err)
	}
	// Deleting the fork deletes only its own data.
	if _, err := db.Runs().Delete(ctx, f); err != nil {
		t.Fatal(err)
	}
	if got := mustGetInt(t, db, src, "c"); got != 3 {
		t.Fatalf("source c = %d after deleting the fork", got)
	}
	if _, err := db.Runs().Delete(ctx, src); err != nil {
		t.Fatal(err)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestFork_TracesAndVectors(t *testing.T) {
	db := openMem(t)
	src := mustCreate(t, db, "src", inmem.RunOptions{})
	if _, err := db.Vectors().CreateCollection(ctx, src, "mem", 2, inmem.Cosine); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vectors().Upsert(ctx, src, "mem", "x", []float32{1, 0}, inmem.Null()); err != nil {
		t.Fatal(err)
	}
	root, err := db.Traces().Record(ctx, src, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "root"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vectors().Upsert(ctx, f, "mem", "y", []float32{0, 1}, inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vectors().Upsert(ctx, src, "mem", "z", []float32{0, 1}, inmem.Null()); err != nil {
		t.Fatal(err)
	}
	hits, err := db.Vectors().Search(ctx, f, "mem", []float32{1, 1}, 10, inmem.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, h := range hits {
		keys = append(keys, h.Key)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"x", "y"}) {
		t.Fatalf("fork search %v, want [x y]", keys)
	}
	child, err := db.Traces().RecordChild(ctx, f, root, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "fork child"}})
	if err != nil {
		t.Fatal(err)
	}
	if child != root+1 {
		t.Fatalf("fork's trace id %d, want %d (continuing the source's)", child, root+1)
	}
	kids, err := db.Traces().Children(ctx, f, root)
	if err != nil || len(kids) != 1 {
		t.Fatalf("fork children %v %v", kids, err)
	}
	if n, _ := db.Traces().Count(ctx, src); n != 1 {
		t.Fatalf("source sees the fork's trace: %d", n)
	}
	// Merging the fork back records its trace under a new id.
	if _, err := db.Traces().Record(ctx, src, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "src second"}}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Runs().Merge(ctx, f, src, inmem.MergeFailOnConflict)
	if err != nil || res.Traces != 1 || res.Applied != 1 {
		t.Fatalf("merge %+v %v", res, err)
	}
	kids, err = db.Traces().Children(ctx, src, root)
	if err != nil || len(kids) != 1 || kids[0].Value.ID != root+2 {
		t.Fatalf("source children after merge %+v %v", kids, err)
	}
	if _, err := db.Vectors().Get(ctx, src, "mem", "y"); err != nil {
		t.Fatalf("merged vector: %v", err)
	}
}
