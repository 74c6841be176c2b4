package inmem

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/value"
)

// EventLog is the event-log primitive: an append-only, hash-chained log of
// typed events per run. Every call is a single-operation transaction on the
// run it names. Obtain it with DB.Events; inside a transaction use Tx.Events.
//
// Each run has its own log. Sequences start at 0 and are contiguous: the
// n-th event appended to a run (counting from 0) has sequence n, whatever the
// concurrency. Appends to one run serialize into one total order, decided
// at commit: an append never conflicts with another append, so neither
// Append nor a transaction that only appends fails with Conflict because
// other goroutines append too. A transaction that reads the log (its length
// or head, its events) and appends still conflicts with a concurrent append.
//
// Every event carries the hash of its predecessor (PrevHash; 32 zero bytes
// for the genesis event at sequence 0) and its own Hash, so the log is a hash
// chain that VerifyChain checks end to end; see Event.ComputeHash for the
// exact encoding. There is no way to update or delete an event.
//
// Reads return Versioned values whose Version is the event's Sequence and
// whose Timestamp is the event's own timestamp.
type EventLog struct{ db *DB }

// Events returns the event-log primitive.
func (db *DB) Events() EventLog { return EventLog{db} }

// EventLogTx is the event-log primitive inside a transaction (bound to its
// run). Reads see the transaction's own appends, under provisional
// sequences (see Append and FinalSequence). Reading the log's length or head
// (Len, Head, Range, ReadByType, Types) joins the log's head entry to the
// read set, so a writable transaction that did so conflicts with any
// concurrent append to the same run; Append alone does not.
type EventLogTx struct{ tx *Tx }

// Events returns the event-log primitive of the transaction.
func (tx *Tx) Events() EventLogTx { return EventLogTx{tx} }

// Event is one entry of a run's event log.
type Event struct {
	// Sequence is the event's position in its run's log, from 0.
	Sequence uint64
	// Type names the kind of event (non-empty, no NUL byte, valid UTF-8, at
	// most Limits.MaxKeyBytes bytes).
	Type string
	// Payload is the event's data.
	Payload Value
	// Timestamp is the database clock (Options.Clock) read when the event
	// was appended — not the commit time of its transaction, which is only
	// known after the hash must already be fixed. Timestamps never decrease
	// along a log: an append whose clock reads earlier than the previous
	// event's timestamp takes that timestamp instead.
	Timestamp Timestamp
	// PrevHash is the Hash of the event at Sequence-1, or 32 zero bytes for
	// the genesis event (Sequence 0).
	PrevHash [32]byte
	// Hash is ComputeHash() of this event as it was appended.
	Hash [32]byte
}

// ComputeHash returns the SHA-256 digest of the event's canonical encoding,
// the value Hash must hold. The encoding is the concatenation of, in order:
//
//	sequence      8 bytes, big-endian
//	len(type)     8 bytes, big-endian
//	type          the UTF-8 bytes of Type
//	len(payload)  8 bytes, big-endian
//	payload       the canonical binary encoding of Payload
//	timestamp     8 bytes, big-endian two's complement (µs since the Unix epoch)
//	prev_hash     32 bytes
//
// The payload encoding is the one the write-ahead log and snapshots use: a
// tag byte per value (0x00 null, 0x01 false, 0x02 true, 0x03 int, 0x04
// float, 0x05 string, 0x06 bytes, 0x07 array, 0x08 object), then zigzag
// uvarint integers, 8 little-endian bytes of IEEE-754 bits for floats,
// uvarint lengths before string and byte contents, uvarint counts before
// array elements and object entries, and object entries (uvarint key length,
// key, value) in ascending byte order of keys — one encoding per value.
//
// Every variable-length field is length-prefixed, so no two different events
// share an encoding. The Hash field itself is not part of the input.
func (e Event) ComputeHash() [32]byte {
	var stack [256]byte
	b := stack[:0]
	if n := 8*4 + 32 + len(e.Type) + e.Payload.in().EncodedSize(); n > len(stack) {
		b = make([]byte, 0, n)
	}
	b = binary.BigEndian.AppendUint64(b, e.Sequence)
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Type)))
	b = append(b, e.Type...)
	at := len(b)
	b = binary.BigEndian.AppendUint64(b, 0) // payload length, patched below
	b = value.AppendBinary(b, e.Payload.in())
	binary.BigEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Timestamp))
	b = append(b, e.PrevHash[:]...)
	return sha256.Sum256(b)
}

// ChainReport is the outcome of VerifyChain.
type ChainReport struct {
	// OK is true when every event links to its predecessor, every hash
	// matches the event's content and the log's head agrees with its last
	// event.
	OK bool
	// Checked is the number of events whose links verified before the first
	// break (the number of retained events when OK).
	Checked uint64
	// BrokenAt is the sequence of the first broken link (when !OK).
	BrokenAt uint64
	// Reason explains the break (when !OK).
	Reason string
}

// String renders the report in one line.
func (r ChainReport) String() string {
	if r.OK {
		return fmt.Sprintf("chain ok: %d events", r.Checked)
	}
	return fmt.Sprintf("chain broken at sequence %d: %s", r.BrokenAt, r.Reason)
}

// Sizes of the fixed parts of the Event space's values (see keys.go).
const (
	evHeadLen   = 8 + 8 + 32
	evHeaderLen = 8 + 8 + 32 + 32
)

// eventHead is the decoded head entry of a run's log.
type eventHead struct {
	length   uint64
	lastTime int64
	hash     [32]byte
}

func (h *eventHead) encode() Value {
	var b [evHeadLen]byte
	binary.BigEndian.PutUint64(b[0:], h.length)
	binary.BigEndian.PutUint64(b[8:], uint64(h.lastTime))
	copy(b[16:], h.hash[:])
	return Value(value.BytesFromString(string(b[:])))
}

func decodeEventHead(v Value) (eventHead, bool) {
	s, ok := v.BytesString()
	if !ok || len(s) != evHeadLen {
		return eventHead{}, false
	}
	var h eventHead
	h.length = binary.BigEndian.Uint64([]byte(s[0:8]))
	h.lastTime = int64(binary.BigEndian.Uint64([]byte(s[8:16])))
	copy(h.hash[:], s[16:])
	return h, true
}

// storedEvent is an event as stored: the public fields plus its type link.
type storedEvent struct {
	Event
	// typeLink is the sequence+1 of the previous event of the same type, or
	// 0 for the first event of its type.
	typeLink uint64
}

func (e *storedEvent) encode() Value {
	var h [evHeaderLen]byte
	binary.BigEndian.PutUint64(h[0:], uint64(e.Timestamp))
	binary.BigEndian.PutUint64(h[8:], e.typeLink)
	copy(h[16:], e.PrevHash[:])
	copy(h[48:], e.Hash[:])
	return Value(value.Array(value.String(e.Type), e.Payload.in(), value.BytesFromString(string(h[:]))))
}

// decodeEvent decodes the stored entry of the event at seq; it reports what
// is wrong with an entry that does not have the expected shape.
func decodeEvent(seq uint64, v Value) (storedEvent, error) {
	if v.Kind() != KindArray || v.Len() != 3 {
		return storedEvent{}, fmt.Errorf("entry is a %s of %d elements, want an array of 3", v.Kind(), v.Len())
	}
	ev := storedEvent{Event: Event{Sequence: seq}}
	f, _ := v.Index(0)
	var ok bool
	if ev.Type, ok = f.AsString(); !ok {
		return storedEvent{}, fmt.Errorf("type is a %s, want a string", f.Kind())
	}
	ev.Payload, _ = v.Index(1)
	f, _ = v.Index(2)
	h, ok := f.BytesString()
	if !ok || len(h) != evHeaderLen {
		return storedEvent{}, fmt.Errorf("header is not %d bytes", evHeaderLen)
	}
	ev.Timestamp = Timestamp(binary.BigEndian.Uint64([]byte(h[0:8])))
	ev.typeLink = binary.BigEndian.Uint64([]byte(h[8:16]))
	copy(ev.PrevHash[:], h[16:48])
	copy(ev.Hash[:], h[48:80])
	if ev.typeLink > seq {
		return storedEvent{}, fmt.Errorf("type link %d does not point backwards", ev.typeLink)
	}
	return ev, nil
}

func eventRef(run RunID, seq uint64) EntityRef {
	return EntityRef{Primitive: core.Event, Run: run, Key: strconv.FormatUint(seq, 10)}
}

func eventLogRef(run RunID) EntityRef {
	return EntityRef{Primitive: core.Event, Run: run, Key: "head"}
}

func eventCorrupt(op string, ref EntityRef, format string, args ...any) error {
	e := errorf(CodeCorruption, op, "stored entry is malformed")
	e.Reason = fmt.Sprintf(format, args...)
	return e.WithRef(ref)
}

// checkEventType enforces the rules for event types: non-empty, at most
// Limits.MaxKeyBytes bytes, no NUL byte, valid UTF-8 (types are stored as
// strings). Violations are InvalidKey errors.
func (db *DB) checkEventType(op, typ string) error {
	switch {
	case typ == "":
		return errorf(CodeInvalidKey, op, "event type must not be empty")
	case len(typ) > db.opts.Limits.MaxKeyBytes:
		return errorf(CodeInvalidKey, op, "event type is %d bytes, the limit is %d", len(typ), db.opts.Limits.MaxKeyBytes)
	case strings.IndexByte(typ, 0) >= 0:
		return errorf(CodeInvalidKey, op, "event type contains a NUL byte")
	case !utf8.ValidString(typ):
		return errorf(CodeInvalidKey, op, "event type is not valid UTF-8")
	}
	return nil
}

// --- DB-level facade -------------------------------------------------------

// Append appends an event of type typ with the given payload to run's log
// and returns its sequence (a Sequence version). Concurrent appends to one
// run never conflict with each other: the sequence and the hash-chain link
// are assigned at commit, in commit order, so every append succeeds with
// its own contiguous sequence. The event's timestamp is the database clock
// at the call (raised to its predecessor's if the clock reads earlier).
func (l EventLog) Append(ctx context.Context, run RunID, typ string, payload Value) (Version, error) {
	var (
		st   *eventAppends
		prov Version
	)
	_, err := l.db.update(ctx, run, func(tx *Tx) error {
		var err error
		prov, err = tx.Events().Append(typ, payload)
		st = tx.appends.events
		return err
	})
	if err != nil {
		return Version{}, err
	}
	n, ok := st.final(prov.N)
	if !ok {
		return Version{}, errorf(CodeInternal, "events.Append", "the append was committed without a final sequence")
	}
	return core.Sequence(n), nil
}

// Read returns the event at sequence seq, or a NotFound error. An event
// that retention removed is HistoryTrimmed, with the first retained
// sequence as EarliestRetained.
func (l EventLog) Read(ctx context.Context, run RunID, seq uint64) (Versioned[Event], error) {
	const op = "events.Read"
	db := l.db
	if err := db.checkOpen(op); err != nil {
		return Versioned[Event]{}, err
	}
	e, ok := db.getLatest(run, core.Event, eventKey(seq))
	st, err := db.eventStartLatest(op, run)
	if err != nil {
		return Versioned[Event]{}, err
	}
	if seq < st.seq {
		return Versioned[Event]{}, eventTrimmed(op, run, seq, st.seq)
	}
	if !ok {
		return Versioned[Event]{}, notFound(op, eventRef(run, seq))
	}
	ev, err := decodeEvent(seq, Value(e.Value))
	if err != nil {
		return Versioned[Event]{}, eventCorrupt(op, eventRef(run, seq), "%v", err)
	}
	return versionedEvent(ev.Event), nil
}

// Range returns the events with sequences in [from, to), in order, at one
// snapshot. A range that reaches past the end of the log is cut at the end
// (so Range(ctx, run, 0, math.MaxUint64) returns the whole log); from > to
// is an InvalidArgument error. A range that starts below the events
// retention kept is HistoryTrimmed (Requested from, EarliestRetained the
// first retained sequence).
func (l EventLog) Range(ctx context.Context, run RunID, from, to uint64) ([]Event, error) {
	return viewGet(l.db, ctx, run, func(tx *Tx) ([]Event, error) { return tx.Events().Range(from, to) })
}

// Head returns the last event of run's log, or a NotFound error when the log
// is empty.
func (l EventLog) Head(ctx context.Context, run RunID) (Versioned[Event], error) {
	return viewGet(l.db, ctx, run, func(tx *Tx) (Versioned[Event], error) { return tx.Events().Head() })
}

// Len returns the number of events in run's log (the next sequence).
func (l EventLog) Len(ctx context.Context, run RunID) (uint64, error) {
	const op = "events.Len"
	db := l.db
	if err := db.checkOpen(op); err != nil {
		return 0, err
	}
	e, ok := db.getLatest(run, core.Event, evHeadKey)
	if !ok {
		return 0, nil
	}
	h, ok := decodeEventHead(Value(e.Value))
	if !ok {
		return 0, eventCorrupt(op, eventLogRef(run), "head entry is not %d bytes", evHeadLen)
	}
	return h.length, nil
}

// ReadByType returns the events of type typ, in sequence order.
func (l EventLog) ReadByType(ctx context.Context, run RunID, typ string) ([]Event, error) {
	return viewGet(l.db, ctx, run, func(tx *Tx) ([]Event, error) { return tx.Events().ReadByType(typ) })
}

// Types returns the distinct event types of run's log, sorted.
func (l EventLog) Types(ctx context.Context, run RunID) ([]string, error) {
	return viewGet(l.db, ctx, run, func(tx *Tx) ([]string, error) { return tx.Events().Types() })
}

// VerifyChain walks run's whole log at one snapshot and checks every link:
// sequences are contiguous from the first retained event (0 unless
// retention removed a prefix), each event's PrevHash equals its
// predecessor's Hash (32 zero bytes for the genesis event; for the first
// retained event, the hash of the last removed one, which the log keeps),
// each Hash equals
// ComputeHash of the event's content, and the log's head agrees with its
// last event. It also checks the type index that ReadByType and Types use
// (each event's link to the previous event of its type, and each type's
// pointer to its newest event). It reports the broken link with the lowest
// sequence; a broken chain is a report with OK false, not an error. The
// error is for the call itself failing (closed database, cancelled ctx). It
// reads the whole log: O(Len) time, constant memory apart from one entry
// per event type.
func (l EventLog) VerifyChain(ctx context.Context, run RunID) (ChainReport, error) {
	return viewGet(l.db, ctx, run, func(tx *Tx) (ChainReport, error) { return tx.Events().VerifyChain() })
}

// --- Tx-level facade -------------------------------------------------------

func versionedEvent(ev Event) Versioned[Event] {
	return Versioned[Event]{Value: ev, Version: core.Sequence(ev.Sequence), Timestamp: ev.Timestamp}
}

// head reads the log's head entry (joining the read set); an empty log has
// the zero head.
func (l EventLogTx) head(op string) (eventHead, error) {
	tx := l.tx
	e, ok := tx.txn.Get(tx.run, core.Event, evHeadKey)
	return eventHeadOf(op, tx.run, e, ok)
}

// Append buffers an event of type typ with the given payload at the end of
// the run's log and returns its provisional sequence: the next sequence as
// the transaction sees the log. The transaction reads its own appends under
// their provisional sequences. The final sequence, and the event's hash
// link, are assigned at commit after whatever other transactions appended
// first; FinalSequence returns it once the transaction committed. Appending
// does not join the log's head to the read set, so concurrent appends never
// conflict; reading the log (Len, Head, Range, Read, ...) does.
// Several appends in one transaction take consecutive sequences.
func (l EventLogTx) Append(typ string, payload Value) (Version, error) {
	const op = "events.Append"
	tx := l.tx
	db := tx.db
	if err := db.checkEventType(op, typ); err != nil {
		return Version{}, err
	}
	if err := db.checkValue(op, payload); err != nil {
		return Version{}, err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return Version{}, err
	}
	seq, err := l.appendProvisional(op, storedEvent{Event: Event{Type: typ, Payload: payload, Timestamp: Timestamp(db.nowMicros())}})
	if err != nil {
		return Version{}, err
	}
	return core.Sequence(seq), nil
}

// read returns the event at seq as the transaction sees it.
func (l EventLogTx) read(op string, seq uint64) (storedEvent, bool, error) {
	tx := l.tx
	e, ok := tx.txn.Get(tx.run, core.Event, eventKey(seq))
	if !ok {
		return storedEvent{}, false, nil
	}
	ev, err := decodeEvent(seq, Value(e.Value))
	if err != nil {
		return storedEvent{}, false, eventCorrupt(op, eventRef(tx.run, seq), "%v", err)
	}
	return ev, true, nil
}

// Read returns the event at sequence seq, or a NotFound error.
func (l EventLogTx) Read(seq uint64) (Versioned[Event], error) {
	const op = "events.Read"
	if err := l.tx.checkRead(); err != nil {
		return Versioned[Event]{}, err
	}
	st, err := l.start(op)
	if err != nil {
		return Versioned[Event]{}, err
	}
	if seq < st.seq {
		return Versioned[Event]{}, eventTrimmed(op, l.tx.run, seq, st.seq)
	}
	ev, ok, err := l.read(op, seq)
	if err != nil {
		return Versioned[Event]{}, err
	}
	if !ok {
		return Versioned[Event]{}, notFound(op, eventRef(l.tx.run, seq))
	}
	return versionedEvent(ev.Event), nil
}

// Range returns the events with sequences in [from, to), in order; a range
// reaching past the end of the log is cut at the end. from > to is an
// InvalidArgument error.
func (l EventLogTx) Range(from, to uint64) ([]Event, error) {
	const op = "events.Range"
	tx := l.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	if from > to {
		return nil, errorf(CodeInvalidArgument, op, "range start %d is after its end %d", from, to)
	}
	h, err := l.head(op)
	if err != nil {
		return nil, err
	}
	to = min(to, h.length)
	if from >= to {
		return []Event{}, nil
	}
	st, err := l.start(op)
	if err != nil {
		return nil, err
	}
	if from < st.seq {
		return nil, eventTrimmed(op, tx.run, from, st.seq)
	}
	out := make([]Event, 0, to-from)
	err = l.scanEvents(op, from, to, func(ev *storedEvent) bool {
		out = append(out, ev.Event)
		return true
	})
	return out, err
}

// scanEvents calls fn for each stored event with a sequence in [from, to),
// in order; to == math.MaxUint64 means no upper bound. Event entries never
// change, so the scan does not add them to the read set (callers read the
// head, which does). A stored entry that cannot be decoded is a Corruption
// error.
func (l EventLogTx) scanEvents(op string, from, to uint64, fn func(*storedEvent) bool) error {
	tx := l.tx
	end := eventKeyEnd
	if to != math.MaxUint64 {
		end = eventKey(to)
	}
	var err error
	tx.txn.Scan(tx.run, core.Event, eventKey(from), end, false, func(key string, e engine.Entry) bool {
		seq, ok := eventSeqOf(key)
		if !ok {
			err = eventCorrupt(op, eventLogRef(tx.run), "stray key %q among the events", key)
			return false
		}
		ev, derr := decodeEvent(seq, Value(e.Value))
		if derr != nil {
			err = eventCorrupt(op, eventRef(tx.run, seq), "%v", derr)
			return false
		}
		return fn(&ev)
	})
	return err
}

// Head returns the last event of the log, or a NotFound error when the log
// is empty.
func (l EventLogTx) Head() (Versioned[Event], error) {
	const op = "events.Head"
	tx := l.tx
	if err := tx.checkRead(); err != nil {
		return Versioned[Event]{}, err
	}
	h, err := l.head(op)
	if err != nil {
		return Versioned[Event]{}, err
	}
	if h.length == 0 {
		return Versioned[Event]{}, (&Error{Code: dberr.NotFound, Op: op, Msg: "the event log is empty", Offset: -1}).WithRef(eventLogRef(tx.run))
	}
	st, err := l.start(op)
	if err != nil {
		return Versioned[Event]{}, err
	}
	if h.length-1 < st.seq { // a view of the past whose events were all retired
		return Versioned[Event]{}, eventTrimmed(op, tx.run, h.length-1, st.seq)
	}
	ev, ok, err := l.read(op, h.length-1)
	if err != nil {
		return Versioned[Event]{}, err
	}
	if !ok {
		return Versioned[Event]{}, eventCorrupt(op, eventRef(tx.run, h.length-1), "the head names a missing event")
	}
	return versionedEvent(ev.Event), nil
}

// Len returns the number of events in the log (the next sequence).
func (l EventLogTx) Len() (uint64, error) {
	if err := l.tx.checkRead(); err != nil {
		return 0, err
	}
	h, err := l.head("events.Len")
	return h.length, err
}

// ReadByType returns the events of type typ, in sequence order. It follows
// the type's links from its newest event back, so it costs one lookup per
// event of the type, whatever the length of the log. Only retained events
// are returned: the walk stops at the first event retention removed.
func (l EventLogTx) ReadByType(typ string) ([]Event, error) {
	const op = "events.ReadByType"
	tx := l.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	if err := tx.db.checkEventType(op, typ); err != nil {
		return nil, err
	}
	h, err := l.head(op)
	if err != nil {
		return nil, err
	}
	st, err := l.start(op)
	if err != nil {
		return nil, err
	}
	out := []Event{}
	e, ok := tx.txn.Get(tx.run, core.Event, eventTypeKey(typ))
	if !ok {
		return out, nil
	}
	last, ok := e.Value.AsInt()
	if !ok || last < 0 || uint64(last) >= h.length {
		return nil, eventCorrupt(op, eventLogRef(tx.run), "the type head of %q does not name an event", typ)
	}
	// Links strictly decrease (decodeEvent checks), so the walk ends.
	for link := uint64(last) + 1; link > st.seq; {
		seq := link - 1
		ev, ok, err := l.read(op, seq)
		if err != nil {
			return nil, err
		}
		if !ok || ev.Type != typ {
			return nil, eventCorrupt(op, eventRef(tx.run, seq), "the type index of %q names an event that is missing or of another type", typ)
		}
		out = append(out, ev.Event)
		link = ev.typeLink
	}
	slices.Reverse(out)
	return out, nil
}

// Types returns the distinct event types of the log, sorted.
func (l EventLogTx) Types() ([]string, error) {
	const op = "events.Types"
	tx := l.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	if _, err := l.head(op); err != nil {
		return nil, err
	}
	st, err := l.start(op)
	if err != nil {
		return nil, err
	}
	out := []string{}
	l.scanTypeHeads(func(typ string, e engine.Entry) bool {
		// A type whose events were all retired is no longer in the log.
		if n, ok := e.Value.AsInt(); !ok || n < 0 || uint64(n) >= st.seq {
			out = append(out, typ)
		}
		return true
	})
	// Keys sort bytewise, which is Go's string order; sort anyway so the
	// contract does not hang on the engine's ordering.
	if !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return out, nil
}

// scanTypeHeads calls fn for every type head, in type order, without adding
// them to the read set.
func (l EventLogTx) scanTypeHeads(fn func(typ string, e engine.Entry) bool) {
	tx := l.tx
	prefix := eventTypeKey("")
	tx.txn.Scan(tx.run, core.Event, prefix, engine.PrefixEnd(prefix), false, func(key string, e engine.Entry) bool {
		return fn(eventTypeOf(key), e)
	})
}

// VerifyChain checks the log as the transaction sees it; see
// EventLog.VerifyChain. It stops early with the context's error when the
// transaction's context ends.
func (l EventLogTx) VerifyChain() (ChainReport, error) {
	const op = "events.VerifyChain"
	tx := l.tx
	if err := tx.checkRead(); err != nil {
		return ChainReport{}, err
	}
	st, serr := l.start(op)
	if serr != nil {
		return ChainReport{BrokenAt: 0, Reason: "the log's start entry cannot be decoded"}, nil
	}
	if h, herr := l.head(op); herr == nil && h.length > 0 && st.seq >= h.length {
		// A view of the past whose events were all retired since.
		return ChainReport{OK: true}, nil
	}
	var (
		rep    ChainReport
		next   = st.seq              // the sequence the next event must have
		prev   = st.prev             // the hash it must link to
		lastOf = map[string]uint64{} // type → sequence+1 of its newest event so far
		err    error
	)
	broken := func(seq uint64, format string, args ...any) bool {
		rep.BrokenAt, rep.Reason = seq, fmt.Sprintf(format, args...)
		return false
	}
	ctx := tx.ctx
	tx.txn.Scan(tx.run, core.Event, eventKey(st.seq), eventKeyEnd, false, func(key string, e engine.Entry) bool {
		if next%1024 == 0 && ctx != nil {
			if cerr := ctx.Err(); cerr != nil {
				err = ctxError(op, cerr)
				return false
			}
		}
		seq, ok := eventSeqOf(key)
		if !ok {
			return broken(next, "stray entry %q in the event space", key)
		}
		if seq != next {
			return broken(next, "event %d is missing (the next stored event is %d)", next, seq)
		}
		ev, derr := decodeEvent(seq, Value(e.Value))
		if derr != nil {
			return broken(seq, "event cannot be decoded: %v", derr)
		}
		if ev.PrevHash != prev {
			switch {
			case seq == 0:
				return broken(seq, "genesis prev_hash is not 32 zero bytes")
			case seq == st.seq:
				return broken(seq, "prev_hash does not match the retired prefix's head hash")
			}
			return broken(seq, "prev_hash does not match the hash of event %d", seq-1)
		}
		if ev.ComputeHash() != ev.Hash {
			return broken(seq, "hash does not match the event's content")
		}
		// The first retained event of a type may link into the retired
		// prefix.
		if want, seen := lastOf[ev.Type]; ev.typeLink != want && (seen || ev.typeLink > st.seq) {
			return broken(seq, "type link does not name the previous %q event", ev.Type)
		}
		lastOf[ev.Type] = seq + 1
		prev = ev.Hash
		next++
		return true
	})
	if err != nil {
		return ChainReport{}, err
	}
	rep.Checked = next - st.seq
	if rep.Reason != "" {
		return rep, nil
	}
	h, herr := l.head(op)
	switch {
	case herr != nil:
		rep.BrokenAt, rep.Reason = next, "the log's head entry cannot be decoded"
		return rep, nil
	case h.length != next:
		rep.BrokenAt, rep.Reason = min(next, h.length), fmt.Sprintf("the log's head records %d events but %d are stored", h.length, next)
		return rep, nil
	case h.hash != prev:
		rep.BrokenAt, rep.Reason = max(next, 1)-1, "the log's head hash does not match the last event"
		return rep, nil
	}
	// Every type head names the newest event of its type, and every type
	// has one. Report the problem at the lowest sequence.
	rep.BrokenAt = math.MaxUint64
	note := func(seq uint64, format string, args ...any) {
		if seq < rep.BrokenAt {
			rep.BrokenAt, rep.Reason = seq, fmt.Sprintf(format, args...)
		}
	}
	l.scanTypeHeads(func(typ string, e engine.Entry) bool {
		want, known := lastOf[typ]
		delete(lastOf, typ)
		last, ok := e.Value.AsInt()
		switch {
		case !ok:
			note(max(want, 1)-1, "the type head of %q is not a sequence", typ)
		case !known && last >= 0 && uint64(last) < st.seq:
			// Every event of the type was retired.
		case !known:
			note(uint64(last), "the type head of %q names event %d, but no event has that type", typ, last)
		case uint64(last)+1 != want:
			note(min(uint64(last), want-1), "the type head of %q names event %d, but its newest event is %d", typ, last, want-1)
		}
		return true
	})
	for typ, want := range lastOf {
		note(want-1, "event type %q has no type head", typ)
	}
	if rep.Reason == "" {
		rep.OK, rep.BrokenAt = true, 0
	}
	return rep, nil
}
