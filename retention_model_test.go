package inmem_test

// A model test of retention over all seven primitives: random writes,
// random policies (per run, database-wide, per-primitive overrides), clock
// steps, Full compactions, checkpoints, reopens and an old read
// transaction. The model keeps every version ever written and marks the
// ones some compaction was allowed to drop. Retention is a floor on what is
// kept: a read may answer HistoryTrimmed only for a version the policy in
// force at some compaction let go, and it must never answer a wrong value
// or NotFound for a version that existed.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
	"pgregory.net/rapid"
)

// mver is one version in the model.
type mver struct {
	v    uint64 // commit version
	ts   int64  // commit time, µs
	val  int64
	tomb bool
	drop bool // some compaction was allowed to remove it
}

// mchain is an entity's versions, oldest first.
type mchain []*mver

func (c mchain) String() string {
	var b strings.Builder
	for _, m := range c {
		fmt.Fprintf(&b, "[%d@%d val %d tomb %v drop %v]", m.v, m.ts, m.val, m.tomb, m.drop)
	}
	return b.String()
}

// at returns the version current at x, or nil.
func (c mchain) at(x uint64) *mver {
	var cur *mver
	for _, m := range c {
		if m.v <= x {
			cur = m
		}
	}
	return cur
}

// purgeable reports whether the entity may have been purged: its newest
// version is a tombstone and everything older may be gone.
func (c mchain) purgeable() bool {
	if len(c) == 0 || !c[len(c)-1].tomb {
		return false
	}
	for _, m := range c[:len(c)-1] {
		if !m.drop {
			return false
		}
	}
	return true
}

// keepRule is a simple policy in numbers.
type keepRule struct {
	last  int
	forUS int64
}

func ruleOf(p inmem.RetentionPolicy) keepRule {
	s := p.String()
	switch {
	case strings.HasPrefix(s, "last:"):
		n, _ := strconv.Atoi(s[len("last:"):])
		return keepRule{last: n}
	case strings.HasPrefix(s, "for:"):
		d, _ := time.ParseDuration(s[len("for:"):])
		return keepRule{forUS: d.Microseconds()}
	}
	return keepRule{}
}

// markDrop marks what a compaction at now under rule may remove from c:
// from the first version (newest first, the newest exempt) that is beyond
// the count or older than the window, everything older.
func (c mchain) markDrop(r keepRule, now int64) {
	n := len(c)
	for j := 1; j < n; j++ {
		x := c[n-1-j]
		if (r.last > 0 && j >= r.last) || (r.forUS > 0 && x.ts < now-r.forUS) {
			for _, m := range c[:n-j] {
				m.drop = true
			}
			return
		}
	}
}

type entKey struct {
	run  inmem.RunID
	prim inmem.PrimitiveType
	name string
}

type retModel struct {
	t     *rapid.T
	fsys  *vfs.MemFS
	clock *testClock
	db    *inmem.DB
	runs  [2]inmem.RunID
	ents  map[entKey]mchain
	// Streams: every event and trace is one version of its own, trimmed
	// as a prefix of its run's stream.
	events map[inmem.RunID]mchain
	traces map[inmem.RunID]mchain
	ids    map[inmem.RunID][]inmem.TraceID
	// Committed policies: the database default and the runs' own.
	def    inmem.RetentionPolicy
	runPol map[inmem.RunID]inmem.RetentionPolicy
	// An old read transaction and the version it reads at.
	tx   *inmem.Tx
	txAt uint64
	n    int64 // value counter
}

func (m *retModel) open() {
	db, err := inmem.Open(dbDir, &inmem.Options{FS: m.fsys, Durability: inmem.Strict, Clock: m.clock, Maintenance: noMaint})
	if err != nil {
		m.t.Fatalf("Open: %v", err)
	}
	m.db = db
}

func (m *retModel) close() {
	if m.tx != nil {
		m.tx.Rollback()
		m.tx = nil
	}
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			m.t.Fatalf("Close: %v", err)
		}
		m.db = nil
	}
}

func newRetModel(t *rapid.T) *retModel {
	m := &retModel{t: t, fsys: vfs.NewMem(), clock: &testClock{}, ents: map[entKey]mchain{},
		events: map[inmem.RunID]mchain{}, traces: map[inmem.RunID]mchain{}, ids: map[inmem.RunID][]inmem.TraceID{},
		runPol: map[inmem.RunID]inmem.RetentionPolicy{}}
	m.clock.set(1_000_000)
	m.open()
	for i := range m.runs {
		id, err := m.db.Runs().Create(ctx, fmt.Sprint("run", i), inmem.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m.runs[i] = id
		m.record(entKey{inmem.GlobalRun, inmem.PrimitiveRun, id.String()}, 0, false)
		if _, err := m.db.Vectors().CreateCollection(ctx, id, "c", 2, inmem.Cosine); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// record appends a committed version to the model.
func (m *retModel) record(k entKey, val int64, tomb bool) {
	m.ents[k] = append(m.ents[k], &mver{v: inmem.Visible(m.db), ts: m.clock.us.Load(), val: val, tomb: tomb})
}

func (m *retModel) drawRun(t *rapid.T) inmem.RunID {
	return m.runs[rapid.IntRange(0, 1).Draw(t, "run")]
}

func (m *retModel) live(k entKey) bool {
	c := m.ents[k]
	return len(c) > 0 && !c[len(c)-1].tomb
}

func jsonDoc(n int64) inmem.Value { return inmem.Object(map[string]inmem.Value{"n": inmem.Int(n)}) }

func (m *retModel) write(t *rapid.T) {
	run := m.drawRun(t)
	prim := rapid.SampledFrom([]inmem.PrimitiveType{inmem.PrimitiveKV, inmem.PrimitiveState,
		inmem.PrimitiveJSON, inmem.PrimitiveVector}).Draw(t, "prim")
	k := entKey{run, prim, fmt.Sprint("e", rapid.IntRange(0, 2).Draw(t, "key"))}
	del := m.live(k) && rapid.IntRange(0, 3).Draw(t, "del") == 0
	m.n++
	var err error
	switch {
	case prim == inmem.PrimitiveKV && del:
		_, err = m.db.KV().Delete(ctx, run, k.name)
	case prim == inmem.PrimitiveKV:
		_, err = m.db.KV().Put(ctx, run, k.name, inmem.Int(m.n))
	case prim == inmem.PrimitiveState && del:
		err = m.db.State().Delete(ctx, run, k.name)
	case prim == inmem.PrimitiveState:
		_, err = m.db.State().Set(ctx, run, k.name, inmem.Int(m.n))
	case prim == inmem.PrimitiveJSON && del:
		_, err = m.db.JSON().Destroy(ctx, run, k.name)
	case prim == inmem.PrimitiveJSON && m.live(k):
		_, err = m.db.JSON().Set(ctx, run, k.name, "$", jsonDoc(m.n))
	case prim == inmem.PrimitiveJSON:
		_, err = m.db.JSON().Create(ctx, run, k.name, jsonDoc(m.n))
	case prim == inmem.PrimitiveVector && del:
		_, err = m.db.Vectors().Delete(ctx, run, "c", k.name)
	case prim == inmem.PrimitiveVector:
		_, err = m.db.Vectors().Upsert(ctx, run, "c", k.name, []float32{float32(m.n), 1}, inmem.Null())
	}
	if err != nil {
		t.Fatalf("%v %s %q (delete %v): %v", prim, run, k.name, del, err)
	}
	m.record(k, m.n, del)
}

func (m *retModel) appendEvent(t *rapid.T) {
	run := m.drawRun(t)
	m.n++
	if _, err := m.db.Events().Append(ctx, run, "t", inmem.Int(m.n)); err != nil {
		t.Fatal(err)
	}
	m.events[run] = append(m.events[run], &mver{v: inmem.Visible(m.db), ts: m.clock.us.Load(), val: m.n})
}

func (m *retModel) recordTrace(t *rapid.T) {
	run := m.drawRun(t)
	m.n++
	id, err := m.db.Traces().Record(ctx, run, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: fmt.Sprint(m.n)}})
	if err != nil {
		t.Fatal(err)
	}
	m.traces[run] = append(m.traces[run], &mver{v: inmem.Visible(m.db), ts: m.clock.us.Load(), val: m.n})
	m.ids[run] = append(m.ids[run], id)
}

func (m *retModel) setRunMetadata(t *rapid.T) {
	run := m.drawRun(t)
	m.n++
	if _, err := m.db.Runs().SetMetadata(ctx, run, inmem.Int(m.n)); err != nil {
		t.Fatal(err)
	}
	m.record(entKey{inmem.GlobalRun, inmem.PrimitiveRun, run.String()}, m.n, false)
}

var modelPrims = []inmem.PrimitiveType{inmem.PrimitiveKV, inmem.PrimitiveEvent, inmem.PrimitiveState,
	inmem.PrimitiveTrace, inmem.PrimitiveRun, inmem.PrimitiveJSON, inmem.PrimitiveVector}

func drawSimplePolicy(t *rapid.T, label string) inmem.RetentionPolicy {
	switch rapid.IntRange(0, 2).Draw(t, label) {
	case 1:
		return inmem.KeepLast(rapid.IntRange(1, 3).Draw(t, label+"-n"))
	case 2:
		return inmem.KeepFor(time.Duration(rapid.IntRange(1, 6).Draw(t, label+"-ms")) * time.Millisecond)
	}
	return inmem.KeepAll()
}

func (m *retModel) setPolicy(t *rapid.T) {
	p := drawSimplePolicy(t, "policy")
	overrides := map[inmem.PrimitiveType]inmem.RetentionPolicy{}
	for _, prim := range modelPrims {
		if rapid.IntRange(0, 3).Draw(t, "override-"+prim.String()) == 0 {
			overrides[prim] = drawSimplePolicy(t, "policy-"+prim.String())
		}
	}
	p = inmem.Composite(p, overrides)
	target := inmem.GlobalRun
	if i := rapid.IntRange(0, 2).Draw(t, "target"); i < 2 {
		target = m.runs[i]
	}
	if _, err := m.db.SetRetentionPolicy(ctx, target, p); err != nil {
		t.Fatal(err)
	}
	if target == inmem.GlobalRun {
		m.def = p
	} else {
		m.runPol[target] = p
	}
}

func (m *retModel) policy(run inmem.RunID, prim inmem.PrimitiveType) keepRule {
	p, ok := m.runPol[run]
	if !ok {
		p = m.def
	}
	return ruleOf(p.For(prim))
}

func (m *retModel) compact(t *rapid.T) {
	now := m.clock.us.Load()
	for k, c := range m.ents {
		c.markDrop(m.policy(k.run, k.prim), now)
		if c.purgeable() {
			c[len(c)-1].drop = true // the tombstone may go with its entity
		}
	}
	for run, c := range m.events {
		c.markDrop(m.policy(run, inmem.PrimitiveEvent), now)
	}
	for run, c := range m.traces {
		c.markDrop(m.policy(run, inmem.PrimitiveTrace), now)
	}
	info, err := m.db.Compact(ctx, inmem.Full)
	if err != nil {
		t.Fatalf("Compact(Full): %v", err)
	}
	if info.Now != inmem.Timestamp(now) {
		t.Fatalf("CompactInfo.Now = %v, want the clock's %d", info.Now, now)
	}
}

func (m *retModel) beginOld(t *rapid.T) {
	if m.tx != nil {
		m.tx.Rollback()
	}
	tx, err := m.db.Begin(ctx, m.runs[0], false)
	if err != nil {
		t.Fatal(err)
	}
	m.tx, m.txAt = tx, inmem.Visible(m.db)
}

// retFataler is what the checks need of *testing.T and *rapid.T.
type retFataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func isTrimmed(err error) bool { return errors.Is(err, inmem.ErrHistoryTrimmed) }

func isNotFound(err error) bool { return errors.Is(err, inmem.ErrNotFound) }

// checkPoint judges one read of version x (nil: the entity did not exist
// at the version read): err, and whether the value read is the model's.
func checkPoint(t retFataler, what string, c mchain, x *mver, err error, same func() bool) {
	t.Helper()
	switch {
	case x == nil || x.tomb:
		if err == nil {
			t.Fatalf("%s: read a value where the model has none", what)
		}
		// Absent then: NotFound, or HistoryTrimmed where trim floors
		// cannot tell (they are per run and space).
		if !isNotFound(err) && !isTrimmed(err) {
			t.Fatalf("%s: %v", what, err)
		}
	case err == nil:
		if !same() {
			t.Fatalf("%s: wrong value", what)
		}
	case isTrimmed(err):
		if !x.drop {
			t.Fatalf("%s: HistoryTrimmed for a version no policy let go: %v", what, err)
		}
	default:
		t.Fatalf("%s: %v (the version exists)", what, err)
	}
}

// checkHistory judges a history (newest first) against c.
func checkHistory(t retFataler, what string, c mchain, got []inmem.Versioned[inmem.Value], err error, versioned bool, eq func(inmem.Value, int64) bool) {
	t.Helper()
	if err != nil && !isTrimmed(err) {
		t.Fatalf("%s: %v", what, err)
	}
	if len(got) > len(c) {
		t.Fatalf("%s: %d entries, the model has %d", what, len(got), len(c))
	}
	for i, e := range got {
		x := c[len(c)-1-i]
		if e.Deleted != x.tomb || (versioned && e.Version.N != x.v) || (!x.tomb && !eq(e.Value, x.val)) {
			t.Fatalf("%s: entry %d = %v at %s deleted %v, want %d at %d deleted %v", what, i, e.Value, e.Version, e.Deleted, x.val, x.v, x.tomb)
		}
	}
	need := 0
	for _, x := range c {
		if !x.drop {
			need++
		}
	}
	if c.purgeable() {
		need = 0
	}
	// Without HistoryTrimmed the history is whole: a purged entity, or
	// one written again after its purge, must say older versions went.
	if err == nil && len(got) != len(c) {
		t.Fatalf("%s: %d of %d versions without HistoryTrimmed (model %s, got %v)", what, len(got), len(c), c, got)
	}
	if len(got) < need {
		t.Fatalf("%s: %d entries, but %d versions must be retained", what, len(got), need)
	}
}

func intIs(v inmem.Value, n int64) bool { x, ok := v.AsInt(); return ok && x == n }

func (m *retModel) check(t *rapid.T) {
	db := m.db
	anyRunDrop := false
	for k, c := range m.ents {
		if k.prim == inmem.PrimitiveRun {
			for _, x := range c {
				anyRunDrop = anyRunDrop || x.drop
			}
		}
	}
	for k, c := range m.ents {
		what := func(x uint64) string { return fmt.Sprintf("%v %s %q at %d", k.prim, k.run, k.name, x) }
		newest := c[len(c)-1]
		switch k.prim {
		case inmem.PrimitiveKV:
			for _, x := range c {
				got, err := db.KV().GetAt(ctx, k.run, k.name, inmem.Txn(x.v))
				checkPoint(t, what(x.v), c, x, err, func() bool { return got.Version.N == x.v && intIs(got.Value, x.val) })
			}
			got, err := db.KV().Get(ctx, k.run, k.name)
			checkPoint(t, what(0)+" (Get)", c, newest, err, func() bool { return got.Version.N == newest.v && intIs(got.Value, newest.val) })
			h, err := db.KV().History(ctx, k.run, k.name)
			checkHistory(t, what(0)+" History", c, h, err, true, intIs)
		case inmem.PrimitiveState:
			for _, x := range c {
				got, err := db.State().GetAt(ctx, k.run, k.name, inmem.Txn(x.v))
				checkPoint(t, what(x.v), c, x, err, func() bool { return intIs(got.Value, x.val) })
			}
			got, err := db.State().Read(ctx, k.run, k.name)
			checkPoint(t, what(0)+" (Read)", c, newest, err, func() bool { return intIs(got.Value, newest.val) })
			h, err := db.State().History(ctx, k.run, k.name)
			checkHistory(t, what(0)+" History", c, h, err, false, intIs)
		case inmem.PrimitiveJSON:
			docIs := func(v inmem.Value, n int64) bool { return v.Equal(jsonDoc(n)) }
			for _, x := range c {
				got, err := db.JSON().GetAt(ctx, k.run, k.name, inmem.Txn(x.v))
				checkPoint(t, what(x.v), c, x, err, func() bool { return got.Version.N == x.v && docIs(got.Value, x.val) })
			}
			got, err := db.JSON().Get(ctx, k.run, k.name, "$")
			checkPoint(t, what(0)+" (Get)", c, newest, err, func() bool { return got.Version.N == newest.v && docIs(got.Value, newest.val) })
			h, err := db.JSON().History(ctx, k.run, k.name)
			checkHistory(t, what(0)+" History", c, h, err, true, docIs)
		case inmem.PrimitiveVector:
			vecIs := func(e inmem.VectorEntry, n int64) bool {
				return len(e.Embedding) == 2 && e.Embedding[0] == float32(n) && e.Key == k.name
			}
			for _, x := range c {
				got, err := db.Vectors().GetAt(ctx, k.run, "c", k.name, inmem.Txn(x.v))
				checkPoint(t, what(x.v), c, x, err, func() bool { return got.Version.N == x.v && vecIs(got.Value, x.val) })
			}
			got, err := db.Vectors().Get(ctx, k.run, "c", k.name)
			checkPoint(t, what(0)+" (Get)", c, newest, err, func() bool { return got.Version.N == newest.v && vecIs(got.Value, newest.val) })
			h, err := db.Vectors().History(ctx, k.run, "c", k.name)
			hv := make([]inmem.Versioned[inmem.Value], len(h))
			for i, e := range h {
				hv[i] = inmem.Versioned[inmem.Value]{Version: e.Version, Deleted: e.Deleted}
				if !e.Deleted && vecIs(e.Value, int64(e.Value.Embedding[0])) {
					hv[i].Value = inmem.Int(int64(e.Value.Embedding[0]))
				}
			}
			checkHistory(t, what(0)+" History", c, hv, err, true, intIs)
		case inmem.PrimitiveRun:
			id := inmem.MustParseRunID(k.name)
			metaIs := func(info inmem.RunInfo, x *mver) bool {
				if x.val == 0 {
					return info.Metadata.Kind() == inmem.KindNull
				}
				return intIs(info.Metadata, x.val)
			}
			got, err := db.Runs().Get(ctx, id)
			checkPoint(t, what(0)+" (Get)", c, newest, err, func() bool { return got.Version.N == newest.v && metaIs(got.Value, newest) })
			// ViewAt is a whole-database view: its floor is per run, so
			// any trimmed record may make it HistoryTrimmed.
			for _, x := range c {
				var got inmem.Versioned[inmem.RunInfo]
				err := db.ViewAt(ctx, inmem.GlobalRun, inmem.AtVersion(inmem.Txn(x.v)), func(tx *inmem.Tx) error {
					var err error
					got, err = tx.Runs().Get(id)
					return err
				})
				if isTrimmed(err) && anyRunDrop {
					continue
				}
				checkPoint(t, what(x.v)+" (ViewAt)", c, x, err, func() bool { return got.Version.N == x.v && metaIs(got.Value, x) })
			}
		}
	}
	for run, c := range m.events {
		for seq, x := range c {
			got, err := db.Events().Read(ctx, run, uint64(seq))
			checkPoint(t, fmt.Sprintf("event %s #%d", run, seq), c, x, err, func() bool {
				return got.Value.Sequence == uint64(seq) && got.Value.Type == "t" && intIs(got.Value.Payload, x.val)
			})
		}
		head, err := db.Events().Head(ctx, run)
		if err != nil || head.Value.Sequence != uint64(len(c)-1) {
			t.Fatalf("event head of %s = %v, %v; want sequence %d", run, head.Value.Sequence, err, len(c)-1)
		}
	}
	for run, c := range m.traces {
		for i, x := range c {
			id := m.ids[run][i]
			got, err := db.Traces().Get(ctx, run, id)
			checkPoint(t, fmt.Sprintf("trace %s %d", run, id), c, x, err, func() bool {
				b, ok := got.Value.Body.(inmem.ThoughtTrace)
				return ok && got.Value.ID == id && b.Content == fmt.Sprint(x.val)
			})
		}
	}
	// The old transaction reads exactly what it saw: trimming is bounded
	// by it.
	if m.tx != nil {
		for k, c := range m.ents {
			if k.prim != inmem.PrimitiveKV || k.run != m.runs[0] {
				continue
			}
			x := c.at(m.txAt)
			got, err := m.tx.KV().Get(k.name)
			switch {
			case x == nil || x.tomb:
				if !isNotFound(err) {
					t.Fatalf("old tx (at %d) reads %q = %v, %v; want NotFound", m.txAt, k.name, got.Value, err)
				}
			case err != nil || got.Version.N != x.v || !intIs(got.Value, x.val):
				t.Fatalf("old tx (at %d) reads %q = %v at %s, %v; want %d at %d", m.txAt, k.name, got.Value, got.Version, err, x.val, x.v)
			}
		}
	}
}

// TestRetention_Model is the model test: every read equals the model's
// value for a version the policies must retain, or is HistoryTrimmed for
// one they let go; the newest version of everything is always there;
// before and after compactions, checkpoints and reopens.
func TestRetention_Model(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newRetModel(t)
		defer m.close()
		t.Repeat(map[string]func(*rapid.T){
			"write":    m.write,
			"event":    m.appendEvent,
			"trace":    m.recordTrace,
			"runMeta":  m.setRunMetadata,
			"policy":   m.setPolicy,
			"compact":  m.compact,
			"beginOld": m.beginOld,
			"tick": func(t *rapid.T) {
				m.clock.set(m.clock.us.Load() + int64(rapid.IntRange(0, 3000).Draw(t, "µs")))
			},
			"endOld": func(t *rapid.T) {
				if m.tx != nil {
					m.tx.Rollback()
					m.tx = nil
				}
			},
			"checkpoint": func(t *rapid.T) {
				if _, err := m.db.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
			},
			"reopen": func(t *rapid.T) {
				m.close()
				m.open()
			},
			"": m.check,
		})
	})
}
