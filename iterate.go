package inmem

import (
	"context"
	"encoding/hex"
	"iter"
	"strings"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
)

// DefaultListLimit is the page size of a ListPage call whose
// ListOptions.Limit is 0.
const DefaultListLimit = 100

// ListOptions selects one page of a listing (see KVStore.ListPage).
type ListOptions struct {
	// After is the cursor: the page starts strictly after it. "" starts at
	// the beginning. Pass the Next of the previous page.
	After string
	// Limit is the most items a page holds: 0 means DefaultListLimit, a
	// negative limit is InvalidArgument.
	Limit int
}

// Page is one page of a listing, read at one snapshot.
type Page[T any] struct {
	Items []T
	// Next is the cursor of the following page (its ListOptions.After), or
	// "" when this page ends the listing. Listings keyed by a caller's
	// string (KV, JSON, state) use the last key of the page; runs and
	// traces use an opaque token.
	Next string
}

// Entry is one keyed value of a KV, JSON or state listing: Key is the key,
// document id or cell name.
type Entry struct {
	Key string
	Versioned[Value]
}

// EventListOptions selects one page of an event log.
type EventListOptions struct {
	// From is the sequence of the page's first event.
	From uint64
	// Limit is the most events a page holds: 0 means DefaultListLimit, a
	// negative limit is InvalidArgument.
	Limit int
}

// EventPage is one page of an event log, read at one snapshot.
type EventPage struct {
	Events []Event
	// Next is the From of the following page: the sequence after the last
	// event returned (or the page's From when it is empty). Reading from
	// Next later picks up events appended since.
	Next uint64
	// More reports whether the log held events at Next when the page was
	// read.
	More bool
}

// limit validates a page size.
func (o ListOptions) limit(op string) (int, error) { return pageLimit(op, o.Limit) }

func pageLimit(op string, n int) (int, error) {
	switch {
	case n < 0:
		return 0, errorf(CodeInvalidArgument, op, "list limit %d is negative", n)
	case n == 0:
		return DefaultListLimit, nil
	}
	return n, nil
}

// iterErr reports why an iteration must stop now: the database closed or
// ctx ended. Checking it before every item is what lets a caller tell a
// complete sequence from a cut one.
func (db *DB) iterErr(ctx context.Context, op string) error {
	if err := db.checkOpen(op); err != nil {
		return err
	}
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return ctxError(op, err)
		}
	}
	return nil
}

// iterErr is DB.iterErr for a transaction, which must also be unfinished.
func (tx *Tx) iterErr(op string) error {
	if err := tx.checkRead(); err != nil {
		return err
	}
	return tx.db.iterErr(tx.ctx, op)
}

// snapshotSeq iterates over the live keys of space with prefix at snapshot
// snap. A failure is yielded once, as the last pair.
func (db *DB) snapshotSeq(ctx context.Context, op string, run RunID, space core.PrimitiveType, prefix string) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if err := db.iterErr(ctx, op); err != nil {
			yield(Entry{}, err)
			return
		}
		// The pin keeps a concurrent Full compaction from trimming what this
		// scan has yet to read, however slowly the caller consumes it.
		pin := db.eng.Pin()
		defer pin.Release()
		var err error
		db.eng.ScanSnapshot(run, space, prefix, engine.PrefixEnd(prefix), pin.Snapshot(), func(key string, e engine.Entry) bool {
			if err = db.iterErr(ctx, op); err != nil {
				return false
			}
			return yield(Entry{Key: key, Versioned: versioned(e)}, nil)
		})
		if err != nil {
			yield(Entry{}, err)
		}
	}
}

// txSeq iterates over the live keys of space with prefix as tx sees them;
// every key yielded joins the read set.
func (tx *Tx) txSeq(op string, space core.PrimitiveType, prefix string) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		if err := tx.iterErr(op); err != nil {
			yield(Entry{}, err)
			return
		}
		var err error
		tx.txn.Scan(tx.run, space, prefix, engine.PrefixEnd(prefix), true, func(key string, e engine.Entry) bool {
			if err = tx.iterErr(op); err != nil {
				return false
			}
			return yield(Entry{Key: key, Versioned: versioned(e)}, nil)
		})
		if err != nil {
			yield(Entry{}, err)
		}
	}
}

// collectKeys drains a keyed sequence into its keys, all or nothing.
func collectKeys(seq iter.Seq2[Entry, error]) ([]string, error) {
	var keys []string
	for e, err := range seq {
		if err != nil {
			return nil, err
		}
		keys = append(keys, e.Key)
	}
	return keys, nil
}

// afterStart returns where a page of keys with prefix resumes after the
// cursor after: the smallest key that is above after and has the prefix
// (or is past it, which ends the scan at once).
func afterStart(prefix, after string) string {
	if after == "" {
		return prefix
	}
	// No key is between after and after+"\x00".
	next := after + "\x00"
	if next < prefix {
		return prefix
	}
	return next
}

// keyedPage reads one page of the live keys under tag+prefix in space at
// one snapshot; tag is an internal key prefix that names never show.
func (db *DB) keyedPage(ctx context.Context, op string, run RunID, space core.PrimitiveType, tag, prefix string, opts ListOptions,
	conv func(name string, e engine.Entry) (Versioned[Value], error)) (Page[Entry], error) {
	limit, err := opts.limit(op)
	if err != nil {
		return Page[Entry]{}, err
	}
	if err := db.iterErr(ctx, op); err != nil {
		return Page[Entry]{}, err
	}
	pin := db.eng.Pin()
	defer pin.Release()
	snap := pin.Snapshot()
	full := tag + prefix
	start := tag + afterStart(prefix, opts.After)
	page := Page[Entry]{Items: []Entry{}}
	db.eng.ScanSnapshot(run, space, start, engine.PrefixEnd(full), snap, func(key string, e engine.Entry) bool {
		if err = db.iterErr(ctx, op); err != nil {
			return false
		}
		if len(page.Items) == limit {
			page.Next = page.Items[limit-1].Key
			return false
		}
		name := key[len(tag):]
		var v Versioned[Value]
		if v, err = conv(name, e); err != nil {
			return false
		}
		page.Items = append(page.Items, Entry{Key: name, Versioned: v})
		return true
	})
	if err != nil {
		return Page[Entry]{}, err
	}
	return page, nil
}

func kvEntry(_ string, e engine.Entry) (Versioned[Value], error) { return versioned(e), nil }

// ListPage returns one page of the live keys with the given prefix, in
// ascending key order, with their values, read at one snapshot. Pass the
// page's Next as the After of the next call until Next is "": every key
// that stays live throughout is returned exactly once, in order, even while
// other writers insert and delete.
func (s KVStore) ListPage(ctx context.Context, run RunID, prefix string, opts ListOptions) (Page[Entry], error) {
	return s.db.keyedPage(ctx, "kv.ListPage", run, core.KV, "", prefix, opts, kvEntry)
}

// ListPage returns one page of the live documents whose id has the given
// prefix, in ascending id order; see KVStore.ListPage for the cursor.
func (s JSONStore) ListPage(ctx context.Context, run RunID, prefix string, opts ListOptions) (Page[Entry], error) {
	return s.db.keyedPage(ctx, "json.ListPage", run, core.JSON, "", prefix, opts, kvEntry)
}

// ListPage returns one page of the run's existing cells whose name has the
// given prefix, in ascending name order, with their values and counters;
// see KVStore.ListPage for the cursor.
func (s StateCells) ListPage(ctx context.Context, run RunID, prefix string, opts ListOptions) (Page[Entry], error) {
	const op = "state.ListPage"
	return s.db.keyedPage(ctx, op, run, core.State, stateCellKey(""), prefix, opts, func(name string, e engine.Entry) (Versioned[Value], error) {
		return cellVersioned(op, run, name, e)
	})
}

// indexPage reads one page of an ordered index: the keys under prefix
// after the opaque cursor, at most limit of them, and the cursor of the
// next page. Index keys are binary, so the cursor is their hex form.
func indexPage(tx *Tx, op string, run RunID, space core.PrimitiveType, prefix string, opts ListOptions) (keys []string, next string, err error) {
	limit, err := opts.limit(op)
	if err != nil {
		return nil, "", err
	}
	start := prefix
	if opts.After != "" {
		after, derr := hex.DecodeString(opts.After)
		if derr != nil {
			return nil, "", errorf(CodeInvalidArgument, op, "list cursor %q is not a cursor this listing made", opts.After)
		}
		start = prefix + string(after) + "\x00"
	}
	tx.txn.Scan(run, space, start, engine.PrefixEnd(prefix), false, func(key string, _ engine.Entry) bool {
		if err = tx.iterErr(op); err != nil {
			return false
		}
		if len(keys) == limit {
			next = hex.EncodeToString([]byte(strings.TrimPrefix(keys[limit-1], prefix)))
			return false
		}
		keys = append(keys, key)
		return true
	})
	if err != nil {
		return nil, "", err
	}
	return keys, next, nil
}

// ListPage returns one page of the registered runs, ordered by (CreatedAt,
// ID), read at one snapshot; pass Next as the After of the next call until
// it is "". The cursor is opaque.
func (r RunIndex) ListPage(ctx context.Context, opts ListOptions) (Page[Versioned[RunInfo]], error) {
	const op = "runs.ListPage"
	page := Page[Versioned[RunInfo]]{Items: []Versioned[RunInfo]{}}
	err := r.view(ctx, func(t RunIndexTx) error {
		keys, next, err := indexPage(t.tx, op, GlobalRun, core.Run, string(runPfxCreated), opts)
		if err != nil {
			return err
		}
		for _, k := range keys {
			v, ok, err := t.getVersioned(op, runIndexID(k))
			if err != nil {
				return err
			}
			if ok {
				page.Items = append(page.Items, v)
			}
		}
		page.Next = next
		return nil
	})
	if err != nil {
		return Page[Versioned[RunInfo]]{}, err
	}
	return page, nil
}

// ListPage returns one page of run's traces, ordered by (RecordedAt, ID),
// read at one snapshot; pass Next as the After of the next call until it is
// "". The cursor is opaque.
func (s TraceStore) ListPage(ctx context.Context, run RunID, opts ListOptions) (Page[Versioned[Trace]], error) {
	const op = "traces.ListPage"
	page := Page[Versioned[Trace]]{Items: []Versioned[Trace]{}}
	err := s.view(ctx, run, func(t TraceTx) error {
		keys, next, err := indexPage(t.tx, op, run, core.Trace, string(tracePfxTime), opts)
		if err != nil {
			return err
		}
		for _, k := range keys {
			v, ok, err := t.get(traceIndexID(k))
			if err != nil {
				return err
			}
			if ok {
				page.Items = append(page.Items, v)
			}
		}
		page.Next = next
		return nil
	})
	if err != nil {
		return Page[Versioned[Trace]]{}, err
	}
	return page, nil
}

// ListPage returns up to Limit events of run's log from sequence From, in
// order, read at one snapshot. Follow a log by passing Next as the From of
// the next call: pages never skip or repeat an event.
func (l EventLog) ListPage(ctx context.Context, run RunID, opts EventListOptions) (EventPage, error) {
	const op = "events.ListPage"
	limit, err := pageLimit(op, opts.Limit)
	if err != nil {
		return EventPage{}, err
	}
	var page EventPage
	err = l.db.view(ctx, run, func(tx *Tx) error {
		n, err := tx.Events().Len()
		if err != nil {
			return err
		}
		if err := tx.iterErr(op); err != nil {
			return err
		}
		if opts.From >= n {
			page = EventPage{Events: []Event{}, Next: opts.From}
			return nil
		}
		to := opts.From + uint64(limit)
		if to < opts.From { // overflow: read to the end
			to = n
		}
		evs, err := tx.Events().Range(opts.From, min(to, n))
		if err != nil {
			return err
		}
		if err := tx.iterErr(op); err != nil {
			return err
		}
		page = EventPage{Events: evs, Next: opts.From + uint64(len(evs))}
		page.More = page.Next < n
		return nil
	})
	if err != nil {
		return EventPage{}, err
	}
	return page, nil
}

// getLatest reads the newest live version of an entity outside a
// transaction. Such a read holds no pinned snapshot, so a Full compaction
// may trim the version it wanted between its loading the watermark and its
// walking the chain; trimming removes the oldest versions only, so that
// shows as a miss below the trim floor, never as a wrong version. The read
// then simply goes again at the newer watermark, which is at or above the
// floor, so it loops at most once per concurrent trim.
func (db *DB) getLatest(run RunID, space core.PrimitiveType, key string) (engine.Entry, bool) {
	for {
		snap := db.eng.Visible()
		e, ok := db.eng.Get(run, space, key, snap)
		if ok {
			return e, true
		}
		if _, trimmed := db.eng.Trimmed(run, space, key, snap); !trimmed || db.eng.Visible() == snap {
			return e, false
		}
	}
}
