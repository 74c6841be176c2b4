package inmem

import (
	"context"
	"strconv"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
)

// MergeStrategy decides what Merge does with an entity both sides changed
// differently since the fork point.
type MergeStrategy uint8

// The merge strategies.
const (
	// MergeFailOnConflict reports every conflict and writes nothing.
	MergeFailOnConflict MergeStrategy = iota
	// MergeSourceWins takes the source's side of every conflict.
	MergeSourceWins
	// MergeTargetWins keeps the target's side of every conflict.
	MergeTargetWins
)

func (s MergeStrategy) String() string {
	switch s {
	case MergeFailOnConflict:
		return "fail-on-conflict"
	case MergeSourceWins:
		return "source-wins"
	case MergeTargetWins:
		return "target-wins"
	}
	return "strategy(" + strconv.Itoa(int(s)) + ")"
}

// MergeConflict is an entity that both sides changed, differently, since
// the fork point. Base, Source and Target are its three versions (nil
// where it is absent), compared as a diff compares them (see EntityDiff).
type MergeConflict struct {
	Primitive  PrimitiveType
	Key        string
	Collection string
	Base       *Versioned[Value]
	Source     *Versioned[Value]
	Target     *Versioned[Value]
}

// MergeResult reports what Merge did.
type MergeResult struct {
	// Version is the merge's commit version (zero if nothing was written).
	Version Version
	// Applied counts the entities of the source written to the target.
	Applied int
	// Events and Traces count the source's events and traces appended to
	// the target.
	Events, Traces int
	// Conflicts lists every conflict: with MergeFailOnConflict they are
	// why nothing was written; with the other strategies, how each was
	// resolved.
	Conflicts []MergeConflict
}

// mergeMarkerPrefix starts the System-space key of a target run that
// records how many of a source's events (by source sequence) and traces
// (by source id) earlier merges appended, so merging twice appends them
// once.
const mergeMarkerPrefix = reservedPrefix + "merged/"

// Merge applies the changes src made since the fork point to dst, as one
// atomic transaction, and returns what it did. One of the two runs must be
// a fork of the other (see Fork): merging a fork back into its source, or
// the source's progress into the fork. Any other pair is refused with
// InvalidArgument, as is merging a run into itself.
//
// It is a three-way merge per entity (KV key, state cell, JSON document,
// vector collection and vector) with the source as of the fork point as
// base: an entity src changed and dst did not takes src's version (a
// delete included); one both changed the same way stays; one both changed
// differently is a conflict, resolved by strategy. With
// MergeFailOnConflict any conflict makes Merge write nothing and return
// ConstraintViolation with every conflict in the result.
//
// Logs are appended, not merged: src's events after the fork point are
// appended to dst's log in order (new sequences, new hashes, so dst's
// chain stays verifiable), and src's traces recorded after the fork point
// are recorded in dst under new ids, parents remapped. dst remembers what
// it took, so merging again appends only what is new. State cells written
// by the merge continue dst's counters.
func (r RunIndex) Merge(ctx context.Context, src, dst RunID, strategy MergeStrategy) (MergeResult, error) {
	const op = "runs.Merge"
	db := r.db
	if strategy > MergeTargetWins {
		return MergeResult{}, errorf(CodeInvalidArgument, op, "unknown merge strategy %d", strategy)
	}
	if err := checkRunID(op, src); err != nil {
		return MergeResult{}, err
	}
	if err := checkRunID(op, dst); err != nil {
		return MergeResult{}, err
	}
	if src == dst {
		return MergeResult{}, errorf(CodeInvalidArgument, op, "cannot merge run %s into itself", src)
	}
	res, v, err := updateGet(db, ctx, dst, func(tx *Tx) (MergeResult, error) {
		return mergeTx(ctx, op, tx, src, dst, strategy)
	})
	if v != 0 {
		res.Version = core.Txn(v)
	}
	return res, err
}

// forkRelation returns the parent run and fork point that relate src and
// dst; InvalidArgument if neither is a fork of the other.
func forkRelation(op string, t RunIndexTx, src, dst RunID) (parent RunID, at uint64, err error) {
	si, err := t.load(op, src)
	if err != nil {
		return RunID{}, 0, err
	}
	di, err := t.load(op, dst)
	if err != nil {
		return RunID{}, 0, err
	}
	isForkOf := func(child RunInfo, p RunID) bool {
		return child.Parent != nil && *child.Parent == p && child.ForkedAt.Kind == core.TxnVersion
	}
	switch {
	case isForkOf(si, dst):
		return dst, si.ForkedAt.N, nil
	case isForkOf(di, src):
		return src, di.ForkedAt.N, nil
	}
	return RunID{}, 0, (&Error{Code: dberr.InvalidArgument, Op: op,
		Msg: "runs are unrelated: neither is a fork of the other", Offset: -1}).WithRef(runRef(src))
}

func mergeTx(ctx context.Context, op string, tx *Tx, src, dst RunID, strategy MergeStrategy) (MergeResult, error) {
	var res MergeResult
	if err := tx.checkWrite(op, dst); err != nil {
		return res, err
	}
	parent, at, err := forkRelation(op, tx.Runs(), src, dst)
	if err != nil {
		return res, err
	}
	base, err := tx.db.beginAt(ctx, op, RunAt{Run: parent, At: core.Txn(at)})
	if err != nil {
		return res, err
	}
	defer base.rollback()
	// The source as the merge's snapshot sees it, read without joining the
	// read set: only the target's state decides whether the merge is
	// still right at commit.
	srcTx := &Tx{db: tx.db, run: src, ctx: ctx, past: true}
	tx.db.eng.BeginAtInto(&srcTx.txn, src, tx.txn.Snapshot())
	defer srcTx.rollback()

	type write struct {
		sp  core.PrimitiveType
		key string
		e   *engine.Entry
	}
	var writes []write
	n := 0
	for _, sp := range entitySpaces {
		if sp == core.Trace {
			continue // appended below
		}
		dstScan := func(yield func(string, engine.Entry) bool) {
			tx.txn.Scan(dst, sp, "", "", true, func(key string, e engine.Entry) bool {
				if _, _, ok := entityOf(sp, key); !ok {
					return true
				}
				return yield(key, e)
			})
		}
		for key, es := range zipEntities(sideScan(base, sp), sideScan(srcTx, sp), dstScan) {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return res, ctxError(op, err)
				}
			}
			var vs [3]*Versioned[Value]
			for i, e := range es {
				if vs[i], err = entityValue(op, dst, sp, key, e); err != nil {
					return res, err
				}
			}
			b, s, d := vs[0], vs[1], vs[2]
			if sameEntity(b, s) || sameEntity(s, d) {
				continue // src did not change it, or both agree
			}
			if !sameEntity(b, d) {
				user, coll, _ := entityOf(sp, key)
				res.Conflicts = append(res.Conflicts, MergeConflict{Primitive: sp, Key: user, Collection: coll, Base: b, Source: s, Target: d})
				if strategy != MergeSourceWins {
					continue
				}
			}
			writes = append(writes, write{sp, key, es[1]})
		}
	}
	if len(res.Conflicts) > 0 && strategy == MergeFailOnConflict {
		return res, (&Error{Code: dberr.ConstraintViolation, Op: op,
			Msg: strconv.Itoa(len(res.Conflicts)) + " conflicting entities; nothing was merged", Offset: -1}).WithRef(runRef(dst))
	}
	for _, w := range writes {
		if err := mergeWrite(op, tx, dst, w.sp, w.key, w.e); err != nil {
			return res, err
		}
		res.Applied++
	}
	if res.Events, err = mergeEvents(op, tx, base, srcTx, src, dst); err != nil {
		return res, err
	}
	if res.Traces, err = mergeTraces(op, tx, base, srcTx, src, dst); err != nil {
		return res, err
	}
	return res, nil
}

// mergeWrite writes the source's version e of an entity (nil: deleted)
// into dst.
func mergeWrite(op string, tx *Tx, dst RunID, sp core.PrimitiveType, key string, e *engine.Entry) error {
	if sp == core.State {
		name := stateCellName(key)
		if e == nil {
			if ok, err := tx.State().Exists(name); err != nil || !ok {
				return err
			}
			return tx.State().Delete(name)
		}
		_, v, _ := decodeCell(Value(e.Value))
		_, err := tx.State().Set(name, v)
		return err
	}
	if e == nil {
		tx.txn.Delete(dst, sp, key)
		return nil
	}
	tx.txn.Put(dst, sp, key, e.Value)
	return nil
}

// mergeMarker reads how far earlier merges of src into dst got in a log.
func mergeMarker(tx *Tx, dst, src RunID, log string) (uint64, string) {
	key := mergeMarkerPrefix + src.String() + "/" + log
	e, ok := tx.txn.Get(dst, core.System, key)
	if !ok {
		return 0, key
	}
	n, _ := e.Value.AsInt()
	return uint64(max(n, 0)), key
}

// mergeEvents appends src's events after the fork point (and after what an
// earlier merge took) to dst's log.
func mergeEvents(op string, tx *Tx, base, srcTx *Tx, src, dst RunID) (int, error) {
	from, err := base.Events().Len()
	if err != nil {
		return 0, err
	}
	done, key := mergeMarker(tx, dst, src, "events")
	from = max(from, done)
	to, err := srcTx.Events().Len()
	if err != nil {
		return 0, err
	}
	n := 0
	for i := from; i < to; i += eventChunk {
		evs, err := srcTx.Events().Range(i, min(to, i+eventChunk))
		if err != nil {
			return n, err
		}
		for _, ev := range evs {
			if _, err := tx.Events().Append(ev.Type, ev.Payload); err != nil {
				return n, err
			}
			n++
		}
	}
	if to > done {
		tx.txn.Put(dst, core.System, key, Int(int64(to)).in())
	}
	return n, nil
}

// mergeTraces records src's traces after the fork point (and after what an
// earlier merge took) in dst under new ids; a parent among them is
// remapped, any other parent kept.
func mergeTraces(op string, tx *Tx, base, srcTx *Tx, src, dst RunID) (int, error) {
	baseLast, err := traceCounter(base)
	if err != nil {
		return 0, err
	}
	done, key := mergeMarker(tx, dst, src, "traces")
	from := max(baseLast, done)
	var last uint64
	newID := map[TraceID]TraceID{}
	n := 0
	var ferr error
	srcTx.txn.Scan(src, core.Trace, traceRecordKey(TraceID(from+1)), string(rune(tracePfxRecord+1)), false, func(k string, e engine.Entry) bool {
		id := traceRecordID(k)
		t, err := decodeTrace(id, Value(e.Value))
		if err != nil {
			ferr = err
			return false
		}
		spec := TraceSpec{Body: t.Body, Tags: t.Tags, Metadata: t.Metadata}
		var nid TraceID
		switch p, remapped := newID[t.Parent]; {
		case t.Parent == 0:
			nid, err = tx.Traces().Record(spec)
		case remapped:
			nid, err = tx.Traces().RecordChild(p, spec)
		default:
			nid, err = tx.Traces().RecordChild(t.Parent, spec)
		}
		if err != nil {
			ferr = err
			return false
		}
		newID[id] = nid
		last = uint64(id)
		n++
		return true
	})
	if ferr != nil {
		return n, ferr
	}
	if last > done {
		tx.txn.Put(dst, core.System, key, Int(int64(last)).in())
	}
	return n, nil
}

// traceCounter reads the last trace id assigned in tx's run.
func traceCounter(tx *Tx) (uint64, error) {
	e, ok := tx.txn.Get(tx.run, core.Trace, traceKeyCounter)
	if !ok {
		return 0, nil
	}
	n, isInt := e.Value.AsInt()
	if !isInt || n < 0 {
		return 0, errorf(CodeCorruption, "runs.Merge", "run %s: malformed trace counter", tx.run)
	}
	return uint64(n), nil
}
