package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// ttModel is the state of one run after one commit, replayed by the test.
type ttModel struct {
	version uint64
	at      time.Time
	kv      map[string]int64
	state   map[string]int64
	docs    map[string]int64
	vecs    map[string]bool
	events  int
	traces  int
	runs    int
}

func (m ttModel) clone() ttModel {
	m.kv, m.state, m.docs, m.vecs = maps.Clone(m.kv), maps.Clone(m.state), maps.Clone(m.docs), maps.Clone(m.vecs)
	return m
}

// ttWorkload commits n random steps to run, each touching one primitive,
// and returns the model after every commit (index 0: before the first).
func ttWorkload(t *testing.T, db *inmem.DB, clk *manualClock, run inmem.RunID, n int, seed uint64) []ttModel {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	cur := ttModel{kv: map[string]int64{}, state: map[string]int64{}, docs: map[string]int64{}, vecs: map[string]bool{}}
	models := []ttModel{cur.clone()}
	if _, err := db.Vectors().CreateCollection(ctx, run, "c", 2, inmem.Euclidean); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		clk.set(clk.Now().Add(time.Millisecond))
		key := fmt.Sprintf("k%02d", rng.IntN(8))
		x := int64(i)
		var err error
		switch rng.IntN(8) {
		case 0, 1:
			_, err = db.KV().Put(ctx, run, key, inmem.Int(x))
			cur.kv[key] = x
		case 2:
			if _, ok := cur.kv[key]; ok {
				_, err = db.KV().Delete(ctx, run, key)
				delete(cur.kv, key)
			} else {
				_, err = db.KV().Put(ctx, run, key, inmem.Int(x))
				cur.kv[key] = x
			}
		case 3:
			_, err = db.Events().Append(ctx, run, "step", inmem.Int(x))
			cur.events++
		case 4:
			_, err = db.State().Set(ctx, run, key, inmem.Int(x))
			cur.state[key] = x
		case 5:
			if _, ok := cur.docs[key]; ok {
				_, err = db.JSON().Set(ctx, run, key, "$.n", inmem.Int(x))
			} else {
				_, err = db.JSON().Create(ctx, run, key, inmem.ObjectOf(inmem.Field{Key: "n", Value: inmem.Int(x)}))
			}
			cur.docs[key] = x
		case 6:
			_, err = db.Vectors().Upsert(ctx, run, "c", key, []float32{float32(x), 1}, inmem.Null())
			cur.vecs[key] = true
		case 7:
			if rng.IntN(2) == 0 {
				_, err = db.Traces().Record(ctx, run, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "t"}})
				cur.traces++
			} else {
				_, err = db.Runs().Create(ctx, fmt.Sprintf("run-%d", i), inmem.RunOptions{})
				cur.runs++
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		cur.version = db.Stats().CommitVersion
		cur.at = clk.Now()
		models = append(models, cur.clone())
	}
	return models
}

// ttCheck reads run at m's version through ViewAt and compares every
// primitive with the model.
func ttCheck(t *testing.T, db *inmem.DB, run inmem.RunID, at inmem.At, m ttModel) {
	t.Helper()
	err := db.ViewAt(context.Background(), run, at, func(tx *inmem.Tx) error {
		if got := tx.ReadVersion(); got != inmem.Txn(m.version) {
			return fmt.Errorf("ReadVersion = %v, want txn:%d", got, m.version)
		}
		kv := map[string]int64{}
		for e, err := range tx.KV().Scan("") {
			if err != nil {
				return err
			}
			kv[e.Key], _ = e.Value.AsInt()
		}
		if !maps.Equal(kv, m.kv) {
			return fmt.Errorf("kv = %v, want %v", kv, m.kv)
		}
		for k, want := range m.state {
			got, err := tx.State().Read(k)
			if n, _ := got.Value.AsInt(); err != nil || n != want {
				return fmt.Errorf("state %s = %v, %v; want %d", k, got.Value, err, want)
			}
		}
		names, err := tx.State().List("")
		if err != nil || len(names) != len(m.state) {
			return fmt.Errorf("state list = %v, %v; want %d cells", names, err, len(m.state))
		}
		for k, want := range m.docs {
			got, err := tx.JSON().Get(k, "$.n")
			if n, _ := got.Value.AsInt(); err != nil || n != want {
				return fmt.Errorf("json %s = %v, %v; want %d", k, got.Value, err, want)
			}
		}
		if ids, err := tx.JSON().List(""); err != nil || len(ids) != len(m.docs) {
			return fmt.Errorf("json list = %v, %v; want %d docs", ids, err, len(m.docs))
		}
		if n, err := tx.Events().Len(); err != nil || n != uint64(m.events) {
			return fmt.Errorf("events = %d, %v; want %d", n, err, m.events)
		}
		if evs, err := tx.Events().Range(0, uint64(m.events)); err != nil || len(evs) != m.events {
			return fmt.Errorf("event range = %d, %v; want %d", len(evs), err, m.events)
		}
		if n, err := tx.Traces().Count(); err != nil || n != m.traces {
			return fmt.Errorf("traces = %d, %v; want %d", n, err, m.traces)
		}
		if n, err := tx.Runs().Count(); err != nil || n != m.runs {
			return fmt.Errorf("runs = %d, %v; want %d", n, err, m.runs)
		}
		if m.version > 0 {
			hits, err := tx.Vectors().Search("c", []float32{0, 0}, 100, nil)
			if err != nil {
				return err
			}
			var keys []string
			for _, h := range hits {
				keys = append(keys, h.Key)
			}
			slices.Sort(keys)
			if want := slices.Sorted(maps.Keys(m.vecs)); !slices.Equal(keys, want) {
				return fmt.Errorf("vector search = %v, want %v", keys, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ViewAt(%v) at model version %d: %v", at, m.version, err)
	}
}

// TestViewAt_ModelReplay compares ViewAt at past versions and times with a
// model replay: live, after a reopen that replays the WAL, and after a
// reopen that recovers from a snapshot alone.
func TestViewAt_ModelReplay(t *testing.T) {
	dir := t.TempDir()
	clk := &manualClock{t: time.UnixMicro(1_000_000_000)}
	opts := &inmem.Options{Clock: clk}
	db, err := inmem.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	run := inmem.NewRunID()
	models := ttWorkload(t, db, clk, run, 120, 7)
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(stage string) {
		t.Run(stage, func(t *testing.T) {
			for range 40 {
				m := models[rng.IntN(len(models))]
				ttCheck(t, db, run, inmem.AtVersion(inmem.Txn(m.version)), m)
			}
			for i, m := range models[1:] {
				// Half a step after the commit resolves to it, and so does
				// the commit's own time.
				ttCheck(t, db, run, inmem.AtTime(m.at.Add(time.Millisecond/2)), m)
				if i%10 == 0 {
					ttCheck(t, db, run, inmem.AtTime(m.at), m)
				}
			}
			ttCheck(t, db, run, inmem.AtTime(time.UnixMicro(0)), models[0])
		})
	}
	check("live")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = inmem.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	check("wal-replay")
	if _, err := db.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(context.Background(), inmem.WALOnly); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = inmem.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check("snapshot")
}

func TestViewAt_Errors(t *testing.T) {
	ctx := context.Background()
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	v, err := db.KV().Put(ctx, run, "a", inmem.Int(1))
	if err != nil {
		t.Fatal(err)
	}
	noop := func(*inmem.Tx) error { return nil }
	if err := db.ViewAt(ctx, run, inmem.AtVersion(inmem.Txn(v.N+1)), noop); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("future version: %v", err)
	}
	if err := db.ViewAt(ctx, run, inmem.AtVersion(inmem.Sequence(0)), noop); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("sequence version: %v", err)
	}
	if err := db.ViewAt(ctx, run, inmem.At{}, noop); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("zero At: %v", err)
	}
	err = db.ViewAt(ctx, run, inmem.AtVersion(v), func(tx *inmem.Tx) error {
		err := tx.KV().Put("b", inmem.Int(2))
		return err
	})
	if !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("write in ViewAt: %v", err)
	}
	err = db.ViewAt(ctx, run, inmem.AtVersion(inmem.Txn(0)), func(tx *inmem.Tx) error {
		if _, err := tx.KV().Get("a"); !errors.Is(err, inmem.ErrNotFound) {
			return fmt.Errorf("Get at version 0: %v", err)
		}
		return tx.Commit()
	})
	if !errors.Is(err, inmem.ErrTxManaged) {
		t.Errorf("ViewAt(0) with Commit: %v", err)
	}
}

// TestViewAt_BelowTrimFloor checks that ViewAt below what retention kept
// answers HistoryTrimmed, by version and by time, and reads at the floor.
func TestViewAt_BelowTrimFloor(t *testing.T) {
	ctx := context.Background()
	clk := &manualClock{t: time.UnixMicro(1_000_000_000)}
	db, err := inmem.Open("", &inmem.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	var vs []inmem.Version
	var times []time.Time
	for i := range 10 {
		clk.set(clk.Now().Add(time.Second))
		v, err := db.KV().Put(ctx, run, "k", inmem.Int(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		vs, times = append(vs, v), append(times, clk.Now())
	}
	if _, err := db.SetRetentionPolicy(ctx, run, inmem.KeepLast(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, inmem.Full); err != nil {
		t.Fatal(err)
	}
	noop := func(*inmem.Tx) error { return nil }
	for _, at := range []inmem.At{inmem.AtVersion(vs[2]), inmem.AtTime(times[2]), inmem.AtVersion(inmem.Txn(0))} {
		if err := db.ViewAt(ctx, run, at, noop); !errors.Is(err, inmem.ErrHistoryTrimmed) {
			t.Errorf("ViewAt(%v) below the floor: %v", at, err)
		}
	}
	err = db.ViewAt(ctx, run, inmem.AtTime(times[9]), func(tx *inmem.Tx) error {
		got, err := tx.KV().Get("k")
		if n, _ := got.Value.AsInt(); err != nil || n != 9 {
			return fmt.Errorf("Get = %v, %v", got.Value, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
