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
// events (same hashes, so same content and history) and continue with A
// and B respectively. A fork's log shares its source's prefix up to the
// fork point.
type EventDiff struct {
	Common uint64
	A, B   []Event
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
// then the event logs as one EntityDiff with their common prefix and
// divergent suffixes. Derived data (indexes, counters) is not compared: it
// follows from the entities. Run-index records are not compared either:
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
		n := 0
		for _, sp := range entitySpaces {
			for key, es := range zipEntities(sideScan(ta, sp), sideScan(tb, sp)) {
				if n++; n%1024 == 0 {
					if err := ctx.Err(); err != nil {
						yield(EntityDiff{}, ctxError(op, err))
						return
					}
				}
				c, differ, err := diffEntity(op, a.Run, sp, key, es[0], es[1])
				if err != nil {
					yield(EntityDiff{}, err)
					return
				}
				if differ && !yield(c, nil) {
					return
				}
			}
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
	d := &EventDiff{Common: common}
	if d.A, err = ta.Events().Range(common, la); err != nil {
		return nil, err
	}
	if d.B, err = tb.Events().Range(common, lb); err != nil {
		return nil, err
	}
	return d, nil
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
