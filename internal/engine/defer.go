package engine

import (
	"math"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// Deferred operations
//
// An append to a log reads the log's head and writes it back. Done as an
// ordinary read-modify-write, every two concurrent appenders conflict on the
// head although appending is commutative: whichever commits first takes
// the next sequence. A transaction instead registers a deferred operation
// with Defer. Its writes are computed at commit, under the commit lock,
// after validation and before the commit version is assigned: it reads the
// newest installed value of the head (Deferral.Latest — not the snapshot,
// and nothing joins the read set) and produces the final writes. Those are
// installed and handed to the log like any other write, so the log holds
// only final values and recovery replays them unchanged.
//
// Before commit the transaction writes provisional values (PutProvisional,
// AppendProvisional): its own reads see them, so it can read its own
// appends, numbered from its snapshot. The deferred operations write the
// final values, typically under rebased keys; a final write of a key with a
// provisional write replaces it. Commit then drops every write that is still
// provisional.
//
// Real read-write dependencies keep conflicting: reading a provisional value
// through Get joins the key to the read set (the value is only as good as
// the snapshot it came from), and a normal write over a provisional one
// makes it a normal, final write that deferred operations leave alone.

// Deferred is a deferred operation. Resolve computes its final writes. It
// runs under the engine's commit lock: it must be fast, must not block and
// must not call into the engine except through d. An error aborts the
// commit with nothing written.
type Deferred interface {
	Resolve(d *Deferral) error
}

// DeferFunc adapts a function to Deferred.
type DeferFunc func(d *Deferral) error

// Resolve calls f(d).
func (f DeferFunc) Resolve(d *Deferral) error { return f(d) }

// Deferral is what a Deferred sees at commit.
type Deferral struct{ t *Txn }

// writeKind tells normal writes from provisional ones and from the final
// writes of deferred operations.
type writeKind uint8

const (
	writeNormal      writeKind = iota // the transaction's own, final
	writeProvisional                  // dropped at commit
	writeDeferred                     // written by a deferred operation at commit
)

// Defer registers op to run at commit, after the deferred operations
// registered before it.
func (t *Txn) Defer(op Deferred) {
	if t.defers == nil && t.buf != nil {
		t.defers = t.buf.defers[:0]
	}
	t.defers = append(t.defers, op)
}

// PutProvisional buffers a provisional version of (run, space, key): the
// transaction's own reads see it, commit drops it (see Defer).
func (t *Txn) PutProvisional(run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	t.writeAs(core.OpPut, run, space, key, v, writeProvisional)
}

// AppendProvisional is PutProvisional for the first version of a stream
// entry.
func (t *Txn) AppendProvisional(run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	t.writeAs(core.OpAppend, run, space, key, v, writeProvisional)
}

// Peek reads (run, space, key) as the transaction sees it — its own write,
// provisional or not, else the snapshot — without joining the read set. It
// is for computing provisional values that a deferred operation recomputes
// at commit.
func (t *Txn) Peek(run core.RunID, space core.PrimitiveType, key string) (Entry, bool) {
	if i := t.findWrite(run, space, key); i >= 0 {
		w := &t.writes[i]
		if w.Op == core.OpDelete {
			return Entry{Tombstone: true}, false
		}
		return Entry{Value: w.Value}, true
	}
	v := t.e.resolve(t.e.lookup(run, space, key), run, space, key, t.snap)
	if v == nil || v.tomb {
		return Entry{}, false
	}
	return entryOf(v), true
}

// HasFinalWrite reports whether the transaction holds a normal (not
// provisional) write of (run, space, key).
func (t *Txn) HasFinalWrite(run core.RunID, space core.PrimitiveType, key string) bool {
	i := t.findWrite(run, space, key)
	return i >= 0 && t.kindOf(i) == writeNormal
}

func (t *Txn) kindOf(i int) writeKind {
	if t.prov == nil {
		return writeNormal
	}
	return t.prov[i]
}

func (t *Txn) isProvisional(i int) bool { return t.kindOf(i) == writeProvisional }

func (t *Txn) setKind(i int, k writeKind) {
	if t.prov == nil && t.buf != nil {
		t.prov = t.buf.prov[:0]
	}
	for len(t.prov) < len(t.writes) {
		t.prov = append(t.prov, writeNormal)
	}
	if was := t.prov[i]; was != k {
		if was == writeProvisional {
			t.nprov--
		}
		if k == writeProvisional {
			t.nprov++
		}
		t.prov[i] = k
	}
}

// resolveDeferred runs the deferred operations and then drops the writes
// that are still provisional. A deferred write of a key that has a
// provisional write takes its place, and the chain found when the
// provisional write was buffered: the common case (nobody appended
// concurrently) does no index lookup under the commit lock. The caller
// holds the commit lock and has validated the transaction.
func (t *Txn) resolveDeferred() error {
	d := Deferral{t: t}
	for _, op := range t.defers {
		if err := op.Resolve(&d); err != nil {
			return err
		}
	}
	t.defers = nil
	if t.nprov > 0 {
		n := 0
		for i := range t.writes {
			if t.isProvisional(i) {
				continue
			}
			t.writes[n], t.wchain[n] = t.writes[i], t.wchain[i]
			n++
		}
		clear(t.writes[n:])
		clear(t.wchain[n:])
		t.writes, t.wchain = t.writes[:n], t.wchain[:n]
		t.windex = nil
	}
	t.prov, t.nprov = nil, 0
	return nil
}

// Latest returns the newest value of (run, space, key) in commit order: the
// transaction's own normal write or a value an earlier deferred write of
// this commit made, else the newest installed version, published or not (it
// commits before this transaction). Provisional writes are ignored. Nothing
// joins the read set. It returns false for an absent or deleted key.
func (d *Deferral) Latest(run core.RunID, space core.PrimitiveType, key string) (Entry, bool) {
	t := d.t
	var c *chain
	if i := t.findWrite(run, space, key); i >= 0 {
		if !t.isProvisional(i) {
			w := &t.writes[i]
			if w.Op == core.OpDelete {
				return Entry{Tombstone: true}, false
			}
			return Entry{Value: w.Value}, true
		}
		c = t.wchain[i]
	}
	if c == nil {
		c = t.e.lookup(run, space, key)
	}
	var v *version
	if c != nil {
		v = c.head.Load()
	}
	if v == nil && t.e.forks.links.Load() != 0 {
		// A fork link is fixed at the fork point, so the newest state of
		// an inherited entity is the parent's at that point.
		v = t.e.inherited(run, space, key, math.MaxUint64)
	}
	if v == nil || v.tomb {
		return Entry{}, false
	}
	return entryOf(v), true
}

// put writes a deferred value, unless the transaction wrote the key
// normally: such a write was made after a validated read and already is
// the key's final value.
func (d *Deferral) put(op core.Op, run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	t := d.t
	if i := t.findWrite(run, space, key); i >= 0 && t.kindOf(i) == writeNormal {
		return
	}
	t.writeAs(op, run, space, key, v, writeDeferred)
}

// Put writes the final version of (run, space, key) (see put).
func (d *Deferral) Put(run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	d.put(core.OpPut, run, space, key, v)
}

// Append writes the first version of a stream entry (see put).
func (d *Deferral) Append(run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	d.put(core.OpAppend, run, space, key, v)
}

// Delete writes a tombstone for (run, space, key) (see put).
func (d *Deferral) Delete(run core.RunID, space core.PrimitiveType, key string) {
	d.put(core.OpDelete, run, space, key, value.Value{})
}
