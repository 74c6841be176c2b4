package inmem

import (
	"context"
	"time"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
)

// At names a past state of the database for ViewAt: a commit version
// (AtVersion) or a wall-clock time (AtTime). The zero At is invalid.
type At struct {
	v      Version
	t      time.Time
	byTime bool
}

// AtVersion selects the state right after the commit of version v (a Txn
// version). Txn(0) is the empty database before the first commit.
func AtVersion(v Version) At { return At{v: v} }

// AtTime selects the state after the last commit at or before t.
func AtTime(t time.Time) At { return At{t: t, byTime: true} }

func (a At) String() string {
	if a.byTime {
		return "time " + a.t.UTC().Format(time.RFC3339Nano)
	}
	return "version " + a.v.String()
}

// ViewAt runs fn in a read-only transaction bound to run that reads the
// database as it was at a past commit: every primitive through the normal
// Tx read API — gets, scans and listings, JSON paths, event ranges, trace
// queries, the run index and vector search — answers as of that version.
// Tx.ReadVersion tells which version an AtTime resolved to. Writes in fn
// fail with InvalidArgument.
//
// ViewAt never answers from a different version than the one asked for: a
// version above the newest published commit is InvalidArgument, and one
// older than the history the database still retains for run is
// HistoryTrimmed. A time resolves to the last commit at or before it (the
// empty database, version 0, before the first commit); the time index that
// does this costs 8 bytes per commit (see internal/engine/times.go). Full
// compaction trims that index below the oldest version retention still
// lets a run that holds data read (engine.TimeFloor); a time before the
// oldest commit it keeps answers HistoryTrimmed.
func (db *DB) ViewAt(ctx context.Context, run RunID, at At, fn func(tx *Tx) error) error {
	const op = "ViewAt"
	if err := ctx.Err(); err != nil {
		return ctxError(op, err)
	}
	if err := db.checkOpen(op); err != nil {
		return err
	}
	v, err := db.resolveAt(op, run, at)
	if err != nil {
		return err
	}
	tx := &Tx{db: db, run: run, ctx: ctx, managed: true, past: true}
	db.eng.BeginAtInto(&tx.txn, run, v)
	defer tx.rollback()
	// Checked with the snapshot registered: a trim that starts from now on
	// keeps what the transaction reads.
	if err := db.checkFloor(op, run, v); err != nil {
		return err
	}
	err = fn(tx)
	// A trim that was already under way when the snapshot registered may
	// have removed versions fn needed: its floor says so.
	if ferr := db.checkFloor(op, run, v); ferr != nil {
		return ferr
	}
	return err
}

func (db *DB) checkFloor(op string, run RunID, v uint64) error {
	if floor := db.historyFloor(run); v < floor {
		return dberr.NewHistoryTrimmed(op, EntityRef{Primitive: core.Run, Run: run}, core.Txn(v), core.Txn(floor))
	}
	return nil
}

// resolveAt turns at into a snapshot version that is published and retained.
func (db *DB) resolveAt(op string, run RunID, at At) (uint64, error) {
	vis := db.eng.Visible()
	var v uint64
	if at.byTime {
		var err error
		if v, err = db.eng.VersionAt(at.t.UnixMicro()); err != nil {
			if e, ok := err.(*Error); ok {
				e.Op = op
				e.Ref = &EntityRef{Primitive: core.Run, Run: run}
			}
			return 0, err
		}
	} else {
		if at.v.Kind != core.TxnVersion {
			return 0, errorf(CodeInvalidArgument, op, "version must be a Txn version, got %s", at.v)
		}
		v = at.v.N
		if v > vis {
			return 0, errorf(CodeInvalidArgument, op, "version %d is newer than the newest published commit %d", v, vis)
		}
	}
	return v, nil
}

// historyFloor returns the oldest version at which run's state is still
// complete: the highest trim floor of its primitives. Reads of older
// versions could miss trimmed history.
func (db *DB) historyFloor(run RunID) uint64 {
	var f uint64
	for sp := core.KV; sp <= core.Vector; sp++ {
		f = max(f, db.eng.Floor(run, sp))
	}
	return f
}

// ReadVersion returns the commit version the transaction reads at: its
// snapshot (for ViewAt, the version asked for or the one a time resolved
// to). Its own buffered writes are not part of it.
func (tx *Tx) ReadVersion() Version { return core.Txn(tx.txn.Snapshot()) }
