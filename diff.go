package inmem

import (
	"context"
	"iter"
	"strconv"
	"strings"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
)

// DiffKind tells how an entity differs between the two sides of a diff.
type DiffKind uint8

// The kinds of change.
const (
	// DiffAdded: the entity exists only on side B.
	DiffAdded DiffKind = iota + 1
	// DiffRemoved: the entity exists only on side A.
	DiffRemoved
	// DiffChanged: the entity exists on both sides with different values.
	DiffChanged
)

func (k DiffKind) String() string {
	switch k {
	case DiffAdded:
		return "added"
	case DiffRemoved:
		return "removed"
	case DiffChanged:
		return "changed"
	}
	return "change(" + strconv.Itoa(int(k)) + ")"
}

// EntityDiff is one entity that differs between two sides of a diff (see
// RunIndex.Diff).
type EntityDiff struct {
	Kind      DiffKind
	Primitive PrimitiveType
	// Key names the entity within its primitive: the KV key, the state
	// cell's name, the JSON document's id, the trace's id (decimal) or the
	// vector's key. It is empty for a vector collection's configuration and
	// for the event log.
	Key string
	// Collection is the vector collection (vectors only).
	Collection string
	// A and B are the entity on each side (nil where it is absent). For a
	// state cell Value is the cell's value; for a trace and a vector it is
	// the stored record.
	A, B *Versioned[Value]
	// Patch turns A's JSON document into B's (RFC 6902; JSON documents
	// that changed only). Applying it to A gives B.
	Patch []PatchOp
	// Events is set on the one change of Primitive Event: the logs' common
	// prefix and the divergent suffixes.
	Events *EventDiff
}

// EventDiff compares two event logs: they agree on their first Common
// events (same hashes, so same content and history) and continue with
// ALen events on side A and BLen on side B. A fork's log shares its
// source's prefix up to the fork point.
//
// The divergent suffixes are not held in memory: two logs that diverged
// by millions of events cost a diff two counts. A and B read them on
// demand, a chunk at a time, from the logs as of the versions the diff
// compared.
type EventDiff struct {
	Common     uint64
	ALen, BLen uint64
	db         *DB
	a, b       RunAt // each side's run at the snapshot the diff read
}

// A yields side A's events after the common prefix, in order (ALen of
// them). It may be called during or after the diff, any number of times;
// an error is its last item: HistoryTrimmed if retention has trimmed the
// version the diff read since, or the context's error. Breaking out of the
// loop early is fine and reads no further.
func (d *EventDiff) A(ctx context.Context) iter.Seq2[Event, error] {
	return d.suffix(ctx, d.a, d.ALen)
}

// B yields side B's events after the common prefix, like A.
func (d *EventDiff) B(ctx context.Context) iter.Seq2[Event, error] {
	return d.suffix(ctx, d.b, d.BLen)
}

func (d *EventDiff) suffix(ctx context.Context, s RunAt, n uint64) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if d.db == nil || n == 0 {
			return
		}
		tx, err := d.db.beginAt(ctx, "runs.Diff", s)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer tx.rollback()
		end := d.Common + n
		for i := d.Common; i < end; {
			if err := ctx.Err(); err != nil {
				yield(Event{}, ctxError("runs.Diff", err))
				return
			}
			evs, err := tx.Events().Range(i, min(end, i+eventChunk))
			if err != nil {
				yield(Event{}, err)
				return
			}
			if len(evs) == 0 {
				return
			}
			for _, ev := range evs {
				if !yield(ev, nil) {
					return
				}
			}
			i += uint64(len(evs))
		}
	}
}

// RunAt names a run as of a version for DiffAt: At is a Txn version, or the
// zero Version for the newest published commit.
type RunAt struct {
	Run RunID
	At  Version
}

// Diff compares runs a and b as they are now: see DiffAt.
func (r RunIndex) Diff(ctx context.Context, a, b RunID) iter.Seq2[EntityDiff, error] {
	return r.DiffAt(ctx, RunAt{Run: a}, RunAt{Run: b})
}

// DiffAt compares two runs, or one run at two versions, entity by entity
// across the primitives, and yields each entity that differs: KV keys,
// state cells, JSON documents (with an RFC 6902 patch from A to B), traces,
// vector collections and vectors, in that order and by key within each,
// then the event logs as one EntityDiff with their common prefix and the
// lengths of the divergent suffixes (EventDiff.A and B read them). Derived
// data (indexes, counters) is not compared: it follows from the entities.
// Run-index records are not compared either:
// two runs' records always differ in id and name.
//
// Both sides are read from snapshots taken at the start, so the stream is
// consistent while writers continue, and the iteration holds them open (so
// retention keeps what it reads) until it ends. A version above the newest
// commit is InvalidArgument, one below a run's trim floor HistoryTrimmed;
// such errors are the stream's only item. Cost: both sides are scanned in
// key order, so a diff reads every entity of both runs once and holds one
// entity per side (and the divergent event suffixes) at a time.
func (r RunIndex) DiffAt(ctx context.Context, a, b RunAt) iter.Seq2[EntityDiff, error] {
	const op = "runs.Diff"
	db := r.db
	return func(yield func(EntityDiff, error) bool) {
		ta, err := db.beginAt(ctx, op, a)
		if err != nil {
			yield(EntityDiff{}, err)
			return
		}
		defer ta.rollback()
		tb, err := db.beginAt(ctx, op, b)
		if err != nil {
			yield(EntityDiff{}, err)
			return
		}
		defer tb.rollback()
		if !diffEntities(ctx, op, db, a.Run, ta, tb, yield) {
			return
		}
		ed, err := diffEvents(ta, tb)
		if err != nil {
			yield(EntityDiff{}, err)
			return
		}
		if ed != nil {
			yield(EntityDiff{Kind: DiffChanged, Primitive: core.Event, Events: ed}, nil)
		}
	}
}

// diffVisit, when set (by tests), is told about every entity a diff
// compares.
var diffVisit func(sp core.PrimitiveType, key string)

// diffEntities yields the entities that differ between ta and tb, space by
// space; false means the stream ended (yield said stop, or an error was
// yielded).
func diffEntities(ctx context.Context, op string, db *DB, run RunID, ta, tb *Tx, yield func(EntityDiff, error) bool) bool {
	ranges, related := db.diffRanges(ta, tb)
	n := 0
	ok := true
	// visit compares one entity; false ends the stream.
	visit := func(sp core.PrimitiveType, key string, ea, eb *engine.Entry) bool {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				yield(EntityDiff{}, ctxError(op, err))
				return false
			}
		}
		if diffVisit != nil {
			diffVisit(sp, key)
		}
		c, differ, err := diffEntity(op, run, sp, key, ea, eb)
		if err != nil {
			yield(EntityDiff{}, err)
			return false
		}
		return !differ || yield(c, nil)
	}
	for _, sp := range entitySpaces {
		if related {
			db.eng.ChangedKeys(sp, ranges, func(key string) bool {
				if _, _, isEntity := entityOf(sp, key); !isEntity {
					return true
				}
				ok = visit(sp, key, sideGet(ta, sp, key), sideGet(tb, sp, key))
				return ok
			})
		} else {
			for key, es := range zipEntities(sideScan(ta, sp), sideScan(tb, sp)) {
				if ok = visit(sp, key, es[0], es[1]); !ok {
					break
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// sideGet reads one entity as tx sees it (through fork links); nil when
// it is absent or deleted.
func sideGet(tx *Tx, sp core.PrimitiveType, key string) *engine.Entry {
	e, ok := tx.txn.Get(tx.run, sp, key)
	if !ok {
		return nil
	}
	return &e
}

// forkLayer is one step of a side's lineage: a run read at a snapshot.
type forkLayer struct {
	run  RunID
	snap uint64
}

// lineage lists what a read of run at snap consults, in order: run at
// snap, then each fork parent at the version the link reads it at.
func (db *DB) lineage(run RunID, snap uint64) []forkLayer {
	ls := []forkLayer{{run, snap}}
	for len(ls) <= engine.MaxForkDepth {
		p, at, ok := db.eng.ForkOf(run, snap)
		if !ok {
			break
		}
		run, snap = p, min(snap, at)
		ls = append(ls, forkLayer{run, snap})
	}
	return ls
}

// diffRanges finds a run both sides read through (the same run, or a
// common fork ancestor) and returns the own versions that can make the
// sides differ: everything each side's runs above that ancestor hold at
// their snapshots, and the ancestor's versions between the two versions
// the sides read it at. An entity outside them resolves on both sides to
// the ancestor's one version, so it cannot differ. related is false when
// there is no such ancestor, or the ancestor's own inheritance is not the
// same at both versions; the diff then compares everything.
func (db *DB) diffRanges(ta, tb *Tx) (ranges []engine.KeyRange, related bool) {
	la := db.lineage(ta.run, ta.txn.Snapshot())
	lb := db.lineage(tb.run, tb.txn.Snapshot())
	for i, x := range la {
		for j, y := range lb {
			if x.run != y.run {
				continue
			}
			// At the depth limit a read stops falling through, which
			// the ancestor's own link would not show.
			if i >= engine.MaxForkDepth || j >= engine.MaxForkDepth {
				return nil, false
			}
			lo, hi := min(x.snap, y.snap), max(x.snap, y.snap)
			if !db.eng.SameInheritance(x.run, lo, hi) {
				return nil, false
			}
			for _, l := range la[:i] {
				ranges = append(ranges, engine.KeyRange{Run: l.run, Hi: l.snap})
			}
			for _, l := range lb[:j] {
				ranges = append(ranges, engine.KeyRange{Run: l.run, Hi: l.snap})
			}
			return append(ranges, engine.KeyRange{Run: x.run, Lo: lo, Hi: hi}), true
		}
	}
	return nil, false
}

// beginAt starts a read-only transaction on s.Run at s.At (the newest
// published version when zero), with its floors checked as ViewAt does.
func (db *DB) beginAt(ctx context.Context, op string, s RunAt) (*Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(op, err)
	}
	if err := db.checkOpen(op); err != nil {
		return nil, err
	}
	v := db.eng.Visible()
	if s.At != (Version{}) {
		var err error
		if v, err = db.resolveAt(op, s.Run, AtVersion(s.At)); err != nil {
			return nil, err
		}
	}
	tx := &Tx{db: db, run: s.Run, ctx: ctx, managed: true, past: true}
	db.eng.BeginAtInto(&tx.txn, s.Run, v)
	if err := db.checkFloor(op, s.Run, v); err != nil {
		tx.rollback()
		return nil, err
	}
	return tx, nil
}

// entitySpaces are the spaces compared and merged entity by entity; event
// logs are compared as sequences instead.
var entitySpaces = []core.PrimitiveType{core.KV, core.State, core.JSON, core.Trace, core.Vector}

// entityOf maps an engine key of space sp to the entity it stores: its
// user-facing key and collection. ok is false for derived keys (indexes,
// counters, high-water marks), which follow from the entities.
func entityOf(sp core.PrimitiveType, key string) (user, coll string, ok bool) {
	switch sp {
	case core.KV, core.JSON:
		return key, "", true
	case core.State:
		if len(key) > 0 && key[0] == stCellTag {
			return stateCellName(key), "", true
		}
	case core.Trace:
		if len(key) == 9 && key[0] == tracePfxRecord {
			return strconv.FormatUint(uint64(traceRecordID(key)), 10), "", true
		}
	case core.Vector:
		name, k, _, ok := parseVectorKey(key)
		return k, name, ok
	}
	return "", "", false
}

// sideScan yields the entities of space sp that tx's run holds, in key
// order, as tx reads them (through fork links).
func sideScan(tx *Tx, sp core.PrimitiveType) iter.Seq2[string, engine.Entry] {
	return func(yield func(string, engine.Entry) bool) {
		tx.txn.Scan(tx.run, sp, "", "", false, func(key string, e engine.Entry) bool {
			if _, _, ok := entityOf(sp, key); !ok {
				return true
			}
			return yield(key, e)
		})
	}
}

// zipEntities merges key-ordered streams: for every key any of them has it
// yields the key and each stream's entry (nil where a stream lacks it).
func zipEntities(seqs ...iter.Seq2[string, engine.Entry]) iter.Seq2[string, []*engine.Entry] {
	return func(yield func(string, []*engine.Entry) bool) {
		type head struct {
			key string
			e   engine.Entry
			ok  bool
		}
		nexts := make([]func() (string, engine.Entry, bool), len(seqs))
		heads := make([]head, len(seqs))
		for i, s := range seqs {
			next, stop := iter.Pull2(s)
			defer stop()
			nexts[i] = next
			k, e, ok := next()
			heads[i] = head{k, e, ok}
		}
		out := make([]*engine.Entry, len(seqs))
		for {
			var min string
			found := false
			for _, h := range heads {
				if h.ok && (!found || h.key < min) {
					min, found = h.key, true
				}
			}
			if !found {
				return
			}
			for i := range heads {
				out[i] = nil
				if heads[i].ok && heads[i].key == min {
					e := heads[i].e
					out[i] = &e
					k, ne, ok := nexts[i]()
					heads[i] = head{k, ne, ok}
				}
			}
			if !yield(min, out) {
				return
			}
		}
	}
}

// entityValue is what a diff or merge compares of a stored entity: a state
// cell's value (its counter is bookkeeping), otherwise the stored value.
func entityValue(op string, run RunID, sp core.PrimitiveType, key string, e *engine.Entry) (*Versioned[Value], error) {
	if e == nil {
		return nil, nil
	}
	v := Value(e.Value)
	if sp == core.State {
		_, val, ok := decodeCell(v)
		if !ok {
			return nil, stateCorrupt(op, run, stateCellName(key), "cell entry is not [counter, value]")
		}
		v = val
	}
	return &Versioned[Value]{Value: v, Version: core.Txn(e.Version), Timestamp: Timestamp(e.Time)}, nil
}

func sameEntity(a, b *Versioned[Value]) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Value.Identical(b.Value)
}

// diffEntity compares one entity's two sides.
func diffEntity(op string, run RunID, sp core.PrimitiveType, key string, ea, eb *engine.Entry) (EntityDiff, bool, error) {
	a, err := entityValue(op, run, sp, key, ea)
	if err != nil {
		return EntityDiff{}, false, err
	}
	b, err := entityValue(op, run, sp, key, eb)
	if err != nil {
		return EntityDiff{}, false, err
	}
	if sameEntity(a, b) {
		return EntityDiff{}, false, nil
	}
	user, coll, _ := entityOf(sp, key)
	c := EntityDiff{Primitive: sp, Key: user, Collection: coll, A: a, B: b}
	switch {
	case a == nil:
		c.Kind = DiffAdded
	case b == nil:
		c.Kind = DiffRemoved
	default:
		c.Kind = DiffChanged
		if sp == core.JSON {
			c.Patch = jsonDiff(nil, "", a.Value, b.Value)
		}
	}
	return c, true, nil
}

// jsonDiff appends to ops an RFC 6902 patch that turns a into b, where both
// sit at JSON Pointer path. Objects are compared key by key (their keys
// are sorted) and arrays of equal length element by element; anything
// else that differs is replaced whole.
func jsonDiff(ops []PatchOp, path string, a, b Value) []PatchOp {
	if a.Identical(b) {
		return ops
	}
	switch {
	case a.Kind() == KindObject && b.Kind() == KindObject:
		af, bf := a.Fields(), b.Fields()
		i, j := 0, 0
		for i < len(af) || j < len(bf) {
			switch {
			case j == len(bf) || (i < len(af) && af[i].Key < bf[j].Key):
				ops = append(ops, PatchOp{Op: "remove", Path: path + "/" + escapeToken(af[i].Key)})
				i++
			case i == len(af) || bf[j].Key < af[i].Key:
				ops = append(ops, PatchOp{Op: "add", Path: path + "/" + escapeToken(bf[j].Key), Value: bf[j].Value})
				j++
			default:
				ops = jsonDiff(ops, path+"/"+escapeToken(af[i].Key), af[i].Value, bf[j].Value)
				i++
				j++
			}
		}
		return ops
	case a.Kind() == KindArray && b.Kind() == KindArray && a.Len() == b.Len():
		for i := range a.Len() {
			x, _ := a.Index(i)
			y, _ := b.Index(i)
			ops = jsonDiff(ops, path+"/"+strconv.Itoa(i), x, y)
		}
		return ops
	}
	return append(ops, PatchOp{Op: "replace", Path: path, Value: b})
}

// eventChunk is how many events a log comparison reads at a time.
const eventChunk = 256

// diffEvents compares the event logs of two sides; nil when they are equal.
func diffEvents(ta, tb *Tx) (*EventDiff, error) {
	la, err := ta.Events().Len()
	if err != nil {
		return nil, err
	}
	lb, err := tb.Events().Len()
	if err != nil {
		return nil, err
	}
	common, err := commonEvents(ta, tb, min(la, lb))
	if err != nil {
		return nil, err
	}
	if common == la && common == lb {
		return nil, nil
	}
	return &EventDiff{Common: common, ALen: la - common, BLen: lb - common, db: ta.db,
		a: RunAt{Run: ta.run, At: core.Txn(ta.txn.Snapshot())},
		b: RunAt{Run: tb.run, At: core.Txn(tb.txn.Snapshot())}}, nil
}

// commonEvents returns the length of the longest common prefix of two
// logs (at most n): events agree when their hashes do, and a hash covers
// every earlier event through the chain, so the first disagreement ends
// the prefix.
func commonEvents(ta, tb *Tx, n uint64) (uint64, error) {
	var i uint64
	for i < n {
		to := min(n, i+eventChunk)
		ea, err := ta.Events().Range(i, to)
		if err != nil {
			return 0, err
		}
		eb, err := tb.Events().Range(i, to)
		if err != nil {
			return 0, err
		}
		for k := range min(len(ea), len(eb)) {
			if ea[k].Hash != eb[k].Hash {
				return i + uint64(k), nil
			}
		}
		i = to
	}
	return i, nil
}

// escapeToken escapes a key as a JSON Pointer reference token (RFC 6901).
func escapeToken(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
