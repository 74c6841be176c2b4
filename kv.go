package inmem

import (
	"context"
	"iter"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
)

// KVStore is the key-value primitive: a run's working memory. Every call is
// a single-operation transaction on the run it names. Versions are Txn
// versions. Obtain it with DB.KV; inside a transaction use Tx.KV.
type KVStore struct{ db *DB }

// KV returns the key-value primitive.
func (db *DB) KV() KVStore { return KVStore{db} }

// KVTx is the key-value primitive inside a transaction (bound to its run).
// Its writes (Put, CAS, Delete) return only an error: every write of a
// transaction gets its commit version, which DB.UpdateVersion returns (and
// Tx.CommitVersion after a manual Commit). KVStore's writes are
// transactions of their own and return that version.
type KVTx struct{ tx *Tx }

// KV returns the key-value primitive of the transaction.
func (tx *Tx) KV() KVTx { return KVTx{tx} }

func kvRef(run RunID, key string) EntityRef {
	return EntityRef{Primitive: core.KV, Run: run, Key: key}
}

func versioned(e engine.Entry) Versioned[Value] {
	return Versioned[Value]{Value: Value(e.Value), Version: core.Txn(e.Version), Timestamp: Timestamp(e.Time), Deleted: e.Tombstone}
}

func notFound(op string, ref EntityRef) error {
	return (&Error{Code: dberr.NotFound, Op: op, Msg: "not found", Offset: -1}).WithRef(ref)
}

// Get returns the value of key, or a NotFound error.
func (s KVStore) Get(ctx context.Context, run RunID, key string) (Versioned[Value], error) {
	db := s.db
	if err := db.checkOpen("kv.Get"); err != nil {
		return Versioned[Value]{}, err
	}
	if err := db.checkKey("kv.Get", "key", key); err != nil {
		return Versioned[Value]{}, err
	}
	e, ok := db.getLatest(run, core.KV, key)
	if !ok {
		return Versioned[Value]{}, notFound("kv.Get", kvRef(run, key))
	}
	return versioned(e), nil
}

// Exists reports whether key has a live value.
func (s KVStore) Exists(ctx context.Context, run RunID, key string) (bool, error) {
	db := s.db
	if err := db.checkOpen("kv.Exists"); err != nil {
		return false, err
	}
	if err := db.checkKey("kv.Exists", "key", key); err != nil {
		return false, err
	}
	_, ok := db.getLatest(run, core.KV, key)
	return ok, nil
}

// GetMany reads several keys at one snapshot. The result has one entry per
// key, in order; a missing key gives nil.
func (s KVStore) GetMany(ctx context.Context, run RunID, keys []string) ([]*Versioned[Value], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]*Versioned[Value], error) { return tx.KV().GetMany(keys) })
}

// Put writes a new version of key and returns it.
func (s KVStore) Put(ctx context.Context, run RunID, key string, v Value) (Version, error) {
	n, err := updateWith(s.db, ctx, run, kvArgs{key, v}, func(tx *Tx, a kvArgs) error {
		err := tx.KV().Put(a.key, a.val)
		return err
	})
	if err != nil {
		return Version{}, err
	}
	return core.Txn(n), nil
}

type kvArgs struct {
	key string
	val Value
}

// Delete writes a tombstone for key and returns its version. Deleting a key
// that has no live value is a NotFound error and writes nothing.
func (s KVStore) Delete(ctx context.Context, run RunID, key string) (Version, error) {
	v, err := s.db.update(ctx, run, func(tx *Tx) error { return tx.KV().Delete(key) })
	return core.Txn(v), err
}

// CAS writes v only if key's current version is expected: a zero Version or
// Txn(0) means "must be absent now" (never written, or deleted). A mismatch
// is a Conflict error carrying the expected and actual versions; nothing is
// written. CAS is not retried.
func (s KVStore) CAS(ctx context.Context, run RunID, key string, expected Version, v Value) (Version, error) {
	tx, err := s.db.Begin(ctx, run, true)
	if err != nil {
		return Version{}, err
	}
	defer tx.Rollback()
	if err := tx.KV().CAS(key, expected, v); err != nil {
		return Version{}, err
	}
	n, err := tx.commit()
	if err != nil {
		return Version{}, err
	}
	return core.Txn(n), nil
}

// GetAt returns the value key had as of version at (a Txn version): the
// newest version not newer than at. NotFound if key had no live value then;
// HistoryTrimmed if retention removed the version that answers.
func (s KVStore) GetAt(ctx context.Context, run RunID, key string, at Version) (Versioned[Value], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (Versioned[Value], error) { return tx.KV().GetAt(key, at) })
}

// History returns every retained version of key, newest first, including
// deletions (Deleted set). A key never written gives an empty slice.
//
// Once retention has trimmed anything in the run's KV space, History
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
func (s KVStore) History(ctx context.Context, run RunID, key string) ([]Versioned[Value], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Value], error) { return tx.KV().History(key) })
}

// Scan iterates over the live keys with the given prefix in ascending order,
// at one consistent snapshot taken when Scan is called. An empty prefix
// scans the whole run. A failure — the database closed (Closed) or ctx
// ended (Canceled, DeadlineExceeded) — is yielded as the error of a last
// pair, so a sequence that ends without one is complete:
//
//	for e, err := range db.KV().Scan(ctx, run, "user/") {
//		if err != nil {
//			return err
//		}
//		use(e.Key, e.Value)
//	}
func (s KVStore) Scan(ctx context.Context, run RunID, prefix string) iter.Seq2[Entry, error] {
	return s.db.snapshotSeq(ctx, "kv.Scan", run, core.KV, prefix)
}

// List returns the live keys with the given prefix, sorted: all of them or
// an error. Use ListPage for listings that may be large.
func (s KVStore) List(ctx context.Context, run RunID, prefix string) ([]string, error) {
	return collectKeys(s.db.snapshotSeq(ctx, "kv.List", run, core.KV, prefix))
}

// Get returns the value of key (the transaction's own write if any), or a
// NotFound error. A value the transaction wrote itself reports a zero
// Version until it commits.
func (k KVTx) Get(key string) (Versioned[Value], error) {
	tx := k.tx
	if err := tx.checkRead(); err != nil {
		return Versioned[Value]{}, err
	}
	if err := tx.db.checkKey("kv.Get", "key", key); err != nil {
		return Versioned[Value]{}, err
	}
	e, ok := tx.txn.Get(tx.run, core.KV, key)
	if !ok {
		return Versioned[Value]{}, notFound("kv.Get", kvRef(tx.run, key))
	}
	return versioned(e), nil
}

// Exists reports whether key has a live value.
func (k KVTx) Exists(key string) (bool, error) {
	_, err := k.Get(key)
	if err != nil {
		if dberr.CodeOf(err) == dberr.NotFound {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// GetMany reads several keys; a missing key gives nil.
func (k KVTx) GetMany(keys []string) ([]*Versioned[Value], error) {
	out := make([]*Versioned[Value], len(keys))
	for i, key := range keys {
		v, err := k.Get(key)
		if err != nil {
			if dberr.CodeOf(err) == dberr.NotFound {
				continue
			}
			return nil, err
		}
		out[i] = &v
	}
	return out, nil
}

// Put buffers a new version of key. Its version is the transaction's commit
// version, known once it commits (DB.UpdateVersion returns it, as does
// Tx.CommitVersion after a manual Commit); KVStore.Put, a transaction of
// its own, returns it directly.
func (k KVTx) Put(key string, v Value) error {
	tx := k.tx
	if err := tx.db.checkKey("kv.Put", "key", key); err != nil {
		return err
	}
	if err := tx.db.checkValue("kv.Put", v); err != nil {
		return err
	}
	if err := tx.checkWrite("kv.Put", tx.run); err != nil {
		return err
	}
	tx.txn.Put(tx.run, core.KV, key, v.in())
	return nil
}

// Delete buffers a tombstone for key; NotFound if key has no live value.
func (k KVTx) Delete(key string) error {
	tx := k.tx
	if err := tx.db.checkKey("kv.Delete", "key", key); err != nil {
		return err
	}
	if err := tx.checkWrite("kv.Delete", tx.run); err != nil {
		return err
	}
	if _, ok := tx.txn.Get(tx.run, core.KV, key); !ok {
		return notFound("kv.Delete", kvRef(tx.run, key))
	}
	tx.txn.Delete(tx.run, core.KV, key)
	return nil
}

// CAS buffers v if key's current version is expected (zero or Txn(0): must
// be absent). The check is repeated at commit: if key changes in between,
// the commit fails with Conflict.
func (k KVTx) CAS(key string, expected Version, v Value) error {
	tx := k.tx
	if err := tx.db.checkKey("kv.CAS", "key", key); err != nil {
		return err
	}
	if err := tx.db.checkValue("kv.CAS", v); err != nil {
		return err
	}
	if expected.Kind != 0 && expected.Kind != core.TxnVersion {
		return errorf(CodeInvalidArgument, "kv.CAS", "expected version must be a Txn version, got %s", expected)
	}
	if err := tx.checkWrite("kv.CAS", tx.run); err != nil {
		return err
	}
	e, ok := tx.txn.Get(tx.run, core.KV, key)
	var actual uint64
	if ok {
		actual = e.Version
		if actual == 0 {
			// The transaction wrote key itself: there is no committed
			// version to compare with.
			return errorf(CodeInvalidArgument, "kv.CAS", "key was written earlier in this transaction")
		}
	}
	if actual != expected.N {
		ref := kvRef(tx.run, key)
		exp, act := core.Txn(expected.N), core.Txn(actual)
		return dberr.NewConflict("kv.CAS", &ref, "version mismatch", &exp, &act)
	}
	tx.txn.Put(tx.run, core.KV, key, v.in())
	return nil
}

// GetAt returns the value key had as of version at.
func (k KVTx) GetAt(key string, at Version) (Versioned[Value], error) {
	tx := k.tx
	if err := tx.checkRead(); err != nil {
		return Versioned[Value]{}, err
	}
	if err := tx.db.checkKey("kv.GetAt", "key", key); err != nil {
		return Versioned[Value]{}, err
	}
	if at.Kind != core.TxnVersion {
		return Versioned[Value]{}, errorf(CodeInvalidArgument, "kv.GetAt", "version must be a Txn version, got %s", at)
	}
	e, ok := tx.txn.GetAt(tx.run, core.KV, key, at.N)
	if !ok {
		if err := tx.trimmedErr("kv.GetAt", core.KV, key, at.N, kvRef(tx.run, key)); err != nil {
			return Versioned[Value]{}, err
		}
	}
	if !ok || e.Tombstone {
		return Versioned[Value]{}, notFound("kv.GetAt", kvRef(tx.run, key))
	}
	return versioned(e), nil
}

// History returns every retained version of key, newest first, including
// deletions, with HistoryTrimmed once the run's KV space has a trim floor
// (see KVStore.History).
func (k KVTx) History(key string) ([]Versioned[Value], error) {
	tx := k.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	if err := tx.db.checkKey("kv.History", "key", key); err != nil {
		return nil, err
	}
	es := tx.txn.History(tx.run, core.KV, key)
	out := make([]Versioned[Value], len(es))
	for i, e := range es {
		out[i] = versioned(e)
	}
	// Older versions possibly removed by retention: the retained ones come
	// back with the HistoryTrimmed error, never as if they were all.
	return out, tx.historyTrimmedErr("kv.History", core.KV, oldestOf(es), kvRef(tx.run, key))
}

// Scan iterates over the live keys with the given prefix, ascending, as the
// transaction sees them (its snapshot plus its own writes). Each key read
// joins the read set. The transaction must not write the scanned keys while
// iterating. A failure (the transaction finished, the database closed, the
// transaction's context ended) is yielded as the error of a last pair.
func (k KVTx) Scan(prefix string) iter.Seq2[Entry, error] {
	return k.tx.txSeq("kv.Scan", core.KV, prefix)
}

// List returns the live keys with the given prefix, sorted.
func (k KVTx) List(prefix string) ([]string, error) {
	return collectKeys(k.tx.txSeq("kv.List", core.KV, prefix))
}
