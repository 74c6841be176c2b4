package inmem

import (
	"context"
	"strconv"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
)

// ForkOptions are the optional parts of a fork.
type ForkOptions struct {
	// Name is the fork's run name; empty picks "<source name>@<version>"
	// (followed by part of the new id if that name is taken).
	Name string
	// Tags and Metadata are as in RunOptions.
	Tags     []string
	Metadata Value
	// ID, if set, is the fork's id instead of a random one. It must be an
	// id that holds no data (InvalidArgument otherwise): a fork's state is
	// its source's, nothing else.
	ID *RunID
}

// Fork creates a new run whose state, in every primitive, is src's as of
// version at (a Txn version; the zero Version means the newest published
// commit), and returns its id. The fork is registered with Parent src and
// ForkedAt at, so it is listed among src's Children.
//
// A fork copies nothing: it records a link to src and the fork point, and
// reads of entities the fork has not written fall through to src as of
// at. Its cost is independent of src's size. From then on the two evolve
// independently: writes to either never show in the other, and a delete
// in the fork hides the entity src still has. The fork's event log
// continues src's hash chain: its first event links to src's head at at.
// A fork of a fork works the same (up to a depth of 32 links; deeper is
// ConstraintViolation).
//
// Retention never trims a version of src that a live fork reads through:
// every fork point pins its source's history from that point on. Since a
// fork is a registered child of src, deleting src while it has forks is
// refused with ConstraintViolation; delete (or merge and delete) the forks
// first. A version above the newest published commit is InvalidArgument; a
// version below src's trim floor is HistoryTrimmed; an unregistered src
// is RunNotFound.
func (r RunIndex) Fork(ctx context.Context, src RunID, at Version, opts ForkOptions) (RunID, error) {
	const op = "runs.Fork"
	db := r.db
	if err := ctx.Err(); err != nil {
		return RunID{}, ctxError(op, err)
	}
	if err := db.checkOpen(op); err != nil {
		return RunID{}, err
	}
	if err := checkRunID(op, src); err != nil {
		return RunID{}, err
	}
	vis := db.eng.Visible()
	var v uint64
	switch {
	case at == (Version{}):
		v = vis
	case at.Kind != core.TxnVersion:
		return RunID{}, errorf(CodeInvalidArgument, op, "version must be a Txn version, got %s", at)
	case at.N > vis:
		return RunID{}, errorf(CodeInvalidArgument, op, "version %d is newer than the newest published commit %d", at.N, vis)
	default:
		v = at.N
	}
	// Pinned before the floors are checked: a trim starting now keeps
	// what the fork will read, and once the link commits it pins by
	// itself.
	release := db.eng.PinFork(src, v)
	defer release()
	if err := forkFloorCheck(db, op, src, v); err != nil {
		return RunID{}, err
	}
	id, _, err := updateGet(db, ctx, GlobalRun, func(tx *Tx) (RunID, error) {
		t := tx.Runs()
		srcInfo, err := t.load(op, src)
		if err != nil {
			return RunID{}, err
		}
		depth := 1
		for p := src; depth < engine.MaxForkDepth; depth++ {
			next, _, ok := db.eng.ForkOf(p, tx.txn.Snapshot())
			if !ok {
				break
			}
			p = next
		}
		if depth >= engine.MaxForkDepth {
			return RunID{}, (&Error{Code: dberr.ConstraintViolation, Op: op,
				Msg: "fork chain is too deep (" + strconv.Itoa(engine.MaxForkDepth) + " links)", Offset: -1}).WithRef(runRef(src))
		}
		id := NewRunID()
		if opts.ID != nil {
			id = *opts.ID
			if db.eng.HasData(id) {
				return RunID{}, errorf(CodeInvalidArgument, op, "run %s already holds data; a fork needs an empty id", id)
			}
		}
		name := opts.Name
		if name == "" {
			name = srcInfo.Name + "@" + strconv.FormatUint(v, 10)
			if _, taken := t.get(runNameKey(name)); taken {
				name += "-" + id.String()[:8]
			}
		}
		fp := core.Txn(v)
		ropts := RunOptions{Parent: &src, Tags: opts.Tags, Metadata: opts.Metadata, ID: &id}
		if _, err := t.create(op, name, ropts, &fp); err != nil {
			return RunID{}, err
		}
		tx.txn.Put(id, core.System, engine.ForkKey, engine.ForkValue(src, v))
		return id, nil
	})
	return id, err
}

// forkFloorCheck refuses a fork point below the trim floor of src or of
// any run src reads through at it.
func forkFloorCheck(db *DB, op string, src RunID, v uint64) error {
	run, at := src, v
	for range engine.MaxForkDepth {
		if floor := db.historyFloor(run); at < floor {
			return dberr.NewHistoryTrimmed(op, EntityRef{Primitive: core.Run, Run: src}, core.Txn(v), core.Txn(floor))
		}
		p, pat, ok := db.eng.ForkOf(run, at)
		if !ok {
			return nil
		}
		run, at = p, min(at, pat)
	}
	return nil
}

// forkPoint returns the parent and fork point of run as recorded by the
// engine at the current watermark.
func (db *DB) forkPoint(run RunID) (parent RunID, at uint64, ok bool) {
	return db.eng.ForkOf(run, db.eng.Visible())
}
