package inmem

import (
	"time"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// RunID identifies an agent run: a 128-bit UUID ([16]byte) in canonical
// lowercase text form. The zero RunID is the reserved global run.
//
// It is an alias of the type the engine, the WAL and the error model share,
// so go doc does not list its methods by itself; they are:
//
//	func (id RunID) String() string               // canonical text form
//	func (id RunID) IsGlobal() bool               // the zero (global) run
//	func (id RunID) MarshalText() ([]byte, error) // encoding.TextMarshaler
//	func (id *RunID) UnmarshalText(b []byte) error
type RunID = core.RunID

// GlobalRun is the reserved run that holds the run index and database-wide
// entries.
var GlobalRun RunID

// NewRunID returns a random (version 4) RunID.
func NewRunID() RunID { return core.NewRunID() }

// ParseRunID parses the canonical UUID text form.
func ParseRunID(s string) (RunID, error) {
	id, err := core.ParseRunID(s)
	if err != nil {
		return RunID{}, errorf(CodeInvalidArgument, "ParseRunID", "%v", err)
	}
	return id, nil
}

// MustParseRunID is ParseRunID that panics on error, for literals.
func MustParseRunID(s string) RunID {
	id, err := ParseRunID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// PrimitiveType names one of the seven primitives.
//
// It is an alias of the type the engine, the WAL and the error model share,
// so go doc does not list its methods by itself; they are:
//
//	func (p PrimitiveType) String() string // "kv", "event", "state", "trace", "run", "json", "vector"
//	func (p PrimitiveType) Valid() bool    // one of the seven
type PrimitiveType = core.PrimitiveType

// The seven primitives.
const (
	PrimitiveKV     = core.KV
	PrimitiveEvent  = core.Event
	PrimitiveState  = core.State
	PrimitiveTrace  = core.Trace
	PrimitiveRun    = core.Run
	PrimitiveJSON   = core.JSON
	PrimitiveVector = core.Vector
)

// EntityRef addresses one entity, with a stable text form such as
// kv://<run>/<key>. See ParseEntityRef. Its fields:
//
//	Primitive PrimitiveType
//	Run       RunID
//	Key       string // key, sequence, cell, trace id, document id or collection
//	Sub       string // a vector's key inside its collection (Key); else ""
//
// The text forms are kv://<run>/<key>, event://<run>/<sequence>,
// state://<run>/<cell>, trace://<run>/<trace id>, run://<run>,
// json://<run>/<document id> and vector://<run>/<collection>/<key>; Key and
// Sub are path-escaped, so any key round-trips.
//
// It is an alias of the type the engine, the WAL and the error model share,
// so go doc does not list its methods by itself; they are:
//
//	func (r EntityRef) String() string // the text form
type EntityRef = core.EntityRef

// ParseEntityRef parses the text form of an EntityRef.
func ParseEntityRef(s string) (EntityRef, error) {
	r, err := core.ParseEntityRef(s)
	if err != nil {
		return EntityRef{}, errorf(CodeInvalidArgument, "ParseEntityRef", "%v", err)
	}
	return r, nil
}

// Version is a tagged number: Txn (global commit version), Sequence (event
// position) or Counter (state cell counter). Versions of different kinds are
// not ordered against each other. Its fields:
//
//	Kind VersionKind // TxnVersion, SequenceVersion or CounterVersion
//	N    uint64
//
// It is an alias of the type the engine, the WAL and the error model share,
// so go doc does not list its methods by itself; they are:
//
//	func (v Version) String() string                 // "txn:42", "seq:7", "counter:3"; the zero Version is "none"
//	func (v Version) IsZero() bool                   // no version (never written)
//	func (v Version) Compare(w Version) (int, error) // -1, 0, +1; an error across kinds
type Version = core.Version

// VersionKind tells what a Version counts.
//
// It is an alias of the type the engine, the WAL and the error model share,
// so go doc does not list its methods by itself; they are:
//
//	func (k VersionKind) String() string // "txn", "seq" or "counter"
type VersionKind = core.VersionKind

// Version kinds.
const (
	TxnVersion      = core.TxnVersion
	SequenceVersion = core.SequenceVersion
	CounterVersion  = core.CounterVersion
)

// Txn returns a global commit version.
func Txn(n uint64) Version { return core.Txn(n) }

// Sequence returns an event-log position.
func Sequence(n uint64) Version { return core.Sequence(n) }

// Counter returns a state-cell counter.
func Counter(n uint64) Version { return core.Counter(n) }

// Timestamp is a commit time in microseconds since the Unix epoch.
type Timestamp int64

// TimestampOf converts a time.Time.
func TimestampOf(t time.Time) Timestamp { return Timestamp(t.UnixMicro()) }

// Time converts the timestamp to a time.Time (UTC).
func (ts Timestamp) Time() time.Time { return time.UnixMicro(int64(ts)).UTC() }

func (ts Timestamp) String() string { return ts.Time().Format(time.RFC3339Nano) }

// Versioned is what every read returns: a value with the version that wrote
// it and the commit timestamp of that version.
type Versioned[T any] struct {
	Value     T
	Version   Version
	Timestamp Timestamp
	// Deleted is set on history entries that are deletions (tombstones);
	// Value is then the zero value.
	Deleted bool
}

// Null returns the null Value (also the zero Value).
func Null() Value { return Value{} }

// Bool returns a boolean Value.
func Bool(b bool) Value { return Value(value.Bool(b)) }

// Int returns an integer Value.
func Int(i int64) Value { return Value(value.Int(i)) }

// Float returns a float Value; NaN, ±Inf and -0.0 are kept exactly.
func Float(f float64) Value { return Value(value.Float(f)) }

// String returns a string Value. Writes reject strings that are not UTF-8.
func String(s string) Value { return Value(value.String(s)) }

// Bytes returns a byte-string Value holding a copy of b.
func Bytes(b []byte) Value { return Value(value.Bytes(b)) }

// Array returns an array Value holding a copy of vs.
func Array(vs ...Value) Value { return Value(value.Array(internalValues(vs)...)) }

// Object returns an object Value with a copy of m's entries.
func Object(m map[string]Value) Value {
	fields := make([]value.Field, 0, len(m))
	for k, v := range m {
		fields = append(fields, value.Field{Key: k, Value: v.in()})
	}
	return Value(value.ObjectOf(fields...))
}

// ObjectOf returns an object Value from key/value pairs (the last repeated key
// wins).
func ObjectOf(fields ...Field) Value { return Value(value.ObjectOf(internalFields(fields)...)) }

// ValueOf converts plain Go data to a Value: nil, bool, integers, floats,
// string, []byte, Value, time.Time (an RFC 3339 string), named types of
// those, slices, arrays, pointers, maps with string keys, and structs (their
// exported fields named as encoding/json names them: json tags, "-",
// omitempty, embedded structs).
func ValueOf(x any) (Value, error) {
	v, err := valueOf(x)
	if err != nil {
		return Value{}, errorf(CodeInvalidArgument, "ValueOf", "%v", err)
	}
	return v, nil
}

// MustValue is ValueOf that panics on error, for literals in tests and
// examples.
func MustValue(x any) Value {
	v, err := valueOf(x)
	if err != nil {
		panic(err)
	}
	return v
}

// ValueFromJSON parses JSON text. Integral numbers that fit int64 become Int,
// all other numbers Float.
func ValueFromJSON(data []byte) (Value, error) {
	v, err := value.FromJSON(data)
	if err != nil {
		return Value{}, errorf(CodeInvalidArgument, "ValueFromJSON", "%v", err)
	}
	return Value(v), nil
}

// ValueToJSON renders a Value as JSON; Bytes and non-finite floats, which
// JSON cannot express, are an InvalidArgument error.
func ValueToJSON(v Value) ([]byte, error) {
	b, err := value.ToJSON(v.in())
	if err != nil {
		return nil, errorf(CodeInvalidArgument, "ValueToJSON", "%v", err)
	}
	return b, nil
}
