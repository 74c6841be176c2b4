package inmem

import (
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
)

// Trace-store retention.
//
// As for event logs, KeepLast(n) and KeepFor(d) apply to a run's traces as
// a stream in ID order: Full compaction retires the prefix of traces the
// policy drops (the newest trace always stays) by raising the store's start
// entry (trStartKey: Int, the first retained TraceID). Reads of
// a retired trace answer HistoryTrimmed whose Requested and
// EarliestRetained are TraceIDs (as Sequence versions); listings and Count
// leave retired traces out. Once no open snapshot predates the start entry,
// the records and every index entry of the retired traces leave memory
// (engine.Drop).

// trStartKey is the key of the store's start entry.
// It lives in the run's System space, which retention never trims (see
// evStartKey).
const trStartKey = reservedPrefix + "start/trace"

// start returns the first retained TraceID as the transaction sees it (1
// when nothing was retired). A damaged entry counts as nothing retired: a
// start entry only ever hides traces, so ignoring it hides none.
// A view of the past takes the newest start entry when higher (see
// EventLogTx.start).
func (t TraceTx) start() TraceID {
	tx := t.tx
	first := TraceID(1)
	if e, ok := tx.txn.Get(tx.run, core.System, trStartKey); ok {
		if n, ok := e.Value.AsInt(); ok && n > 1 {
			first = TraceID(n)
		}
	}
	if tx.past {
		if e, ok := tx.db.getLatest(tx.run, core.System, trStartKey); ok {
			if n, ok := e.Value.AsInt(); ok && TraceID(n) > first {
				first = TraceID(n)
			}
		}
	}
	tx.db.ancestorStarts(tx.run, tx.txn.Snapshot(), trStartKey, func(v Value) {
		if n, ok := v.AsInt(); ok && TraceID(n) > first {
			first = TraceID(n)
		}
	})
	return first
}

// trimmed returns HistoryTrimmed if retention retired trace id.
func (t TraceTx) trimmed(op string, id TraceID) error {
	if s := t.start(); id < s {
		return newHistoryTrimmedV(op, traceRef(t.tx.run, id), core.Sequence(uint64(id)), core.Sequence(uint64(s)))
	}
	return nil
}

// retireTraces raises run's start entry to what keep allows at now (µs).
// It returns the version of that commit (0 when nothing was retired) and
// the keys of every retired trace still stored: records and index entries.
func (db *DB) retireTraces(run RunID, keep engine.Keep, now int64) (uint64, []string, error) {
	txn := db.eng.Begin(run, true)
	defer func() {
		if !txn.Done() {
			txn.Rollback()
		}
	}()
	snap := txn.Snapshot()
	ce, ok := db.eng.Get(run, core.Trace, traceKeyCounter, snap)
	if !ok {
		return 0, nil, nil
	}
	last, ok := ce.Value.AsInt()
	if !ok || last < 1 {
		return 0, nil, nil
	}
	cur, curVer := int64(1), uint64(0)
	if e, ok := txn.Get(run, core.System, trStartKey); ok {
		if cur, ok = e.Value.AsInt(); !ok || cur < 1 {
			return 0, nil, nil // damaged: retire nothing on a guess
		}
		curVer = e.Version
	}
	next := cur
	if keep.Last > 0 && last > int64(keep.Last) {
		next = max(next, last-int64(keep.Last)+1)
	}
	if keep.For > 0 {
		cut := now - keep.For
		txn.Scan(run, core.Trace, traceRecordKey(TraceID(next)), traceRecordKey(TraceID(last)), false, func(key string, e engine.Entry) bool {
			id := traceRecordID(key)
			tr, err := decodeTrace(id, Value(e.Value))
			if err != nil || int64(tr.RecordedAt) >= cut {
				return false
			}
			next = int64(id) + 1
			return true
		})
	}
	next = min(next, last) // the newest trace always stays
	if next <= cur {
		// Nothing more to retire; traces an earlier compaction retired
		// while an old snapshot was open may still be stored.
		return curVer, retiredTraceKeys(db, run, TraceID(cur), snap), nil
	}
	txn.Put(run, core.System, trStartKey, Int(next).in())
	keys := retiredTraceKeys(db, run, TraceID(next), snap)
	v, err := txn.Commit()
	if err != nil {
		return 0, nil, err
	}
	return v, keys, nil
}

// retiredTraceKeys returns the record and index keys of every trace stored
// below start at snap. A record that does not decode leaves its index
// entries behind; listings skip entries whose record is gone.
func retiredTraceKeys(db *DB, run RunID, start TraceID, snap uint64) []string {
	var keys []string
	db.eng.ScanSnapshot(run, core.Trace, traceRecordKey(0), traceRecordKey(start), snap, func(key string, e engine.Entry) bool {
		keys = append(keys, key)
		if tr, err := decodeTrace(traceRecordID(key), Value(e.Value)); err == nil {
			keys = append(keys, traceIndexKeys(&tr)...)
		}
		return true
	})
	return keys
}
