package inmem_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"pgregory.net/rapid"
)

func TestKV_TombstoneAndHistory(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	kv := db.KV()
	v1 := mustPut(t, db, run, "k", inmem.String("one"))
	v2 := mustPut(t, db, run, "k", inmem.String("two"))
	vd, err := kv.Delete(ctx, run, "k")
	if err != nil {
		t.Fatal(err)
	}
	v3 := mustPut(t, db, run, "k", inmem.String("three"))
	if !(v1.N < v2.N && v2.N < vd.N && vd.N < v3.N) {
		t.Fatalf("versions not increasing: %v %v %v %v", v1, v2, vd, v3)
	}
	h, err := kv.History(ctx, run, "k")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ver     inmem.Version
		val     string
		deleted bool
	}{{v3, "three", false}, {vd, "", true}, {v2, "two", false}, {v1, "one", false}}
	if len(h) != len(want) {
		t.Fatalf("history has %d entries, want %d: %v", len(h), len(want), h)
	}
	for i, w := range want {
		if h[i].Version != w.ver || h[i].Deleted != w.deleted {
			t.Fatalf("history[%d] = %+v, want version %v deleted %v", i, h[i], w.ver, w.deleted)
		}
		if !w.deleted && !h[i].Value.Equal(inmem.String(w.val)) {
			t.Fatalf("history[%d] value = %v, want %q", i, h[i].Value, w.val)
		}
		if h[i].Timestamp == 0 {
			t.Fatalf("history[%d] has no timestamp", i)
		}
	}
	for _, c := range []struct {
		at   inmem.Version
		want string // "" = NotFound
	}{{inmem.Txn(v1.N - 1), ""}, {v1, "one"}, {v2, "two"}, {vd, ""}, {inmem.Txn(v3.N - 1), ""}, {v3, "three"}, {inmem.Txn(v3.N + 1000), "three"}} {
		got, err := kv.GetAt(ctx, run, "k", c.at)
		if c.want == "" {
			if !errors.Is(err, inmem.ErrNotFound) {
				t.Fatalf("GetAt(%v) = %v, %v; want NotFound", c.at, got, err)
			}
			continue
		}
		if err != nil || !got.Value.Equal(inmem.String(c.want)) {
			t.Fatalf("GetAt(%v) = %v, %v; want %q", c.at, got, err, c.want)
		}
	}
	if _, err := kv.Delete(ctx, run, "missing"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Delete of a missing key = %v, want NotFound", err)
	}
	if h, _ := kv.History(ctx, run, "missing"); len(h) != 0 {
		t.Fatalf("history of a never-written key = %v", h)
	}
}

func TestKV_OldSnapshotSeesDeletedValue(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustPut(t, db, run, "k", inmem.Int(7))
	old, _ := db.Begin(ctx, run, false)
	defer old.Rollback()
	if _, err := db.KV().Delete(ctx, run, "k"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.KV().Exists(ctx, run, "k"); ok {
		t.Fatal("deleted key still visible to new readers")
	}
	got, err := old.KV().Get("k")
	if err != nil || !got.Value.Equal(inmem.Int(7)) {
		t.Fatalf("older snapshot Get = %v, %v; want the deleted value", got, err)
	}
	keys, _ := old.KV().List("")
	if !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("older snapshot List = %v", keys)
	}
}

func TestKV_GetManyAndScan(t *testing.T) {
	db := openMem(t)
	run, other := inmem.NewRunID(), inmem.NewRunID()
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "a"} {
		mustPut(t, db, run, k, inmem.String(k))
	}
	mustPut(t, db, other, "a/9", inmem.Int(1))
	db.KV().Delete(ctx, run, "a/2")
	got, err := db.KV().GetMany(ctx, run, []string{"a/1", "a/2", "b/1", "zz"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] == nil || got[1] != nil || got[2] == nil || got[3] != nil {
		t.Fatalf("GetMany = %v", got)
	}
	var keys []string
	for e, err := range db.KV().Scan(ctx, run, "a/") {
		if err != nil {
			t.Fatal(err)
		}
		if !e.Value.Equal(inmem.String(e.Key)) {
			t.Fatalf("scan value for %q = %v", e.Key, e.Value)
		}
		keys = append(keys, e.Key)
	}
	if !slices.Equal(keys, []string{"a/1", "a/3"}) {
		t.Fatalf("Scan(a/) = %v", keys)
	}
	all, _ := db.KV().List(ctx, run, "")
	if !slices.Equal(all, []string{"a", "a/1", "a/3", "b/1"}) {
		t.Fatalf("List() = %v", all)
	}
	// Early stop.
	n := 0
	for range db.KV().Scan(ctx, run, "") {
		n++
		break
	}
	if n != 1 {
		t.Fatal("scan did not stop")
	}
}

// A Scan is one snapshot: writes made while iterating are not seen.
func TestKV_ScanIsOneSnapshot(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	for i := range 1000 { // more than one internal chunk
		mustPut(t, db, run, fmt.Sprintf("k%04d", i), inmem.Int(int64(i)))
	}
	seen := 0
	for e, err := range db.KV().Scan(ctx, run, "k") {
		if err != nil {
			t.Fatal(err)
		}
		n, _ := e.Value.AsInt()
		if fmt.Sprintf("k%04d", n) != e.Key {
			t.Fatalf("scan yielded %s = %v", e.Key, e.Value)
		}
		if seen%100 == 0 {
			mustPut(t, db, run, fmt.Sprintf("k%04d", 1000+seen), inmem.Int(-1)) // after the snapshot
			db.KV().Delete(ctx, run, fmt.Sprintf("k%04d", 999-seen/100))        // still seen
		}
		seen++
	}
	if seen != 1000 {
		t.Fatalf("scan saw %d keys, want the 1000 of its snapshot", seen)
	}
}

func TestKV_BadInput(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	kv := db.KV()
	long := strings.Repeat("x", 1025)
	for _, key := range []string{"", long, "a\x00b", "_system/retention"} {
		if _, err := kv.Put(ctx, run, key, inmem.Int(1)); !errors.Is(err, inmem.ErrInvalidKey) {
			t.Errorf("Put(%.20q) = %v, want InvalidKey", key, err)
		}
		if _, err := kv.Get(ctx, run, key); !errors.Is(err, inmem.ErrInvalidKey) {
			t.Errorf("Get(%.20q) = %v, want InvalidKey", key, err)
		}
	}
	if _, err := kv.Put(ctx, run, strings.Repeat("x", 1024), inmem.Int(1)); err != nil {
		t.Errorf("a 1024-byte key is allowed: %v", err)
	}
	big := inmem.Bytes(make([]byte, 16<<20+1))
	if _, err := kv.Put(ctx, run, "big", big); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("oversized value = %v", err)
	}
	deep := inmem.Null()
	for range 129 {
		deep = inmem.Array(deep)
	}
	if _, err := kv.Put(ctx, run, "deep", deep); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("too-deep value = %v", err)
	}
	okDeep := inmem.Null()
	for range 128 {
		okDeep = inmem.Array(okDeep)
	}
	if _, err := kv.Put(ctx, run, "deep", okDeep); err != nil {
		t.Errorf("128-deep value is allowed: %v", err)
	}
	if _, err := kv.Put(ctx, run, "utf8", inmem.String("\xff")); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("invalid UTF-8 string = %v", err)
	}
	if _, err := kv.Put(ctx, run, "utf8", inmem.Object(map[string]inmem.Value{"\xfe": inmem.Int(1)})); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("invalid UTF-8 object key = %v", err)
	}
	if _, err := kv.GetAt(ctx, run, "deep", inmem.Counter(1)); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("GetAt with a Counter version = %v", err)
	}
	if keys, _ := kv.List(ctx, run, ""); len(keys) != 2 {
		t.Errorf("only the two valid writes should exist, got %v", keys)
	}
}

func TestKV_NoAliasing(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	buf := []byte("hello")
	arr := []inmem.Value{inmem.Int(1), inmem.Int(2)}
	m := map[string]inmem.Value{"a": inmem.Int(1)}
	mustPut(t, db, run, "b", inmem.Bytes(buf))
	mustPut(t, db, run, "arr", inmem.Array(arr...))
	mustPut(t, db, run, "obj", inmem.Object(m))
	buf[0] = 'J'
	arr[0] = inmem.String("changed")
	m["a"] = inmem.String("changed")
	m["new"] = inmem.Int(2)

	got, _ := db.KV().Get(ctx, run, "b")
	out, _ := got.Value.AsBytes()
	if string(out) != "hello" {
		t.Fatalf("stored bytes changed through the caller's slice: %q", out)
	}
	out[0] = 'X'
	again, _ := db.KV().Get(ctx, run, "b")
	if b, _ := again.Value.AsBytes(); string(b) != "hello" {
		t.Fatalf("stored bytes changed through a returned slice: %q", b)
	}
	ga, _ := db.KV().Get(ctx, run, "arr")
	if !ga.Value.Equal(inmem.Array(inmem.Int(1), inmem.Int(2))) {
		t.Fatalf("stored array changed: %v", ga.Value)
	}
	elems, _ := ga.Value.AsArray()
	elems[1] = inmem.Null()
	if ga2, _ := db.KV().Get(ctx, run, "arr"); !ga2.Value.Equal(inmem.Array(inmem.Int(1), inmem.Int(2))) {
		t.Fatalf("stored array changed through a returned slice: %v", ga2.Value)
	}
	gobj, _ := db.KV().Get(ctx, run, "obj")
	if !gobj.Value.Equal(inmem.Object(map[string]inmem.Value{"a": inmem.Int(1)})) {
		t.Fatalf("stored object changed: %v", gobj.Value)
	}
	mm, _ := gobj.Value.AsMap()
	mm["a"] = inmem.Null()
	if g, _ := db.KV().Get(ctx, run, "obj"); !g.Value.Equal(inmem.Object(map[string]inmem.Value{"a": inmem.Int(1)})) {
		t.Fatalf("stored object changed through a returned map: %v", g.Value)
	}
}

func TestKV_ValueRoundTripsExactly(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	vals := []inmem.Value{
		inmem.Float(math.Copysign(0, -1)), inmem.Float(math.NaN()), inmem.Float(math.Inf(1)),
		inmem.Float(math.Inf(-1)), inmem.Int(math.MinInt64), inmem.String("héllo ✓"), inmem.Bytes([]byte{0, 255}),
	}
	for i, v := range vals {
		mustPut(t, db, run, fmt.Sprint(i), v)
		got, _ := db.KV().Get(ctx, run, fmt.Sprint(i))
		if !got.Value.Identical(v) {
			t.Fatalf("value %d: got %v, want %v", i, got.Value, v)
		}
	}
}

func TestKV_RunsAreIsolated(t *testing.T) {
	db := openMem(t)
	a, b := inmem.NewRunID(), inmem.NewRunID()
	mustPut(t, db, a, "k", inmem.Int(1))
	mustPut(t, db, b, "k", inmem.Int(2))
	if mustGetInt(t, db, a, "k") != 1 || mustGetInt(t, db, b, "k") != 2 {
		t.Fatal("runs share keys")
	}
	db.KV().Delete(ctx, a, "k")
	if mustGetInt(t, db, b, "k") != 2 {
		t.Fatal("delete in one run affected another")
	}
}

// kvModel is the reference model of the KV state machine test: the full
// history of each key.
type kvModel struct {
	hist map[string][]modelVersion // oldest first
}

type modelVersion struct {
	ver     uint64
	val     inmem.Value
	deleted bool
}

func (m *kvModel) live(key string) (modelVersion, bool) {
	h := m.hist[key]
	if len(h) == 0 || h[len(h)-1].deleted {
		return modelVersion{}, false
	}
	return h[len(h)-1], true
}

func TestKV_StateMachine(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		db, err := inmem.Open("", nil)
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()
		run := inmem.NewRunID()
		kv := db.KV()
		m := &kvModel{hist: map[string][]modelVersion{}}
		keyGen := rapid.SampledFrom([]string{"a", "ab", "b", "b/1", "b/2", "c"})
		valGen := rapid.Custom(func(t *rapid.T) inmem.Value {
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				return inmem.Int(rapid.Int64().Draw(t, "i"))
			case 1:
				return inmem.String(rapid.StringN(0, 8, -1).Draw(t, "s"))
			case 2:
				return inmem.Array(inmem.Int(rapid.Int64Range(0, 5).Draw(t, "e")))
			}
			return inmem.Null()
		})
		rt.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k, v := keyGen.Draw(t, "key"), valGen.Draw(t, "val")
				ver, err := kv.Put(ctx, run, k, v)
				if err != nil {
					t.Fatal(err)
				}
				m.hist[k] = append(m.hist[k], modelVersion{ver: ver.N, val: v})
			},
			"delete": func(t *rapid.T) {
				k := keyGen.Draw(t, "key")
				ver, err := kv.Delete(ctx, run, k)
				if _, live := m.live(k); !live {
					if !errors.Is(err, inmem.ErrNotFound) {
						t.Fatalf("Delete of a dead key = %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				m.hist[k] = append(m.hist[k], modelVersion{ver: ver.N, deleted: true})
			},
			"cas": func(t *rapid.T) {
				k, v := keyGen.Draw(t, "key"), valGen.Draw(t, "val")
				cur, live := m.live(k)
				expect := inmem.Txn(0)
				if live {
					expect = inmem.Txn(cur.ver)
				}
				if rapid.Bool().Draw(t, "stale") {
					expect = inmem.Txn(expect.N + 1)
				}
				ver, err := kv.CAS(ctx, run, k, expect, v)
				want := (live && expect.N == cur.ver) || (!live && expect.N == 0)
				if want != (err == nil) {
					t.Fatalf("CAS(%q, %v): err %v, model expects success=%v", k, expect, err, want)
				}
				if err == nil {
					m.hist[k] = append(m.hist[k], modelVersion{ver: ver.N, val: v})
				} else if !errors.Is(err, inmem.ErrConflict) {
					t.Fatal(err)
				}
			},
			"multi": func(t *rapid.T) {
				k1, k2 := keyGen.Draw(t, "k1"), keyGen.Draw(t, "k2")
				v1, v2 := valGen.Draw(t, "v1"), valGen.Draw(t, "v2")
				tx, _ := db.Begin(ctx, run, true)
				tx.KV().Put(k1, v1)
				tx.KV().Put(k2, v2)
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				ver := tx.CommitVersion().N
				if k1 == k2 {
					m.hist[k1] = append(m.hist[k1], modelVersion{ver: ver, val: v2})
				} else {
					m.hist[k1] = append(m.hist[k1], modelVersion{ver: ver, val: v1})
					m.hist[k2] = append(m.hist[k2], modelVersion{ver: ver, val: v2})
				}
			},
			"getAt": func(t *rapid.T) {
				k := keyGen.Draw(t, "key")
				h := m.hist[k]
				if len(h) == 0 {
					return
				}
				i := rapid.IntRange(0, len(h)-1).Draw(t, "i")
				got, err := kv.GetAt(ctx, run, k, inmem.Txn(h[i].ver))
				if h[i].deleted {
					if !errors.Is(err, inmem.ErrNotFound) {
						t.Fatalf("GetAt at a tombstone = %v, %v", got, err)
					}
					return
				}
				if err != nil || !got.Value.Identical(h[i].val) || got.Version.N != h[i].ver {
					t.Fatalf("GetAt(%q, %d) = %v, %v; want %v", k, h[i].ver, got, err, h[i].val)
				}
			},
			"": func(t *rapid.T) { // invariants after every step
				for k, h := range m.hist {
					got, err := kv.Get(ctx, run, k)
					cur, live := m.live(k)
					if live != (err == nil) {
						t.Fatalf("Get(%q) err=%v, model live=%v", k, err, live)
					}
					if live && (!got.Value.Identical(cur.val) || got.Version.N != cur.ver) {
						t.Fatalf("Get(%q) = %v, model %v@%d", k, got, cur.val, cur.ver)
					}
					hist, _ := kv.History(ctx, run, k)
					if len(hist) != len(h) {
						t.Fatalf("History(%q) has %d entries, model %d", k, len(hist), len(h))
					}
					for i, e := range hist {
						mv := h[len(h)-1-i]
						if e.Version.N != mv.ver || e.Deleted != mv.deleted || (!mv.deleted && !e.Value.Identical(mv.val)) {
							t.Fatalf("History(%q)[%d] = %+v, model %+v", k, i, e, mv)
						}
					}
				}
				var want []string
				for k := range m.hist {
					if _, live := m.live(k); live && strings.HasPrefix(k, "b") {
						want = append(want, k)
					}
				}
				slices.Sort(want)
				got, _ := kv.List(ctx, run, "b")
				if !slices.Equal(got, want) {
					t.Fatalf("List(b) = %v, model %v", got, want)
				}
			},
		})
	})
}
