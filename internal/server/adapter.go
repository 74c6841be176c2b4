package server

// This file is the seam between the server and package inmem: every call
// into the database's primitives is here, so a change of the library's
// listing or append signatures is adapted in one place.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/inmemdb/inmem"
)

// Op is one operation of a batch. Which fields an operation accepts is
// listed in opFields; any other field is an InvalidArgument error.
type Op struct {
	Op         string          `json:"op"`
	Key        string          `json:"key,omitempty"`
	Value      json.RawMessage `json:"value,omitempty"`
	Type       string          `json:"type,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
	Path       string          `json:"path,omitempty"`
	Patch      json.RawMessage `json:"patch,omitempty"`
	Collection string          `json:"collection,omitempty"`
	Embedding  []float32       `json:"embedding,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Dim        int             `json:"dim,omitempty"`
	Metric     string          `json:"metric,omitempty"`
	K          int             `json:"k,omitempty"`
	Filter     []FilterCond    `json:"filter,omitempty"`
	Parent     *uint64         `json:"parent,omitempty"`
	Run        string          `json:"run,omitempty"`
	ParentRun  string          `json:"parent_run,omitempty"`
	Name       string          `json:"name,omitempty"`
	Status     string          `json:"status,omitempty"`
	Error      string          `json:"error,omitempty"`
	Tags       []string        `json:"tags,omitempty"`
	Tag        string          `json:"tag,omitempty"`
	Prefix     string          `json:"prefix,omitempty"`
	Seq        *uint64         `json:"seq,omitempty"`
	From       uint64          `json:"from,omitempty"`
	Limit      int             `json:"limit,omitempty"`
	At         *uint64         `json:"at,omitempty"`
	IfVersion  *uint64         `json:"if_version,omitempty"`
	IfAbsent   bool            `json:"if_absent,omitempty"`
}

// FilterCond is one metadata condition of a vector search.
type FilterCond struct {
	Field string          `json:"field"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value"`
}

// Result is what one operation returns; its keys depend on the operation.
type Result = map[string]any

// opSpec describes one operation: the fields it accepts and whether it
// writes.
type opSpec struct {
	write  bool
	fields []string
}

// cond are the fields of an optimistic condition.
var cond = []string{"if_version", "if_absent"}

func fields(lists ...[]string) []string { return slices.Concat(lists...) }

// opSpecs is the vocabulary of operations.
var opSpecs = map[string]opSpec{
	"kv.get":     {false, []string{"key", "at"}},
	"kv.history": {false, []string{"key"}},
	"kv.put":     {true, fields([]string{"key", "value"}, cond)},
	"kv.delete":  {true, fields([]string{"key"}, cond)},
	"kv.list":    {false, []string{"prefix"}},

	"event.append": {true, []string{"type", "value"}},
	"event.get":    {false, []string{"seq"}},
	"event.list":   {false, []string{"from", "limit", "type"}},

	"state.get":     {false, []string{"key", "at"}},
	"state.history": {false, []string{"key"}},
	"state.set":     {true, fields([]string{"key", "value"}, cond)},
	"state.delete":  {true, fields([]string{"key"}, cond)},
	"state.list":    {false, []string{"prefix"}},

	"trace.record": {true, []string{"type", "body", "parent", "tags", "metadata"}},
	"trace.get":    {false, []string{"seq"}},
	"trace.list":   {false, []string{"type", "tag"}},

	"json.get":     {false, []string{"key", "path", "at"}},
	"json.history": {false, []string{"key"}},
	"json.put":     {true, fields([]string{"key", "value"}, cond)},
	"json.set":     {true, fields([]string{"key", "path", "value"}, cond)},
	"json.patch":   {true, fields([]string{"key", "patch"}, cond)},
	"json.merge":   {true, fields([]string{"key", "value"}, cond)},
	"json.delete":  {true, fields([]string{"key", "path"}, cond)},
	"json.list":    {false, []string{"prefix"}},

	"vector.create_collection": {true, []string{"collection", "dim", "metric"}},
	"vector.delete_collection": {true, []string{"collection"}},
	"vector.collections":       {false, nil},
	"vector.upsert":            {true, fields([]string{"collection", "key", "embedding", "metadata"}, cond)},
	"vector.get":               {false, []string{"collection", "key"}},
	"vector.delete":            {true, fields([]string{"collection", "key"}, cond)},
	"vector.search":            {false, []string{"collection", "embedding", "k", "filter"}},

	"run.create":     {true, []string{"name", "parent_run", "tags", "metadata"}},
	"run.get":        {false, []string{"run"}},
	"run.list":       {false, []string{"status", "tag"}},
	"run.set_status": {true, []string{"run", "status", "error"}},
}

const (
	maxBatchOps  = 1000
	defaultLimit = 1000
	maxLimit     = 10000
	maxK         = 10000
)

// newErr builds a typed error of the database's error model.
func newErr(code inmem.Code, op, format string, args ...any) *inmem.Error {
	return &inmem.Error{Code: code, Op: op, Msg: fmt.Sprintf(format, args...), Offset: -1}
}

// decodeOp decodes one operation strictly: a known name, only its fields,
// the right JSON types.
func decodeOp(raw json.RawMessage) (Op, error) {
	if op, ok := decodeOpFast(raw); ok {
		return op, nil
	}
	return decodeOpGeneral(raw)
}

// decodeOpGeneral is decodeOp for any operation: the fast path's
// reference, and the judge of everything it passes on.
func decodeOpGeneral(raw json.RawMessage) (Op, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Op{}, badJSON(err)
	}
	var name string
	if err := json.Unmarshal(keys["op"], &name); err != nil || name == "" {
		return Op{}, newErr(inmem.CodeInvalidArgument, "batch", "every operation needs an \"op\" string")
	}
	spec, ok := opSpecs[name]
	if !ok {
		return Op{}, newErr(inmem.CodeInvalidArgument, "batch", "unknown operation %q", name)
	}
	// In sorted order: with several unknown fields, the same one is named
	// every time.
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if k != "op" && !slices.Contains(spec.fields, k) {
			return Op{}, newErr(inmem.CodeInvalidArgument, name, "unknown field %q", k)
		}
	}
	var op Op
	if _, nested := keys["filter"]; nested {
		// Filter conditions are objects of their own: only a strict
		// decoder refuses unknown fields inside them.
		if err := strictUnmarshal(raw, &op); err != nil {
			return Op{}, err
		}
		return op, nil
	}
	// Every top-level key is one of the operation's fields (checked above,
	// case included), so a plain Unmarshal is as strict here and skips
	// building a Decoder per operation.
	if err := json.Unmarshal(raw, &op); err != nil {
		return Op{}, badJSON(err)
	}
	return op, nil
}

// isWrite reports whether any operation writes.
func isWrite(ops []Op) bool {
	for _, op := range ops {
		if opSpecs[op.Op].write {
			return true
		}
	}
	return false
}

// pendingTxn marks a result version that is the batch's commit version,
// known only once the transaction has committed.
type pendingTxn struct{}

// OpError names the operation of a batch that failed.
type OpError struct {
	Index int
	Err   error
}

func (e *OpError) Error() string { return fmt.Sprintf("operation %d: %v", e.Index, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }

// applyOps runs ops in one transaction bound to run: db.Update when one of
// them writes (so they commit or abort together), db.View otherwise.
// It returns one result per operation and the commit version (0 for reads).
func applyOps(ctx context.Context, db *inmem.DB, run inmem.RunID, ops []Op) ([]Result, uint64, error) {
	var results []Result
	var txp *inmem.Tx
	fn := func(tx *inmem.Tx) error {
		txp = tx
		results = make([]Result, 0, len(ops))
		for i, op := range ops {
			r, err := applyOp(tx, op)
			if err != nil {
				return &OpError{Index: i, Err: err}
			}
			results = append(results, r)
		}
		return nil
	}
	if !isWrite(ops) {
		if err := db.View(ctx, run, fn); err != nil {
			return nil, 0, err
		}
		return results, 0, nil
	}
	if err := db.Update(ctx, run, fn); err != nil {
		return nil, 0, err
	}
	cv := txp.CommitVersion().N
	for _, r := range results {
		for k, v := range r {
			if _, ok := v.(pendingTxn); ok {
				r[k] = cv
			}
		}
	}
	return results, cv, nil
}

func parseValue(op string, raw json.RawMessage, what string) (inmem.Value, error) {
	if len(raw) == 0 {
		return inmem.Value{}, newErr(inmem.CodeInvalidArgument, op, "%s is required", what)
	}
	if v, ok := scalarFromJSON(raw); ok {
		return v, nil
	}
	v, err := inmem.ValueFromJSON(raw)
	if err != nil {
		return inmem.Value{}, err
	}
	return v, nil
}

// scalarFromJSON converts the commonest values (null, booleans, integers,
// strings without escapes) as ValueFromJSON would, without the token
// decoder it builds for every value; ok is false for anything else, which
// ValueFromJSON then handles (and judges).
func scalarFromJSON(raw []byte) (inmem.Value, bool) {
	switch string(raw) {
	case "null":
		return inmem.Null(), true
	case "true":
		return inmem.Bool(true), true
	case "false":
		return inmem.Bool(false), true
	}
	switch c := raw[0]; {
	case c == '"':
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return inmem.Value{}, false
		}
		body := raw[1 : len(raw)-1]
		for _, b := range body {
			if b == '"' || b == '\\' || b < 0x20 || b >= utf8.RuneSelf {
				return inmem.Value{}, false
			}
		}
		return inmem.String(string(body)), true
	case c == '-' || (c >= '0' && c <= '9'):
		digits := raw
		if c == '-' {
			digits = raw[1:]
		}
		if len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
			return inmem.Value{}, false
		}
		for _, b := range digits {
			if b < '0' || b > '9' {
				return inmem.Value{}, false
			}
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return inmem.Value{}, false
		}
		return inmem.Int(n), true
	}
	return inmem.Value{}, false
}

func optValue(op string, raw json.RawMessage, what string) (inmem.Value, error) {
	if len(raw) == 0 {
		return inmem.Null(), nil
	}
	return parseValue(op, raw, what)
}

func needKey(op Op, what string) error {
	if op.Key == "" {
		return newErr(inmem.CodeInvalidKey, op.Op, "%s is required", what)
	}
	return nil
}

// check applies an operation's condition to the entity's current version
// (0 when it does not exist). The read that produced current joined the
// transaction's read set, so a concurrent change also fails the commit.
func check(op Op, current uint64, kind func(uint64) inmem.Version) error {
	if op.IfAbsent && current != 0 {
		e, a := kind(0), kind(current)
		return &inmem.Error{Code: inmem.CodeConflict, Op: op.Op, Msg: fmt.Sprintf("%q exists", op.Key), Expected: &e, Actual: &a, Offset: -1}
	}
	if op.IfVersion != nil && *op.IfVersion != current {
		e, a := kind(*op.IfVersion), kind(current)
		return &inmem.Error{Code: inmem.CodeConflict, Op: op.Op, Msg: fmt.Sprintf("%q is at version %d, not %d", op.Key, current, *op.IfVersion), Expected: &e, Actual: &a, Offset: -1}
	}
	return nil
}

// currentVersion turns a read into the version a condition compares:
// NotFound means 0, other errors stay errors.
func currentVersion[T any](v inmem.Versioned[T], err error) (uint64, error) {
	if errors.Is(err, inmem.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return v.Version.N, nil
}

func hasCond(op Op) bool { return op.IfAbsent || op.IfVersion != nil }

func versioned(v inmem.Versioned[inmem.Value]) Result {
	return Result{"value": v.Value, "version": v.Version.N, "timestamp": int64(v.Timestamp)}
}

// history renders a version list, newest first, deletions included.
func history(vs []inmem.Versioned[inmem.Value], err error) (Result, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(vs))
	for i, v := range vs {
		r := versioned(v)
		r["deleted"] = v.Deleted
		out[i] = r
	}
	return Result{"versions": out}, nil
}

func limitOf(op Op) (int, error) {
	switch {
	case op.Limit < 0 || op.Limit > maxLimit:
		return 0, newErr(inmem.CodeInvalidArgument, op.Op, "limit must be between 1 and %d", maxLimit)
	case op.Limit == 0:
		return defaultLimit, nil
	}
	return op.Limit, nil
}

// applyOp runs one operation inside tx.
func applyOp(tx *inmem.Tx, op Op) (Result, error) {
	switch op.Op {
	case "kv.get":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		var v inmem.Versioned[inmem.Value]
		var err error
		if op.At != nil {
			v, err = tx.KV().GetAt(op.Key, inmem.Txn(*op.At))
		} else {
			v, err = tx.KV().Get(op.Key)
		}
		if err != nil {
			return nil, err
		}
		return versioned(v), nil
	case "kv.history":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		return history(tx.KV().History(op.Key))
	case "kv.put":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		v, err := parseValue(op.Op, op.Value, "value")
		if err != nil {
			return nil, err
		}
		if hasCond(op) {
			cur, err := currentVersion(tx.KV().Get(op.Key))
			if err != nil {
				return nil, err
			}
			if err := check(op, cur, inmem.Txn); err != nil {
				return nil, err
			}
		}
		if err := tx.KV().Put(op.Key, v); err != nil {
			return nil, err
		}
		return Result{"version": pendingTxn{}}, nil
	case "kv.delete":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		if hasCond(op) {
			cur, err := currentVersion(tx.KV().Get(op.Key))
			if err != nil {
				return nil, err
			}
			if err := check(op, cur, inmem.Txn); err != nil {
				return nil, err
			}
		}
		if err := tx.KV().Delete(op.Key); err != nil {
			return nil, err
		}
		return Result{"version": pendingTxn{}}, nil
	case "kv.list":
		keys, err := tx.KV().List(op.Prefix)
		if err != nil {
			return nil, err
		}
		return Result{"keys": nonNil(keys)}, nil

	case "event.append":
		if op.Type == "" {
			return nil, newErr(inmem.CodeInvalidKey, op.Op, "type is required")
		}
		v, err := optValue(op.Op, op.Value, "value")
		if err != nil {
			return nil, err
		}
		seq, err := tx.Events().Append(op.Type, v)
		if err != nil {
			return nil, err
		}
		return Result{"sequence": seq.N}, nil
	case "event.get":
		if op.Seq == nil {
			return nil, newErr(inmem.CodeInvalidArgument, op.Op, "seq is required")
		}
		e, err := tx.Events().Read(*op.Seq)
		if err != nil {
			return nil, err
		}
		return eventJSON(e.Value), nil
	case "event.list":
		limit, err := limitOf(op)
		if err != nil {
			return nil, err
		}
		var evs []inmem.Event
		if op.Type != "" {
			all, err := tx.Events().ReadByType(op.Type)
			if err != nil {
				return nil, err
			}
			for _, e := range all {
				if e.Sequence >= op.From && len(evs) < limit {
					evs = append(evs, e)
				}
			}
		} else {
			to := op.From + uint64(limit)
			if to < op.From {
				to = math.MaxUint64
			}
			if evs, err = tx.Events().Range(op.From, to); err != nil {
				return nil, err
			}
		}
		out := make([]Result, len(evs))
		for i, e := range evs {
			out[i] = eventJSON(e)
		}
		return Result{"events": out}, nil

	case "state.get":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		var v inmem.Versioned[inmem.Value]
		var err error
		if op.At != nil {
			v, err = tx.State().GetAt(op.Key, inmem.Counter(*op.At))
		} else {
			v, err = tx.State().Read(op.Key)
		}
		if err != nil {
			return nil, err
		}
		return versioned(v), nil
	case "state.history":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		return history(tx.State().History(op.Key))
	case "state.set":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		v, err := parseValue(op.Op, op.Value, "value")
		if err != nil {
			return nil, err
		}
		var ver inmem.Version
		switch {
		case op.IfAbsent:
			ver, err = tx.State().CAS(op.Key, inmem.Counter(0), v)
		case op.IfVersion != nil:
			ver, err = tx.State().CAS(op.Key, inmem.Counter(*op.IfVersion), v)
		default:
			ver, err = tx.State().Set(op.Key, v)
		}
		if err != nil {
			return nil, err
		}
		return Result{"version": ver.N}, nil
	case "state.delete":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		if hasCond(op) {
			cur, err := currentVersion(tx.State().Read(op.Key))
			if err != nil {
				return nil, err
			}
			if err := check(op, cur, inmem.Counter); err != nil {
				return nil, err
			}
		}
		if err := tx.State().Delete(op.Key); err != nil {
			return nil, err
		}
		return Result{}, nil
	case "state.list":
		names, err := tx.State().List(op.Prefix)
		if err != nil {
			return nil, err
		}
		return Result{"keys": nonNil(names)}, nil

	case "trace.record":
		spec, err := traceSpec(op)
		if err != nil {
			return nil, err
		}
		var id inmem.TraceID
		if op.Parent != nil && *op.Parent != 0 {
			id, err = tx.Traces().RecordChild(inmem.TraceID(*op.Parent), spec)
		} else {
			id, err = tx.Traces().Record(spec)
		}
		if err != nil {
			return nil, err
		}
		return Result{"id": uint64(id), "version": pendingTxn{}}, nil
	case "trace.get":
		if op.Seq == nil {
			return nil, newErr(inmem.CodeInvalidArgument, op.Op, "seq (the trace id) is required")
		}
		t, err := tx.Traces().Get(inmem.TraceID(*op.Seq))
		if err != nil {
			return nil, err
		}
		return traceJSON(t), nil
	case "trace.list":
		var ts []inmem.Versioned[inmem.Trace]
		var err error
		switch {
		case op.Type != "":
			ts, err = tx.Traces().QueryByType(inmem.TraceType(op.Type))
		case op.Tag != "":
			ts, err = tx.Traces().QueryByTag(op.Tag)
		default:
			ts, err = tx.Traces().List()
		}
		if err != nil {
			return nil, err
		}
		out := make([]Result, len(ts))
		for i, t := range ts {
			out[i] = traceJSON(t)
		}
		return Result{"traces": out}, nil

	case "json.get":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		if op.At != nil {
			if op.Path != "" && op.Path != "$" {
				return nil, newErr(inmem.CodeInvalidArgument, op.Op, "at reads a whole document; leave path empty")
			}
			v, err := tx.JSON().GetAt(op.Key, inmem.Txn(*op.At))
			if err != nil {
				return nil, err
			}
			return versioned(v), nil
		}
		v, err := tx.JSON().Get(op.Key, op.Path)
		if err != nil {
			return nil, err
		}
		return versioned(v), nil
	case "json.history":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		return history(tx.JSON().History(op.Key))
	case "json.put", "json.set", "json.patch", "json.merge", "json.delete":
		return applyJSONWrite(tx, op)
	case "json.list":
		ids, err := tx.JSON().List(op.Prefix)
		if err != nil {
			return nil, err
		}
		return Result{"keys": nonNil(ids)}, nil

	case "vector.create_collection":
		m, err := inmem.ParseMetric(orDefault(op.Metric, "cosine"))
		if err != nil {
			return nil, err
		}
		if err := tx.Vectors().CreateCollection(op.Collection, op.Dim, m); err != nil {
			return nil, err
		}
		return Result{"version": pendingTxn{}}, nil
	case "vector.delete_collection":
		if err := tx.Vectors().DeleteCollection(op.Collection); err != nil {
			return nil, err
		}
		return Result{"version": pendingTxn{}}, nil
	case "vector.collections":
		cs, err := tx.Vectors().ListCollections()
		if err != nil {
			return nil, err
		}
		out := make([]Result, len(cs))
		for i, c := range cs {
			out[i] = Result{"name": c.Name, "dim": c.Dim, "metric": c.Metric.String(), "version": c.Version.N}
		}
		return Result{"collections": out}, nil
	case "vector.upsert":
		if err := needKey(op, "key"); err != nil {
			return nil, err
		}
		md, err := optValue(op.Op, op.Metadata, "metadata")
		if err != nil {
			return nil, err
		}
		if hasCond(op) {
			cur, err := currentVersion(tx.Vectors().Get(op.Collection, op.Key))
			if err != nil {
				return nil, err
			}
			if err := check(op, cur, inmem.Txn); err != nil {
				return nil, err
			}
		}
		if err := tx.Vectors().Upsert(op.Collection, op.Key, op.Embedding, md); err != nil {
			return nil, err
		}
		return Result{"version": pendingTxn{}}, nil
	case "vector.get":
		v, err := tx.Vectors().Get(op.Collection, op.Key)
		if err != nil {
			return nil, err
		}
		return Result{"key": v.Value.Key, "embedding": nonNil(v.Value.Embedding), "metadata": v.Value.Metadata,
			"version": v.Version.N, "timestamp": int64(v.Timestamp)}, nil
	case "vector.delete":
		if hasCond(op) {
			cur, err := currentVersion(tx.Vectors().Get(op.Collection, op.Key))
			if err != nil {
				return nil, err
			}
			if err := check(op, cur, inmem.Txn); err != nil {
				return nil, err
			}
		}
		if err := tx.Vectors().Delete(op.Collection, op.Key); err != nil {
			return nil, err
		}
		return Result{"version": pendingTxn{}}, nil
	case "vector.search":
		k := op.K
		if k == 0 {
			k = 10
		}
		if k < 0 || k > maxK {
			return nil, newErr(inmem.CodeInvalidArgument, op.Op, "k must be between 1 and %d", maxK)
		}
		f, err := filterOf(op)
		if err != nil {
			return nil, err
		}
		hits, err := tx.Vectors().Search(op.Collection, op.Embedding, k, f)
		if err != nil {
			return nil, err
		}
		out := make([]Result, len(hits))
		for i, h := range hits {
			out[i] = Result{"key": h.Key, "score": h.Score, "metadata": h.Metadata}
		}
		return Result{"hits": out}, nil

	case "run.create":
		md, err := optValue(op.Op, op.Metadata, "metadata")
		if err != nil {
			return nil, err
		}
		opts := inmem.RunOptions{Tags: op.Tags, Metadata: md}
		if op.ParentRun != "" {
			p, err := runInTx(tx, op.ParentRun)
			if err != nil {
				return nil, err
			}
			opts.Parent = &p
		}
		id, err := tx.Runs().Create(op.Name, opts)
		if err != nil {
			return nil, err
		}
		return Result{"id": id.String(), "version": pendingTxn{}}, nil
	case "run.get":
		id, err := runInTx(tx, op.Run)
		if err != nil {
			return nil, err
		}
		info, err := tx.Runs().Get(id)
		if err != nil {
			return nil, err
		}
		return runJSON(info), nil
	case "run.list":
		var rs []inmem.Versioned[inmem.RunInfo]
		var err error
		switch {
		case op.Status != "":
			rs, err = tx.Runs().QueryByStatus(inmem.RunStatus(op.Status))
		case op.Tag != "":
			rs, err = tx.Runs().QueryByTag(op.Tag)
		default:
			rs, err = tx.Runs().List()
		}
		if err != nil {
			return nil, err
		}
		out := make([]Result, len(rs))
		for i, r := range rs {
			out[i] = runJSON(r)
		}
		return Result{"runs": out}, nil
	case "run.set_status":
		id, err := runInTx(tx, op.Run)
		if err != nil {
			return nil, err
		}
		st := inmem.RunStatus(op.Status)
		if !st.Valid() {
			return nil, newErr(inmem.CodeInvalidArgument, op.Op, "unknown status %q", op.Status)
		}
		if st == inmem.RunFailed {
			err = tx.Runs().Fail(id, op.Error)
		} else {
			err = tx.Runs().SetStatus(id, st)
		}
		if err != nil {
			return nil, err
		}
		return Result{"version": pendingTxn{}}, nil
	}
	return nil, newErr(inmem.CodeInvalidArgument, "batch", "unknown operation %q", op.Op)
}

func applyJSONWrite(tx *inmem.Tx, op Op) (Result, error) {
	if err := needKey(op, "key"); err != nil {
		return nil, err
	}
	j := tx.JSON()
	cur, err := currentVersion(j.Get(op.Key, ""))
	if err != nil {
		return nil, err
	}
	if err := check(op, cur, inmem.Txn); err != nil {
		return nil, err
	}
	exists, err := j.Exists(op.Key)
	if err != nil {
		return nil, err
	}
	switch op.Op {
	case "json.put":
		v, err := parseValue(op.Op, op.Value, "value")
		if err != nil {
			return nil, err
		}
		if exists {
			err = j.Set(op.Key, "", v)
		} else {
			err = j.Create(op.Key, v)
		}
		if err != nil {
			return nil, err
		}
	case "json.set":
		v, err := parseValue(op.Op, op.Value, "value")
		if err != nil {
			return nil, err
		}
		if err := j.Set(op.Key, op.Path, v); err != nil {
			return nil, err
		}
	case "json.patch":
		if len(op.Patch) == 0 {
			return nil, newErr(inmem.CodeInvalidArgument, op.Op, "patch is required")
		}
		if err := j.PatchJSON(op.Key, op.Patch); err != nil {
			return nil, err
		}
	case "json.merge":
		v, err := parseValue(op.Op, op.Value, "value")
		if err != nil {
			return nil, err
		}
		if err := j.Merge(op.Key, v); err != nil {
			return nil, err
		}
	case "json.delete":
		if op.Path == "" || op.Path == "$" {
			err = j.Destroy(op.Key)
		} else {
			err = j.Delete(op.Key, op.Path)
		}
		if err != nil {
			return nil, err
		}
	}
	return Result{"version": pendingTxn{}}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

var filterOps = map[string]inmem.FilterOp{
	"eq": inmem.OpEq, "ne": inmem.OpNe, "lt": inmem.OpLt, "lte": inmem.OpLte,
	"gt": inmem.OpGt, "gte": inmem.OpGte, "in": inmem.OpIn,
}

func filterOf(op Op) (inmem.Filter, error) {
	var f inmem.Filter
	for _, c := range op.Filter {
		fo, ok := filterOps[orDefault(c.Op, "eq")]
		if !ok {
			return nil, newErr(inmem.CodeInvalidArgument, op.Op, "unknown filter op %q", c.Op)
		}
		v, err := parseValue(op.Op, c.Value, "filter value")
		if err != nil {
			return nil, err
		}
		f = append(f, inmem.Condition{Field: c.Field, Op: fo, Value: v})
	}
	return f, nil
}

// traceBodies decode the body of each built-in trace type.
type toolCallBody struct {
	Tool       string          `json:"tool"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	DurationMS float64         `json:"duration_ms,omitempty"`
}
type decisionBody struct {
	Choice    string   `json:"choice"`
	Options   []string `json:"options,omitempty"`
	Reasoning string   `json:"reasoning,omitempty"`
}
type queryBody struct {
	Query   string          `json:"query"`
	Results json.RawMessage `json:"results,omitempty"`
}
type thoughtBody struct {
	Content string `json:"content"`
}
type errorTraceBody struct {
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}
type customBody struct {
	Data json.RawMessage `json:"data,omitempty"`
}

func traceSpec(op Op) (inmem.TraceSpec, error) {
	body := op.Body
	if len(body) == 0 {
		body = json.RawMessage("{}")
	}
	md, err := optValue(op.Op, op.Metadata, "metadata")
	if err != nil {
		return inmem.TraceSpec{}, err
	}
	spec := inmem.TraceSpec{Tags: op.Tags, Metadata: md}
	typ := inmem.TraceType(op.Type)
	switch {
	case typ == inmem.TraceTypeToolCall:
		var b toolCallBody
		if err := strictUnmarshal(body, &b); err != nil {
			return spec, err
		}
		in, err := optValue(op.Op, b.Input, "input")
		if err != nil {
			return spec, err
		}
		out, err := optValue(op.Op, b.Output, "output")
		if err != nil {
			return spec, err
		}
		if b.DurationMS < 0 || b.DurationMS > 1e12 {
			return spec, newErr(inmem.CodeInvalidArgument, op.Op, "duration_ms out of range")
		}
		spec.Body = inmem.ToolCallTrace{Tool: b.Tool, Input: in, Output: out, Duration: msDuration(b.DurationMS)}
	case typ == inmem.TraceTypeDecision:
		var b decisionBody
		if err := strictUnmarshal(body, &b); err != nil {
			return spec, err
		}
		spec.Body = inmem.DecisionTrace{Choice: b.Choice, Options: b.Options, Reasoning: b.Reasoning}
	case typ == inmem.TraceTypeQuery:
		var b queryBody
		if err := strictUnmarshal(body, &b); err != nil {
			return spec, err
		}
		res, err := optValue(op.Op, b.Results, "results")
		if err != nil {
			return spec, err
		}
		spec.Body = inmem.QueryTrace{Query: b.Query, Results: res}
	case typ == inmem.TraceTypeThought:
		var b thoughtBody
		if err := strictUnmarshal(body, &b); err != nil {
			return spec, err
		}
		spec.Body = inmem.ThoughtTrace{Content: b.Content}
	case typ == inmem.TraceTypeError:
		var b errorTraceBody
		if err := strictUnmarshal(body, &b); err != nil {
			return spec, err
		}
		spec.Body = inmem.ErrorTrace{Message: b.Message, Code: b.Code}
	case typ.IsCustom() && typ.Valid():
		var b customBody
		if err := strictUnmarshal(body, &b); err != nil {
			return spec, err
		}
		data, err := optValue(op.Op, b.Data, "data")
		if err != nil {
			return spec, err
		}
		spec.Body = inmem.CustomTrace{Name: typ.CustomName(), Data: data}
	default:
		return spec, newErr(inmem.CodeInvalidArgument, op.Op, "unknown trace type %q (want tool_call, decision, query, thought, error or custom:<name>)", op.Type)
	}
	return spec, nil
}

func traceBodyJSON(b inmem.TraceBody) Result {
	switch b := b.(type) {
	case inmem.ToolCallTrace:
		return Result{"tool": b.Tool, "input": b.Input, "output": b.Output, "duration_ms": float64(b.Duration.Microseconds()) / 1000}
	case inmem.DecisionTrace:
		return Result{"choice": b.Choice, "options": nonNil(b.Options), "reasoning": b.Reasoning}
	case inmem.QueryTrace:
		return Result{"query": b.Query, "results": b.Results}
	case inmem.ThoughtTrace:
		return Result{"content": b.Content}
	case inmem.ErrorTrace:
		return Result{"message": b.Message, "code": b.Code}
	case inmem.CustomTrace:
		return Result{"data": b.Data}
	}
	return Result{}
}

func traceJSON(t inmem.Versioned[inmem.Trace]) Result {
	return Result{
		"id": uint64(t.Value.ID), "parent": uint64(t.Value.Parent), "type": string(t.Value.Type),
		"body": traceBodyJSON(t.Value.Body), "tags": nonNil(t.Value.Tags), "metadata": t.Value.Metadata,
		"recorded_at": int64(t.Value.RecordedAt), "version": t.Version.N, "timestamp": int64(t.Timestamp),
	}
}

func eventJSON(e inmem.Event) Result {
	return Result{
		"sequence": e.Sequence, "type": e.Type, "payload": e.Payload, "timestamp": int64(e.Timestamp),
		"hash": hex.EncodeToString(e.Hash[:]), "prev_hash": hex.EncodeToString(e.PrevHash[:]),
	}
}

func runJSON(r inmem.Versioned[inmem.RunInfo]) Result {
	out := Result{
		"id": r.Value.ID.String(), "name": r.Value.Name, "status": string(r.Value.Status),
		"tags": nonNil(r.Value.Tags), "metadata": r.Value.Metadata, "error": r.Value.Error,
		"created_at": int64(r.Value.CreatedAt), "updated_at": int64(r.Value.UpdatedAt), "version": r.Version.N,
	}
	if r.Value.Parent != nil {
		out["parent"] = r.Value.Parent.String()
	}
	if r.Value.ForkedAt != (inmem.Version{}) {
		out["forked_at"] = r.Value.ForkedAt.N
	}
	return out
}

// globalRunName addresses the reserved global run in URLs.
const globalRunName = "global"

// resolveRun turns a run reference — a RunID, "global", or the name of a
// registered run — into a RunID.
func resolveRun(ctx context.Context, db *inmem.DB, ref string) (inmem.RunID, error) {
	if ref == "" || ref == globalRunName {
		return inmem.GlobalRun, nil
	}
	if id, err := inmem.ParseRunID(ref); err == nil {
		return id, nil
	}
	info, err := db.Runs().GetByName(ctx, ref)
	if err != nil {
		return inmem.RunID{}, err
	}
	return info.Value.ID, nil
}

func runInTx(tx *inmem.Tx, ref string) (inmem.RunID, error) {
	if ref == "" {
		return inmem.RunID{}, newErr(inmem.CodeInvalidArgument, "runs", "run is required")
	}
	if ref == globalRunName {
		return inmem.GlobalRun, nil
	}
	if id, err := inmem.ParseRunID(ref); err == nil {
		return id, nil
	}
	info, err := tx.Runs().GetByName(ref)
	if err != nil {
		return inmem.RunID{}, err
	}
	return info.Value.ID, nil
}

// deleteRun removes a run and all its data (closing it first; see
// RunIndex.Delete).
func deleteRun(ctx context.Context, db *inmem.DB, run inmem.RunID) (uint64, error) {
	v, err := db.Runs().Delete(ctx, run)
	return v.N, err
}

// runIDs lists every run holding data, registered or not.
func runIDs(db *inmem.DB) ([]string, error) {
	ids, err := db.RunIDs()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	sort.Strings(out)
	return out, nil
}

// eventsFrom reads up to limit events of run from sequence from on, at one
// snapshot; the change feed calls it after every wake-up.
func eventsFrom(ctx context.Context, db *inmem.DB, run inmem.RunID, from uint64, limit int) ([]Result, error) {
	to := from + uint64(limit)
	if to < from {
		to = math.MaxUint64
	}
	evs, err := db.Events().Range(ctx, run, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(evs))
	for i, e := range evs {
		out[i] = eventJSON(e)
	}
	return out, nil
}

func checkpoint(ctx context.Context, db *inmem.DB) (Result, error) {
	info, err := db.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return Result{"snapshot_id": info.SnapshotID, "watermark": info.Watermark.N, "bytes": info.Bytes,
		"entities": info.Entities, "versions": info.Versions}, nil
}

func compact(ctx context.Context, db *inmem.DB) (Result, error) {
	info, err := db.Compact(ctx, inmem.WALOnly)
	if err != nil {
		return nil, err
	}
	return Result{"mode": info.Mode.String(), "reclaimed_bytes": info.ReclaimedBytes,
		"segments_removed": info.SegmentsRemoved, "versions_removed": info.VersionsRemoved}, nil
}

// statsOf is the part of DB.Stats the server reports.
type statsOf struct {
	Durability      string  `json:"durability"`
	CommitVersion   uint64  `json:"commit_version"`
	Commits         uint64  `json:"commits"`
	ReadOnlyCommits uint64  `json:"read_only_commits"`
	Conflicts       uint64  `json:"conflicts"`
	Versions        uint64  `json:"versions_installed"`
	Runs            int     `json:"runs"`
	WALSegments     int     `json:"wal_segments"`
	WALBytes        int64   `json:"wal_bytes"`
	WALRecords      uint64  `json:"wal_records"`
	Fsyncs          uint64  `json:"fsyncs"`
	GroupCommits    uint64  `json:"group_commits"`
	MaxBatch        int     `json:"max_group_commit"`
	MeanBatch       float64 `json:"mean_group_commit"`
	SnapshotBytes   int64   `json:"snapshot_bytes"`
}

func stats(db *inmem.DB) statsOf {
	s := db.Stats()
	return statsOf{
		Durability: s.Durability, CommitVersion: s.CommitVersion, Commits: s.Commits,
		ReadOnlyCommits: s.ReadOnlyCommits, Conflicts: s.Conflicts, Versions: s.VersionsInstalled,
		Runs: s.Runs, WALSegments: s.WAL.Segments, WALBytes: s.WAL.Bytes, WALRecords: s.WAL.Records,
		Fsyncs: s.WAL.Fsyncs, GroupCommits: s.WAL.GroupCommits, MaxBatch: s.WAL.MaxBatch,
		MeanBatch: s.WAL.MeanBatch, SnapshotBytes: s.WAL.SnapshotBytes,
	}
}

// codeName is the stable text of an error's code.
func codeName(err error) (inmem.Code, string) {
	c := inmem.CodeOf(err)
	return c, c.String()
}
