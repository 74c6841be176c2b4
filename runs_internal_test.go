package inmem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
	"pgregory.net/rapid"
)

func openTestDB(t testing.TB) *DB {
	t.Helper()
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// liveKeys returns the live keys of (run, space) at the current snapshot.
func liveKeys(db *DB, run RunID, space core.PrimitiveType) []string {
	var keys []string
	db.eng.ScanSnapshot(run, space, "", "", db.eng.Visible(), func(k string, _ engine.Entry) bool {
		keys = append(keys, k)
		return true
	})
	return keys
}

// TestRunsDelete_CascadesEverySpace writes into every engine space of a run
// (KV through Event, JSON, Vector and System, even the Run space of the run
// itself) and checks that Delete tombstones all of it, with the run's record
// and index entries, in one commit, and touches nothing else.
func TestRunsDelete_CascadesEverySpace(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	parent, err := db.Runs().Create(ctx, "parent", RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	victim, err := db.Runs().Create(ctx, "victim", RunOptions{Parent: &parent, Tags: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.Runs().Create(ctx, "other", RunOptions{Tags: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []RunID{victim, other} {
		err := db.Update(ctx, run, func(tx *Tx) error {
			for space := core.KV; space <= core.System; space++ {
				for i := range 200 {
					tx.txn.Put(run, space, fmt.Sprintf("%s-%03d", space, i), Int(int64(i)).in())
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// A deleted key stays deleted (no second tombstone needed).
		if _, err := db.KV().Delete(ctx, run, "kv-000"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Traces().Record(ctx, run, TraceSpec{Body: ThoughtTrace{Content: "x"}, Tags: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	globalBefore := liveKeys(db, GlobalRun, core.Run)
	snap := db.eng.Visible()

	v, err := db.Runs().Delete(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	for space := core.KV; space <= core.System; space++ {
		if keys := liveKeys(db, victim, space); len(keys) != 0 {
			t.Errorf("space %s of the deleted run still holds %d keys, e.g. %q", space, len(keys), keys[0])
		}
		if n := len(liveKeys(db, other, space)); n < 199 { // kv-000 was deleted
			t.Errorf("space %s of the other run lost keys: %d left", space, n)
		}
	}
	// Every tombstone carries the Delete's version: one commit.
	for space := core.KV; space <= core.System; space++ {
		db.eng.ScanSnapshot(victim, space, "", "", snap, func(k string, _ engine.Entry) bool {
			tx := db.eng.Begin(victim, false)
			h := tx.History(victim, space, k)
			if len(h) == 0 || !h[0].Tombstone || h[0].Version != v.N {
				t.Errorf("%s/%q: newest version %+v, want a tombstone at %d", space, k, h[0], v.N)
			}
			return true
		})
	}
	// The run index: nothing mentions the victim any more, and exactly its
	// record, name, index entries and the parent's children count changed.
	globalAfter := liveKeys(db, GlobalRun, core.Run)
	for _, k := range globalAfter {
		if strings.Contains(k, string(victim[:])) || strings.Contains(k, "victim") {
			t.Errorf("run index key %q still refers to the deleted run", k)
		}
	}
	var gone []string
	for _, k := range globalBefore {
		if !slices.Contains(globalAfter, k) {
			gone = append(gone, k)
		}
	}
	// r+id, n+name, c, s, p, g×2 and k+parent.
	if len(gone) != 8 || len(globalAfter) != len(globalBefore)-8 {
		t.Errorf("Delete removed %d run index keys (%d → %d), want 8", len(gone), len(globalBefore), len(globalAfter))
	}
	if n, err := db.Runs().tx(t).children(parent); err != nil || n != 0 {
		t.Errorf("parent's children count = %d, %v", n, err)
	}
}

// tx returns a read-only run index bound to a fresh snapshot (tests only).
func (r RunIndex) tx(t testing.TB) RunIndexTx {
	tx, err := r.db.Begin(context.Background(), GlobalRun, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx.Runs()
}

// TestKeyLayout_Unambiguous: an index key of one tag, type or status never
// falls under the scan prefix of another, and the id decodes back.
func TestKeyLayout_Unambiguous(t *testing.T) {
	str := rapid.OneOf(
		rapid.String(),
		rapid.StringOf(rapid.SampledFrom([]rune{0, 1, '/', 'a', 0xff, 0x80})),
		rapid.SampledFrom([]string{"", "a", "ab", "a/b", "a\x01b", "\x00\x00\x00\x01a"}),
	)
	rapid.Check(t, func(rt *rapid.T) {
		a, b := str.Draw(rt, "a"), str.Draw(rt, "b")
		at := rapid.Int64().Draw(rt, "at")
		id := TraceID(rapid.Uint64().Draw(rt, "id"))
		var rid RunID
		copy(rid[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(rt, "rid"))
		for _, c := range []struct {
			name   string
			pa, pb string
		}{
			{"trace tag", traceTagPrefix(a), traceTagPrefix(b)},
			{"trace type", traceTypePrefix(CustomTraceType(a)), traceTypePrefix(CustomTraceType(b))},
			{"run tag", runTagPrefix(a), runTagPrefix(b)},
		} {
			tk := traceIndexKey(c.pa, at, id)
			if traceIndexID(tk) != id {
				rt.Fatalf("%s: id %d decodes as %d", c.name, id, traceIndexID(tk))
			}
			rk := runIndexKey(c.pa, Timestamp(at), rid)
			if runIndexID(rk) != rid {
				rt.Fatalf("%s: run id does not decode", c.name)
			}
			if a != b && (strings.HasPrefix(tk, c.pb) || strings.HasPrefix(rk, c.pb)) {
				rt.Fatalf("%s: a key of %q falls under the prefix of %q", c.name, a, b)
			}
		}
		// The time encoding preserves order.
		at2 := rapid.Int64().Draw(rt, "at2")
		k1, k2 := traceIndexKey("i", at, 1), traceIndexKey("i", at2, 1)
		if (at < at2) != (k1 < k2) {
			rt.Fatalf("time order broken: %d vs %d", at, at2)
		}
	})
	// Statuses: no status prefix is a prefix of another's keys.
	for _, s1 := range RunStatuses {
		for _, s2 := range RunStatuses {
			if s1 != s2 && strings.HasPrefix(runIndexKey(runStatusPrefix(s1), 0, RunID{}), runStatusPrefix(s2)) {
				t.Errorf("status %s falls under %s", s1, s2)
			}
		}
	}
}

// TestState_LivesInEngineEntries copies every engine entry of a database
// into a fresh one (as recovery from a WAL or snapshot would) and checks that
// every trace and run index query answers the same: the primitives keep no
// state outside the engine.
func TestState_LivesInEngineEntries(t *testing.T) {
	ctx := context.Background()
	src := openTestDB(t)
	p, _ := src.Runs().Create(ctx, "p", RunOptions{Tags: []string{"x"}})
	c, _ := src.Runs().Create(ctx, "c", RunOptions{Parent: &p, Metadata: Int(3)})
	src.Runs().Fail(ctx, c, "boom")
	root, _ := src.Traces().Record(ctx, p, TraceSpec{Body: ToolCallTrace{Tool: "t"}, Tags: []string{"a", "b"}})
	kid, _ := src.Traces().RecordChild(ctx, p, root, TraceSpec{Body: CustomTrace{Name: "n"}, Tags: []string{"b"}})
	src.Traces().RecordChild(ctx, p, kid, TraceSpec{Body: ErrorTrace{Message: "m"}})

	dst := openTestDB(t)
	commit := &core.Commit{Version: 1, Time: 1}
	for _, run := range []RunID{GlobalRun, p, c} {
		for space := core.KV; space <= core.System; space++ {
			src.eng.ScanSnapshot(run, space, "", "", src.eng.Visible(), func(k string, e engine.Entry) bool {
				commit.Mutations = append(commit.Mutations, core.Mutation{Op: core.OpPut, Run: run, Space: space, Key: k, Value: e.Value, Version: 1})
				return true
			})
		}
	}
	if err := dst.eng.Apply(commit); err != nil {
		t.Fatal(err)
	}
	strip := func(x any, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		s := fmt.Sprintf("%+v", x)
		// Versions and commit times legitimately differ.
		for _, field := range []string{"Version:", "Timestamp:"} {
			for {
				i := strings.Index(s, field+"{")
				j := strings.Index(s, field)
				if i < 0 && j < 0 {
					break
				}
				if i >= 0 {
					end := strings.Index(s[i:], "}")
					s = s[:i] + s[i+end+1:]
					continue
				}
				end := strings.IndexAny(s[j:], " }")
				s = s[:j] + s[j+end:]
			}
		}
		return s
	}
	// Reads first, then writes (each applied to both databases).
	for _, query := range []struct {
		name string
		q    func(db *DB) (any, error)
	}{
		{"traces.List", func(db *DB) (any, error) { return db.Traces().List(ctx, p) }},
		{"traces.Tree", func(db *DB) (any, error) { return db.Traces().Tree(ctx, p, root) }},
		{"traces.ByTag", func(db *DB) (any, error) { return db.Traces().QueryByTag(ctx, p, "b") }},
		{"traces.ByType", func(db *DB) (any, error) { return db.Traces().QueryByType(ctx, p, CustomTraceType("n")) }},
		{"traces.Count", func(db *DB) (any, error) { return db.Traces().Count(ctx, p) }},
		{"runs.List", func(db *DB) (any, error) { return db.Runs().List(ctx) }},
		{"runs.ByName", func(db *DB) (any, error) { return db.Runs().GetByName(ctx, "c") }},
		{"runs.ByStatus", func(db *DB) (any, error) { return db.Runs().QueryByStatus(ctx, RunFailed) }},
		{"runs.Children", func(db *DB) (any, error) { return db.Runs().Children(ctx, p) }},
		{"runs.ByTag", func(db *DB) (any, error) { return db.Runs().QueryByTag(ctx, "x") }},
		{"traces.Record", func(db *DB) (any, error) {
			return db.Traces().Record(ctx, p, TraceSpec{Body: ThoughtTrace{Content: "next"}})
		}},
		{"runs.Duplicate", func(db *DB) (any, error) { return db.Runs().Create(ctx, "p", RunOptions{}) }},
		{"runs.ClosedKV", func(db *DB) (any, error) { return db.KV().Put(ctx, c, "k", Int(1)) }},
		{"runs.DeleteBusy", func(db *DB) (any, error) { return db.Runs().Delete(ctx, p) }},
	} {
		a, b := strip(query.q(src)), strip(query.q(dst))
		if a != b {
			t.Errorf("%s differs after copying the engine entries:\n src %s\n dst %s", query.name, a, b)
		}
	}
}
