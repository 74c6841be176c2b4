package inmem

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"strings"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/internal/vector"
)

// Metric is a vector collection's similarity measure. Scores are always
// "higher is better".
type Metric vector.Metric

const (
	// Cosine: cosine similarity in [-1, 1]; a zero vector scores 0.
	Cosine = Metric(vector.Cosine)
	// Euclidean: the negated Euclidean distance (an identical vector
	// scores 0, farther ones less).
	Euclidean = Metric(vector.Euclidean)
	// DotProduct: the dot product.
	DotProduct = Metric(vector.DotProduct)
)

// Valid reports whether m is one of the three metrics.
func (m Metric) Valid() bool { return vector.Metric(m).Valid() }

// String returns "cosine", "euclidean" or "dot_product".
func (m Metric) String() string { return vector.Metric(m).String() }

// ParseMetric parses "cosine", "euclidean" or "dot_product".
func ParseMetric(s string) (Metric, error) {
	m, err := vector.ParseMetric(s)
	if err != nil {
		return 0, errorf(CodeInvalidArgument, "ParseMetric", "%v", err)
	}
	return Metric(m), nil
}

// CollectionInfo describes a vector collection.
type CollectionInfo struct {
	Name   string
	Dim    int
	Metric Metric
	// Version is the version that created the collection.
	Version Version
}

// VectorEntry is one stored embedding with its metadata.
type VectorEntry struct {
	Key       string
	Embedding []float32
	// Metadata is an Object (or Null); searches can filter on its
	// top-level fields.
	Metadata Value
}

// VectorHit is one search result.
type VectorHit struct {
	Key      string
	Score    float32
	Metadata Value
}

// FilterOp compares a metadata field with a value.
type FilterOp uint8

const (
	// OpEq: the field equals the value (Value.Equal; no Int/Float coercion).
	OpEq FilterOp = iota + 1
	// OpNe: the field is absent or differs from the value.
	OpNe
	// OpLt, OpLte, OpGt, OpGte order numbers (Int and Float compared
	// numerically) and strings; a field of another kind does not match.
	OpLt
	OpLte
	OpGt
	OpGte
	// OpIn: the field equals one of the elements of the value, an Array.
	OpIn
)

// Condition tests one top-level metadata field.
type Condition struct {
	Field string
	Op    FilterOp
	Value Value
}

// Filter is a conjunction of conditions: a vector matches when all hold. A
// nil Filter matches everything.
type Filter []Condition

// Eq is the condition field == v.
func Eq(field string, v Value) Condition { return Condition{Field: field, Op: OpEq, Value: v} }

// Matches reports whether metadata satisfies every condition.
func (f Filter) Matches(metadata Value) bool {
	for _, c := range f {
		if !c.matches(metadata) {
			return false
		}
	}
	return true
}

func (c Condition) matches(meta Value) bool {
	v, ok := meta.Get(c.Field)
	switch c.Op {
	case OpEq:
		return ok && v.Equal(c.Value)
	case OpNe:
		return !ok || !v.Equal(c.Value)
	case OpIn:
		if !ok {
			return false
		}
		for i := 0; i < c.Value.Len(); i++ {
			if e, _ := c.Value.Index(i); e.Equal(v) {
				return true
			}
		}
		return false
	case OpLt, OpLte, OpGt, OpGte:
		if !ok {
			return false
		}
		r, comparable := compareOrdered(v, c.Value)
		if !comparable {
			return false
		}
		switch c.Op {
		case OpLt:
			return r < 0
		case OpLte:
			return r <= 0
		case OpGt:
			return r > 0
		}
		return r >= 0
	}
	return false
}

// compareOrdered orders two numbers (numerically) or two strings.
func compareOrdered(a, b Value) (int, bool) {
	if s, ok := a.AsString(); ok {
		t, ok := b.AsString()
		return strings.Compare(s, t), ok
	}
	x, ok1 := number(a)
	y, ok2 := number(b)
	if !ok1 || !ok2 || math.IsNaN(x) || math.IsNaN(y) {
		return 0, false
	}
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	}
	return 0, true
}

func number(v Value) (float64, bool) {
	if i, ok := v.AsInt(); ok {
		return float64(i), true
	}
	return v.AsFloat()
}

func (f Filter) validate(op string) error {
	for i, c := range f {
		switch {
		case c.Op < OpEq || c.Op > OpIn:
			return errorf(CodeInvalidArgument, op, "filter condition %d has unknown operator %d", i, c.Op)
		case c.Op == OpIn && c.Value.Kind() != KindArray:
			return errorf(CodeInvalidArgument, op, "filter condition %d: In needs an Array value", i)
		}
	}
	return nil
}

const (
	fieldDim       = "dim"
	fieldMetric    = "metric"
	fieldEmbedding = "e"
	fieldMetadata  = "m"
)

func encodeEmbedding(vec []float32) Value {
	b := make([]byte, 4*len(vec))
	for i, f := range vec {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return Value(value.BytesFromString(string(b)))
}

// decodeEmbedding decodes into dst (grown as needed).
func decodeEmbedding(dst []float32, v Value) ([]float32, bool) {
	s, ok := v.BytesString()
	if !ok || len(s)%4 != 0 {
		return dst, false
	}
	dst = slices.Grow(dst[:0], len(s)/4)[:len(s)/4]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32([]byte(s[4*i : 4*i+4])))
	}
	return dst, true
}

// decodeVectorRecord returns the embedding and metadata of a stored record.
func decodeVectorRecord(v Value) ([]float32, Value, bool) {
	e, ok := v.Get(fieldEmbedding)
	if !ok {
		return nil, Value{}, false
	}
	vec, ok := decodeEmbedding(nil, e)
	if !ok {
		return nil, Value{}, false
	}
	m, _ := v.Get(fieldMetadata)
	return vec, m, true
}

func decodeConfig(v Value) (dim int, metric Metric, ok bool) {
	d, ok1 := v.Get(fieldDim)
	m, ok2 := v.Get(fieldMetric)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	n, ok1 := d.AsInt()
	s, ok2 := m.AsString()
	mt, err := vector.ParseMetric(s)
	if !ok1 || !ok2 || err != nil || n <= 0 {
		return 0, 0, false
	}
	return int(n), Metric(mt), true
}

func vecRef(run RunID, coll, key string) EntityRef {
	return EntityRef{Primitive: core.Vector, Run: run, Key: coll, Sub: key}
}

// VectorStore is the vector primitive: per-run collections of embeddings
// with metadata and exact k-nearest-neighbour search. Embeddings are stored
// unnormalised inside transactional records, so vector writes join
// cross-primitive transactions and roll back with them; the search index is
// derived from committed state (and rebuilt from it on recovery). Every call
// is a single-operation transaction on the run it names; inside a
// transaction use Tx.Vectors. Versions are Txn versions.
type VectorStore struct{ db *DB }

// Vectors returns the vector primitive.
func (db *DB) Vectors() VectorStore { return VectorStore{db} }

// VectorTx is the vector primitive inside a transaction.
type VectorTx struct{ tx *Tx }

// Vectors returns the vector primitive of the transaction.
func (tx *Tx) Vectors() VectorTx { return VectorTx{tx} }

type collArgs struct {
	name   string
	dim    int
	metric Metric
}

// CreateCollection creates a collection with an immutable dimension (1 to
// Limits.MaxVectorDim) and metric. AlreadyExists if it exists.
func (s VectorStore) CreateCollection(ctx context.Context, run RunID, name string, dim int, metric Metric) (Version, error) {
	n, err := updateWith(s.db, ctx, run, collArgs{name, dim, metric}, func(tx *Tx, a collArgs) error {
		return tx.Vectors().CreateCollection(a.name, a.dim, a.metric)
	})
	return core.Txn(n), err
}

// DeleteCollection deletes a collection and every vector in it, in one
// commit. NotFound if it does not exist.
func (s VectorStore) DeleteCollection(ctx context.Context, run RunID, name string) (Version, error) {
	n, err := updateWith(s.db, ctx, run, name, func(tx *Tx, name string) error {
		return tx.Vectors().DeleteCollection(name)
	})
	return core.Txn(n), err
}

// Collection describes one collection.
func (s VectorStore) Collection(ctx context.Context, run RunID, name string) (CollectionInfo, error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (CollectionInfo, error) { return tx.Vectors().Collection(name) })
}

// ListCollections lists the run's collections by name.
func (s VectorStore) ListCollections(ctx context.Context, run RunID) ([]CollectionInfo, error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]CollectionInfo, error) { return tx.Vectors().ListCollections() })
}

type upsertArgs struct {
	coll, key string
	vec       []float32
	meta      Value
}

// Upsert stores embedding (copied) and metadata (an Object or Null) under
// key, replacing what was there. The embedding's length must equal the
// collection's dimension and its components must be finite.
func (s VectorStore) Upsert(ctx context.Context, run RunID, coll, key string, embedding []float32, metadata Value) (Version, error) {
	n, err := updateWith(s.db, ctx, run, upsertArgs{coll, key, embedding, metadata}, func(tx *Tx, a upsertArgs) error {
		return tx.Vectors().Upsert(a.coll, a.key, a.vec, a.meta)
	})
	return core.Txn(n), err
}

// Get returns the vector stored under key.
func (s VectorStore) Get(ctx context.Context, run RunID, coll, key string) (Versioned[VectorEntry], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (Versioned[VectorEntry], error) { return tx.Vectors().Get(coll, key) })
}

// Delete removes the vector under key; NotFound if there is none.
func (s VectorStore) Delete(ctx context.Context, run RunID, coll, key string) (Version, error) {
	n, err := updateWith(s.db, ctx, run, [2]string{coll, key}, func(tx *Tx, a [2]string) error {
		return tx.Vectors().Delete(a[0], a[1])
	})
	return core.Txn(n), err
}

// Count returns the number of vectors in the collection.
func (s VectorStore) Count(ctx context.Context, run RunID, coll string) (int, error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (int, error) { return tx.Vectors().Count(coll) })
}

// Search returns the k vectors scoring highest against query whose metadata
// matches filter, best first, ties broken by key. The search is exact.
func (s VectorStore) Search(ctx context.Context, run RunID, coll string, query []float32, k int, filter Filter) ([]VectorHit, error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]VectorHit, error) { return tx.Vectors().Search(coll, query, k, filter) })
}

// GetAt returns the vector as of version at (a Txn version).
func (s VectorStore) GetAt(ctx context.Context, run RunID, coll, key string, at Version) (Versioned[VectorEntry], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (Versioned[VectorEntry], error) { return tx.Vectors().GetAt(coll, key, at) })
}

// History returns every retained version of the vector, newest first,
// including deletions.
//
// Once retention has trimmed anything in the run's Vector space, History
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
func (s VectorStore) History(ctx context.Context, run RunID, coll, key string) ([]Versioned[VectorEntry], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[VectorEntry], error) { return tx.Vectors().History(coll, key) })
}

// collection reads a collection's config in the transaction.
func (v VectorTx) collection(op, name string) (CollectionInfo, error) {
	tx := v.tx
	if err := tx.checkRead(); err != nil {
		return CollectionInfo{}, err
	}
	if err := tx.db.checkKey(op, "collection name", name); err != nil {
		return CollectionInfo{}, err
	}
	e, ok := tx.txn.Get(tx.run, core.Vector, collectionKey(name))
	if !ok {
		return CollectionInfo{}, notFound(op, vecRef(tx.run, name, ""))
	}
	dim, metric, ok := decodeConfig(Value(e.Value))
	if !ok {
		return CollectionInfo{}, dberr.New(dberr.Corruption, op, "collection %q has a malformed config", name)
	}
	return CollectionInfo{Name: name, Dim: dim, Metric: metric, Version: core.Txn(e.Version)}, nil
}

// CreateCollection creates a collection; AlreadyExists if it exists.
func (v VectorTx) CreateCollection(name string, dim int, metric Metric) error {
	tx := v.tx
	const op = "vectors.CreateCollection"
	if err := tx.db.checkKey(op, "collection name", name); err != nil {
		return err
	}
	if dim <= 0 || dim > tx.db.opts.Limits.MaxVectorDim {
		return errorf(CodeInvalidArgument, op, "dimension %d is outside 1..%d", dim, tx.db.opts.Limits.MaxVectorDim)
	}
	if !metric.Valid() {
		return errorf(CodeInvalidArgument, op, "unknown metric %d", metric)
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	if _, ok := tx.txn.Get(tx.run, core.Vector, collectionKey(name)); ok {
		return (&Error{Code: dberr.AlreadyExists, Op: op, Msg: "collection exists", Offset: -1}).WithRef(vecRef(tx.run, name, ""))
	}
	tx.txn.Put(tx.run, core.Vector, collectionKey(name), value.ObjectOf(
		value.Field{Key: fieldDim, Value: value.Int(int64(dim))},
		value.Field{Key: fieldMetric, Value: value.String(metric.String())},
	))
	return nil
}

// DeleteCollection deletes a collection and its vectors.
func (v VectorTx) DeleteCollection(name string) error {
	tx := v.tx
	const op = "vectors.DeleteCollection"
	if _, err := v.collection(op, name); err != nil {
		return err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	prefix := vectorPrefix(name)
	var keys []string
	tx.txn.Scan(tx.run, core.Vector, prefix, engine.PrefixEnd(prefix), true, func(key string, _ engine.Entry) bool {
		keys = append(keys, key)
		return true
	})
	for _, k := range keys {
		tx.txn.Delete(tx.run, core.Vector, k)
	}
	tx.txn.Delete(tx.run, core.Vector, collectionKey(name))
	return nil
}

// Collection describes one collection.
func (v VectorTx) Collection(name string) (CollectionInfo, error) {
	return v.collection("vectors.Collection", name)
}

// ListCollections lists the run's collections by name.
func (v VectorTx) ListCollections() ([]CollectionInfo, error) {
	tx := v.tx
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	var out []CollectionInfo
	prefix := collectionKey("")
	tx.txn.Scan(tx.run, core.Vector, prefix, engine.PrefixEnd(prefix), true, func(key string, e engine.Entry) bool {
		name, _, _, _ := parseVectorKey(key)
		if dim, metric, ok := decodeConfig(Value(e.Value)); ok {
			out = append(out, CollectionInfo{Name: name, Dim: dim, Metric: metric, Version: core.Txn(e.Version)})
		}
		return true
	})
	return out, nil
}

// checkEmbedding validates an embedding against a collection.
func checkEmbedding(op string, info CollectionInfo, vec []float32) error {
	if len(vec) != info.Dim {
		return errorf(CodeInvalidArgument, op, "embedding has dimension %d, collection %q has %d", len(vec), info.Name, info.Dim)
	}
	var sq float64
	for i, f := range vec {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return errorf(CodeInvalidArgument, op, "embedding component %d is %v", i, f)
		}
		sq += float64(f) * float64(f)
	}
	if sq > math.MaxFloat32 {
		return errorf(CodeInvalidArgument, op, "embedding is too long: its squared length overflows float32")
	}
	return nil
}

// Upsert stores embedding and metadata under key.
func (v VectorTx) Upsert(coll, key string, embedding []float32, metadata Value) error {
	tx := v.tx
	const op = "vectors.Upsert"
	info, err := v.collection(op, coll)
	if err != nil {
		return err
	}
	if err := tx.db.checkKey(op, "key", key); err != nil {
		return err
	}
	if err := checkEmbedding(op, info, embedding); err != nil {
		return err
	}
	if k := metadata.Kind(); k != KindObject && k != KindNull {
		return errorf(CodeInvalidArgument, op, "metadata must be an Object or Null, not %s", k)
	}
	rec := value.ObjectOf(
		value.Field{Key: fieldEmbedding, Value: encodeEmbedding(embedding).in()},
		value.Field{Key: fieldMetadata, Value: metadata.in()},
	)
	if err := tx.db.checkValue(op, Value(rec)); err != nil {
		return err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	tx.txn.Put(tx.run, core.Vector, vectorKey(coll, key), rec)
	return nil
}

func vectorVersioned(key string, e engine.Entry) (Versioned[VectorEntry], bool) {
	out := Versioned[VectorEntry]{Version: core.Txn(e.Version), Timestamp: Timestamp(e.Time), Deleted: e.Tombstone}
	out.Value.Key = key
	if e.Tombstone {
		return out, true
	}
	vec, meta, ok := decodeVectorRecord(Value(e.Value))
	out.Value.Embedding, out.Value.Metadata = vec, meta
	return out, ok
}

// Get returns the vector under key.
func (v VectorTx) Get(coll, key string) (Versioned[VectorEntry], error) {
	tx := v.tx
	const op = "vectors.Get"
	if _, err := v.collection(op, coll); err != nil {
		return Versioned[VectorEntry]{}, err
	}
	if err := tx.db.checkKey(op, "key", key); err != nil {
		return Versioned[VectorEntry]{}, err
	}
	e, ok := tx.txn.Get(tx.run, core.Vector, vectorKey(coll, key))
	if !ok {
		return Versioned[VectorEntry]{}, notFound(op, vecRef(tx.run, coll, key))
	}
	out, ok := vectorVersioned(key, e)
	if !ok {
		return Versioned[VectorEntry]{}, dberr.New(dberr.Corruption, op, "vector %q has a malformed record", key)
	}
	return out, nil
}

// Delete removes the vector under key.
func (v VectorTx) Delete(coll, key string) error {
	tx := v.tx
	const op = "vectors.Delete"
	if _, err := v.collection(op, coll); err != nil {
		return err
	}
	if err := tx.db.checkKey(op, "key", key); err != nil {
		return err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return err
	}
	if _, ok := tx.txn.Get(tx.run, core.Vector, vectorKey(coll, key)); !ok {
		return notFound(op, vecRef(tx.run, coll, key))
	}
	tx.txn.Delete(tx.run, core.Vector, vectorKey(coll, key))
	return nil
}

// Count returns the number of vectors in the collection.
func (v VectorTx) Count(coll string) (int, error) {
	tx := v.tx
	if _, err := v.collection("vectors.Count", coll); err != nil {
		return 0, err
	}
	prefix := vectorPrefix(coll)
	n := 0
	tx.txn.Scan(tx.run, core.Vector, prefix, engine.PrefixEnd(prefix), false, func(string, engine.Entry) bool {
		n++
		return true
	})
	return n, nil
}

// GetAt returns the vector as of version at.
func (v VectorTx) GetAt(coll, key string, at Version) (Versioned[VectorEntry], error) {
	tx := v.tx
	const op = "vectors.GetAt"
	if err := tx.checkRead(); err != nil {
		return Versioned[VectorEntry]{}, err
	}
	if err := tx.db.checkKey(op, "collection name", coll); err != nil {
		return Versioned[VectorEntry]{}, err
	}
	if err := tx.db.checkKey(op, "key", key); err != nil {
		return Versioned[VectorEntry]{}, err
	}
	if at.Kind != core.TxnVersion {
		return Versioned[VectorEntry]{}, errorf(CodeInvalidArgument, op, "version must be a Txn version, got %s", at)
	}
	e, ok := tx.txn.GetAt(tx.run, core.Vector, vectorKey(coll, key), at.N)
	if !ok {
		if err := tx.trimmedErr(op, core.Vector, vectorKey(coll, key), at.N, vecRef(tx.run, coll, key)); err != nil {
			return Versioned[VectorEntry]{}, err
		}
	}
	if !ok || e.Tombstone {
		return Versioned[VectorEntry]{}, notFound(op, vecRef(tx.run, coll, key))
	}
	out, ok := vectorVersioned(key, e)
	if !ok {
		return Versioned[VectorEntry]{}, dberr.New(dberr.Corruption, op, "vector %q has a malformed record", key)
	}
	return out, nil
}

// History returns every retained version of the vector, newest first, with
// HistoryTrimmed once the run's Vector space has a trim floor (see
// VectorStore.History).
func (v VectorTx) History(coll, key string) ([]Versioned[VectorEntry], error) {
	tx := v.tx
	const op = "vectors.History"
	if err := tx.checkRead(); err != nil {
		return nil, err
	}
	if err := tx.db.checkKey(op, "collection name", coll); err != nil {
		return nil, err
	}
	if err := tx.db.checkKey(op, "key", key); err != nil {
		return nil, err
	}
	var out []Versioned[VectorEntry]
	es := tx.txn.History(tx.run, core.Vector, vectorKey(coll, key))
	for _, e := range es {
		ve, ok := vectorVersioned(key, e)
		if !ok {
			return nil, dberr.New(dberr.Corruption, op, "vector %q has a malformed record", key)
		}
		out = append(out, ve)
	}
	return out, tx.historyTrimmedErr(op, core.Vector, oldestOf(es), vecRef(tx.run, coll, key))
}

// Search returns the k best-scoring vectors matching filter, as the
// transaction sees them: its snapshot plus its own writes. A search does
// not join the read set (like a scan, it has no phantom protection).
func (v VectorTx) Search(coll string, query []float32, k int, filter Filter) ([]VectorHit, error) {
	tx := v.tx
	const op = "vectors.Search"
	info, err := v.collection(op, coll)
	if err != nil {
		return nil, err
	}
	if len(query) != info.Dim {
		return nil, errorf(CodeInvalidArgument, op, "query has dimension %d, collection %q has %d", len(query), coll, info.Dim)
	}
	for i, f := range query {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, errorf(CodeInvalidArgument, op, "query component %d is %v", i, f)
		}
	}
	if k < 0 {
		return nil, errorf(CodeInvalidArgument, op, "k is %d", k)
	}
	if err := filter.validate(op); err != nil {
		return nil, err
	}
	if k == 0 {
		return []VectorHit{}, nil
	}
	hits := tx.db.vectors.search(tx, coll, info, query, k, filter)
	out := make([]VectorHit, len(hits))
	for i, h := range hits {
		meta, _ := h.Payload.(Value)
		out[i] = VectorHit{Key: h.Key, Score: h.Score, Metadata: meta}
	}
	return out, nil
}
