package inmem

import (
	"math"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/value"
)

// Appends that never conflict with each other.
//
// Appending an event, recording a trace and registering a child run each
// advance a per-run head or counter. They are commutative, so two
// concurrent appenders must not conflict on that key. Each of them writes
// provisional entries numbered from the transaction's snapshot, so the
// transaction reads its own appends, and registers a deferred operation
// (engine.Txn.Defer) that renumbers them at commit: under the commit lock,
// in version order, it reads the newest head, assigns the final sequences
// (and, for events, the final hash chain) and writes the final entries.
// Only final entries reach the log, so recovery replays them as they are.
//
// The appending calls return the provisional number; FinalSequence and
// FinalID turn it into the final one after a successful commit. With no
// concurrent appender the two are equal.

// txAppends is the deferred-append state of one transaction.
type txAppends struct {
	events   *eventAppends
	traces   *traceAppends
	children *childDeltas
}

// errNotCommitted is returned when a final number is asked for before the
// transaction committed.
func errNotCommitted(op string) error {
	return errorf(CodeInvalidArgument, op, "the transaction has not committed: final numbers are assigned at commit")
}

// --- events ------------------------------------------------------------------

// eventAppends is one transaction's pending appends to its run's log.
type eventAppends struct {
	run RunID
	// from is the head the provisional events were numbered and chained
	// from (the snapshot's head).
	from    eventHead
	pending []pendingEvent
	// head is the provisional head after the last pending event.
	head      Value
	finalBase uint64
	resolved  bool
	first     [1]pendingEvent // inline storage: most transactions append one event
}

// pendingEvent is one provisional event.
type pendingEvent struct {
	ev   storedEvent
	enc  Value  // ev.encode()
	key  string // eventKey(ev.Sequence)
	tkey string // eventTypeKey(ev.Type)
	// prevOfType is the index in pending of the previous event of the
	// same type, or -1 when that event is a committed one.
	prevOfType int
}

// eventAppendState returns the transaction's pending appends, registering
// the deferred operation on first use.
func (tx *Tx) eventAppendState() *eventAppends {
	if st := tx.appends.events; st != nil {
		return st
	}
	st := &eventAppends{run: tx.run}
	st.pending = st.first[:0]
	tx.appends.events = st
	tx.txn.Defer(st)
	return st
}

// final maps a provisional sequence to the final one.
func (st *eventAppends) final(prov uint64) (uint64, bool) {
	if !st.resolved || prov < st.from.length || prov-st.from.length >= uint64(len(st.pending)) {
		return 0, false
	}
	return st.finalBase + (prov - st.from.length), true
}

// peekHead reads the log's head as the transaction sees it, provisional
// appends included, without joining the read set.
func (l EventLogTx) peekHead(op string) (eventHead, error) {
	tx := l.tx
	e, ok := tx.txn.Peek(tx.run, core.Event, evHeadKey)
	return eventHeadOf(op, tx.run, e, ok)
}

// eventHeadOf decodes the head entry e of run's log, read by Get or Peek;
// an absent head (!ok) is the zero head of an empty log.
func eventHeadOf(op string, run RunID, e engine.Entry, ok bool) (eventHead, error) {
	if !ok {
		return eventHead{}, nil
	}
	h, ok := decodeEventHead(Value(e.Value))
	if !ok {
		return eventHead{}, eventCorrupt(op, eventLogRef(run), "head entry is not %d bytes", evHeadLen)
	}
	return h, nil
}

// appendProvisional buffers ev (Type, Payload, Timestamp set) at the end of
// the log as the transaction sees it and returns its provisional sequence.
func (l EventLogTx) appendProvisional(op string, ev storedEvent) (uint64, error) {
	tx := l.tx
	run := tx.run
	h, err := l.peekHead(op)
	if err != nil {
		return 0, err
	}
	if h.length == math.MaxUint64 {
		return 0, errorf(CodeConstraintViolation, op, "the event log is full").WithRef(eventLogRef(run))
	}
	tk := eventTypeKey(ev.Type)
	if e, ok := tx.txn.Peek(run, core.Event, tk); ok {
		last, ok := e.Value.AsInt()
		if !ok || uint64(last) >= h.length {
			return 0, eventCorrupt(op, eventLogRef(run), "the type head of %q does not name an event", ev.Type)
		}
		ev.typeLink = uint64(last) + 1
	}
	st := tx.eventAppendState()
	if len(st.pending) == 0 {
		st.from = h
	}
	prev := -1
	for i := len(st.pending) - 1; i >= 0; i-- {
		if st.pending[i].ev.Type == ev.Type {
			prev = i
			break
		}
	}
	ev.Sequence = h.length
	ev.Timestamp = max(ev.Timestamp, Timestamp(h.lastTime))
	ev.PrevHash = h.hash
	ev.Hash = ev.ComputeHash()
	p := pendingEvent{ev: ev, enc: ev.encode(), key: eventKey(ev.Sequence), tkey: tk, prevOfType: prev}
	st.pending = append(st.pending, p)
	h = eventHead{length: ev.Sequence + 1, lastTime: int64(ev.Timestamp), hash: ev.Hash}
	st.head = h.encode()
	tx.txn.AppendProvisional(run, core.Event, p.key, p.enc.in())
	tx.txn.PutProvisional(run, core.Event, tk, value.Int(int64(ev.Sequence)))
	tx.txn.PutProvisional(run, core.Event, evHeadKey, st.head.in())
	return ev.Sequence, nil
}

// Resolve is the deferred operation: it appends the pending events after
// the newest committed head.
func (st *eventAppends) Resolve(d *engine.Deferral) error {
	const op = "events.Append"
	if len(st.pending) == 0 {
		return nil
	}
	run := st.run
	var h eventHead
	if e, ok := d.Latest(run, core.Event, evHeadKey); ok {
		var valid bool
		if h, valid = decodeEventHead(Value(e.Value)); !valid {
			return eventCorrupt(op, eventLogRef(run), "head entry is not %d bytes", evHeadLen)
		}
	}
	n := uint64(len(st.pending))
	if h.length > math.MaxUint64-n {
		return errorf(CodeConstraintViolation, op, "the event log is full").WithRef(eventLogRef(run))
	}
	st.finalBase = h.length
	if h == st.from {
		// Nobody appended since the snapshot: the provisional events are
		// the final ones.
		for i := range st.pending {
			p := &st.pending[i]
			d.Append(run, core.Event, p.key, p.enc.in())
			d.Put(run, core.Event, p.tkey, value.Int(int64(p.ev.Sequence)))
		}
		d.Put(run, core.Event, evHeadKey, st.head.in())
		st.resolved = true
		return nil
	}
	for i := range st.pending {
		p := &st.pending[i]
		ev := p.ev // a copy: the provisional event stays as it was
		ev.Sequence = h.length
		ev.PrevHash = h.hash
		ev.Timestamp = max(ev.Timestamp, Timestamp(h.lastTime))
		if j := p.prevOfType; j >= 0 {
			ev.typeLink = st.finalBase + uint64(j) + 1
		} else if e, ok := d.Latest(run, core.Event, p.tkey); ok {
			last, ok := e.Value.AsInt()
			if !ok || uint64(last) >= h.length {
				return eventCorrupt(op, eventLogRef(run), "the type head of %q does not name an event", ev.Type)
			}
			ev.typeLink = uint64(last) + 1
		} else {
			ev.typeLink = 0
		}
		ev.Hash = ev.ComputeHash()
		d.Append(run, core.Event, eventKey(ev.Sequence), ev.encode().in())
		d.Put(run, core.Event, p.tkey, value.Int(int64(ev.Sequence)))
		h = eventHead{length: ev.Sequence + 1, lastTime: int64(ev.Timestamp), hash: ev.Hash}
	}
	d.Put(run, core.Event, evHeadKey, h.encode().in())
	st.resolved = true
	return nil
}

// FinalSequence returns the final sequence of an event this transaction
// appended, given the provisional sequence Append returned. Final sequences
// are assigned at commit, so call it after Commit succeeded (for Update,
// after Update returned nil, on the Tx the closure received). Before that,
// or for a sequence this transaction did not append, it is an
// InvalidArgument error.
func (l EventLogTx) FinalSequence(provisional Version) (Version, error) {
	const op = "events.FinalSequence"
	tx := l.tx
	st := tx.appends.events
	if tx.version == 0 || st == nil || !st.resolved {
		return Version{}, errNotCommitted(op)
	}
	if provisional.Kind != core.SequenceVersion {
		return Version{}, errorf(CodeInvalidArgument, op, "%v is not a sequence", provisional)
	}
	n, ok := st.final(provisional.N)
	if !ok {
		return Version{}, errorf(CodeInvalidArgument, op, "sequence %d was not appended by this transaction", provisional.N)
	}
	return core.Sequence(n), nil
}

// --- traces ------------------------------------------------------------------

// traceAppends is one transaction's pending traces in its run.
type traceAppends struct {
	run RunID
	// from is the ID counter the provisional IDs were numbered from: the
	// i-th pending trace has provisional ID from+i+1.
	from      uint64
	pending   []pendingTrace
	finalBase uint64
	resolved  bool
}

// pendingTrace is one provisional trace.
type pendingTrace struct {
	parent TraceID
	// ownParent is the index in pending of the parent when the transaction
	// recorded the parent itself, else -1.
	ownParent int
	typ       TraceType
	tags      []string
	at        int64
	fields    []Field // the record's fields, for rebuilding with a final parent
	rec       Value   // the provisional record
}

func (tx *Tx) traceAppendState() *traceAppends {
	if st := tx.appends.traces; st != nil {
		return st
	}
	st := &traceAppends{run: tx.run}
	tx.appends.traces = st
	tx.txn.Defer(st)
	return st
}

// own returns the index in pending of provisional ID id, or -1.
func (st *traceAppends) own(id TraceID) int {
	if st == nil || uint64(id) <= st.from || uint64(id)-st.from > uint64(len(st.pending)) {
		return -1
	}
	return int(uint64(id) - st.from - 1)
}

func (st *traceAppends) final(prov TraceID) (TraceID, bool) {
	if !st.resolved {
		return 0, false
	}
	i := st.own(prov)
	if i < 0 {
		return 0, false
	}
	return TraceID(st.finalBase + uint64(i) + 1), true
}

// recordProvisional buffers a trace under the next provisional ID and
// returns that ID. parent was checked to exist.
func (t TraceTx) recordProvisional(parent TraceID, typ TraceType, tags []string, at int64, fields []Field, rec Value) (TraceID, error) {
	tx := t.tx
	run := tx.run
	last, err := t.peekCounter()
	if err != nil {
		return 0, err
	}
	st := tx.traceAppendState()
	if len(st.pending) == 0 {
		st.from = last
	}
	id := TraceID(last + 1)
	st.pending = append(st.pending, pendingTrace{parent: parent, ownParent: st.own(parent), typ: typ, tags: tags, at: at, fields: fields, rec: rec})
	tx.txn.PutProvisional(run, core.Trace, traceKeyCounter, value.Int(int64(id)))
	tx.txn.AppendProvisional(run, core.Trace, traceRecordKey(id), rec.in())
	for _, k := range traceIndexKeys(&Trace{ID: id, Parent: parent, Type: typ, Tags: tags, RecordedAt: Timestamp(at)}) {
		tx.txn.AppendProvisional(run, core.Trace, k, value.Null())
	}
	return id, nil
}

// peekCounter reads the last assigned TraceID as the transaction sees it,
// its own provisional traces included, without joining the read set.
func (t TraceTx) peekCounter() (uint64, error) {
	tx := t.tx
	e, ok := tx.txn.Peek(tx.run, core.Trace, traceKeyCounter)
	if !ok {
		return 0, nil
	}
	return decodeTraceCounter(Value(e.Value))
}

func decodeTraceCounter(v Value) (uint64, error) {
	n, isInt := v.AsInt()
	if !isInt || n < 0 {
		return 0, errorf(CodeInternal, "traces", "malformed trace counter %v", v)
	}
	return uint64(n), nil
}

// Resolve is the deferred operation: it numbers the pending traces after
// the newest committed ID.
func (st *traceAppends) Resolve(d *engine.Deferral) error {
	if len(st.pending) == 0 {
		return nil
	}
	run := st.run
	var last uint64
	if e, ok := d.Latest(run, core.Trace, traceKeyCounter); ok {
		var err error
		if last, err = decodeTraceCounter(Value(e.Value)); err != nil {
			return err
		}
	}
	n := uint64(len(st.pending))
	if last > math.MaxInt64-n {
		return errorf(CodeConstraintViolation, "traces.Record", "trace IDs are exhausted")
	}
	st.finalBase = last
	for i := range st.pending {
		p := &st.pending[i]
		id := TraceID(last + uint64(i) + 1)
		parent, rec := p.parent, p.rec
		if last != st.from && p.ownParent >= 0 {
			parent = TraceID(last + uint64(p.ownParent) + 1)
			rec = ObjectOf(append(p.fields, fld(trParent, Int(int64(parent))))...)
		}
		d.Append(run, core.Trace, traceRecordKey(id), rec.in())
		for _, k := range traceIndexKeys(&Trace{ID: id, Parent: parent, Type: p.typ, Tags: p.tags, RecordedAt: Timestamp(p.at)}) {
			d.Append(run, core.Trace, k, value.Null())
		}
	}
	d.Put(run, core.Trace, traceKeyCounter, value.Int(int64(last+n)))
	st.resolved = true
	return nil
}

// FinalID returns the final ID of a trace this transaction recorded, given
// the provisional ID Record or RecordChild returned. Final IDs are assigned
// at commit, so call it after Commit succeeded (for Update, after Update
// returned nil, on the Tx the closure received); before that, or for an ID
// this transaction did not record, it is an InvalidArgument error.
func (t TraceTx) FinalID(provisional TraceID) (TraceID, error) {
	const op = "traces.FinalID"
	tx := t.tx
	st := tx.appends.traces
	if tx.version == 0 || st == nil || !st.resolved {
		return 0, errNotCommitted(op)
	}
	id, ok := st.final(provisional)
	if !ok {
		return 0, errorf(CodeInvalidArgument, op, "trace %d was not recorded by this transaction", provisional)
	}
	return id, nil
}

// --- child-run counts --------------------------------------------------------

// childDeltas is one transaction's pending changes to children counts.
type childDeltas struct {
	parents []RunID
	delta   map[RunID]int64
}

// addChildrenDeferred adds delta to parent's children count at commit,
// without reading it: concurrent Creates under one parent do not conflict.
// A count the transaction already wrote normally is updated normally.
func (t RunIndexTx) addChildrenDeferred(parent RunID, delta int64) error {
	tx := t.tx
	key := runChildrenKey(parent)
	if tx.txn.HasFinalWrite(GlobalRun, core.Run, key) {
		return t.addChildren(parent, delta)
	}
	var n int64
	if e, ok := tx.txn.Peek(GlobalRun, core.Run, key); ok {
		var isInt bool
		if n, isInt = e.Value.AsInt(); !isInt || n < 0 {
			return errorf(CodeInternal, "runs", "run %s: malformed children count", parent)
		}
	}
	st := tx.appends.children
	if st == nil {
		st = &childDeltas{delta: map[RunID]int64{}}
		tx.appends.children = st
		tx.txn.Defer(st)
	}
	if _, ok := st.delta[parent]; !ok {
		st.parents = append(st.parents, parent)
	}
	st.delta[parent] += delta
	if n += delta; n <= 0 {
		tx.txn.PutProvisional(GlobalRun, core.Run, key, value.Int(0))
	} else {
		tx.txn.PutProvisional(GlobalRun, core.Run, key, value.Int(n))
	}
	return nil
}

// Resolve is the deferred operation: it applies the deltas to the newest
// counts.
func (st *childDeltas) Resolve(d *engine.Deferral) error {
	for _, parent := range st.parents {
		key := runChildrenKey(parent)
		var n int64
		if e, ok := d.Latest(GlobalRun, core.Run, key); ok {
			var isInt bool
			if n, isInt = e.Value.AsInt(); !isInt || n < 0 {
				return errorf(CodeInternal, "runs", "run %s: malformed children count", parent)
			}
		}
		if n += st.delta[parent]; n <= 0 {
			d.Delete(GlobalRun, core.Run, key)
		} else {
			d.Put(GlobalRun, core.Run, key, value.Int(n))
		}
	}
	return nil
}
