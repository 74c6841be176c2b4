package inmem

import (
	"context"
	"unicode"
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/value"
)

// MaxRunNameBytes bounds the length of a run name.
const MaxRunNameBytes = 256

// RunInfo is the run index's record of one run.
type RunInfo struct {
	ID     RunID
	Name   string // unique across the index
	Parent *RunID // nil for a top-level run
	Status RunStatus
	Tags   []string
	// Metadata is free-form (Null when unset).
	Metadata Value
	// Error is the message given to Fail (kept when a failed run is
	// archived); empty otherwise.
	Error string
	// CreatedAt and UpdatedAt are the database clock at Create and at the
	// last change of the record.
	CreatedAt Timestamp
	UpdatedAt Timestamp
	// ForkedAt is the version of Parent this run was forked from (see
	// RunIndex.Fork); zero for a run that is not a fork.
	ForkedAt Version
	// Version is the version of the record (as Versioned.Version; zero for
	// a record written by a transaction that has not committed yet).
	Version Version
}

// RunOptions are the optional parts of a new run.
type RunOptions struct {
	// Parent is a registered run this run belongs to (RunNotFound if it is
	// not registered).
	Parent *RunID
	// Tags follow the rules of trace tags: valid UTF-8, at most
	// Limits.MaxKeyBytes bytes, duplicates dropped.
	Tags []string
	// Metadata is any Value (Null when unset).
	Metadata Value
	// ID, if set, is the new run's id instead of a random one: a caller
	// that picks it can write the run's first data in the transaction that
	// registers it (Update on that id, then Tx.Runs().Create). An id
	// already registered is AlreadyExists; the global run is InvalidArgument.
	ID *RunID
}

// RunIndex is the registry of runs: names, parent links, tags, metadata and
// the status lifecycle (see RunStatus). It lives in the global run. Every
// call is a single-operation transaction; versions are Txn versions. Obtain
// it with DB.Runs; inside a transaction use Tx.Runs.
//
// Runs do not have to be registered: a RunID that is not in the index is an
// implicitly active run that every primitive accepts. Once a registered run
// is closed (Completed, Failed, Cancelled, Archived), writes into it fail
// with RunClosed. Listings are ordered by (CreatedAt, ID).
type RunIndex struct{ db *DB }

// Runs returns the run index.
func (db *DB) Runs() RunIndex { return RunIndex{db} }

// RunIndexTx is the run index inside a transaction. The index lives in the
// global run, so it works the same whatever run the transaction is bound
// to, and its writes commit or abort with the transaction's other writes.
// Mutators return only an error: the version is the transaction's commit
// version (Tx.CommitVersion).
type RunIndexTx struct{ tx *Tx }

// Runs returns the run index inside the transaction.
func (tx *Tx) Runs() RunIndexTx { return RunIndexTx{tx} }

func runRef(id RunID) EntityRef { return EntityRef{Primitive: core.Run, Run: id} }

func runNotFound(op string, id RunID) error {
	return (&Error{Code: dberr.RunNotFound, Op: op, Msg: "run is not registered", Offset: -1}).WithRef(runRef(id))
}

// Field names of a run record (an Object). runFieldStatus ("status") is
// defined with RunStatus.
const (
	rfName    = "name"
	rfParent  = "parent" // Bytes(16), absent for a top-level run
	rfTags    = "tags"
	rfMeta    = "meta"
	rfError   = "error"
	rfCreated = "created"
	rfUpdated = "updated"
	rfForkAt  = "fork_at" // Int, present only for a fork
)

func encodeRun(info *RunInfo) Value {
	fs := []Field{
		fld(runFieldStatus, String(string(info.Status))),
		fld(rfName, String(info.Name)),
		fld(rfTags, stringsValue(info.Tags)),
		fld(rfMeta, info.Metadata),
		fld(rfError, String(info.Error)),
		fld(rfCreated, Int(int64(info.CreatedAt))),
		fld(rfUpdated, Int(int64(info.UpdatedAt))),
	}
	if info.Parent != nil {
		fs = append(fs, fld(rfParent, Bytes(info.Parent[:])))
	}
	if info.ForkedAt.N != 0 || info.ForkedAt.Kind == core.TxnVersion {
		fs = append(fs, fld(rfForkAt, Int(int64(info.ForkedAt.N))))
	}
	return ObjectOf(fs...)
}

func decodeRun(id RunID, e engine.Entry) (RunInfo, error) {
	rec := e.Value
	r := recordFields{Value(rec)}
	str, integer := r.str, r.integer
	status, ok1 := str(runFieldStatus)
	name, ok2 := str(rfName)
	msg, ok3 := str(rfError)
	created, ok4 := integer(rfCreated)
	updated, ok5 := integer(rfUpdated)
	tv, _ := rec.Get(rfTags)
	tags, ok6 := stringsOf(Value(tv))
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !RunStatus(status).Valid() {
		return RunInfo{}, errorf(CodeInternal, "runs", "run %s: malformed record", id)
	}
	meta, _ := rec.Get(rfMeta)
	info := RunInfo{
		ID: id, Name: name, Status: RunStatus(status), Tags: tags, Metadata: Value(meta), Error: msg,
		CreatedAt: Timestamp(created), UpdatedAt: Timestamp(updated), Version: core.Txn(e.Version),
	}
	if pv, ok := rec.Get(rfParent); ok {
		b, isBytes := pv.BytesString()
		if !isBytes || len(b) != len(RunID{}) {
			return RunInfo{}, errorf(CodeInternal, "runs", "run %s: malformed parent", id)
		}
		var p RunID
		copy(p[:], b)
		info.Parent = &p
	}
	if fv, ok := rec.Get(rfForkAt); ok {
		n, isInt := fv.AsInt()
		if !isInt || n < 0 || info.Parent == nil {
			return RunInfo{}, errorf(CodeInternal, "runs", "run %s: malformed fork point", id)
		}
		info.ForkedAt = core.Txn(uint64(n))
	}
	return info, nil
}

// checkRunName enforces the name rules: non-empty, at most MaxRunNameBytes
// bytes, valid UTF-8, no control characters.
func checkRunName(op, name string) error {
	switch {
	case name == "":
		return errorf(CodeInvalidArgument, op, "run name must not be empty")
	case len(name) > MaxRunNameBytes:
		return errorf(CodeInvalidArgument, op, "run name is %d bytes, the limit is %d", len(name), MaxRunNameBytes)
	case !utf8.ValidString(name):
		return errorf(CodeInvalidArgument, op, "run name is not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errorf(CodeInvalidArgument, op, "run name %q contains a control character", name)
		}
	}
	return nil
}

// checkRunID refuses the global run, which is not a registered run.
func checkRunID(op string, id RunID) error {
	if id.IsGlobal() {
		return errorf(CodeInvalidArgument, op, "the global run is not in the run index")
	}
	return nil
}

// ---- DB-level facade -------------------------------------------------------

// Create registers a new run named name and returns its new random ID. The
// run starts Active. Names are unique: an existing name is AlreadyExists
// (of two concurrent Creates of one name exactly one succeeds). A bad name
// (see MaxRunNameBytes; empty or with control characters) is
// InvalidArgument; a Parent that is not registered is RunNotFound.
func (r RunIndex) Create(ctx context.Context, name string, opts RunOptions) (RunID, error) {
	id, _, err := updateGet(r.db, ctx, GlobalRun, func(tx *Tx) (RunID, error) { return tx.Runs().Create(name, opts) })
	return id, err
}

// mutate runs a RunIndexTx mutator in its own transaction and returns the
// new version of the run's record: the commit version, or the current
// version when nothing had to change.
func (r RunIndex) mutate(ctx context.Context, fn func(t RunIndexTx) (uint64, error)) (Version, error) {
	cur, v, err := updateGet(r.db, ctx, GlobalRun, func(tx *Tx) (uint64, error) { return fn(tx.Runs()) })
	if err != nil {
		return Version{}, err
	}
	if v == 0 {
		v = cur
	}
	return core.Txn(v), nil
}

// Get returns the record of run id, or RunNotFound.
func (r RunIndex) Get(ctx context.Context, id RunID) (Versioned[RunInfo], error) {
	return viewGet(r.db, ctx, GlobalRun, func(tx *Tx) (Versioned[RunInfo], error) { return tx.Runs().Get(id) })
}

// GetByName returns the record of the run named name, or RunNotFound.
func (r RunIndex) GetByName(ctx context.Context, name string) (Versioned[RunInfo], error) {
	return viewGet(r.db, ctx, GlobalRun, func(tx *Tx) (Versioned[RunInfo], error) { return tx.Runs().GetByName(name) })
}

// List returns every registered run, ordered by (CreatedAt, ID).
func (r RunIndex) List(ctx context.Context) ([]Versioned[RunInfo], error) {
	return viewGet(r.db, ctx, GlobalRun, func(tx *Tx) ([]Versioned[RunInfo], error) { return tx.Runs().List() })
}

// Count returns the number of registered runs.
func (r RunIndex) Count(ctx context.Context) (int, error) {
	return viewGet(r.db, ctx, GlobalRun, func(tx *Tx) (int, error) { return tx.Runs().Count() })
}

// QueryByStatus returns the runs with the given status, ordered by
// (CreatedAt, ID). An unknown status is InvalidArgument.
func (r RunIndex) QueryByStatus(ctx context.Context, status RunStatus) ([]Versioned[RunInfo], error) {
	return viewGet(r.db, ctx, GlobalRun, func(tx *Tx) ([]Versioned[RunInfo], error) { return tx.Runs().QueryByStatus(status) })
}

// QueryByTag returns the runs carrying tag, ordered by (CreatedAt, ID).
func (r RunIndex) QueryByTag(ctx context.Context, tag string) ([]Versioned[RunInfo], error) {
	return viewGet(r.db, ctx, GlobalRun, func(tx *Tx) ([]Versioned[RunInfo], error) { return tx.Runs().QueryByTag(tag) })
}

// Children returns the runs whose parent is parent, ordered by (CreatedAt,
// ID); RunNotFound if parent is not registered.
func (r RunIndex) Children(ctx context.Context, parent RunID) ([]Versioned[RunInfo], error) {
	return viewGet(r.db, ctx, GlobalRun, func(tx *Tx) ([]Versioned[RunInfo], error) { return tx.Runs().Children(parent) })
}

// SetStatus moves run id to status and returns the record's new version. A
// transition the lifecycle does not allow (see RunStatus; moving to the
// current status included) is a ConstraintViolation naming both statuses.
func (r RunIndex) SetStatus(ctx context.Context, id RunID, status RunStatus) (Version, error) {
	return r.mutate(ctx, func(t RunIndexTx) (uint64, error) {
		return 0, t.setStatus("runs.SetStatus", id, status, nil)
	})
}

// Complete moves run id to Completed.
func (r RunIndex) Complete(ctx context.Context, id RunID) (Version, error) {
	return r.SetStatus(ctx, id, RunCompleted)
}

// Fail moves run id to Failed and records errMessage as its Error.
func (r RunIndex) Fail(ctx context.Context, id RunID, errMessage string) (Version, error) {
	return r.mutate(ctx, func(t RunIndexTx) (uint64, error) { return 0, t.Fail(id, errMessage) })
}

// Cancel moves run id to Cancelled.
func (r RunIndex) Cancel(ctx context.Context, id RunID) (Version, error) {
	return r.SetStatus(ctx, id, RunCancelled)
}

// Pause moves run id from Active to Paused.
func (r RunIndex) Pause(ctx context.Context, id RunID) (Version, error) {
	return r.SetStatus(ctx, id, RunPaused)
}

// Resume moves run id from Paused back to Active.
func (r RunIndex) Resume(ctx context.Context, id RunID) (Version, error) {
	return r.SetStatus(ctx, id, RunActive)
}

// Archive moves run id to Archived (terminal).
func (r RunIndex) Archive(ctx context.Context, id RunID) (Version, error) {
	return r.SetStatus(ctx, id, RunArchived)
}

// AddTags adds tags to run id (ones it already has are ignored) and returns
// the record's version. Tags can change in any status.
func (r RunIndex) AddTags(ctx context.Context, id RunID, tags ...string) (Version, error) {
	return r.mutate(ctx, func(t RunIndexTx) (uint64, error) { return t.editTags("runs.AddTags", id, tags, true) })
}

// RemoveTags removes tags from run id (ones it does not have are ignored)
// and returns the record's version.
func (r RunIndex) RemoveTags(ctx context.Context, id RunID, tags ...string) (Version, error) {
	return r.mutate(ctx, func(t RunIndexTx) (uint64, error) { return t.editTags("runs.RemoveTags", id, tags, false) })
}

// SetMetadata replaces the metadata of run id and returns the record's new
// version. Metadata can change in any status.
func (r RunIndex) SetMetadata(ctx context.Context, id RunID, metadata Value) (Version, error) {
	return r.mutate(ctx, func(t RunIndexTx) (uint64, error) { return 0, t.SetMetadata(id, metadata) })
}

// Delete removes run id and every primitive's data of it — every live key
// of every space of the run, the run's record and its index entries — in
// one atomic commit, whose version it returns. Readers holding an older
// snapshot keep seeing everything. A run that is not registered is
// RunNotFound; a run with registered children is a ConstraintViolation
// (delete the children first).
//
// If the run is still open (Active or Paused), Delete first archives it in
// a commit of its own: a writer that inserts a new key into the run
// concurrently would otherwise escape the deleting transaction's snapshot
// (snapshot isolation does not see phantoms). Once the run is closed, every
// write into it either committed before the archiving or fails, so the
// deleting commit sees all the run's data. If Delete fails after that step,
// the run stays Archived with its data intact. After Delete the RunID is
// unregistered again, that is, an implicitly active run.
func (r RunIndex) Delete(ctx context.Context, id RunID) (Version, error) {
	const op = "runs.Delete"
	_, err := r.db.update(ctx, GlobalRun, func(tx *Tx) error {
		t := tx.Runs()
		info, err := t.loadDeletable(op, id)
		if err != nil {
			return err
		}
		if info.Status.Closed() {
			return nil
		}
		return t.setStatus(op, id, RunArchived, nil)
	})
	if err != nil {
		return Version{}, err
	}
	v, err := r.db.update(ctx, GlobalRun, func(tx *Tx) error { return tx.Runs().Delete(id) })
	return core.Txn(v), err
}

// ---- Tx-level facade -------------------------------------------------------

// loadDeletable loads the run Delete is asked to remove: a registered run
// without forks or children.
func (t RunIndexTx) loadDeletable(op string, id RunID) (RunInfo, error) {
	if err := checkRunID(op, id); err != nil {
		return RunInfo{}, err
	}
	info, err := t.load(op, id)
	if err != nil {
		return RunInfo{}, err
	}
	if err := t.checkNoChildren(op, id); err != nil {
		return RunInfo{}, err
	}
	return info, nil
}

// checkWritable verifies the transaction can write (the global run is never
// closed, so this checks only that it is open and writable).
func (t RunIndexTx) checkWritable(op string) error { return t.tx.checkWrite(op, GlobalRun) }

func (t RunIndexTx) get(key string) (engine.Entry, bool) {
	return t.tx.txn.Get(GlobalRun, core.Run, key)
}

// load reads the record of id; RunNotFound if it is not registered.
func (t RunIndexTx) load(op string, id RunID) (RunInfo, error) {
	e, ok := t.get(runKey(id))
	if !ok {
		return RunInfo{}, runNotFound(op, id)
	}
	return decodeRun(id, e)
}

// store writes the record and index entries of next, replacing those of
// prev (nil when creating; next nil when deleting). The name never changes.
func (t RunIndexTx) store(prev, next *RunInfo) {
	txn := &t.tx.txn
	var old, cur []string
	if prev != nil {
		old = runIndexKeys(prev)
	}
	if next != nil {
		cur = runIndexKeys(next)
	}
	for _, k := range old {
		if !contains(cur, k) {
			txn.Delete(GlobalRun, core.Run, k)
		}
	}
	for _, k := range cur {
		if !contains(old, k) {
			txn.Put(GlobalRun, core.Run, k, value.Null())
		}
	}
	switch {
	case next == nil:
		txn.Delete(GlobalRun, core.Run, runKey(prev.ID))
		txn.Delete(GlobalRun, core.Run, runNameKey(prev.Name))
	default:
		txn.Put(GlobalRun, core.Run, runKey(next.ID), encodeRun(next).in())
		if prev == nil {
			txn.Put(GlobalRun, core.Run, runNameKey(next.Name), value.Bytes(next.ID[:]))
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// children reads the number of registered children of parent.
func (t RunIndexTx) children(parent RunID) (int64, error) {
	e, ok := t.get(runChildrenKey(parent))
	if !ok {
		return 0, nil
	}
	n, isInt := e.Value.AsInt()
	if !isInt || n < 0 {
		return 0, errorf(CodeInternal, "runs", "run %s: malformed children count", parent)
	}
	return n, nil
}

// addChildren adjusts the children count of parent by delta.
func (t RunIndexTx) addChildren(parent RunID, delta int64) error {
	n, err := t.children(parent)
	if err != nil {
		return err
	}
	if n += delta; n <= 0 {
		t.tx.txn.Delete(GlobalRun, core.Run, runChildrenKey(parent))
	} else {
		t.tx.txn.Put(GlobalRun, core.Run, runChildrenKey(parent), value.Int(n))
	}
	return nil
}

func (t RunIndexTx) checkNoChildren(op string, id RunID) error {
	n, err := t.children(id)
	if err != nil {
		return err
	}
	if n > 0 {
		return (&Error{Code: dberr.ConstraintViolation, Op: op, Msg: "run has registered child runs; delete them first", Offset: -1}).WithRef(runRef(id))
	}
	return nil
}

// Create registers a new run (see RunIndex.Create).
func (t RunIndexTx) Create(name string, opts RunOptions) (RunID, error) {
	return t.create("runs.Create", name, opts, nil)
}

// create registers a new run; forkedAt is the fork point of a fork.
func (t RunIndexTx) create(op, name string, opts RunOptions, forkedAt *Version) (RunID, error) {
	tx := t.tx
	db := tx.db
	if err := checkRunName(op, name); err != nil {
		return RunID{}, err
	}
	tags, err := db.normTags(op, opts.Tags)
	if err != nil {
		return RunID{}, err
	}
	if err := db.checkValue(op, opts.Metadata); err != nil {
		return RunID{}, err
	}
	if err := t.checkWritable(op); err != nil {
		return RunID{}, err
	}
	var parent *RunID
	if opts.Parent != nil {
		p := *opts.Parent
		if err := checkRunID(op, p); err != nil {
			return RunID{}, err
		}
		if _, err := t.load(op, p); err != nil {
			return RunID{}, err
		}
		parent = &p
	}
	if _, ok := t.get(runNameKey(name)); ok {
		return RunID{}, errorf(CodeAlreadyExists, op, "a run named %q already exists", name)
	}
	var id RunID
	if opts.ID != nil {
		id = *opts.ID
		if err := checkRunID(op, id); err != nil {
			return RunID{}, err
		}
		if _, ok := t.get(runKey(id)); ok {
			return RunID{}, errorf(CodeAlreadyExists, op, "run %s is already registered", id)
		}
	} else {
		id = NewRunID()
		for {
			if _, ok := t.get(runKey(id)); !ok {
				break
			}
			id = NewRunID()
		}
	}
	now := Timestamp(db.nowMicros())
	info := RunInfo{ID: id, Name: name, Parent: parent, Status: RunActive, Tags: tags,
		Metadata: opts.Metadata, CreatedAt: now, UpdatedAt: now}
	if forkedAt != nil {
		info.ForkedAt = *forkedAt
	}
	if err := db.checkValue(op, encodeRun(&info)); err != nil {
		return RunID{}, err
	}
	if parent != nil {
		// Deferred to commit: concurrent Creates under one parent must not
		// conflict on its children count.
		if err := t.addChildrenDeferred(*parent, 1); err != nil {
			return RunID{}, err
		}
	}
	t.store(nil, &info)
	return id, nil
}

func versionedRun(info RunInfo) Versioned[RunInfo] {
	return Versioned[RunInfo]{Value: info, Version: info.Version}
}

// getVersioned reads a record with its commit timestamp.
func (t RunIndexTx) getVersioned(op string, id RunID) (Versioned[RunInfo], bool, error) {
	e, ok := t.get(runKey(id))
	if !ok {
		return Versioned[RunInfo]{}, false, nil
	}
	info, err := decodeRun(id, e)
	if err != nil {
		return Versioned[RunInfo]{}, false, err
	}
	v := versionedRun(info)
	v.Timestamp = Timestamp(e.Time)
	return v, true, nil
}

// Get returns the record of run id, or RunNotFound.
func (t RunIndexTx) Get(id RunID) (Versioned[RunInfo], error) {
	const op = "runs.Get"
	if err := t.tx.checkRead(); err != nil {
		return Versioned[RunInfo]{}, err
	}
	if err := checkRunID(op, id); err != nil {
		return Versioned[RunInfo]{}, err
	}
	v, ok, err := t.getVersioned(op, id)
	if err != nil {
		return Versioned[RunInfo]{}, err
	}
	if !ok {
		return Versioned[RunInfo]{}, runNotFound(op, id)
	}
	return v, nil
}

// GetByName returns the record of the run named name, or RunNotFound.
func (t RunIndexTx) GetByName(name string) (Versioned[RunInfo], error) {
	const op = "runs.GetByName"
	if err := t.tx.checkRead(); err != nil {
		return Versioned[RunInfo]{}, err
	}
	if err := checkRunName(op, name); err != nil {
		return Versioned[RunInfo]{}, err
	}
	e, ok := t.get(runNameKey(name))
	b, isBytes := e.Value.BytesString()
	if !ok {
		return Versioned[RunInfo]{}, errorf(CodeRunNotFound, op, "no run is named %q", name)
	}
	if !isBytes || len(b) != len(RunID{}) {
		return Versioned[RunInfo]{}, errorf(CodeInternal, op, "malformed name index entry for %q", name)
	}
	var id RunID
	copy(id[:], b)
	v, ok, err := t.getVersioned(op, id)
	if err != nil {
		return Versioned[RunInfo]{}, err
	}
	if !ok {
		return Versioned[RunInfo]{}, errorf(CodeInternal, op, "name %q points at run %s, which is not registered", name, id)
	}
	return v, nil
}

// indexIDs returns the RunIDs of the index entries with the given prefix,
// in key order.
func (t RunIndexTx) indexIDs(prefix string) []RunID {
	var ids []RunID
	t.tx.txn.Scan(GlobalRun, core.Run, prefix, engine.PrefixEnd(prefix), true, func(key string, _ engine.Entry) bool {
		ids = append(ids, runIndexID(key))
		return true
	})
	return ids
}

// scanIndex returns the records named by the index entries with the given
// prefix.
func (t RunIndexTx) scanIndex(prefix string) ([]Versioned[RunInfo], error) {
	if err := t.tx.checkRead(); err != nil {
		return nil, err
	}
	ids := t.indexIDs(prefix)
	out := make([]Versioned[RunInfo], 0, len(ids))
	for _, id := range ids {
		v, ok, err := t.getVersioned("runs", id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// List returns every registered run, ordered by (CreatedAt, ID).
func (t RunIndexTx) List() ([]Versioned[RunInfo], error) {
	return t.scanIndex(runCreatedIndex)
}

// Count returns the number of registered runs.
func (t RunIndexTx) Count() (int, error) {
	if err := t.tx.checkRead(); err != nil {
		return 0, err
	}
	return len(t.indexIDs(runCreatedIndex)), nil
}

// QueryByStatus returns the runs with the given status, ordered by
// (CreatedAt, ID).
func (t RunIndexTx) QueryByStatus(status RunStatus) ([]Versioned[RunInfo], error) {
	if !status.Valid() {
		return nil, errorf(CodeInvalidArgument, "runs.QueryByStatus", "unknown run status %q", string(status))
	}
	return t.scanIndex(runStatusPrefix(status))
}

// QueryByTag returns the runs carrying tag, ordered by (CreatedAt, ID).
func (t RunIndexTx) QueryByTag(tag string) ([]Versioned[RunInfo], error) {
	if err := t.tx.db.checkTag("runs.QueryByTag", tag); err != nil {
		return nil, err
	}
	return t.scanIndex(runTagPrefix(tag))
}

// Children returns the children of parent, ordered by (CreatedAt, ID);
// RunNotFound if parent is not registered.
func (t RunIndexTx) Children(parent RunID) ([]Versioned[RunInfo], error) {
	const op = "runs.Children"
	if err := t.tx.checkRead(); err != nil {
		return nil, err
	}
	if err := checkRunID(op, parent); err != nil {
		return nil, err
	}
	if _, err := t.load(op, parent); err != nil {
		return nil, err
	}
	return t.scanIndex(runParentPrefix(parent))
}

// update loads id, applies change to a copy of its record and stores the
// result with a new UpdatedAt.
func (t RunIndexTx) update(op string, id RunID, change func(info *RunInfo) error) error {
	if err := t.checkWritable(op); err != nil {
		return err
	}
	if err := checkRunID(op, id); err != nil {
		return err
	}
	prev, err := t.load(op, id)
	if err != nil {
		return err
	}
	next := prev
	if err := change(&next); err != nil {
		return err
	}
	next.UpdatedAt = Timestamp(t.tx.db.nowMicros())
	if err := t.tx.db.checkValue(op, encodeRun(&next)); err != nil {
		return err
	}
	t.store(&prev, &next)
	return nil
}

// setStatus moves id to status; a non-nil errMessage replaces the record's
// Error.
func (t RunIndexTx) setStatus(op string, id RunID, status RunStatus, errMessage *string) error {
	if !status.Valid() {
		return errorf(CodeInvalidArgument, op, "unknown run status %q", string(status))
	}
	return t.update(op, id, func(info *RunInfo) error {
		if !info.Status.CanTransition(status) {
			return (&Error{Code: dberr.ConstraintViolation, Op: op,
				Msg: "cannot move run from " + string(info.Status) + " to " + string(status), Offset: -1}).WithRef(runRef(id))
		}
		info.Status = status
		if errMessage != nil {
			info.Error = *errMessage
		}
		return nil
	})
}

// SetStatus moves run id to status (see RunIndex.SetStatus).
func (t RunIndexTx) SetStatus(id RunID, status RunStatus) error {
	return t.setStatus("runs.SetStatus", id, status, nil)
}

// Complete moves run id to Completed.
func (t RunIndexTx) Complete(id RunID) error { return t.SetStatus(id, RunCompleted) }

// Fail moves run id to Failed and records errMessage as its Error.
func (t RunIndexTx) Fail(id RunID, errMessage string) error {
	const op = "runs.Fail"
	if err := checkText(op, "error message", errMessage, false); err != nil {
		return err
	}
	return t.setStatus(op, id, RunFailed, &errMessage)
}

// Cancel moves run id to Cancelled.
func (t RunIndexTx) Cancel(id RunID) error { return t.SetStatus(id, RunCancelled) }

// Pause moves run id from Active to Paused.
func (t RunIndexTx) Pause(id RunID) error { return t.SetStatus(id, RunPaused) }

// Resume moves run id from Paused back to Active.
func (t RunIndexTx) Resume(id RunID) error { return t.SetStatus(id, RunActive) }

// Archive moves run id to Archived.
func (t RunIndexTx) Archive(id RunID) error { return t.SetStatus(id, RunArchived) }

// AddTags adds tags to run id (ones it has are ignored).
func (t RunIndexTx) AddTags(id RunID, tags ...string) error {
	_, err := t.editTags("runs.AddTags", id, tags, true)
	return err
}

// RemoveTags removes tags from run id (ones it does not have are ignored).
func (t RunIndexTx) RemoveTags(id RunID, tags ...string) error {
	_, err := t.editTags("runs.RemoveTags", id, tags, false)
	return err
}

// editTags adds tags to run id (add) or removes them from it; it returns
// the record's current version if nothing had to change.
func (t RunIndexTx) editTags(op string, id RunID, tags []string, add bool) (uint64, error) {
	given, err := t.tx.db.normTags(op, tags)
	if err != nil {
		return 0, err
	}
	return t.changeTags(op, id, func(cur []string) []string {
		if add {
			out := cur
			for _, tag := range given {
				if !contains(cur, tag) {
					out = append(out, tag)
				}
			}
			return out
		}
		var out []string
		for _, tag := range cur {
			if !contains(given, tag) {
				out = append(out, tag)
			}
		}
		return out
	})
}

// changeTags replaces the tags of id with change(current tags); when the
// set does not change nothing is written and the record's version is
// returned.
func (t RunIndexTx) changeTags(op string, id RunID, change func(cur []string) []string) (uint64, error) {
	if err := t.checkWritable(op); err != nil {
		return 0, err
	}
	if err := checkRunID(op, id); err != nil {
		return 0, err
	}
	info, err := t.load(op, id)
	if err != nil {
		return 0, err
	}
	next := change(append([]string(nil), info.Tags...))
	if len(next) == len(info.Tags) {
		return info.Version.N, nil // tags are a set: same length, same tags
	}
	return 0, t.update(op, id, func(info *RunInfo) error {
		info.Tags = next
		return nil
	})
}

// SetMetadata replaces the metadata of run id.
func (t RunIndexTx) SetMetadata(id RunID, metadata Value) error {
	const op = "runs.SetMetadata"
	if err := t.tx.db.checkValue(op, metadata); err != nil {
		return err
	}
	return t.update(op, id, func(info *RunInfo) error {
		info.Metadata = metadata
		return nil
	})
}

// Delete removes run id, every live key of every space of the run, its
// record and its index entries, as part of the transaction (see
// RunIndex.Delete). Unlike RunIndex.Delete it cannot close the run first:
// if the run is open, a concurrent transaction that inserts a new key into
// it and commits after this transaction's snapshot leaves that key behind.
// Close the run (in an earlier commit) before deleting it inside a
// transaction if writers may still be active.
func (t RunIndexTx) Delete(id RunID) error {
	const op = "runs.Delete"
	tx := t.tx
	if err := t.checkWritable(op); err != nil {
		return err
	}
	info, err := t.loadDeletable(op, id)
	if err != nil {
		return err
	}
	var keys []string
	for space := core.KV; space <= core.System; space++ {
		keys = keys[:0]
		// Only the run's own keys: a fork's inherited ones belong to its
		// parent.
		tx.txn.ScanOwn(id, space, "", "", func(key string, _ engine.Entry) bool {
			keys = append(keys, key)
			return true
		})
		for _, k := range keys {
			tx.txn.Delete(id, space, k)
		}
	}
	if info.Parent != nil {
		if err := t.addChildren(*info.Parent, -1); err != nil {
			return err
		}
	}
	t.store(&info, nil)
	return nil
}
