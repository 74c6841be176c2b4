package inmem

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
)

// DB is an open in-mem database. It is safe for concurrent use by many
// goroutines. Two DBs in one process never share state.
type DB struct {
	opts Options
	dir  string
	eng  *engine.Engine

	// life guards Close against maintenance in progress (checkpoints,
	// compactions, exports hold it for reading). Commits do not take it:
	// the engine refuses them once closed and Close waits for those in
	// flight.
	life   sync.RWMutex
	closed atomic.Bool

	// starving counts Update attempts that have conflicted repeatedly.
	starving atomic.Int32

	// txPool recycles the transactions of single operations (never the
	// ones handed to a user's closure or returned by Begin).
	txPool sync.Pool

	vectors *vectorIndexes
	store   *storage // nil for a database without a directory
	watch   watchHub // ends Watch iterations at Close

	// memCompact makes Compact(Full) of a database without a directory
	// one at a time (with a directory, storage.compMu does).
	memCompact sync.Mutex

	maint *maintainer // nil when automatic maintenance is off
}

// Open opens the database in dir, creating it if needed, and recovers it
// before returning. An empty dir opens a purely in-memory database (no
// files; durability is InMemory whatever opts says). A nil opts means
// DefaultOptions().
func Open(dir string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.fill()
	if dir == "" {
		o.Durability = InMemory
	}
	db := &DB{opts: o, dir: dir}
	if dir == "" {
		db.newEngine(nil)
	} else {
		st, err := openStorage(db)
		if err != nil {
			return nil, err
		}
		db.store = st
	}
	db.startMaintenance()
	return db, nil
}

// newEngine gives the database a fresh, empty engine and vector index
// that commit through log (nil: nothing is persisted), dropping the ones it
// had. Storage calls it once it holds the log, before recovery loads the
// engine; a read-only open that starts over calls it again.
func (db *DB) newEngine(log core.Log) {
	if db.eng != nil {
		db.vectors.close()
		db.eng.Close()
	}
	db.vectors = newVectorIndexes(db)
	db.eng = engine.New(engine.Env{
		Now:       db.nowMicros,
		Log:       log,
		Observers: engine.Observers{core.Vector: db.vectors.observe},
		// A stream's start entry is read at the newest version by views
		// of the past too (EventLogTx.start, TraceTx.start).
		CurrentOnly: []string{evStartKey, trStartKey},
	})
}

func (db *DB) nowMicros() int64 { return db.opts.Clock.Now().UnixMicro() }

// Dir returns the database directory ("" for an in-memory database).
func (db *DB) Dir() string { return db.dir }

// Durability returns the effective durability mode.
func (db *DB) Durability() Durability { return db.opts.Durability }

// Close waits for in-flight commits, makes everything acknowledged durable
// (Buffered mode flushes and fsyncs), and releases the directory lock. It is
// idempotent; every other call after Close returns ErrClosed.
func (db *DB) Close() error {
	db.stopMaintenance() // first: a running task holds db.life for reading
	db.life.Lock()
	defer db.life.Unlock()
	if db.closed.Swap(true) {
		return nil
	}
	db.watch.close()
	db.vectors.close()
	db.eng.Close()
	if db.store != nil {
		return db.store.close()
	}
	return nil
}

func (db *DB) checkOpen(op string) error {
	if db.closed.Load() {
		return &Error{Code: dberr.Closed, Op: op, Msg: "database is closed", Offset: -1}
	}
	return nil
}

// Flush makes every acknowledged commit durable now (in Buffered mode it
// fsyncs the WAL; in Strict mode everything acknowledged already is; in
// InMemory mode it does nothing).
func (db *DB) Flush() error {
	db.life.RLock()
	defer db.life.RUnlock()
	if err := db.checkOpen("Flush"); err != nil {
		return err
	}
	if db.store != nil {
		return db.store.flush()
	}
	return nil
}

// Update runs fn in a read-write transaction bound to run and commits it. If
// the commit fails with Conflict, fn runs again on a fresh snapshot, up to
// Options.MaxConflictRetries times, with a short randomized backoff; fn must
// therefore be safe to re-run. An error returned by fn rolls the transaction
// back and is returned as is. Cancelling ctx stops the retries.
func (db *DB) Update(ctx context.Context, run RunID, fn func(tx *Tx) error) error {
	_, err := retryUpdate(db, ctx, run, fn, callTxFunc, false)
	return err
}

func callTxFunc(tx *Tx, fn func(*Tx) error) error { return fn(tx) }

// update is Update for the library's own closures, returning the commit
// version. Its transactions come from a pool (see txPool).
func (db *DB) update(ctx context.Context, run RunID, fn func(tx *Tx) error) (uint64, error) {
	return retryUpdate(db, ctx, run, fn, callTxFunc, true)
}

// updateWith is update for single-operation calls: they pass their
// arguments in a and a function literal without captures as fn, so the hot
// path allocates no closure.
func updateWith[A any](db *DB, ctx context.Context, run RunID, a A, fn func(tx *Tx, a A) error) (uint64, error) {
	return retryUpdate(db, ctx, run, a, fn, true)
}

// retryUpdate is the retry loop of Update. With pooled set, transactions
// come from and go back to txPool: only for the library's own closures,
// which never keep a transaction after they return.
func retryUpdate[A any](db *DB, ctx context.Context, run RunID, a A, fn func(tx *Tx, a A) error, pooled bool) (uint64, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, ctxError("Update", err)
		}
		v, err, closureErr := updateAttempt(db, ctx, run, a, fn, pooled, attempt)
		if err == nil || closureErr {
			// The closure's own errors — a CAS mismatch included — are
			// returned as they are: running it again cannot change them.
			return v, err
		}
		if !IsRetryable(err) || db.opts.MaxConflictRetries < 0 || attempt >= db.opts.MaxConflictRetries {
			return 0, err
		}
		// The conflicting commit may still be waiting for its fsync: a
		// retry before it is visible would conflict again.
		var ce *Error
		if errors.As(err, &ce) && ce.Actual != nil {
			db.eng.WaitVisible(ce.Actual.N, ctx.Done())
		}
		if err := backoff(ctx, attempt); err != nil {
			return 0, ctxError("Update", err)
		}
	}
}

// updateAttempt runs fn once in a fresh managed transaction and commits it.
// Everything it sets up is undone in a defer, so a panic in fn propagates
// with the transaction rolled back and the starving count restored — a
// count left raised would make every later commit of the process yield.
// closureErr reports that err came from fn, not from the commit.
func updateAttempt[A any](db *DB, ctx context.Context, run RunID, a A, fn func(tx *Tx, a A) error, pooled bool, attempt int) (v uint64, err error, closureErr bool) {
	tx, err := db.beginTx(ctx, run, true, pooled)
	if err != nil {
		return 0, err, false
	}
	tx.managed = true
	if attempt >= starvingAfter {
		tx.starving = true
		db.starving.Add(1)
	}
	defer func() {
		if tx.starving {
			db.starving.Add(-1)
		}
		if pooled {
			db.releaseTx(tx)
		} else {
			tx.rollback()
		}
	}()
	if err := fn(tx, a); err != nil {
		return 0, err, true
	}
	v, err = tx.commit()
	return v, err, false
}

// starvingAfter is the number of conflicts after which an Update attempt
// counts as starving: other committers then briefly yield before they
// commit (see Tx.commit), so a transaction that keeps losing to a tight
// loop of writers on the same keys gets a window to commit.
const starvingAfter = 3

// backoff sleeps a randomized, exponentially growing pause (capped at a few
// milliseconds) before a retry, or returns early when ctx ends.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil // the first retries are immediate: most conflicts are one-offs
	}
	max := time.Duration(1<<min(attempt, 12)) * time.Microsecond
	d := time.Duration(rand.Int64N(int64(max))) + time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ctxError reports a cancelled or expired context as an *Error of code
// Canceled or DeadlineExceeded; errors.Is(err, context.Canceled) and
// context.DeadlineExceeded keep working through its cause.
func ctxError(op string, err error) error {
	return dberr.FromContext(op, err)
}

// View runs fn in a read-only transaction bound to run.
func (db *DB) View(ctx context.Context, run RunID, fn func(tx *Tx) error) error {
	return db.viewTx(ctx, run, fn, false)
}

// view is View for the library's own closures (pooled transactions).
func (db *DB) view(ctx context.Context, run RunID, fn func(tx *Tx) error) error {
	return db.viewTx(ctx, run, fn, true)
}

// viewGet runs fn in a pooled read-only transaction on run and returns its
// result: the shape of every single-operation read that needs a snapshot.
// It calls fn directly, not through a closure handed to view, so a read
// costs the same calls as a hand-written view wrapper, and fn does not
// escape.
func viewGet[T any](db *DB, ctx context.Context, run RunID, fn func(tx *Tx) (T, error)) (T, error) {
	tx, err := db.beginView(ctx, run, true)
	if err != nil {
		var zero T
		return zero, err
	}
	defer db.releaseTx(tx)
	return fn(tx)
}

// updateGet runs fn in a pooled read-write transaction on run, retried on
// conflict as update does, and returns the result of the last attempt with
// the commit version (0 when fn wrote nothing). Like view's closures,
// callers decide what a failed call returns. It goes through updateWith
// with a capture-free literal: a closure here would escape (update's
// closures do) and cost every write one more allocation.
func updateGet[T any](db *DB, ctx context.Context, run RunID, fn func(tx *Tx) (T, error)) (T, uint64, error) {
	var out T
	v, err := updateWith(db, ctx, run, getArgs[T]{fn, &out}, func(tx *Tx, a getArgs[T]) error {
		var err error
		*a.out, err = a.fn(tx)
		return err
	})
	return out, v, err
}

type getArgs[T any] struct {
	fn  func(tx *Tx) (T, error)
	out *T
}

func (db *DB) viewTx(ctx context.Context, run RunID, fn func(tx *Tx) error, pooled bool) error {
	tx, err := db.beginView(ctx, run, pooled)
	if err != nil {
		return err
	}
	if pooled {
		defer db.releaseTx(tx)
	} else {
		defer tx.rollback()
	}
	return fn(tx)
}

// beginView starts the managed read-only transaction of View.
func (db *DB) beginView(ctx context.Context, run RunID, pooled bool) (*Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError("View", err)
	}
	tx, err := db.beginTx(ctx, run, false, pooled)
	if err != nil {
		return nil, err
	}
	tx.managed = true
	return tx, nil
}

// Begin starts a transaction bound to run for long-lived work. Finish it
// with Commit or Rollback (Rollback is idempotent and safe to defer).
// Unlike Update, a Conflict at Commit is returned, not retried.
func (db *DB) Begin(ctx context.Context, run RunID, writable bool) (*Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError("Begin", err)
	}
	return db.begin(ctx, run, writable)
}

func (db *DB) begin(ctx context.Context, run RunID, writable bool) (*Tx, error) {
	return db.beginTx(ctx, run, writable, false)
}

// beginTx starts a transaction, taken from txPool if pooled. Reusing
// transactions (and their read and write buffers) keeps single operations
// from producing garbage on every call, which would otherwise make the
// collector mark the whole database over and over.
func (db *DB) beginTx(ctx context.Context, run RunID, writable, pooled bool) (*Tx, error) {
	if err := db.checkOpen("Begin"); err != nil {
		return nil, err
	}
	var tx *Tx
	if pooled {
		tx, _ = db.txPool.Get().(*Tx)
	}
	if tx == nil {
		tx = new(Tx)
	}
	runs := tx.writableRuns[:0]
	txn := tx.txn
	*tx = Tx{db: db, run: run, ctx: ctx, writableRuns: runs, txn: txn}
	db.eng.BeginInto(&tx.txn, run, writable)
	return tx, nil
}

// releaseTx finishes a pooled transaction and returns it to the pool.
func (db *DB) releaseTx(tx *Tx) {
	tx.rollback()
	tx.ctx = nil
	clear(tx.writableRuns)
	db.txPool.Put(tx)
}

// RunIDs returns every run that holds or has held data in this database —
// registered in the run index or not — sorted, the global run included if it
// holds anything.
func (db *DB) RunIDs() ([]RunID, error) {
	if err := db.checkOpen("RunIDs"); err != nil {
		return nil, err
	}
	var ids []RunID
	db.eng.Runs(func(id core.RunID) bool {
		ids = append(ids, id)
		return true
	})
	slices.SortFunc(ids, func(a, b RunID) int { return bytes.Compare(a[:], b[:]) })
	return ids, nil
}

// Stats is a plain snapshot of the database's counters.
type Stats struct {
	Durability        string
	CommitVersion     uint64 // newest published commit version
	Commits           uint64 // transactions with writes committed since Open (recovered ones included)
	ReadOnlyCommits   uint64
	Conflicts         uint64
	VersionsInstalled uint64
	Runs              int
	WAL               WALStats
	Maintenance       MaintenanceStats
}

// WALStats describes the write-ahead log (zero for InMemory).
type WALStats struct {
	Segments      int
	Bytes         int64
	Records       uint64 // records appended since Open
	Fsyncs        uint64 // fsyncs of segment files since Open
	GroupCommits  uint64 // batches written since Open
	MaxBatch      int    // largest group-commit batch (commits)
	MeanBatch     float64
	SnapshotBytes int64
}

// Stats returns the current counters.
func (db *DB) Stats() Stats {
	es := db.eng.Stats()
	s := Stats{
		Durability:        db.opts.Durability.String(),
		CommitVersion:     db.eng.Visible(),
		Commits:           es.Commits,
		ReadOnlyCommits:   es.ReadOnly,
		Conflicts:         es.Conflicts,
		VersionsInstalled: es.Versions,
	}
	db.eng.Runs(func(core.RunID) bool { s.Runs++; return true })
	if db.store != nil {
		s.WAL = db.store.stats()
	}
	s.Maintenance = db.maintenanceStats()
	return s
}
