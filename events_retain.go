package inmem

import (
	"encoding/binary"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/value"
)

// Event-log retention.
//
// KeepLast(n) and KeepFor(d) apply to a run's log as a stream: Full
// compaction retires the prefix of events the policy drops (the newest
// event always stays). The first retained sequence and the hash of the last
// retired event live in the log's start entry (evStartKey), so
// the chain stays verifiable from the first retained event, and reads below
// it answer HistoryTrimmed. The retired events themselves leave memory once
// no open snapshot predates the start entry (engine.Drop).
//
// Type heads whose every event was retired stay (deleting them would leave
// tombstones whose trimming raises the Event floor); Types leaves them out,
// a retained event's type link may name a retired event, and walks stop
// there.

// evStartKey is the key of the log's start entry: Bytes(first retained
// sequence u64 ‖ hash of the event before it [32]).
// It lives in the run's System space, which retention never trims: its
// own old versions must not raise the Event space's trim floor.
const evStartKey = reservedPrefix + "start/event"

const evStartLen = 8 + 32

// eventStart is a log's decoded start entry; the zero value is a log that
// never retired anything.
type eventStart struct {
	seq  uint64
	prev [32]byte
}

func (s eventStart) encode() Value {
	var b [evStartLen]byte
	binary.BigEndian.PutUint64(b[0:], s.seq)
	copy(b[8:], s.prev[:])
	return Value(value.BytesFromString(string(b[:])))
}

func decodeEventStart(v Value) (eventStart, bool) {
	b, ok := v.BytesString()
	if !ok || len(b) != evStartLen {
		return eventStart{}, false
	}
	var s eventStart
	s.seq = binary.BigEndian.Uint64([]byte(b[0:8]))
	copy(s.prev[:], b[8:])
	return s, true
}

// start reads the log's start entry as the transaction sees it. A view of
// the past (ViewAt) takes the newest start entry instead when that is
// higher: the events it retired may be gone from memory, and the view must
// answer HistoryTrimmed rather than a log with a hole. (A live transaction
// never needs this: the events leave only once no snapshot predates the
// entry.)
func (l EventLogTx) start(op string) (eventStart, error) {
	tx := l.tx
	var s eventStart
	if e, ok := tx.txn.Get(tx.run, core.System, evStartKey); ok {
		if s, ok = decodeEventStart(Value(e.Value)); !ok {
			return eventStart{}, eventCorrupt(op, eventLogRef(tx.run), "start entry is not %d bytes", evStartLen)
		}
	}
	if tx.past {
		latest, err := tx.db.eventStartLatest(op, tx.run)
		if err != nil {
			return eventStart{}, err
		}
		if latest.seq > s.seq {
			s = latest
		}
	}
	return tx.db.withAncestorStarts(op, tx.run, tx.txn.Snapshot(), s)
}

// eventTrimmed is the HistoryTrimmed error of a read of seq below start.
func eventTrimmed(op string, run RunID, seq, start uint64) error {
	return newHistoryTrimmedV(op, eventRef(run, seq), core.Sequence(seq), core.Sequence(start))
}

// eventStartLatest reads run's start entry outside a transaction.
// For a fork, the start is also at least each ancestor's (ancestorStarts).
func (db *DB) eventStartLatest(op string, run RunID) (eventStart, error) {
	var s eventStart
	if e, ok := db.getLatest(run, core.System, evStartKey); ok {
		if s, ok = decodeEventStart(Value(e.Value)); !ok {
			return eventStart{}, eventCorrupt(op, eventLogRef(run), "start entry is not %d bytes", evStartLen)
		}
	}
	return db.withAncestorStarts(op, run, db.eng.Visible(), s)
}

// withAncestorStarts raises s to the newest start of run's ancestors
// through the fork links live at snap.
func (db *DB) withAncestorStarts(op string, run RunID, snap uint64, s eventStart) (eventStart, error) {
	bad := false
	db.ancestorStarts(run, snap, evStartKey, func(v Value) {
		a, ok := decodeEventStart(v)
		bad = bad || !ok
		if ok && a.seq > s.seq {
			s = a
		}
	})
	if bad {
		return eventStart{}, eventCorrupt(op, eventLogRef(run), "an ancestor's start entry is not %d bytes", evStartLen)
	}
	return s, nil
}

// retireEvents moves run's start entry up to what keep allows at now (µs)
// and returns the version of that commit (0 when nothing was retired) and
// the keys of every stored event below the new start, for engine.Drop. A
// conflict (another compaction's start entry) leaves the log for the next
// compaction.
func (db *DB) retireEvents(run RunID, keep engine.Keep, now int64) (uint64, []string, error) {
	txn := db.eng.Begin(run, true)
	defer func() {
		if !txn.Done() {
			txn.Rollback()
		}
	}()
	// The head is read without joining the read set: appends only add
	// events after it, which this commit does not touch.
	snap := txn.Snapshot()
	he, ok := db.eng.Get(run, core.Event, evHeadKey, snap)
	if !ok {
		return 0, nil, nil
	}
	h, ok := decodeEventHead(Value(he.Value))
	if !ok || h.length == 0 {
		return 0, nil, nil
	}
	var (
		cur    eventStart
		curVer uint64
	)
	if e, ok := txn.Latest(run, core.System, evStartKey); ok {
		if cur, ok = decodeEventStart(Value(e.Value)); !ok {
			return 0, nil, nil // a damaged start entry: retire nothing on a guess
		}
		curVer = e.Version
	}
	next := cur.seq
	if keep.Last > 0 && h.length > uint64(keep.Last) {
		next = max(next, h.length-uint64(keep.Last))
	}
	if keep.For > 0 {
		cut := now - keep.For
		txn.Scan(run, core.Event, eventKey(next), eventKey(h.length-1), false, func(key string, e engine.Entry) bool {
			seq, ok := eventSeqOf(key)
			if !ok {
				return false
			}
			ev, err := decodeEvent(seq, Value(e.Value))
			if err != nil || int64(ev.Timestamp) >= cut {
				return false
			}
			next = seq + 1
			return true
		})
	}
	next = min(next, h.length-1) // the newest event always stays
	if next <= cur.seq {
		// Nothing more to retire; events an earlier compaction retired
		// while an old snapshot was open may still be stored.
		return curVer, storedBelow(db, run, core.Event, eventKey(0), eventKey(cur.seq), snap), nil
	}
	pe, ok := db.eng.Get(run, core.Event, eventKey(next-1), snap)
	if !ok {
		return 0, nil, nil
	}
	last, err := decodeEvent(next-1, Value(pe.Value))
	if err != nil {
		return 0, nil, nil
	}
	prev := last.Hash
	txn.Put(run, core.System, evStartKey, eventStart{seq: next, prev: prev}.encode().in())
	keys := storedBelow(db, run, core.Event, eventKey(0), eventKey(next), snap)
	v, err := txn.Commit()
	if err != nil {
		return 0, nil, err
	}
	return v, keys, nil
}

// newHistoryTrimmedV is newHistoryTrimmed for versions of any kind.
func newHistoryTrimmedV(op string, ref EntityRef, requested, earliest Version) error {
	return dberr.NewHistoryTrimmed(op, ref, requested, earliest)
}

// storedBelow returns the keys of (run, sp) in [from, to) at snap.
func storedBelow(db *DB, run RunID, sp core.PrimitiveType, from, to string, snap uint64) []string {
	var keys []string
	db.eng.ScanSnapshot(run, sp, from, to, snap, func(key string, _ engine.Entry) bool {
		keys = append(keys, key)
		return true
	})
	return keys
}
