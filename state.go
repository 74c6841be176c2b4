package inmem

import (
	"context"
	"fmt"
	"math"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/value"
)

// StateCells is the state-cell primitive: named coordination cells per run,
// each holding one Value and a counter. Every call is a single-operation
// transaction on the run it names. Obtain it with DB.State; inside a
// transaction use Tx.State.
//
// A cell's version is its counter (a Counter version). The first value a
// cell ever holds has counter 1 and every write after that (Set, CAS,
// Transition, and Init or Set after a Delete) takes the next one. Counters
// stay monotonic across Delete: Init → 1, Set → 2, Delete, Init → 3, so a
// counter seen once never names a different value later (no ABA).
// Counters are monotonic, not necessarily contiguous in history: when one
// transaction writes a cell twice, only its last write is committed, so the
// counter of the earlier one never appears in History.
//
// CAS is the building block for coordination: of N concurrent CAS calls
// expecting the same counter, exactly one succeeds and the others fail with
// Conflict. Transition wraps read-modify-write in a retry loop.
//
// Names follow the key rules: non-empty, at most Limits.MaxKeyBytes bytes,
// no NUL byte, not in the reserved _system/ namespace (InvalidKey otherwise).
type StateCells struct{ db *DB }

// State returns the state-cell primitive.
func (db *DB) State() StateCells { return StateCells{db} }

// StateTx is the state-cell primitive inside a transaction (bound to its
// run). Reads see the transaction's own writes, and every cell it reads
// joins the read set, so a concurrent write to a cell the transaction read
// makes its commit fail with Conflict. Writes return the cell's new counter
// right away: it is final if the transaction commits.
type StateTx struct{ tx *Tx }

// State returns the state-cell primitive of the transaction.
func (tx *Tx) State() StateTx { return StateTx{tx} }

func stateRef(run RunID, name string) EntityRef {
	return EntityRef{Primitive: core.State, Run: run, Key: name}
}

func encodeCell(counter uint64, v Value) Value {
	return Value(value.Array(value.Int(int64(counter)), v.in()))
}

// decodeCell splits a stored cell into its counter and value.
func decodeCell(v Value) (uint64, Value, bool) {
	if v.Kind() != KindArray || v.Len() != 2 {
		return 0, Value{}, false
	}
	c, _ := v.Index(0)
	n, ok := c.AsInt()
	if !ok || n < 1 {
		return 0, Value{}, false
	}
	val, _ := v.Index(1)
	return uint64(n), val, true
}

func stateCorrupt(op string, run RunID, name, what string) error {
	e := errorf(CodeCorruption, op, "stored entry is malformed")
	e.Reason = what
	return e.WithRef(stateRef(run, name))
}

// cellVersioned converts a stored cell entry to what reads return.
func cellVersioned(op string, run RunID, name string, e engine.Entry) (Versioned[Value], error) {
	n, v, ok := decodeCell(Value(e.Value))
	if !ok {
		return Versioned[Value]{}, stateCorrupt(op, run, name, "cell entry is not [counter, value]")
	}
	return Versioned[Value]{Value: v, Version: core.Counter(n), Timestamp: Timestamp(e.Time)}, nil
}

// --- DB-level facade -------------------------------------------------------

// Init creates the cell with counter 1 — or, if the cell existed before and
// was deleted, with the counter after the last one it had — and returns the
// counter. It fails with AlreadyExists if the cell exists.
func (s StateCells) Init(ctx context.Context, run RunID, name string, v Value) (Version, error) {
	return s.write(ctx, run, func(st StateTx) (Version, error) { return st.Init(name, v) })
}

// Read returns the cell's value and counter, or a NotFound error.
func (s StateCells) Read(ctx context.Context, run RunID, name string) (Versioned[Value], error) {
	const op = "state.Read"
	db := s.db
	if err := db.checkOpen(op); err != nil {
		return Versioned[Value]{}, err
	}
	if err := db.checkKey(op, "cell name", name); err != nil {
		return Versioned[Value]{}, err
	}
	e, ok := db.getLatest(run, core.State, stateCellKey(name))
	if !ok {
		return Versioned[Value]{}, notFound(op, stateRef(run, name))
	}
	return cellVersioned(op, run, name, e)
}

// CAS writes v if the cell's counter is expected and returns the new
// counter. expected is a Counter version; Counter(0) (or the zero Version)
// means "the cell must not exist now" (never created, or deleted), which
// creates it like Init. A mismatch is a Conflict error whose Expected and
// Actual hold the versions involved (Actual is Counter(0) for a missing
// cell); a cell that does not exist when a non-zero counter is expected is
// a NotFound error. Nothing is written on error.
//
// Of N concurrent CAS calls expecting the same counter exactly one wins;
// the others see the winner's counter and fail with Conflict.
func (s StateCells) CAS(ctx context.Context, run RunID, name string, expected Version, v Value) (Version, error) {
	return s.write(ctx, run, func(st StateTx) (Version, error) { return st.CAS(name, expected, v) })
}

// Set writes v whether or not the cell exists and returns the new counter
// (one more than the cell's current or last counter, 1 for a new cell).
func (s StateCells) Set(ctx context.Context, run RunID, name string, v Value) (Version, error) {
	return s.write(ctx, run, func(st StateTx) (Version, error) { return st.Set(name, v) })
}

// Delete removes the cell (its history keeps a deletion entry). The cell's
// counter is remembered: a later Init or Set continues after it. Deleting a
// cell that does not exist is a NotFound error.
func (s StateCells) Delete(ctx context.Context, run RunID, name string) error {
	_, err := s.db.update(ctx, run, func(tx *Tx) error { return tx.State().Delete(name) })
	return err
}

// Exists reports whether the cell exists.
func (s StateCells) Exists(ctx context.Context, run RunID, name string) (bool, error) {
	_, err := s.Read(ctx, run, name)
	if err != nil {
		if CodeOf(err) == CodeNotFound {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// List returns the names of the run's existing cells that start with
// prefix (all of them for ""), sorted.
func (s StateCells) List(ctx context.Context, run RunID, prefix string) ([]string, error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]string, error) { return tx.State().List(prefix) })
}

// Transition applies fn to the cell's current value and writes the result
// with the next counter, as one transaction; it returns the new value and
// counter. When another writer changes the cell in between, the whole
// read-modify-write is retried on the new value, so fn may run several
// times: it must be pure — depend only on its argument and have no side
// effects — and must not retain or modify anything outside. After
// Options.MaxConflictRetries retries it gives up with a Conflict error. An
// error from fn aborts the transition and is returned as is; a missing cell
// is a NotFound error (see TransitionOrInit).
func (s StateCells) Transition(ctx context.Context, run RunID, name string, fn func(Value) (Value, error)) (Value, Version, error) {
	return s.transition(ctx, run, func(st StateTx) (Value, Version, error) { return st.Transition(name, fn) })
}

// TransitionOrInit is Transition for a cell that may not exist: fn is
// applied to the cell's current value, or to init when the cell does not
// exist (never created, or deleted), and the result is written. So
// TransitionOrInit(ctx, run, "n", Int(0), increment) counts from 1. The same
// purity rule as for Transition applies to fn.
func (s StateCells) TransitionOrInit(ctx context.Context, run RunID, name string, init Value, fn func(Value) (Value, error)) (Value, Version, error) {
	return s.transition(ctx, run, func(st StateTx) (Value, Version, error) { return st.TransitionOrInit(name, init, fn) })
}

// GetAt returns the cell as of a version: for a Txn version, the value the
// cell had after that commit (NotFound if it did not exist then); for a
// Counter version, the value the cell held with that counter (NotFound if
// it never had it). Any other version kind is an InvalidArgument error.
func (s StateCells) GetAt(ctx context.Context, run RunID, name string, at Version) (Versioned[Value], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (Versioned[Value], error) { return tx.State().GetAt(name, at) })
}

// History returns every retained version of the cell, newest first, with
// Counter versions and commit timestamps. Deletions are included with
// Deleted set; the Version of a deletion is the counter of the value it
// removed. A cell never written gives an empty slice.
//
// Once retention has trimmed anything in the run's State space, History
// always comes with a HistoryTrimmed error beside the retained entries, even
// for an entity that lost nothing: trim floors are kept per run and space,
// not per entity, and an entity deleted, purged with its whole history and
// written again cannot be told from a new one. Every version newer than the
// floor is among the entries. EarliestRetained is the oldest entry's version
// or the floor, whichever is older (the floor when there is no entry): the
// version GetAt of the same entity reports for reads below it. Until the
// space is first trimmed, History lists every version and returns no error.
// A fork's History also lists its source's versions up to the fork point,
// so a floor the source has below that point counts as the fork's own.
// EarliestRetained is a Txn version. The cell's counters go on across a
// purge, so a Counter GetAt below the retained ones is HistoryTrimmed too.
func (s StateCells) History(ctx context.Context, run RunID, name string) ([]Versioned[Value], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Value], error) { return tx.State().History(name) })
}

func (s StateCells) write(ctx context.Context, run RunID, fn func(StateTx) (Version, error)) (Version, error) {
	out, _, err := updateGet(s.db, ctx, run, func(tx *Tx) (Version, error) { return fn(tx.State()) })
	if err != nil {
		return Version{}, err
	}
	return out, nil
}

func (s StateCells) transition(ctx context.Context, run RunID, fn func(StateTx) (Value, Version, error)) (Value, Version, error) {
	var (
		val Value
		ver Version
	)
	_, err := s.db.update(ctx, run, func(tx *Tx) error {
		var err error
		val, ver, err = fn(tx.State())
		return err
	})
	if err != nil {
		return Value{}, Version{}, err
	}
	return val, ver, nil
}

// --- Tx-level facade -------------------------------------------------------

// cellState is what a write needs to know about a cell.
type cellState struct {
	key     string // the cell's key
	counter uint64 // its counter if live, else its high-water mark
	val     Value  // its value if live
	live    bool
}

// cell reads the cell (joining the read set).
func (c StateTx) cell(op, name string) (cellState, error) {
	tx := c.tx
	st := cellState{key: stateCellKey(name)}
	e, ok := tx.txn.Get(tx.run, core.State, st.key)
	if !ok {
		return st, nil
	}
	n, v, ok := decodeCell(Value(e.Value))
	if !ok {
		return st, stateCorrupt(op, tx.run, name, "cell entry is not [counter, value]")
	}
	st.counter, st.val, st.live = n, v, true
	return st, nil
}

// current reads the cell and, when it does not exist, its high-water mark:
// the counter it had when it was last deleted (0 if it never was). Both
// join the read set.
func (c StateTx) current(op, name string) (cellState, error) {
	st, err := c.cell(op, name)
	if err != nil || st.live {
		return st, err
	}
	tx := c.tx
	e, ok := tx.txn.Get(tx.run, core.State, stateHighKey(name))
	if !ok {
		return st, nil
	}
	n, ok := e.Value.AsInt()
	if !ok || n < 0 {
		return st, stateCorrupt(op, tx.run, name, "high-water entry is not a counter")
	}
	st.counter = uint64(n)
	return st, nil
}

// prepareWrite validates a write of v to name and reads the cell's current
// state.
func (c StateTx) prepareWrite(op, name string, v Value) (cellState, error) {
	tx := c.tx
	if err := tx.db.checkKey(op, "cell name", name); err != nil {
		return cellState{}, err
	}
	if err := tx.db.checkValue(op, v); err != nil {
		return cellState{}, err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return cellState{}, err
	}
	return c.current(op, name)
}

// put buffers v as the cell's value with the counter after st's.
func (c StateTx) put(op, name string, st cellState, v Value) (Version, error) {
	tx := c.tx
	if st.counter >= math.MaxInt64 {
		return Version{}, errorf(CodeConstraintViolation, op, "the cell's counter is exhausted").WithRef(stateRef(tx.run, name))
	}
	n := st.counter + 1
	tx.txn.Put(tx.run, core.State, st.key, encodeCell(n, v).in())
	return core.Counter(n), nil
}

// Init buffers the creation of the cell and returns its counter;
// AlreadyExists if the cell exists.
func (c StateTx) Init(name string, v Value) (Version, error) {
	const op = "state.Init"
	st, err := c.prepareWrite(op, name, v)
	if err != nil {
		return Version{}, err
	}
	if st.live {
		return Version{}, (&Error{Code: CodeAlreadyExists, Op: op, Msg: fmt.Sprintf("cell exists with counter %d", st.counter), Offset: -1}).WithRef(stateRef(c.tx.run, name))
	}
	return c.put(op, name, st, v)
}

// Read returns the cell's value and counter, or a NotFound error. A value
// the transaction wrote itself has its (final) counter and a zero
// Timestamp until the transaction commits.
func (c StateTx) Read(name string) (Versioned[Value], error) {
	const op = "state.Read"
	tx := c.tx
	if err := tx.checkRead(); err != nil {
		return Versioned[Value]{}, err
	}
	if err := tx.db.checkKey(op, "cell name", name); err != nil {
		return Versioned[Value]{}, err
	}
	e, ok := tx.txn.Get(tx.run, core.State, stateCellKey(name))
	if !ok {
		return Versioned[Value]{}, notFound(op, stateRef(tx.run, name))
	}
	return cellVersioned(op, tx.run, name, e)
}

// CAS buffers v if the cell's counter is expected (Counter(0) or the zero
// Version: the cell must not exist) and returns the new counter; see
// StateCells.CAS. The cell joins the read set, so if another transaction
// writes it before this one commits, the commit fails with Conflict.
func (c StateTx) CAS(name string, expected Version, v Value) (Version, error) {
	const op = "state.CAS"
	if expected.Kind != 0 && expected.Kind != core.CounterVersion || expected.Kind == 0 && expected.N != 0 {
		return Version{}, errorf(CodeInvalidArgument, op, "expected version must be a Counter version, got %s", expected)
	}
	st, err := c.prepareWrite(op, name, v)
	if err != nil {
		return Version{}, err
	}
	switch {
	case !st.live && expected.N != 0:
		return Version{}, (&Error{Code: CodeNotFound, Op: op, Msg: fmt.Sprintf("cell does not exist (expected counter %d)", expected.N), Offset: -1}).WithRef(stateRef(c.tx.run, name))
	case st.live && st.counter != expected.N:
		ref := stateRef(c.tx.run, name)
		exp, act := core.Counter(expected.N), core.Counter(st.counter)
		return Version{}, &Error{Code: CodeConflict, Op: op, Ref: &ref, Msg: "counter mismatch", Expected: &exp, Actual: &act, Offset: -1}
	}
	return c.put(op, name, st, v)
}

// Set buffers v as the cell's value, creating the cell if needed, and
// returns the new counter.
func (c StateTx) Set(name string, v Value) (Version, error) {
	const op = "state.Set"
	st, err := c.prepareWrite(op, name, v)
	if err != nil {
		return Version{}, err
	}
	return c.put(op, name, st, v)
}

// Delete buffers the deletion of the cell; NotFound if it does not exist.
func (c StateTx) Delete(name string) error {
	const op = "state.Delete"
	tx := c.tx
	if err := tx.db.checkKey(op, "cell name", name); err != nil {
		return err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	st, err := c.cell(op, name)
	if err != nil {
		return err
	}
	if !st.live {
		return notFound(op, stateRef(tx.run, name))
	}
	tx.txn.Delete(tx.run, core.State, st.key)
	tx.txn.Put(tx.run, core.State, stateHighKey(name), value.Int(int64(st.counter)))
	return nil
}

// Exists reports whether the cell exists.
func (c StateTx) Exists(name string) (bool, error) {
	_, err := c.Read(name)
	if err != nil {
		if CodeOf(err) == CodeNotFound {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// List returns the names of the existing cells that start with prefix, sorted.
// Each listed cell joins the read set.
func (c StateTx) List(prefix string) ([]string, error) {
	tx := c.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	start := stateCellKey(prefix)
	out := []string{}
	tx.txn.Scan(tx.run, core.State, start, engine.PrefixEnd(start), true, func(key string, _ engine.Entry) bool {
		out = append(out, stateCellName(key))
		return true
	})
	return out, nil
}

// Transition applies fn to the cell's current value and buffers the result
// with the next counter; it returns the new value and counter. Inside a
// transaction fn runs once per call; it is the enclosing Update that re-runs
// everything on Conflict, so fn must be pure (see StateCells.Transition). A
// missing cell is a NotFound error; an error from fn is returned as is.
func (c StateTx) Transition(name string, fn func(Value) (Value, error)) (Value, Version, error) {
	return c.transition("state.Transition", name, nil, fn)
}

// TransitionOrInit applies fn to the cell's current value, or to init when
// the cell does not exist, and buffers the result; see
// StateCells.TransitionOrInit.
func (c StateTx) TransitionOrInit(name string, init Value, fn func(Value) (Value, error)) (Value, Version, error) {
	return c.transition("state.TransitionOrInit", name, &init, fn)
}

func (c StateTx) transition(op, name string, init *Value, fn func(Value) (Value, error)) (Value, Version, error) {
	tx := c.tx
	if fn == nil {
		return Value{}, Version{}, errorf(CodeInvalidArgument, op, "transition function is nil")
	}
	if err := tx.db.checkKey(op, "cell name", name); err != nil {
		return Value{}, Version{}, err
	}
	if init != nil {
		if err := tx.db.checkValue(op, *init); err != nil {
			return Value{}, Version{}, err
		}
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return Value{}, Version{}, err
	}
	st, err := c.current(op, name)
	if err != nil {
		return Value{}, Version{}, err
	}
	cur := st.val
	if !st.live {
		if init == nil {
			return Value{}, Version{}, notFound(op, stateRef(tx.run, name))
		}
		cur = *init
	}
	next, err := fn(cur)
	if err != nil {
		return Value{}, Version{}, err
	}
	if err := tx.db.checkValue(op, next); err != nil {
		return Value{}, Version{}, err
	}
	ver, err := c.put(op, name, st, next)
	if err != nil {
		return Value{}, Version{}, err
	}
	return next, ver, nil
}

// GetAt returns the cell as of a Txn version (after that commit, clamped to
// the transaction's snapshot) or a Counter version; see StateCells.GetAt.
func (c StateTx) GetAt(name string, at Version) (Versioned[Value], error) {
	const op = "state.GetAt"
	tx := c.tx
	if err := tx.checkRead(); err != nil {
		return Versioned[Value]{}, err
	}
	if err := tx.db.checkKey(op, "cell name", name); err != nil {
		return Versioned[Value]{}, err
	}
	key := stateCellKey(name)
	switch at.Kind {
	case core.TxnVersion:
		e, ok := tx.txn.GetAt(tx.run, core.State, key, at.N)
		if !ok {
			if err := tx.trimmedErr(op, core.State, key, at.N, stateRef(tx.run, name)); err != nil {
				return Versioned[Value]{}, err
			}
		}
		if !ok || e.Tombstone {
			return Versioned[Value]{}, notFound(op, stateRef(tx.run, name))
		}
		return cellVersioned(op, tx.run, name, e)
	case core.CounterVersion:
		// The transaction's own write (or the newest committed version).
		if e, ok := tx.txn.Get(tx.run, core.State, key); ok {
			v, err := cellVersioned(op, tx.run, name, e)
			if err != nil || v.Version.N == at.N {
				return v, err
			}
			if v.Version.N < at.N {
				return Versioned[Value]{}, notFound(op, stateRef(tx.run, name))
			}
		}
		es := tx.txn.History(tx.run, core.State, key)
		var earliest uint64 // the smallest counter of a retained live version
		for _, e := range es {
			if e.Tombstone {
				continue
			}
			v, err := cellVersioned(op, tx.run, name, e)
			if err != nil {
				return Versioned[Value]{}, err
			}
			if v.Version.N == at.N {
				return v, nil
			}
			if v.Version.N < at.N {
				return Versioned[Value]{}, notFound(op, stateRef(tx.run, name)) // counters only grow
			}
			earliest = v.Version.N
		}
		// Every counter up to the newest had a live version: one below the
		// retained ones is missing only because retention removed it.
		if at.N > 0 && tx.historyTrimmedErr(op, core.State, oldestOf(es), stateRef(tx.run, name)) != nil {
			if earliest == 0 {
				st, err := c.current(op, name)
				if err != nil {
					return Versioned[Value]{}, err
				}
				if at.N > st.counter {
					return Versioned[Value]{}, notFound(op, stateRef(tx.run, name))
				}
				earliest = st.counter + 1 // the counter the next incarnation starts at
			}
			return Versioned[Value]{}, newHistoryTrimmedV(op, stateRef(tx.run, name), at, core.Counter(earliest))
		}
		return Versioned[Value]{}, notFound(op, stateRef(tx.run, name))
	}
	return Versioned[Value]{}, errorf(CodeInvalidArgument, op, "version must be a Txn or Counter version, got %s", at)
}

// History returns the committed versions of the cell visible to the
// transaction, newest first, deletions included; see StateCells.History.
// The transaction's own buffered writes are not part of history.
func (c StateTx) History(name string) ([]Versioned[Value], error) {
	const op = "state.History"
	tx := c.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	if err := tx.db.checkKey(op, "cell name", name); err != nil {
		return nil, err
	}
	es := tx.txn.History(tx.run, core.State, stateCellKey(name))
	out := make([]Versioned[Value], len(es))
	for i, e := range es {
		if !e.Tombstone {
			v, err := cellVersioned(op, tx.run, name, e)
			if err != nil {
				return nil, err
			}
			out[i] = v
			continue
		}
		// A deletion: its counter is the high-water mark Delete wrote in
		// the same commit. Retention keeps that mark as long as the
		// deletion (they share commits, so every policy treats them
		// alike); if it is missing anyway, say so rather than report a
		// counter of 0.
		h, ok := tx.txn.GetAt(tx.run, core.State, stateHighKey(name), e.Version)
		x, isInt := h.Value.AsInt()
		if !ok || h.Tombstone || h.Version != e.Version || !isInt || x <= 0 {
			if ok && h.Version == e.Version {
				return nil, stateCorrupt(op, tx.run, name, "high-water entry is not a counter")
			}
			return out[:i], newHistoryTrimmedV(op, stateRef(tx.run, name), core.Txn(e.Version), core.Txn(e.Version))
		}
		n := uint64(x)
		out[i] = Versioned[Value]{Version: core.Counter(n), Timestamp: Timestamp(e.Time), Deleted: true}
	}
	return out, tx.historyTrimmedErr(op, core.State, oldestOf(es), stateRef(tx.run, name))
}
