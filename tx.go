package inmem

import (
	"context"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
)

// Tx is an optimistic snapshot-isolation transaction bound to one run. It
// reaches all seven primitives through KV(), Events(), State(), Traces(),
// JSON(), Vectors() and the run index through Runs(); one read set and one
// write set span them all, so everything a transaction writes commits or
// aborts as a unit.
//
// Reads see the snapshot taken when the transaction began plus the
// transaction's own writes. At commit, the transaction aborts with Conflict
// if any key it read (including keys it found absent) or any CAS target
// changed since its snapshot. Blind writes never conflict: the last writer
// wins. Read-only transactions always commit.
//
// Every key a transaction reads by point — Get, Exists, a CAS target, also a
// key found absent — joins its read set and is validated at commit, so two
// transactions that each point-read what the other writes cannot both
// commit. Ranges it scans (Scan, List, queries) are not validated: a key
// inserted into a scanned range by a concurrent commit is a phantom, and
// write skew through such a predicate is possible. Point-read (or CAS) the
// keys a decision depends on to serialize it.
//
// A Tx is not safe for concurrent use by several goroutines.
type Tx struct {
	db  *DB
	txn engine.Txn
	run RunID
	ctx context.Context

	checkedRun   RunID   // the run already checked open for writing (checked set)
	checked      bool    //
	writableRuns []RunID // further runs checked open for writing
	version      uint64  // commit version once committed
	starving     bool    // an Update attempt after repeated conflicts
	// managed marks a transaction that Update or View owns: they commit
	// and roll it back, so Commit and Rollback by hand are refused.
	managed bool
	// past marks a ViewAt transaction, which reads an old version.
	past bool
	// appends holds the transaction's deferred appends (see appends.go).
	appends txAppends
}

// Run returns the run the transaction is bound to.
func (tx *Tx) Run() RunID { return tx.run }

// Writable reports whether the transaction may write.
func (tx *Tx) Writable() bool { return tx.txn.Writable() }

// Context returns the context the transaction was started with.
func (tx *Tx) Context() context.Context { return tx.ctx }

// Commit validates and commits the transaction. On Conflict nothing was
// written. After Commit (successful or not) the transaction is finished.
//
// Commit is only for transactions from Begin. Inside an Update or View
// closure it returns ErrTxManaged and changes nothing: Update commits when
// the closure returns nil, and a closure aborts by returning an error.
func (tx *Tx) Commit() error {
	if tx.managed {
		return ErrTxManaged
	}
	_, err := tx.commit()
	return err
}

// ErrTxManaged is returned by Commit and Rollback called on a transaction
// that Update or View manages. It has code InvalidArgument. Committing by
// hand inside Update would commit the data and then make Update fail, and a
// caller retrying that failure would apply the change twice.
var ErrTxManaged = &Error{Code: dberr.InvalidArgument, Msg: "transaction is managed by Update or View: return nil to commit, an error to roll back", Offset: -1}

// CommitVersion returns the version a successful Commit assigned (zero for a
// transaction without writes or not yet committed).
func (tx *Tx) CommitVersion() Version { return core.Txn(tx.version) }

func (tx *Tx) commit() (uint64, error) {
	if tx.txn.Done() {
		return 0, ErrTxDone
	}
	if !tx.txn.HasWrites() {
		tx.txn.Commit()
		return 0, nil
	}
	db := tx.db
	if !tx.starving && db.starving.Load() > 0 {
		yieldToStarving(db)
	}
	if err := db.checkOpen("Commit"); err != nil {
		tx.txn.Rollback()
		return 0, err
	}
	v, err := tx.txn.Commit()
	if err != nil {
		return 0, err
	}
	tx.version = v
	return v, nil
}

// Rollback discards the transaction. It is idempotent and safe to defer;
// after a Commit it does nothing. Inside an Update or View closure it
// returns ErrTxManaged and changes nothing: return an error from the
// closure to roll back.
func (tx *Tx) Rollback() error {
	if tx.managed {
		return ErrTxManaged
	}
	tx.rollback()
	return nil
}

func (tx *Tx) rollback() {
	if !tx.txn.Done() {
		tx.txn.Rollback()
	}
}

// checkRead returns ErrTxDone for a finished transaction.
func (tx *Tx) checkRead() error {
	if tx.txn.Done() {
		return ErrTxDone
	}
	return nil
}

// checkWrite verifies that the transaction can write into run: it is not
// finished, it is writable, and run is not closed. The run's status record
// joins the read set, so a write racing with the run being closed either
// commits before the close or aborts.
func (tx *Tx) checkWrite(op string, run RunID) error {
	if tx.txn.Done() {
		return ErrTxDone
	}
	if tx.past {
		return errorf(CodeInvalidArgument, op, "write in a ViewAt transaction: it reads a past version")
	}
	if !tx.txn.Writable() {
		return errorf(CodeInvalidArgument, op, "write in a read-only transaction")
	}
	if tx.db.opts.ReadOnly {
		return errorf(CodeInvalidArgument, op, "the database is open read-only")
	}
	if run.IsGlobal() || (tx.checked && tx.checkedRun == run) {
		return nil
	}
	for _, r := range tx.writableRuns {
		if r == run {
			return nil
		}
	}
	if e, ok := tx.txn.GetRunRecord(run); ok {
		if st, _ := Value(e.Value).Get(runFieldStatus); st.Kind() == KindString {
			s, _ := st.AsString()
			if RunStatus(s).Closed() {
				return (&Error{Code: dberr.RunClosed, Op: op, Msg: "run is " + s, Offset: -1}).
					WithRef(EntityRef{Primitive: core.Run, Run: run})
			}
		}
	}
	if !tx.checked {
		tx.checkedRun, tx.checked = run, true
	} else {
		tx.writableRuns = append(tx.writableRuns, run)
	}
	return nil
}

// yieldToStarving delays a commit for a few microseconds while some Update
// attempt is starving, giving it a window in which nobody invalidates its
// reads. The wait is bounded, so it cannot deadlock even if the starving
// transaction waits for this one.
func yieldToStarving(db *DB) {
	deadline := time.Now().Add(20 * time.Microsecond)
	for db.starving.Load() > 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
}

// checkKey enforces the key rules at the API boundary: non-empty, at most
// Limits.MaxKeyBytes, valid UTF-8 without a NUL byte, and not in the
// reserved _system/ namespace.
func (db *DB) checkKey(op, what, key string) error {
	switch {
	case key == "":
		return errorf(CodeInvalidKey, op, "%s must not be empty", what)
	case len(key) > db.opts.Limits.MaxKeyBytes:
		return errorf(CodeInvalidKey, op, "%s is %d bytes, the limit is %d", what, len(key), db.opts.Limits.MaxKeyBytes)
	case strings.IndexByte(key, 0) >= 0:
		return errorf(CodeInvalidKey, op, "%s contains a NUL byte", what)
	case !utf8.ValidString(key):
		// Keys are text everywhere: an invalid byte would print as U+FFFD,
		// and the printed key would no longer address the entity.
		return errorf(CodeInvalidKey, op, "%s is not valid UTF-8", what)
	case strings.HasPrefix(key, reservedPrefix):
		return errorf(CodeInvalidKey, op, "%s is in the reserved %q namespace", what, reservedPrefix)
	}
	return nil
}

// reservedPrefix is the system namespace no user key may use.
const reservedPrefix = "_system/"

// checkValue enforces the value limits: encoded size, nesting depth, UTF-8
// strings.
func (db *DB) checkValue(op string, v Value) error {
	if k := v.Kind(); k == KindString || k == KindBytes {
		// Fast path for scalars: no walk.
		if v.Len() > db.opts.Limits.MaxValueBytes {
			return errorf(CodeInvalidArgument, op, "value is %d bytes, the limit is %d", v.Len(), db.opts.Limits.MaxValueBytes)
		}
		if s, ok := v.AsString(); ok && !utf8.ValidString(s) {
			return errorf(CodeInvalidArgument, op, "string is not valid UTF-8")
		}
		return nil
	} else if k != KindArray && k != KindObject {
		return nil
	}
	if d := v.Depth(); d > db.opts.Limits.MaxNesting {
		return errorf(CodeInvalidArgument, op, "value nests %d deep, the limit is %d", d, db.opts.Limits.MaxNesting)
	}
	if n := v.in().EncodedSize(); n > db.opts.Limits.MaxValueBytes {
		return errorf(CodeInvalidArgument, op, "value encodes to %d bytes, the limit is %d", n, db.opts.Limits.MaxValueBytes)
	}
	if !v.ValidUTF8() {
		return errorf(CodeInvalidArgument, op, "value holds a string or key that is not valid UTF-8")
	}
	return nil
}
