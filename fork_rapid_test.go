package inmem_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/inmemdb/inmem"
	"pgregory.net/rapid"
)

// forkModel is one side (a run) of the model: its KV keys, state cells and
// event types in order.
type forkModel struct {
	kv     map[string]int64
	state  map[string]int64
	events []string
}

func (m forkModel) clone() forkModel {
	return forkModel{kv: maps.Clone(m.kv), state: maps.Clone(m.state), events: slices.Clone(m.events)}
}

// TestFork_RapidModel forks a run, writes to both sides, and checks reads,
// Diff and Merge against a model.
func TestFork_RapidModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		db := openMem(t)
		defer db.Close()
		keys := rapid.SampledFrom([]string{"k0", "k1", "k2", "k3"})
		vals := rapid.Int64Range(0, 3)
		src := mustCreate(t, db, "src", inmem.RunOptions{})
		runs := map[bool]inmem.RunID{false: src}
		models := map[bool]*forkModel{false: {kv: map[string]int64{}, state: map[string]int64{}}}
		step := func(fork bool) {
			run, m := runs[fork], models[fork]
			k := keys.Draw(rt, "key")
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0:
				v := vals.Draw(rt, "val")
				mustPut(t, db, run, k, inmem.Int(v))
				m.kv[k] = v
			case 1:
				if _, ok := m.kv[k]; ok {
					if _, err := db.KV().Delete(ctx, run, k); err != nil {
						rt.Fatal(err)
					}
					delete(m.kv, k)
				}
			case 2:
				v := vals.Draw(rt, "val")
				if _, err := db.State().Set(ctx, run, k, inmem.Int(v)); err != nil {
					rt.Fatal(err)
				}
				m.state[k] = v
			case 3:
				typ := fmt.Sprintf("%s-%d", k, len(m.events))
				if _, err := db.Events().Append(ctx, run, typ, inmem.Null()); err != nil {
					rt.Fatal(err)
				}
				m.events = append(m.events, typ)
			}
		}
		for range rapid.IntRange(0, 12).Draw(rt, "before") {
			step(false)
		}
		f, err := db.Runs().Fork(ctx, src, inmem.Version{}, inmem.ForkOptions{Name: "fork"})
		if err != nil {
			rt.Fatal(err)
		}
		base := models[false].clone()
		fm := base.clone()
		runs[true], models[true] = f, &fm
		for range rapid.IntRange(0, 20).Draw(rt, "after") {
			step(rapid.Bool().Draw(rt, "side"))
		}
		for _, side := range []bool{false, true} {
			checkModel(rt, db, runs[side], *models[side])
		}
		// Diff against the model.
		type key struct {
			prim inmem.PrimitiveType
			k    string
		}
		wantDiff := map[key]inmem.DiffKind{}
		for prim, pair := range map[inmem.PrimitiveType][2]map[string]int64{
			inmem.PrimitiveKV: {models[false].kv, fm.kv}, inmem.PrimitiveState: {models[false].state, fm.state},
		} {
			for k, a := range pair[0] {
				if b, ok := pair[1][k]; !ok {
					wantDiff[key{prim, k}] = inmem.DiffRemoved
				} else if a != b {
					wantDiff[key{prim, k}] = inmem.DiffChanged
				}
			}
			for k := range pair[1] {
				if _, ok := pair[0][k]; !ok {
					wantDiff[key{prim, k}] = inmem.DiffAdded
				}
			}
		}
		gotDiff := map[key]inmem.DiffKind{}
		var ed *inmem.EventDiff
		for c, err := range db.Runs().Diff(ctx, src, f) {
			if err != nil {
				rt.Fatal(err)
			}
			if c.Primitive == inmem.PrimitiveEvent {
				ed = c.Events
				continue
			}
			gotDiff[key{c.Primitive, c.Key}] = c.Kind
		}
		if !maps.Equal(gotDiff, wantDiff) {
			rt.Fatalf("diff %v, want %v", gotDiff, wantDiff)
		}
		common := 0
		for common < min(len(models[false].events), len(fm.events)) && models[false].events[common] == fm.events[common] {
			common++
		}
		if common < len(base.events) {
			rt.Fatalf("model: common prefix shorter than the fork point")
		}
		common = len(base.events) // events after the fork point differ in hash even if equal in type
		if same := len(models[false].events) == common && len(fm.events) == common; same != (ed == nil) {
			rt.Fatalf("event diff %+v, logs %v / %v", ed, models[false].events, fm.events)
		}
		if ed != nil && (int(ed.Common) != common || int(ed.ALen) != len(models[false].events)-common || int(ed.BLen) != len(fm.events)-common ||
			len(collectEvents(t, ed.A(ctx))) != int(ed.ALen) || len(collectEvents(t, ed.B(ctx))) != int(ed.BLen)) {
			rt.Fatalf("event diff common %d |A| %d |B| %d, want %d", ed.Common, ed.ALen, ed.BLen, common)
		}
		// Merge the fork into the source against the model.
		strategy := rapid.SampledFrom([]inmem.MergeStrategy{inmem.MergeFailOnConflict, inmem.MergeSourceWins, inmem.MergeTargetWins}).Draw(rt, "strategy")
		want := models[false].clone()
		conflicts := 0
		merge3 := func(b, s, d map[string]int64, out map[string]int64) {
			all := map[string]bool{}
			for _, m := range []map[string]int64{b, s, d} {
				for k := range m {
					all[k] = true
				}
			}
			for k := range all {
				bv, bok := b[k]
				sv, sok := s[k]
				dv, dok := d[k]
				if (sok == bok && sv == bv) || (sok == dok && sv == dv) {
					continue
				}
				if !(dok == bok && dv == bv) {
					conflicts++
					if strategy != inmem.MergeSourceWins {
						continue
					}
				}
				if sok {
					out[k] = sv
				} else {
					delete(out, k)
				}
			}
		}
		merge3(base.kv, fm.kv, models[false].kv, want.kv)
		merge3(base.state, fm.state, models[false].state, want.state)
		want.events = append(want.events, fm.events[len(base.events):]...)
		res, err := db.Runs().Merge(ctx, f, src, strategy)
		if len(res.Conflicts) != conflicts {
			rt.Fatalf("merge reported %d conflicts, model %d: %+v", len(res.Conflicts), conflicts, res.Conflicts)
		}
		if strategy == inmem.MergeFailOnConflict && conflicts > 0 {
			if inmem.CodeOf(err) != inmem.CodeConstraintViolation {
				rt.Fatalf("merge with conflicts = %v", err)
			}
			want = *models[false]
		} else if err != nil {
			rt.Fatal(err)
		}
		checkModel(rt, db, src, want)
		checkModel(rt, db, f, fm)
	})
}

func checkModel(rt *rapid.T, db *inmem.DB, run inmem.RunID, m forkModel) {
	if got := kvMap(rt, db, run); !maps.Equal(got, m.kv) {
		rt.Fatalf("run %v kv %v, model %v", run, got, m.kv)
	}
	names, err := db.State().List(ctx, run, "")
	if err != nil {
		rt.Fatal(err)
	}
	got := map[string]int64{}
	for _, n := range names {
		v, err := db.State().Read(ctx, run, n)
		if err != nil {
			rt.Fatal(err)
		}
		got[n], _ = v.Value.AsInt()
	}
	if !maps.Equal(got, m.state) {
		rt.Fatalf("run %v state %v, model %v", run, got, m.state)
	}
	evs, err := db.Events().Range(ctx, run, 0, 1<<20)
	if err != nil {
		rt.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, m.events) {
		rt.Fatalf("run %v events %v, model %v", run, types, m.events)
	}
	if rep, err := db.Events().VerifyChain(ctx, run); err != nil || !rep.OK {
		rt.Fatalf("run %v chain %+v %v", run, rep, err)
	}
}
