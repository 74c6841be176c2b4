package inmem

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
)

// TraceID identifies a trace within its run. IDs are assigned per run, from
// 1, in commit order, without gaps; the zero TraceID means "no trace" (the
// parent of a root trace).
type TraceID uint64

// String returns the decimal form used in entity references.
func (id TraceID) String() string { return strconv.FormatUint(uint64(id), 10) }

// TraceType is the type of a trace: one of the five built-in types or a
// custom type made with CustomTraceType. Types are plain comparable values;
// the body of a trace decides its type (see TraceBody), so a trace can never
// carry fields of a type other than its own.
type TraceType string

// The built-in trace types.
const (
	TraceTypeToolCall TraceType = "tool_call" // body ToolCallTrace
	TraceTypeDecision TraceType = "decision"  // body DecisionTrace
	TraceTypeQuery    TraceType = "query"     // body QueryTrace
	TraceTypeThought  TraceType = "thought"   // body ThoughtTrace
	TraceTypeError    TraceType = "error"     // body ErrorTrace
)

// customTracePrefix starts the text of every custom trace type.
const customTracePrefix = "custom:"

// CustomTraceType returns the type of CustomTrace bodies with the given
// name: "custom:" followed by the name. A custom type never equals a
// built-in one, whatever its name.
func CustomTraceType(name string) TraceType { return TraceType(customTracePrefix + name) }

// IsCustom reports whether t is a custom type.
func (t TraceType) IsCustom() bool { return strings.HasPrefix(string(t), customTracePrefix) }

// CustomName returns the name of a custom type ("" for a built-in one).
func (t TraceType) CustomName() string {
	if !t.IsCustom() {
		return ""
	}
	return string(t[len(customTracePrefix):])
}

// Valid reports whether t is a built-in type or a custom type with a
// non-empty, valid UTF-8 name. (Recording also bounds the name's length by
// Limits.MaxKeyBytes.)
func (t TraceType) Valid() bool {
	switch t {
	case TraceTypeToolCall, TraceTypeDecision, TraceTypeQuery, TraceTypeThought, TraceTypeError:
		return true
	}
	name := t.CustomName()
	return name != "" && utf8.ValidString(name)
}

// TraceBody is the type-specific content of a trace. It is one of
// ToolCallTrace, DecisionTrace, QueryTrace, ThoughtTrace, ErrorTrace and
// CustomTrace (the interface is sealed: no other type implements it).
// Recording accepts the structs or pointers to them; reads return the
// structs.
type TraceBody interface {
	// TraceType returns the type of traces with this body.
	TraceType() TraceType
	traceBody()
}

// ToolCallTrace records a call of a tool: its name (required), input,
// output and how long it took (not negative).
type ToolCallTrace struct {
	Tool     string
	Input    Value
	Output   Value
	Duration time.Duration
}

// DecisionTrace records a decision: the choice made (required), the options
// considered and the reasoning.
type DecisionTrace struct {
	Choice    string
	Options   []string
	Reasoning string
}

// QueryTrace records a query (its text is required) and its results.
type QueryTrace struct {
	Query   string
	Results Value
}

// ThoughtTrace records a step of reasoning (its content is required).
type ThoughtTrace struct {
	Content string
}

// ErrorTrace records an error: a message (required) and an optional code.
type ErrorTrace struct {
	Message string
	Code    string
}

// CustomTrace is a trace of an application-defined type: Name (required; its
// type is CustomTraceType(Name)) and free-form Data.
type CustomTrace struct {
	Name string
	Data Value
}

// TraceType returns TraceTypeToolCall.
func (ToolCallTrace) TraceType() TraceType { return TraceTypeToolCall }

// TraceType returns TraceTypeDecision.
func (DecisionTrace) TraceType() TraceType { return TraceTypeDecision }

// TraceType returns TraceTypeQuery.
func (QueryTrace) TraceType() TraceType { return TraceTypeQuery }

// TraceType returns TraceTypeThought.
func (ThoughtTrace) TraceType() TraceType { return TraceTypeThought }

// TraceType returns TraceTypeError.
func (ErrorTrace) TraceType() TraceType { return TraceTypeError }

// TraceType returns CustomTraceType(c.Name).
func (c CustomTrace) TraceType() TraceType { return CustomTraceType(c.Name) }

func (ToolCallTrace) traceBody() {}
func (DecisionTrace) traceBody() {}
func (QueryTrace) traceBody()    {}
func (ThoughtTrace) traceBody()  {}
func (ErrorTrace) traceBody()    {}
func (CustomTrace) traceBody()   {}

// TraceSpec is what Record stores: a body (required), tags and metadata.
// Tags are arbitrary valid UTF-8 strings of at most Limits.MaxKeyBytes bytes
// (the empty string included); duplicates are dropped, the first occurrence
// keeping its place. Metadata is any Value (Null when unset).
//
// A trace is stored as one record value holding the body's fields, the tags
// and the metadata; that record must fit the value limits (Limits), so the
// values inside it (Input, Output, Results, Data, Metadata) may nest at most
// Limits.MaxNesting-1 deep.
type TraceSpec struct {
	Body     TraceBody
	Tags     []string
	Metadata Value
}

// Trace is one recorded trace.
type Trace struct {
	ID     TraceID
	Parent TraceID // zero for a root trace
	Type   TraceType
	// Body is one of the TraceBody structs (never a pointer); its type is
	// Type.
	Body     TraceBody
	Tags     []string
	Metadata Value
	// RecordedAt is the database clock when Record was called. Listings
	// are ordered by (RecordedAt, ID). Versioned.Timestamp is the commit
	// time instead.
	RecordedAt Timestamp
}

// TraceNode is one entry of a Tree listing: a trace and its depth below the
// root of the tree (the root has depth 0).
type TraceNode struct {
	Depth int
	Trace Versioned[Trace]
}

// TraceStore is the reasoning-trace primitive: an append-only record of what
// an agent run did and why, queryable by type, tag, time and parent. Every
// call is a single-operation transaction on the run it names; versions are
// Txn versions. Obtain it with DB.Traces; inside a transaction use
// Tx.Traces.
//
// Every listing is ordered by (RecordedAt, ID) and comes from an index, not a
// scan of every trace. Recording in a closed run fails with RunClosed.
type TraceStore struct{ db *DB }

// Traces returns the trace primitive.
func (db *DB) Traces() TraceStore { return TraceStore{db} }

// TraceTx is the trace primitive inside a transaction (bound to its run).
// Reads see the transaction's snapshot plus its own writes; a trace the
// transaction recorded itself reports a zero Version until commit.
type TraceTx struct{ tx *Tx }

// Traces returns the trace primitive of the transaction.
func (tx *Tx) Traces() TraceTx { return TraceTx{tx} }

func traceRef(run RunID, id TraceID) EntityRef {
	return EntityRef{Primitive: core.Trace, Run: run, Key: id.String()}
}

// Field names of a trace record (an Object).
const (
	trType      = "type"
	trParent    = "parent"
	trAt        = "at"
	trTags      = "tags"
	trMeta      = "meta"
	trTool      = "tool"
	trInput     = "input"
	trOutput    = "output"
	trDuration  = "duration" // nanoseconds
	trChoice    = "choice"
	trOptions   = "options"
	trReasoning = "reasoning"
	trQuery     = "query"
	trResults   = "results"
	trContent   = "content"
	trMessage   = "message"
	trCode      = "code"
	trData      = "data"
)

// checkText validates a string field: valid UTF-8, non-empty if required.
func checkText(op, what, s string, required bool) error {
	if required && s == "" {
		return errorf(CodeInvalidArgument, op, "%s must not be empty", what)
	}
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidArgument, op, "%s is not valid UTF-8", what)
	}
	return nil
}

// normTags validates tags (valid UTF-8, at most MaxKeyBytes bytes; empty is
// allowed) and drops duplicates, keeping first occurrences in order.
func (db *DB) normTags(op string, tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, tag := range tags {
		if err := db.checkTag(op, tag); err != nil {
			return nil, err
		}
		dup := false
		for _, o := range out {
			if o == tag {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, tag)
		}
	}
	return out, nil
}

func (db *DB) checkTag(op, tag string) error {
	if len(tag) > db.opts.Limits.MaxKeyBytes {
		return errorf(CodeInvalidArgument, op, "tag is %d bytes, the limit is %d", len(tag), db.opts.Limits.MaxKeyBytes)
	}
	if !utf8.ValidString(tag) {
		return errorf(CodeInvalidArgument, op, "tag %q is not valid UTF-8", tag)
	}
	return nil
}

// checkTraceType validates a type given to a query.
func (db *DB) checkTraceType(op string, t TraceType) error {
	if !t.Valid() {
		return errorf(CodeInvalidArgument, op, "unknown trace type %q", string(t))
	}
	if n := len(t.CustomName()); n > db.opts.Limits.MaxKeyBytes {
		return errorf(CodeInvalidArgument, op, "custom trace type name is %d bytes, the limit is %d", n, db.opts.Limits.MaxKeyBytes)
	}
	return nil
}

// traceCommonFields is the number of fields every trace record has besides
// its body's (see TraceTx.record).
const traceCommonFields = 5

// bodyFields copies a body's fields into a slice with room for the common
// ones.
func bodyFields(fs ...Field) []Field {
	out := make([]Field, len(fs), len(fs)+traceCommonFields)
	copy(out, fs)
	return out
}

// fld is a keyed Field literal.
func fld(key string, v Value) Field { return Field{Key: key, Value: v} }

func stringsValue(ss []string) Value {
	vs := make([]Value, len(ss))
	for i, s := range ss {
		vs[i] = String(s)
	}
	return Array(vs...)
}

// encodeTraceBody validates a body and returns its type and record fields.
func (db *DB) encodeTraceBody(op string, body TraceBody) (TraceType, []Field, error) {
	switch b := body.(type) {
	case *ToolCallTrace:
		if b != nil {
			return db.encodeTraceBody(op, *b)
		}
	case *DecisionTrace:
		if b != nil {
			return db.encodeTraceBody(op, *b)
		}
	case *QueryTrace:
		if b != nil {
			return db.encodeTraceBody(op, *b)
		}
	case *ThoughtTrace:
		if b != nil {
			return db.encodeTraceBody(op, *b)
		}
	case *ErrorTrace:
		if b != nil {
			return db.encodeTraceBody(op, *b)
		}
	case *CustomTrace:
		if b != nil {
			return db.encodeTraceBody(op, *b)
		}
	case ToolCallTrace:
		if err := checkText(op, "tool name", b.Tool, true); err != nil {
			return "", nil, err
		}
		if b.Duration < 0 {
			return "", nil, errorf(CodeInvalidArgument, op, "tool call duration %v is negative", b.Duration)
		}
		return TraceTypeToolCall, bodyFields(
			fld(trTool, String(b.Tool)), fld(trInput, b.Input), fld(trOutput, b.Output), fld(trDuration, Int(int64(b.Duration))),
		), nil
	case DecisionTrace:
		if err := checkText(op, "decision choice", b.Choice, true); err != nil {
			return "", nil, err
		}
		for _, o := range b.Options {
			if err := checkText(op, "decision option", o, false); err != nil {
				return "", nil, err
			}
		}
		if err := checkText(op, "decision reasoning", b.Reasoning, false); err != nil {
			return "", nil, err
		}
		return TraceTypeDecision, bodyFields(
			fld(trChoice, String(b.Choice)), fld(trOptions, stringsValue(b.Options)), fld(trReasoning, String(b.Reasoning)),
		), nil
	case QueryTrace:
		if err := checkText(op, "query text", b.Query, true); err != nil {
			return "", nil, err
		}
		return TraceTypeQuery, bodyFields(fld(trQuery, String(b.Query)), fld(trResults, b.Results)), nil
	case ThoughtTrace:
		if err := checkText(op, "thought content", b.Content, true); err != nil {
			return "", nil, err
		}
		return TraceTypeThought, bodyFields(fld(trContent, String(b.Content))), nil
	case ErrorTrace:
		if err := checkText(op, "error message", b.Message, true); err != nil {
			return "", nil, err
		}
		if err := checkText(op, "error code", b.Code, false); err != nil {
			return "", nil, err
		}
		return TraceTypeError, bodyFields(fld(trMessage, String(b.Message)), fld(trCode, String(b.Code))), nil
	case CustomTrace:
		if err := checkText(op, "custom trace name", b.Name, true); err != nil {
			return "", nil, err
		}
		if len(b.Name) > db.opts.Limits.MaxKeyBytes {
			return "", nil, errorf(CodeInvalidArgument, op, "custom trace name is %d bytes, the limit is %d", len(b.Name), db.opts.Limits.MaxKeyBytes)
		}
		return CustomTraceType(b.Name), bodyFields(fld(trData, b.Data)), nil
	}
	return "", nil, errorf(CodeInvalidArgument, op, "trace body is missing (want one of ToolCallTrace, DecisionTrace, QueryTrace, ThoughtTrace, ErrorTrace, CustomTrace)")
}

// decodeTrace rebuilds a Trace from its record.
func decodeTrace(id TraceID, rec Value) (Trace, error) {
	bad := func(what string) (Trace, error) {
		return Trace{}, errorf(CodeInternal, "traces", "trace %d: malformed record: %s", id, what)
	}
	r := recordFields{rec}
	str, integer, field := r.str, r.integer, r.field
	typ, ok := str(trType)
	if !ok {
		return bad("no type")
	}
	parent, ok1 := integer(trParent)
	at, ok2 := integer(trAt)
	tags, ok3 := stringsOf(field(trTags))
	if !ok1 || !ok2 || !ok3 {
		return bad("no parent, time or tags")
	}
	t := Trace{
		ID: id, Parent: TraceID(parent), Type: TraceType(typ), Tags: tags,
		Metadata: field(trMeta), RecordedAt: Timestamp(at),
	}
	switch t.Type {
	case TraceTypeToolCall:
		tool, ok := str(trTool)
		d, ok2 := integer(trDuration)
		if !ok || !ok2 {
			return bad("tool call fields")
		}
		t.Body = ToolCallTrace{Tool: tool, Input: field(trInput), Output: field(trOutput), Duration: time.Duration(d)}
	case TraceTypeDecision:
		choice, ok := str(trChoice)
		reasoning, ok2 := str(trReasoning)
		opts, ok3 := stringsOf(field(trOptions))
		if !ok || !ok2 || !ok3 {
			return bad("decision fields")
		}
		t.Body = DecisionTrace{Choice: choice, Options: opts, Reasoning: reasoning}
	case TraceTypeQuery:
		q, ok := str(trQuery)
		if !ok {
			return bad("query fields")
		}
		t.Body = QueryTrace{Query: q, Results: field(trResults)}
	case TraceTypeThought:
		c, ok := str(trContent)
		if !ok {
			return bad("thought fields")
		}
		t.Body = ThoughtTrace{Content: c}
	case TraceTypeError:
		m, ok := str(trMessage)
		c, ok2 := str(trCode)
		if !ok || !ok2 {
			return bad("error fields")
		}
		t.Body = ErrorTrace{Message: m, Code: c}
	default:
		if !t.Type.IsCustom() {
			return bad("unknown type " + strconv.Quote(typ))
		}
		t.Body = CustomTrace{Name: t.Type.CustomName(), Data: field(trData)}
	}
	return t, nil
}

// stringsOf converts an Array of Strings; nil for an empty array.
func stringsOf(v Value) ([]string, bool) {
	if v.Kind() != KindArray {
		return nil, false
	}
	n := v.Len()
	if n == 0 {
		return nil, true
	}
	out := make([]string, n)
	for i := range n {
		e, _ := v.Index(i)
		s, ok := e.AsString()
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// ---- DB-level facade -------------------------------------------------------

// Record appends a root trace to run and returns its ID. RecordedAt is the
// database clock at the call. IDs are assigned at commit, in commit order,
// so concurrent Records in one run never conflict with each other.
func (s TraceStore) Record(ctx context.Context, run RunID, spec TraceSpec) (TraceID, error) {
	return s.record(ctx, run, func(t TraceTx) (TraceID, error) { return t.Record(spec) })
}

// record runs one Record or RecordChild and returns the final ID.
func (s TraceStore) record(ctx context.Context, run RunID, fn func(t TraceTx) (TraceID, error)) (TraceID, error) {
	var (
		st   *traceAppends
		prov TraceID
	)
	_, err := s.db.update(ctx, run, func(tx *Tx) error {
		var err error
		prov, err = fn(tx.Traces())
		st = tx.appends.traces
		return err
	})
	if err != nil {
		return 0, err
	}
	id, ok := st.final(prov)
	if !ok {
		return 0, errorf(CodeInternal, "traces.Record", "the trace was committed without a final ID")
	}
	return id, nil
}

// RecordChild appends a trace under parent, which must exist in the same run
// (NotFound otherwise), and returns its ID.
func (s TraceStore) RecordChild(ctx context.Context, run RunID, parent TraceID, spec TraceSpec) (TraceID, error) {
	return s.record(ctx, run, func(t TraceTx) (TraceID, error) { return t.RecordChild(parent, spec) })
}

// Get returns trace id of run, or NotFound.
func (s TraceStore) Get(ctx context.Context, run RunID, id TraceID) (Versioned[Trace], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (Versioned[Trace], error) { return tx.Traces().Get(id) })
}

// QueryByType returns the traces of run with type typ, ordered by
// (RecordedAt, ID). An invalid type is an InvalidArgument error.
func (s TraceStore) QueryByType(ctx context.Context, run RunID, typ TraceType) ([]Versioned[Trace], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Trace], error) { return tx.Traces().QueryByType(typ) })
}

// QueryByTag returns the traces of run carrying tag, ordered by
// (RecordedAt, ID).
func (s TraceStore) QueryByTag(ctx context.Context, run RunID, tag string) ([]Versioned[Trace], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Trace], error) { return tx.Traces().QueryByTag(tag) })
}

// QueryByTime returns the traces of run recorded in the half-open interval
// [from, to), ordered by (RecordedAt, ID). from == to gives nothing; from >
// to is an InvalidArgument error.
func (s TraceStore) QueryByTime(ctx context.Context, run RunID, from, to Timestamp) ([]Versioned[Trace], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Trace], error) { return tx.Traces().QueryByTime(from, to) })
}

// Children returns the direct children of trace id, ordered by
// (RecordedAt, ID); NotFound if id does not exist in run.
func (s TraceStore) Children(ctx context.Context, run RunID, id TraceID) ([]Versioned[Trace], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Trace], error) { return tx.Traces().Children(id) })
}

// Roots returns the traces of run that have no parent, ordered by
// (RecordedAt, ID).
func (s TraceStore) Roots(ctx context.Context, run RunID) ([]Versioned[Trace], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Trace], error) { return tx.Traces().Roots() })
}

// List returns every trace of run, ordered by (RecordedAt, ID).
func (s TraceStore) List(ctx context.Context, run RunID) ([]Versioned[Trace], error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]Versioned[Trace], error) { return tx.Traces().List() })
}

// Tree returns the trace root and all its descendants as a depth-first,
// pre-order list: every trace comes before its children, the children of a
// trace come in (RecordedAt, ID) order, and each entry carries its depth
// below root (root has depth 0). NotFound if root does not exist in run.
func (s TraceStore) Tree(ctx context.Context, run RunID, root TraceID) ([]TraceNode, error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) ([]TraceNode, error) { return tx.Traces().Tree(root) })
}

// Count returns the number of traces in run.
func (s TraceStore) Count(ctx context.Context, run RunID) (int, error) {
	return viewGet(s.db, ctx, run, func(tx *Tx) (int, error) { return tx.Traces().Count() })
}

// ---- Tx-level facade -------------------------------------------------------

// Record buffers a root trace and returns its provisional ID: the next ID
// as the transaction sees the run. The transaction reads its own traces
// (and may RecordChild under them) by provisional ID. The final ID is
// assigned at commit, after whatever other transactions recorded first;
// FinalID returns it once the transaction committed. Recording does not
// join the ID counter to the read set, so concurrent Records never
// conflict. See TraceStore.Record.
func (t TraceTx) Record(spec TraceSpec) (TraceID, error) {
	return t.record("traces.Record", 0, spec)
}

// RecordChild buffers a trace under parent, which must exist in the
// transaction's run (its own earlier Records included); NotFound otherwise.
func (t TraceTx) RecordChild(parent TraceID, spec TraceSpec) (TraceID, error) {
	if parent == 0 {
		return 0, errorf(CodeInvalidArgument, "traces.RecordChild", "parent trace ID must not be zero")
	}
	return t.record("traces.RecordChild", parent, spec)
}

func (t TraceTx) record(op string, parent TraceID, spec TraceSpec) (TraceID, error) {
	tx := t.tx
	db := tx.db
	typ, fields, err := db.encodeTraceBody(op, spec.Body)
	if err != nil {
		return 0, err
	}
	tags, err := db.normTags(op, spec.Tags)
	if err != nil {
		return 0, err
	}
	if err := db.checkValue(op, spec.Metadata); err != nil {
		return 0, err
	}
	if err := tx.checkWrite(op, tx.run); err != nil {
		return 0, err
	}
	// A parent the transaction recorded itself exists whatever other
	// transactions record; any other parent is read (and validated).
	if parent != 0 && tx.appends.traces.own(parent) < 0 {
		if err := t.trimmed(op, parent); err != nil {
			return 0, err
		}
		if _, ok := tx.txn.Get(tx.run, core.Trace, traceRecordKey(parent)); !ok {
			return 0, (&Error{Code: dberr.NotFound, Op: op, Msg: "parent trace not found", Offset: -1}).WithRef(traceRef(tx.run, parent))
		}
	}
	at := db.nowMicros()
	fields = append(fields,
		fld(trType, String(string(typ))), fld(trParent, Int(int64(parent))), fld(trAt, Int(at)),
		fld(trTags, stringsValue(tags)), fld(trMeta, spec.Metadata))
	rec := ObjectOf(fields...)
	if err := db.checkValue(op, rec); err != nil {
		return 0, err
	}
	return t.recordProvisional(parent, typ, tags, at, fields, rec)
}

// get reads one trace; ok is false if it does not exist.
func (t TraceTx) get(id TraceID) (Versioned[Trace], bool, error) {
	tx := t.tx
	e, ok := tx.txn.Get(tx.run, core.Trace, traceRecordKey(id))
	if !ok {
		return Versioned[Trace]{}, false, nil
	}
	tr, err := decodeTrace(id, Value(e.Value))
	if err != nil {
		return Versioned[Trace]{}, false, err
	}
	return Versioned[Trace]{Value: tr, Version: core.Txn(e.Version), Timestamp: Timestamp(e.Time)}, true, nil
}

// Get returns trace id, or NotFound; a trace retention removed is
// HistoryTrimmed.
func (t TraceTx) Get(id TraceID) (Versioned[Trace], error) {
	if err := t.tx.checkRead(); err != nil {
		return Versioned[Trace]{}, err
	}
	if id == 0 {
		return Versioned[Trace]{}, errorf(CodeInvalidArgument, "traces.Get", "trace ID must not be zero")
	}
	if err := t.trimmed("traces.Get", id); err != nil {
		return Versioned[Trace]{}, err
	}
	v, ok, err := t.get(id)
	if err != nil {
		return Versioned[Trace]{}, err
	}
	if !ok {
		return Versioned[Trace]{}, notFound("traces.Get", traceRef(t.tx.run, id))
	}
	return v, nil
}

// indexIDs returns the TraceIDs of the index entries in [start, end), in
// key order, leaving out traces retention retired.
func (t TraceTx) indexIDs(start, end string) []TraceID {
	tx := t.tx
	first := t.start()
	var ids []TraceID
	tx.txn.Scan(tx.run, core.Trace, start, end, true, func(key string, _ engine.Entry) bool {
		if id := traceIndexID(key); id >= first {
			ids = append(ids, id)
		}
		return true
	})
	return ids
}

// scanIndex returns the traces named by the index entries in [start, end).
// An entry whose record is gone is skipped.
func (t TraceTx) scanIndex(start, end string) ([]Versioned[Trace], error) {
	if err := t.tx.checkRead(); err != nil {
		return nil, err
	}
	ids := t.indexIDs(start, end)
	out := make([]Versioned[Trace], 0, len(ids))
	for _, id := range ids {
		v, ok, err := t.get(id)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

func (t TraceTx) scanPrefix(prefix string) ([]Versioned[Trace], error) {
	return t.scanIndex(prefix, engine.PrefixEnd(prefix))
}

// QueryByType returns the traces with type typ, ordered by (RecordedAt, ID).
func (t TraceTx) QueryByType(typ TraceType) ([]Versioned[Trace], error) {
	if err := t.tx.db.checkTraceType("traces.QueryByType", typ); err != nil {
		return nil, err
	}
	return t.scanPrefix(traceTypePrefix(typ))
}

// QueryByTag returns the traces carrying tag, ordered by (RecordedAt, ID).
func (t TraceTx) QueryByTag(tag string) ([]Versioned[Trace], error) {
	if err := t.tx.db.checkTag("traces.QueryByTag", tag); err != nil {
		return nil, err
	}
	return t.scanPrefix(traceTagPrefix(tag))
}

// QueryByTime returns the traces recorded in [from, to), ordered by
// (RecordedAt, ID).
func (t TraceTx) QueryByTime(from, to Timestamp) ([]Versioned[Trace], error) {
	if from > to {
		return nil, errorf(CodeInvalidArgument, "traces.QueryByTime", "from %d is after to %d", from, to)
	}
	if from == to {
		if err := t.tx.checkRead(); err != nil {
			return nil, err
		}
		return []Versioned[Trace]{}, nil
	}
	return t.scanIndex(traceTimePrefix(int64(from)), traceTimePrefix(int64(to)))
}

// Children returns the direct children of id, ordered by (RecordedAt, ID).
func (t TraceTx) Children(id TraceID) ([]Versioned[Trace], error) {
	if err := t.checkExists("traces.Children", id); err != nil {
		return nil, err
	}
	return t.scanPrefix(traceParentPrefix(id))
}

// checkExists returns InvalidArgument for ID 0 and NotFound for a trace
// that does not exist.
func (t TraceTx) checkExists(op string, id TraceID) error {
	if err := t.tx.checkRead(); err != nil {
		return err
	}
	if id == 0 {
		return errorf(CodeInvalidArgument, op, "trace ID must not be zero")
	}
	if err := t.trimmed(op, id); err != nil {
		return err
	}
	if _, ok := t.tx.txn.Get(t.tx.run, core.Trace, traceRecordKey(id)); !ok {
		return notFound(op, traceRef(t.tx.run, id))
	}
	return nil
}

// Roots returns the traces without a parent, ordered by (RecordedAt, ID).
func (t TraceTx) Roots() ([]Versioned[Trace], error) {
	return t.scanPrefix(traceParentPrefix(0))
}

// List returns every trace, ordered by (RecordedAt, ID).
func (t TraceTx) List() ([]Versioned[Trace], error) {
	p := traceTimeIndex
	return t.scanPrefix(p)
}

// Tree returns root and its descendants depth-first, pre-order (see
// TraceStore.Tree).
func (t TraceTx) Tree(root TraceID) ([]TraceNode, error) {
	if err := t.checkExists("traces.Tree", root); err != nil {
		return nil, err
	}
	type frame struct {
		id    TraceID
		depth int
	}
	// An explicit stack: trees can be deeper than the goroutine stack likes.
	stack := []frame{{root, 0}}
	var out []TraceNode
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		v, ok, err := t.get(f.id)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		out = append(out, TraceNode{Depth: f.depth, Trace: v})
		p := traceParentPrefix(f.id)
		kids := t.indexIDs(p, engine.PrefixEnd(p))
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, frame{kids[i], f.depth + 1})
		}
	}
	return out, nil
}

// Count returns the number of traces in the run. It counts the entries of
// the time index (without reading the records), so it stays exact if traces
// are ever trimmed; the ID counter is not a count.
func (t TraceTx) Count() (int, error) {
	tx := t.tx
	if err := tx.checkRead(); err != nil {
		return 0, err
	}
	p := traceTimeIndex
	first := t.start()
	n := 0
	tx.txn.Scan(tx.run, core.Trace, p, engine.PrefixEnd(p), true, func(key string, _ engine.Entry) bool {
		if traceIndexID(key) >= first {
			n++
		}
		return true
	})
	return n, nil
}
