package harness

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/inmemdb/inmem"
)

// Violation kinds.
const (
	KindLoss       = "loss"             // an acknowledged commit's effect is missing
	KindAtomicity  = "atomicity"        // part of the in-flight commit survived
	KindPhantom    = "phantom"          // something no commit wrote
	KindWrong      = "wrong-data"       // a value differs from what its commit wrote
	KindChain      = "chain"            // an event hash chain does not verify
	KindRecovery   = "recovery"         // the database failed to open
	KindNondet     = "nondeterministic" // two recoveries disagree
	KindOrder      = "order"            // the workload's output is inconsistent
	KindChild      = "child"            // the workload process failed by itself
	KindHang       = "hang"             // the workload neither reached its kill point nor finished in time
	KindDamage     = "damage"           // a damaged copy recovered wrong data
	KindNotAPrefix = "not-a-prefix"     // a damaged copy lost a commit but kept a later one
	KindHistory    = "history"          // a past version read wrong, or trimmed though retention keeps it
)

// Violation is one thing the checker found wrong.
type Violation struct {
	Kind   string
	Writer string
	Seq    uint64
	Detail string
}

func (v Violation) String() string {
	if v.Writer == "" {
		return v.Kind + ": " + v.Detail
	}
	return fmt.Sprintf("%s: writer %s commit %d: %s", v.Kind, v.Writer, v.Seq, v.Detail)
}

type writerModel struct {
	info     WriterInfo
	min, max int
	acked    uint64 // commits 1..acked must be present
	inflight bool   // commit acked+1 may be present (all of it) or absent
	versions map[uint64]uint64
}

// Model is the reference model: the writers the workload started and the
// commits it acknowledged.
type Model struct {
	writers map[string]*writerModel
	order   []string
	// keep is the smallest KeepLast a session announced (0: none). Policies
	// are database-wide defaults, so it bounds what any compaction, in any
	// later session, may trim from any writer's history.
	keep int
}

// NewModel returns an empty model (an empty database).
func NewModel() *Model { return &Model{writers: map[string]*writerModel{}} }

// Apply feeds one record of the stress output to the model.
func (m *Model) Apply(r Record) error {
	switch r.Kind {
	case "retain":
		if r.Keep < 1 {
			return fmt.Errorf("retention KeepLast(%d)", r.Keep)
		}
		if m.keep == 0 || r.Keep < m.keep {
			m.keep = r.Keep
		}
	case "start":
		for _, w := range r.Writers {
			if _, ok := m.writers[w.Run]; ok {
				return fmt.Errorf("writer %s started twice", w.Run)
			}
			m.writers[w.Run] = &writerModel{info: w, min: r.MinValue, max: r.MaxValue, inflight: true, versions: map[uint64]uint64{}}
			m.order = append(m.order, w.Run)
		}
	case "commit":
		w := m.writers[r.Writer]
		if w == nil {
			return fmt.Errorf("commit of unknown writer %s", r.Writer)
		}
		if r.Seq != w.acked+1 || !w.inflight {
			return fmt.Errorf("writer %s acknowledged commit %d after %d", r.Writer, r.Seq, w.acked)
		}
		w.acked = r.Seq
		w.versions[r.Seq] = r.Version
	}
	return nil
}

// Acknowledged returns the number of acknowledged commits in the model.
func (m *Model) Acknowledged() uint64 {
	var n uint64
	for _, w := range m.writers {
		n += w.acked
	}
	return n
}

// expectation is a writer's data as the model says it must be.
type expectation struct {
	kv, docs, vecs, traces, runs map[string]Op
	state                        *Op
	events                       []Op
	coll                         bool
	touch                        map[string]uint64 // "p:key" -> last commit (<= upto) touching it
}

// expected replays a writer's generator: the state after commits 1..p, and
// which commit last touched each key among 1..upto (upto >= p).
func (w *writerModel) expected(p, upto uint64) expectation {
	e := expectation{kv: map[string]Op{}, docs: map[string]Op{}, vecs: map[string]Op{},
		traces: map[string]Op{}, runs: map[string]Op{}, touch: map[string]uint64{}}
	g := newGenerator(w.info, w.min, w.max)
	for q := uint64(1); q <= upto; q++ {
		for _, op := range g.next() {
			e.touch[op.P+":"+op.K] = q
			if q > p {
				continue
			}
			switch op.P + "." + op.A {
			case "kv.put":
				e.kv[op.K] = op
			case "kv.delete":
				delete(e.kv, op.K)
			case "state.set":
				o := op
				e.state = &o
			case "event.append":
				e.events = append(e.events, op)
			case "trace.record":
				e.traces[op.K] = op
			case "json.create":
				e.docs[op.K] = op
			case "json.destroy":
				delete(e.docs, op.K)
			case "vector.collection":
				e.coll = true
			case "vector.upsert":
				e.vecs[op.K] = op
			case "vector.delete":
				delete(e.vecs, op.K)
			case "run.create":
				e.runs[op.K] = op
			}
		}
	}
	return e
}

// CheckReport is the outcome of one check.
type CheckReport struct {
	Verified   uint64 // acknowledged commits checked present
	Resolved   int    // in-flight commits found present (now part of the model)
	Past       int    // past versions read back whole (ViewAt)
	Trimmed    int    // past versions answering HistoryTrimmed, as retention allows
	Violations []Violation
}

// checker compares one writer's recovered data with the model.
type checker struct {
	w    *writerModel
	rep  *CheckReport
	p    uint64
	upto uint64
}

// kind classifies a difference about a key last touched by commit q.
func (c *checker) add(q uint64, present bool, what string) {
	kind := KindPhantom
	switch {
	case q == 0 || q > c.upto:
	case q <= c.w.acked:
		kind = KindLoss
		if present {
			kind = KindWrong
		}
	default: // the in-flight commit
		kind = KindAtomicity
		if present && q <= c.p {
			kind = KindWrong
		}
	}
	c.rep.Violations = append(c.rep.Violations, Violation{Kind: kind, Writer: c.w.info.Run, Seq: q, Detail: what})
}

// diffMap compares a recovered key set with the expected one.
func diffMap[T any](c *checker, prim string, exp map[string]Op, got map[string]T, touch map[string]uint64, same func(Op, T) bool) {
	for k, op := range exp {
		g, ok := got[k]
		switch {
		case !ok:
			c.add(op.seq, false, fmt.Sprintf("%s %q missing", prim, k))
		case !same(op, g):
			c.add(op.seq, true, fmt.Sprintf("%s %q holds other data", prim, k))
		}
	}
	for k := range got {
		if _, ok := exp[k]; !ok {
			c.add(touch[prim+":"+k], false, fmt.Sprintf("%s %q present", prim, k))
		}
	}
}

// Check checks db (reopened after a crash) against the model: every
// acknowledged commit present and whole, the in-flight commit of each
// writer present whole or not at all, nothing else present, every event
// chain verifying. An in-flight commit found present joins the model, so
// later checks require it. The model is left unchanged for a writer with
// violations.
func (m *Model) Check(ctx context.Context, db *inmem.DB) (CheckReport, error) {
	var rep CheckReport
	runs, err := db.Runs().List(ctx)
	if err != nil {
		return rep, err
	}
	runNames := map[string]map[string]inmem.RunInfo{}
	registered := map[inmem.RunID]bool{}
	for _, r := range runs {
		registered[r.Value.ID] = true
		parts := strings.SplitN(r.Value.Name, "/", 3)
		if len(parts) != 3 || parts[0] != "h" || m.writers[parts[1]] == nil {
			rep.Violations = append(rep.Violations, Violation{Kind: KindPhantom, Detail: fmt.Sprintf("run index entry %q", r.Value.Name)})
			continue
		}
		if runNames[parts[1]] == nil {
			runNames[parts[1]] = map[string]inmem.RunInfo{}
		}
		runNames[parts[1]][r.Value.Name] = r.Value
	}
	ids, err := db.RunIDs()
	if err != nil {
		return rep, err
	}
	for _, id := range ids {
		if !id.IsGlobal() && m.writers[id.String()] == nil && !registered[id] {
			rep.Violations = append(rep.Violations, Violation{Kind: KindPhantom, Detail: fmt.Sprintf("run %s holds data no writer wrote", id)})
		}
	}
	for _, name := range m.order {
		w := m.writers[name]
		before := len(rep.Violations)
		p, err := m.checkWriter(ctx, db, w, runNames[name], &rep)
		if err != nil {
			return rep, err
		}
		if len(rep.Violations) == before {
			rep.Verified += w.acked
			if p > w.acked {
				rep.Resolved++
			}
			w.acked, w.inflight = p, false
			if err := m.checkHistory(ctx, db, w, &rep); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func (m *Model) checkWriter(ctx context.Context, db *inmem.DB, w *writerModel, runs map[string]inmem.RunInfo, rep *CheckReport) (uint64, error) {
	c := &checker{w: w, rep: rep, upto: w.acked}
	if w.inflight {
		c.upto++
	}
	seed := w.info.Seed
	err := db.View(ctx, inmem.MustParseRunID(w.info.Run), func(tx *inmem.Tx) error {
		kv := map[string]inmem.Versioned[inmem.Value]{}
		for e, err := range tx.KV().Scan("") {
			if err != nil {
				return err
			}
			kv[e.Key] = e.Versioned
		}
		c.p = w.acked
		if _, ok := kv["m/"+strconv.FormatUint(w.acked+1, 10)]; ok && w.inflight {
			c.p = w.acked + 1
		}
		e := w.expected(c.p, c.upto)
		for q := uint64(1); q <= c.p; q++ {
			if v, ok := kv["m/"+strconv.FormatUint(q, 10)]; ok {
				w.versions[q] = v.Version.N
			}
		}
		diffMap(c, PKV, e.kv, kv, e.touch, func(op Op, v inmem.Versioned[inmem.Value]) bool {
			return v.Value.Equal(opValue(seed, op))
		})

		names, err := tx.State().List("")
		if err != nil {
			return err
		}
		cells := map[string]inmem.Value{}
		for _, n := range names {
			v, err := tx.State().Read(n)
			if err != nil {
				return err
			}
			cells[n] = v.Value
		}
		expCells := map[string]Op{}
		if e.state != nil {
			expCells[stateCell] = *e.state
		}
		diffMap(c, PState, expCells, cells, e.touch, func(op Op, v inmem.Value) bool { return v.Equal(opValue(seed, op)) })

		n, err := tx.Events().Len()
		if err != nil {
			return err
		}
		first, evs, err := retainedEvents(tx, n)
		if err != nil {
			return err
		}
		// KeepLast(k) retires all but the last k events of a log.
		if first > 0 && (m.keep == 0 || first+uint64(m.keep) > n) {
			rep.Violations = append(rep.Violations, Violation{Kind: KindHistory, Writer: w.info.Run, Seq: first,
				Detail: fmt.Sprintf("events below %d of %d trimmed though %s keeps them", first, n, keepName(m.keep))})
		}
		for i := int(first); i < max(int(first)+len(evs), len(e.events)); i++ {
			switch {
			case i-int(first) >= len(evs):
				c.add(e.events[i].seq, false, fmt.Sprintf("event %d missing", i))
			case i >= len(e.events):
				qv, _ := evs[i-int(first)].Payload.Get("q")
				q, _ := qv.AsInt()
				c.add(uint64(max(q, 0)), false, fmt.Sprintf("event %d present", i))
			case evs[i-int(first)].Type != eventType || !evs[i-int(first)].Payload.Equal(opValue(seed, e.events[i])):
				c.add(e.events[i].seq, true, fmt.Sprintf("event %d holds other data", i))
			}
		}
		if cr, err := tx.Events().VerifyChain(); err != nil {
			return err
		} else if !cr.OK {
			rep.Violations = append(rep.Violations, Violation{Kind: KindChain, Writer: w.info.Run, Seq: cr.BrokenAt + 1,
				Detail: fmt.Sprintf("event chain broken at %d: %s", cr.BrokenAt, cr.Reason)})
		}

		traces, err := tx.Traces().List()
		if err != nil {
			return err
		}
		gotTraces := map[string]inmem.Trace{}
		for _, t := range traces {
			if len(t.Value.Tags) != 1 {
				rep.Violations = append(rep.Violations, Violation{Kind: KindPhantom, Writer: w.info.Run, Detail: fmt.Sprintf("trace %d with tags %q", t.Value.ID, t.Value.Tags)})
				continue
			}
			gotTraces[t.Value.Tags[0]] = t.Value
		}
		diffMap(c, PTrace, retainedTraces(m.keep, e.traces, traces), gotTraces, e.touch, func(op Op, t inmem.Trace) bool {
			th, ok := t.Body.(inmem.ThoughtTrace)
			want, _ := opValue(seed, op).AsString()
			return ok && th.Content == want
		})

		docs := map[string]inmem.Value{}
		for d, err := range tx.JSON().Scan("") {
			if err != nil {
				return err
			}
			docs[d.Key] = d.Value
		}
		diffMap(c, PJSON, e.docs, docs, e.touch, func(op Op, v inmem.Value) bool { return v.Equal(opValue(seed, op)) })

		colls, err := tx.Vectors().ListCollections()
		if err != nil {
			return err
		}
		switch {
		case e.coll && len(colls) == 0:
			c.add(1, false, "vector collection missing")
		case !e.coll && len(colls) > 0:
			c.add(e.touch[PVector+":"+vectorCollection], false, "vector collection present")
		case len(colls) > 1:
			rep.Violations = append(rep.Violations, Violation{Kind: KindPhantom, Writer: w.info.Run, Detail: fmt.Sprintf("%d vector collections", len(colls))})
		}
		if len(colls) > 0 {
			vecs := map[string]inmem.VectorEntry{}
			for k, q := range e.touch {
				key, ok := strings.CutPrefix(k, PVector+":v/")
				if !ok || q == 0 {
					continue
				}
				v, err := tx.Vectors().Get(vectorCollection, "v/"+key)
				if inmem.CodeOf(err) == inmem.CodeNotFound {
					continue
				}
				if err != nil {
					return err
				}
				vecs["v/"+key] = v.Value
			}
			diffMap(c, PVector, e.vecs, vecs, e.touch, func(op Op, v inmem.VectorEntry) bool {
				return slices.Equal(v.Embedding, embedding(op.seq))
			})
			if cnt, err := tx.Vectors().Count(vectorCollection); err != nil {
				return err
			} else if cnt != len(vecs) {
				rep.Violations = append(rep.Violations, Violation{Kind: KindPhantom, Writer: w.info.Run,
					Detail: fmt.Sprintf("vector collection counts %d entries, %d known keys present", cnt, len(vecs))})
			}
		}
		diffMap(c, PRun, e.runs, runs, e.touch, func(Op, inmem.RunInfo) bool { return true })
		return nil
	})
	return c.p, err
}

// Dump returns a canonical text of everything db holds, versions included:
// two recoveries of one directory must dump identically.
func Dump(ctx context.Context, db *inmem.DB) (string, error) {
	var b strings.Builder
	ids, err := db.RunIDs()
	if err != nil {
		return "", err
	}
	js := func(v inmem.Value) string {
		j, err := inmem.ValueToJSON(v)
		if err != nil {
			return "?" + err.Error()
		}
		return string(j)
	}
	for _, id := range ids {
		fmt.Fprintf(&b, "run %s\n", id)
		err := db.View(ctx, id, func(tx *inmem.Tx) error {
			for e, err := range tx.KV().Scan("") {
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "kv %q %s %d %s\n", e.Key, e.Version, e.Timestamp, js(e.Value))
			}
			names, err := tx.State().List("")
			if err != nil {
				return err
			}
			for _, n := range names {
				v, err := tx.State().Read(n)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "state %q %s %s\n", n, v.Version, js(v.Value))
			}
			n, err := tx.Events().Len()
			if err != nil {
				return err
			}
			_, evs, err := retainedEvents(tx, n)
			if err != nil {
				return err
			}
			for _, e := range evs {
				fmt.Fprintf(&b, "event %d %q %d %s %s\n", e.Sequence, e.Type, e.Timestamp, hex.EncodeToString(e.Hash[:]), js(e.Payload))
			}
			traces, err := tx.Traces().List()
			if err != nil {
				return err
			}
			for _, t := range traces {
				fmt.Fprintf(&b, "trace %d %d %s %s %q %+v %s\n", t.Value.ID, t.Value.Parent, t.Version, t.Value.Type, t.Value.Tags, t.Value.Body, js(t.Value.Metadata))
			}
			for d, err := range tx.JSON().Scan("") {
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "json %q %s %s\n", d.Key, d.Version, js(d.Value))
			}
			colls, err := tx.Vectors().ListCollections()
			if err != nil {
				return err
			}
			for _, c := range colls {
				cnt, err := tx.Vectors().Count(c.Name)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "collection %q %d %v %s %d\n", c.Name, c.Dim, c.Metric, c.Version, cnt)
				if cnt == 0 {
					continue
				}
				q := make([]float32, c.Dim)
				for i := range q {
					q[i] = 1
				}
				hits, err := tx.Vectors().Search(c.Name, q, cnt, nil)
				if err != nil {
					return err
				}
				keys := make([]string, 0, len(hits))
				for _, h := range hits {
					keys = append(keys, h.Key)
				}
				sort.Strings(keys)
				for _, k := range keys {
					v, err := tx.Vectors().Get(c.Name, k)
					if err != nil {
						return err
					}
					fmt.Fprintf(&b, "vector %q %s %v %s\n", k, v.Version, v.Value.Embedding, js(v.Value.Metadata))
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	runs, err := db.Runs().List(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range runs {
		fmt.Fprintf(&b, "runindex %q %s %s %s %d %d\n", r.Value.Name, r.Value.ID, r.Value.Status, r.Version, r.Value.CreatedAt, r.Value.UpdatedAt)
	}
	return b.String(), nil
}

// retainedEvents reads the events of the transaction's log that retention
// kept: from the first retained sequence (0 unless a prefix was retired) up
// to n.
func retainedEvents(tx *inmem.Tx, n uint64) (uint64, []inmem.Event, error) {
	evs, err := tx.Events().Range(0, n)
	var e *inmem.Error
	if err == nil || !errors.As(err, &e) || e.Code != inmem.CodeHistoryTrimmed {
		return 0, evs, err
	}
	first := e.EarliestRetained.N
	evs, err = tx.Events().Range(first, n)
	return first, evs, err
}

// retainedTraces is the expected traces retention keeps: KeepLast(k)
// retires a prefix of a run's traces (in ID order, which is commit order),
// so the expected traces from the oldest one still listed on, as long as
// that leaves at least k of them (fewer would be an over-trim, which the
// diff then reports as missing traces).
func retainedTraces(keep int, exp map[string]Op, got []inmem.Versioned[inmem.Trace]) map[string]Op {
	if keep == 0 || len(got) == 0 || len(got[0].Value.Tags) != 1 {
		return exp
	}
	oldest, ok := exp[got[0].Value.Tags[0]]
	if !ok {
		return exp
	}
	for _, t := range got {
		if len(t.Value.Tags) == 1 {
			if op, ok := exp[t.Value.Tags[0]]; ok && op.seq < oldest.seq {
				oldest = op
			}
		}
	}
	out := make(map[string]Op, len(exp))
	for k, op := range exp {
		if op.seq >= oldest.seq {
			out[k] = op
		}
	}
	if len(out) < min(keep, len(exp)) {
		return exp
	}
	return out
}
