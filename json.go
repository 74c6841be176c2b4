package inmem

import (
	"context"
	"errors"
	"iter"
	"math"
	"strconv"
	"strings"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/jsonpath"
)

// JSONStore is the JSON document primitive: named documents of a run, read
// and edited in place by path, with RFC 6902 JSON Patch and RFC 7396 JSON
// Merge Patch. Every call is a single-operation transaction on the run it
// names. Versions are Txn versions: a document has one version chain and
// every write, whatever part of the document it touches, adds a version of
// the whole document. Obtain it with DB.JSON; inside a transaction use
// Tx.JSON.
//
// # Documents
//
// A document is any Value that JSON can represent: objects usually, but
// arrays, strings, numbers, booleans and null are documents too. Bytes, and
// the floats NaN and ±Inf, cannot appear anywhere in a document; writing one
// is an InvalidArgument error. Numbers keep their kind: Int(1) and
// Float(1) are different values (as everywhere in in-mem), except in the
// "test" operation of a JSON Patch, which compares numbers like JSON does.
//
// Document ids follow the key rules (non-empty, at most Limits.MaxKeyBytes,
// no NUL, not in the reserved "_system/" namespace; InvalidKey otherwise).
// After every write the resulting document must encode to at most 16 MiB
// (or Limits.MaxValueBytes if lower) and nest at most 100 deep (or
// Limits.MaxNesting if lower), where a scalar has depth 0 and {"a":1} depth
// 1; otherwise the write fails with InvalidArgument and changes nothing. The
// whole resulting document is checked, so the cost of a write grows with the
// size of the document (as does the write-ahead log record, which holds the
// whole new document).
//
// # Paths
//
// Get, Set and Delete address a place in a document with a path in either
// of two syntaxes, which name the same places:
//
//   - an RFC 6901 JSON Pointer: "" (the whole document), "/a/b/0",
//     "/a~1b" (the key "a/b"), "/a~0b" (the key "a~b"), "/list/-" (the
//     position after the last element);
//   - a dotted path: "$" (the whole document), "a.b[0]", "$.a.b[0]",
//     `$["key with.dots"]`, "$['k']", "$.list[-]".
//
// A path that does not parse is an InvalidPath error. Resolving a path
// fails with NotFound for a missing key or element, WrongType for a step
// into a scalar or an index on an object, and InvalidPath for an index
// beyond the end of an array on Set.
//
// # Transactions and conflicts
//
// Conflicts are at the level of the document: every write reads the
// document (the read joins the transaction's read set) and writes the whole
// new document. Two transactions that write the same document concurrently
// therefore conflict even when they touch different paths; the calls of
// JSONStore retry such conflicts like DB.Update does, so concurrent Sets to
// different paths of one document all take effect and none is lost. Writes
// into a closed run fail with RunClosed.
//
// # History and storage
//
// GetAt reads a document as of a past version and History lists its
// versions newest first, Destroy included as a deletion, like KVStore.
// Each document is one engine entry in the JSON space of its run, keyed by
// the document id, whose versions are whole documents (a tombstone for
// Destroy); nothing else is kept, so the write-ahead log and snapshots hold
// exactly those entries. Versions share the parts of a document a write did
// not touch, so a small edit of a large document costs memory in proportion
// to the containers on the edited path, not to the whole document.
type JSONStore struct{ db *DB }

// JSON returns the JSON document primitive.
func (db *DB) JSON() JSONStore { return JSONStore{db} }

// JSONTx is the JSON document primitive inside a transaction, bound to its
// run. Reads see the transaction's own writes; a document the transaction
// wrote itself reports a zero Version until the transaction commits. Write
// methods return only an error: every write of a transaction gets its commit
// version, which DB.UpdateVersion returns (and Tx.CommitVersion after a
// manual Commit). See JSONStore for the rules.
type JSONTx struct{ tx *Tx }

// JSON returns the JSON document primitive of the transaction.
func (tx *Tx) JSON() JSONTx { return JSONTx{tx} }

// PatchOp is one operation of an RFC 6902 JSON Patch.
type PatchOp struct {
	// Op is "add", "remove", "replace", "move", "copy" or "test".
	Op string
	// Path is the target, a JSON Pointer ("/a/0"). RFC 6902 allows no
	// other syntax: a dotted path here is InvalidPath.
	Path string
	// From is the source of "move" and "copy", a JSON Pointer.
	From string
	// Value is the value of "add", "replace" and "test"; the other
	// operations ignore it.
	Value Value
}

// patchOps converts a patch for package jsonpath (PatchOp has the fields of
// jsonpath.Op, in the same order).
func patchOps(ops []PatchOp) []jsonpath.Op {
	out := make([]jsonpath.Op, len(ops))
	for i, op := range ops {
		out[i] = jsonpath.Op{Op: op.Op, Path: op.Path, From: op.From, Value: op.Value.in()}
	}
	return out
}

// Limits of a JSON document (lowered by Options.Limits when those are
// smaller).
const (
	jsonMaxDocBytes = 16 << 20
	jsonMaxDepth    = 100
)

func jsonRef(run RunID, id string) EntityRef {
	return EntityRef{Primitive: core.JSON, Run: run, Key: id}
}

// jsonErr re-labels an error of package jsonpath (a *dberr.Error without
// context) with the operation and the document, keeping its code.
func jsonErr(op string, ref EntityRef, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Op: op, Ref: &ref, Msg: e.Msg, Offset: -1}
	}
	return &Error{Code: CodeInternal, Op: op, Ref: &ref, Msg: "unexpected error", Err: err, Offset: -1}
}

// parseJSONPath parses path in either syntax; InvalidPath on failure.
func parseJSONPath(op string, ref EntityRef, path string) (jsonpath.Path, error) {
	p, err := jsonpath.Parse(path)
	if err != nil {
		return jsonpath.Path{}, jsonErr(op, ref, err)
	}
	return p, nil
}

// checkJSONValue checks a value about to become (part of) a document: the
// general value limits, then that JSON can hold it.
func (db *DB) checkJSONValue(op string, ref EntityRef, what string, v Value) error {
	if err := db.checkValue(op, v); err != nil {
		var e *Error
		if errors.As(err, &e) {
			msg := e.Msg
			if what != "value" {
				msg = what + ": " + msg
			}
			return &Error{Code: e.Code, Op: op, Ref: &ref, Msg: msg, Offset: -1}
		}
		return err
	}
	if kind, where, bad := notJSON(v); bad {
		return (&Error{Code: dberr.InvalidArgument, Op: op, Offset: -1,
			Msg: what + " holds " + kind + " at " + strconv.Quote(where) + ", which JSON cannot represent"}).WithRef(ref)
	}
	return nil
}

// checkDoc enforces the document limits on the result of a write.
func (db *DB) checkDoc(op string, ref EntityRef, doc Value) error {
	maxBytes := min(jsonMaxDocBytes, db.opts.Limits.MaxValueBytes)
	maxDepth := min(jsonMaxDepth, db.opts.Limits.MaxNesting)
	if d := doc.Depth(); d > maxDepth {
		return (&Error{Code: dberr.InvalidArgument, Op: op, Offset: -1,
			Msg: "the document would nest " + strconv.Itoa(d) + " deep, the limit is " + strconv.Itoa(maxDepth)}).WithRef(ref)
	}
	if n := doc.in().EncodedSize(); n > maxBytes {
		return (&Error{Code: dberr.InvalidArgument, Op: op, Offset: -1,
			Msg: "the document would encode to " + strconv.Itoa(n) + " bytes, the limit is " + strconv.Itoa(maxBytes)}).WithRef(ref)
	}
	return nil
}

// notJSON finds the first part of v that JSON cannot represent (Bytes, NaN,
// ±Inf) and returns its kind and its location as a JSON Pointer.
func notJSON(v Value) (kind, where string, bad bool) {
	var rev []string // pointer tokens from the offending value up to v
	kind, bad = notJSONWalk(v, &rev)
	if !bad {
		return "", "", false
	}
	var b strings.Builder
	for i := len(rev) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(rev[i]))
	}
	return kind, b.String(), true
}

func notJSONWalk(v Value, rev *[]string) (string, bool) {
	switch v.Kind() {
	case KindBytes:
		return "bytes", true
	case KindFloat:
		if f, _ := v.AsFloat(); math.IsNaN(f) || math.IsInf(f, 0) {
			return "the float " + strconv.FormatFloat(f, 'g', -1, 64), true
		}
	case KindArray:
		for i := range v.Len() {
			c, _ := v.Index(i)
			if k, bad := notJSONWalk(c, rev); bad {
				*rev = append(*rev, strconv.Itoa(i))
				return k, true
			}
		}
	case KindObject:
		for _, f := range v.Fields() {
			if k, bad := notJSONWalk(f.Value, rev); bad {
				*rev = append(*rev, f.Key)
				return k, true
			}
		}
	}
	return "", false
}

// jsonArgs carries the arguments of a single-operation write into
// updateWith without a closure.
type jsonArgs struct {
	id, path string
	val      Value
	ops      []jsonpath.Op
}

// Create stores doc as a new document id and returns its version. It fails
// with AlreadyExists if id is a live document (a destroyed id can be
// created again).
func (s JSONStore) Create(ctx context.Context, run RunID, id string, doc Value) (Version, error) {
	return s.write(ctx, run, jsonArgs{id: id, val: doc}, func(tx *Tx, a jsonArgs) error {
		err := tx.JSON().Create(a.id, a.val)
		return err
	})
}

// Get returns the value at path in document id, with the version and
// commit time of the document. The path "" or "$" returns the whole
// document. A missing document or path is a NotFound error.
func (s JSONStore) Get(ctx context.Context, run RunID, id, path string) (Versioned[Value], error) {
	const op = "json.Get"
	db := s.db
	if err := db.checkOpen(op); err != nil {
		return Versioned[Value]{}, err
	}
	if err := db.checkKey(op, "document id", id); err != nil {
		return Versioned[Value]{}, err
	}
	ref := jsonRef(run, id)
	p, err := parseJSONPath(op, ref, path)
	if err != nil {
		return Versioned[Value]{}, err
	}
	e, ok := db.getLatest(run, core.JSON, id)
	if !ok {
		return Versioned[Value]{}, notFound(op, ref)
	}
	return jsonGet(op, ref, e, p)
}

// jsonGet resolves p in the document of entry e.
func jsonGet(op string, ref EntityRef, e engine.Entry, p jsonpath.Path) (Versioned[Value], error) {
	out := versioned(e)
	if !p.IsRoot() {
		v, err := jsonpath.Get(e.Value, p)
		if err != nil {
			return Versioned[Value]{}, jsonErr(op, ref, err)
		}
		out.Value = Value(v)
	}
	return out, nil
}

// Exists reports whether id is a live document.
func (s JSONStore) Exists(ctx context.Context, run RunID, id string) (bool, error) {
	const op = "json.Exists"
	db := s.db
	if err := db.checkOpen(op); err != nil {
		return false, err
	}
	if err := db.checkKey(op, "document id", id); err != nil {
		return false, err
	}
	_, ok := db.getLatest(run, core.JSON, id)
	return ok, nil
}

// Set writes v at path in document id and returns the document's new
// version. The document must exist (NotFound otherwise). Setting a missing
// object key creates it, together with any missing objects on the way; on
// an array an index below the length replaces the element, an index equal
// to the length (or "-") appends, and a larger index is an InvalidPath
// error. The root path replaces the whole document.
func (s JSONStore) Set(ctx context.Context, run RunID, id, path string, v Value) (Version, error) {
	return s.write(ctx, run, jsonArgs{id: id, path: path, val: v}, func(tx *Tx, a jsonArgs) error {
		err := tx.JSON().Set(a.id, a.path, a.val)
		return err
	})
}

// Delete removes the object member or array element at path in document id
// (later elements of an array shift down) and returns the document's new
// version. A missing document or path is NotFound; the root path is
// InvalidPath (use Destroy to remove a document).
func (s JSONStore) Delete(ctx context.Context, run RunID, id, path string) (Version, error) {
	return s.write(ctx, run, jsonArgs{id: id, path: path}, func(tx *Tx, a jsonArgs) error {
		err := tx.JSON().Delete(a.id, a.path)
		return err
	})
}

// Destroy removes document id: it writes a tombstone and returns its
// version. Older versions stay readable through GetAt and History. A
// missing document is NotFound and nothing is written.
func (s JSONStore) Destroy(ctx context.Context, run RunID, id string) (Version, error) {
	return s.write(ctx, run, jsonArgs{id: id}, func(tx *Tx, a jsonArgs) error {
		return tx.JSON().Destroy(a.id)
	})
}

// Patch applies an RFC 6902 JSON Patch to document id atomically and
// returns the document's new version. The operations apply in order, each
// to the result of the previous one; if one fails, nothing is written and
// the error (with the code of the failure: NotFound, WrongType,
// InvalidPath, ConstraintViolation for a failed "test", InvalidArgument for
// an unknown op) names the operation by its index. The values of "add",
// "replace" and "test" operations must be JSON values, like any document
// content (InvalidArgument otherwise). The document must exist.
// A successful patch always writes a new version, even one that leaves the
// document as it was (a patch of only "test" operations, say).
func (s JSONStore) Patch(ctx context.Context, run RunID, id string, ops []PatchOp) (Version, error) {
	return s.patch(ctx, run, jsonArgs{id: id, path: "json.Patch", ops: patchOps(ops)})
}

// patch runs Patch or PatchJSON; a.path carries the operation name.
func (s JSONStore) patch(ctx context.Context, run RunID, a jsonArgs) (Version, error) {
	return s.write(ctx, run, a, func(tx *Tx, a jsonArgs) error {
		err := tx.JSON().patch(a.path, a.id, a.ops)
		return err
	})
}

// PatchJSON is Patch with the patch as JSON text: an array of operation
// objects as RFC 6902 defines them. A malformed patch is InvalidArgument (a
// path that does not parse, InvalidPath) and writes nothing.
func (s JSONStore) PatchJSON(ctx context.Context, run RunID, id string, patch []byte) (Version, error) {
	ops, err := jsonpath.ParsePatch(patch)
	if err != nil {
		return Version{}, jsonErr("json.PatchJSON", jsonRef(run, id), err)
	}
	return s.patch(ctx, run, jsonArgs{id: id, path: "json.PatchJSON", ops: ops})
}

// Merge applies an RFC 7396 JSON Merge Patch to document id and returns the
// document's new version. An object patch merges into the document member
// by member: a null member deletes the key, an object member merges
// recursively, anything else replaces the member (arrays are replaced
// whole). A patch that is not an object replaces the whole document. A
// document that does not exist is created: as RFC 7396 prescribes for a
// missing target, the patch is applied to null.
func (s JSONStore) Merge(ctx context.Context, run RunID, id string, patch Value) (Version, error) {
	return s.write(ctx, run, jsonArgs{id: id, val: patch}, func(tx *Tx, a jsonArgs) error {
		err := tx.JSON().Merge(a.id, a.val)
		return err
	})
}

// write runs a single-operation write transaction, retrying conflicts.
func (s JSONStore) write(ctx context.Context, run RunID, a jsonArgs, fn func(tx *Tx, a jsonArgs) error) (Version, error) {
	n, err := updateWith(s.db, ctx, run, a, fn)
	if err != nil {
		return Version{}, err
	}
	return core.Txn(n), nil
}

// GetAt returns document id as of version at (a Txn version): the newest
// version not newer than at. NotFound if the document did not exist then
// (not yet created, or destroyed).
func (s JSONStore) GetAt(ctx context.Context, run RunID, id string, at Version) (Versioned[Value], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (Versioned[Value], error) { return tx.JSON().GetAt(id, at) })
}

// History returns every retained version of document id, newest first,
// including destructions (Deleted set). A document never written gives an
// empty slice.
//
// Once retention has trimmed anything in the run's JSON space, History
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
func (s JSONStore) History(ctx context.Context, run RunID, id string) ([]Versioned[Value], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Value], error) { return tx.JSON().History(id) })
}

// Scan iterates over the live documents whose id has the given prefix, in
// ascending id order, at one consistent snapshot taken when Scan is called.
// An empty prefix scans every document of the run. A failure (Closed,
// Canceled, DeadlineExceeded) is yielded as the error of a last pair; see
// KVStore.Scan.
func (s JSONStore) Scan(ctx context.Context, run RunID, prefix string) iter.Seq2[Entry, error] {
	return s.db.snapshotSeq(ctx, "json.Scan", run, core.JSON, prefix)
}

// List returns the ids of the live documents with the given prefix, sorted:
// all of them or an error. Use ListPage for listings that may be large.
func (s JSONStore) List(ctx context.Context, run RunID, prefix string) ([]string, error) {
	return collectKeys(s.db.snapshotSeq(ctx, "json.List", run, core.JSON, prefix))
}

// liveDoc checks that the transaction may write and returns the document
// id it rewrites; NotFound if it is not live.
func (j JSONTx) liveDoc(op, id string, ref EntityRef) (engine.Entry, error) {
	tx := j.tx
	if err := tx.checkWrite(op, tx.run); err != nil {
		return engine.Entry{}, err
	}
	e, ok := tx.txn.Get(tx.run, core.JSON, id)
	if !ok {
		return engine.Entry{}, notFound(op, ref)
	}
	return e, nil
}

// checkInput checks a write's document id and the value it brings (what
// names it in errors), and returns the document's reference.
func (j JSONTx) checkInput(op, id, what string, v Value) (EntityRef, error) {
	if err := j.tx.db.checkKey(op, "document id", id); err != nil {
		return EntityRef{}, err
	}
	ref := jsonRef(j.tx.run, id)
	if err := j.tx.db.checkJSONValue(op, ref, what, v); err != nil {
		return EntityRef{}, err
	}
	return ref, nil
}

// Create buffers doc as a new document id; AlreadyExists if id is live.
func (j JSONTx) Create(id string, doc Value) error {
	const op = "json.Create"
	tx := j.tx
	ref, err := j.checkInput(op, id, "document", doc)
	if err != nil {
		return err
	}
	if err := tx.db.checkDoc(op, ref, doc); err != nil {
		return err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	if _, ok := tx.txn.Get(tx.run, core.JSON, id); ok {
		return (&Error{Code: dberr.AlreadyExists, Op: op, Msg: "document already exists", Offset: -1}).WithRef(ref)
	}
	tx.txn.Put(tx.run, core.JSON, id, doc.in())
	return nil
}

// Get returns the value at path in document id as the transaction sees it.
func (j JSONTx) Get(id, path string) (Versioned[Value], error) {
	const op = "json.Get"
	tx := j.tx
	if err := tx.checkRead(); err != nil {
		return Versioned[Value]{}, err
	}
	if err := tx.db.checkKey(op, "document id", id); err != nil {
		return Versioned[Value]{}, err
	}
	ref := jsonRef(tx.run, id)
	p, err := parseJSONPath(op, ref, path)
	if err != nil {
		return Versioned[Value]{}, err
	}
	e, ok := tx.txn.Get(tx.run, core.JSON, id)
	if !ok {
		return Versioned[Value]{}, notFound(op, ref)
	}
	return jsonGet(op, ref, e, p)
}

// Exists reports whether id is a live document.
func (j JSONTx) Exists(id string) (bool, error) {
	const op = "json.Exists"
	tx := j.tx
	if err := tx.checkRead(); err != nil {
		return false, err
	}
	if err := tx.db.checkKey(op, "document id", id); err != nil {
		return false, err
	}
	_, ok := tx.txn.Get(tx.run, core.JSON, id)
	return ok, nil
}

// Set buffers the document id with v set at path (see JSONStore.Set).
func (j JSONTx) Set(id, path string, v Value) error {
	const op = "json.Set"
	return j.edit(op, id, path, true, v, func(doc Value, p jsonpath.Path, v Value) (Value, error) {
		d, err := jsonpath.Set(doc.in(), p, v.in())
		return Value(d), err
	})
}

// Delete buffers the document id without the member or element at path
// (see JSONStore.Delete).
func (j JSONTx) Delete(id, path string) error {
	const op = "json.Delete"
	return j.edit(op, id, path, false, Value{}, func(doc Value, p jsonpath.Path, _ Value) (Value, error) {
		d, err := jsonpath.Delete(doc.in(), p)
		return Value(d), err
	})
}

// edit is the common body of Set and Delete: validate, read the document
// (joining the read set), apply f at path, check the result, buffer it.
func (j JSONTx) edit(op, id, path string, hasValue bool, v Value, f func(doc Value, p jsonpath.Path, v Value) (Value, error)) error {
	tx := j.tx
	if err := tx.db.checkKey(op, "document id", id); err != nil {
		return err
	}
	ref := jsonRef(tx.run, id)
	p, err := parseJSONPath(op, ref, path)
	if err != nil {
		return err
	}
	if hasValue {
		if err := tx.db.checkJSONValue(op, ref, "value", v); err != nil {
			return err
		}
	}
	e, err := j.liveDoc(op, id, ref)
	if err != nil {
		return err
	}
	doc, err := f(Value(e.Value), p, v)
	if err != nil {
		return jsonErr(op, ref, err)
	}
	return j.put(op, ref, doc)
}

// put checks the resulting document and buffers it.
func (j JSONTx) put(op string, ref EntityRef, doc Value) error {
	tx := j.tx
	if err := tx.db.checkDoc(op, ref, doc); err != nil {
		return err
	}
	tx.txn.Put(tx.run, core.JSON, ref.Key, doc.in())
	return nil
}

// Destroy buffers a tombstone for document id; NotFound if it is not live.
func (j JSONTx) Destroy(id string) error {
	const op = "json.Destroy"
	tx := j.tx
	if err := tx.db.checkKey(op, "document id", id); err != nil {
		return err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	if _, ok := tx.txn.Get(tx.run, core.JSON, id); !ok {
		return notFound(op, jsonRef(tx.run, id))
	}
	tx.txn.Delete(tx.run, core.JSON, id)
	return nil
}

// Patch buffers document id with an RFC 6902 JSON Patch applied atomically
// (see JSONStore.Patch). On error the transaction's view of the document is
// unchanged.
func (j JSONTx) Patch(id string, ops []PatchOp) error {
	return j.patch("json.Patch", id, patchOps(ops))
}

func (j JSONTx) patch(op, id string, ops []jsonpath.Op) error {
	tx := j.tx
	if err := tx.db.checkKey(op, "document id", id); err != nil {
		return err
	}
	ref := jsonRef(tx.run, id)
	for i := range ops {
		switch ops[i].Op {
		case "add", "replace", "test":
			what := "op " + strconv.Itoa(i) + " (" + ops[i].Op + ") value"
			if err := tx.db.checkJSONValue(op, ref, what, Value(ops[i].Value)); err != nil {
				return err
			}
		}
	}
	e, err := j.liveDoc(op, id, ref)
	if err != nil {
		return err
	}
	doc, err := jsonpath.Patch(e.Value, ops)
	if err != nil {
		return jsonErr(op, ref, err)
	}
	return j.put(op, ref, Value(doc))
}

// PatchJSON is Patch with the patch as JSON text (see JSONStore.PatchJSON).
func (j JSONTx) PatchJSON(id string, patch []byte) error {
	ops, err := jsonpath.ParsePatch(patch)
	if err != nil {
		return jsonErr("json.PatchJSON", jsonRef(j.tx.run, id), err)
	}
	return j.patch("json.PatchJSON", id, ops)
}

// Merge buffers document id with an RFC 7396 JSON Merge Patch applied,
// creating the document if it does not exist (see JSONStore.Merge).
func (j JSONTx) Merge(id string, patch Value) error {
	const op = "json.Merge"
	tx := j.tx
	ref, err := j.checkInput(op, id, "merge patch", patch)
	if err != nil {
		return err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	e, _ := tx.txn.Get(tx.run, core.JSON, id) // absent: e.Value is null
	return j.put(op, ref, Value(jsonpath.MergePatch(e.Value, patch.in())))
}

// GetAt returns document id as of version at (see JSONStore.GetAt).
func (j JSONTx) GetAt(id string, at Version) (Versioned[Value], error) {
	const op = "json.GetAt"
	tx := j.tx
	if err := tx.checkRead(); err != nil {
		return Versioned[Value]{}, err
	}
	if err := tx.db.checkKey(op, "document id", id); err != nil {
		return Versioned[Value]{}, err
	}
	if at.Kind != core.TxnVersion {
		return Versioned[Value]{}, errorf(CodeInvalidArgument, op, "version must be a Txn version, got %s", at)
	}
	e, ok := tx.txn.GetAt(tx.run, core.JSON, id, at.N)
	if !ok {
		if err := tx.trimmedErr(op, core.JSON, id, at.N, jsonRef(tx.run, id)); err != nil {
			return Versioned[Value]{}, err
		}
	}
	if !ok || e.Tombstone {
		return Versioned[Value]{}, notFound(op, jsonRef(tx.run, id))
	}
	return versioned(e), nil
}

// History returns every committed version of document id visible to the
// transaction, newest first, including destructions (see
// JSONStore.History, which also says when HistoryTrimmed comes with it).
// The transaction's own buffered writes are not part of history.
func (j JSONTx) History(id string) ([]Versioned[Value], error) {
	const op = "json.History"
	tx := j.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	if err := tx.db.checkKey(op, "document id", id); err != nil {
		return nil, err
	}
	es := tx.txn.History(tx.run, core.JSON, id)
	out := make([]Versioned[Value], len(es))
	for i, e := range es {
		out[i] = versioned(e)
	}
	return out, tx.historyTrimmedErr(op, core.JSON, oldestOf(es), jsonRef(tx.run, id))
}

// Scan iterates over the live documents whose id has the given prefix, in
// ascending order, as the transaction sees them (its snapshot plus its own
// writes). Each document yielded joins the read set. The transaction must
// not write the scanned documents while iterating. A failure is yielded as
// the error of a last pair; see KVTx.Scan.
func (j JSONTx) Scan(prefix string) iter.Seq2[Entry, error] {
	return j.tx.txSeq("json.Scan", core.JSON, prefix)
}

// List returns the ids of the live documents with the given prefix, sorted,
// as the transaction sees them.
func (j JSONTx) List(prefix string) ([]string, error) {
	return collectKeys(j.tx.txSeq("json.List", core.JSON, prefix))
}
