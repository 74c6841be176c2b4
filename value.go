package inmem

import (
	"encoding/json"
	"unsafe"

	"github.com/inmemdb/inmem/internal/value"
)

// Value is the one data type of in-mem: an immutable tagged value of exactly
// eight kinds — Null, Bool, Int (int64), Float (float64), String (UTF-8),
// Bytes, Array and Object (string keys). Equality is structural without
// coercion: Int(1) != Float(1), String("a") != Bytes("a"), NaN != NaN, and
// object key order is irrelevant.
//
// Values are immutable: constructors copy their inputs and accessors return
// copies, so nothing a caller does to a slice or map it passed in or got back
// can change what the database stores. The zero Value is Null.
//
// Value is declared here, not as an alias of the engine's representation, so
// that its methods are part of this package's documentation; converting
// between the two is free (same underlying type).
type Value value.Value

// ValueKind is the kind of a Value.
type ValueKind value.Kind

// Value kinds.
const (
	KindNull   = ValueKind(value.KindNull)
	KindBool   = ValueKind(value.KindBool)
	KindInt    = ValueKind(value.KindInt)
	KindFloat  = ValueKind(value.KindFloat)
	KindString = ValueKind(value.KindString)
	KindBytes  = ValueKind(value.KindBytes)
	KindArray  = ValueKind(value.KindArray)
	KindObject = ValueKind(value.KindObject)
)

// String returns the kind's name in lower case: "null", "bool", "int",
// "float", "string", "bytes", "array" or "object".
func (k ValueKind) String() string { return value.Kind(k).String() }

// Field is one entry of an object Value.
type Field struct {
	Key   string
	Value Value
}

// The engine stores value.Value; the public API speaks Value. The types share
// their memory layout (Value's underlying type is value.Value, and Field
// mirrors value.Field field by field), so slices are reinterpreted instead of
// copied. Only callees that copy their input or callers that own a fresh copy
// use these views.
func internalValues(vs []Value) []value.Value {
	return unsafe.Slice((*value.Value)(unsafe.SliceData(vs)), len(vs))
}

func publicValues(vs []value.Value) []Value {
	return unsafe.Slice((*Value)(unsafe.SliceData(vs)), len(vs))
}

func internalFields(fs []Field) []value.Field {
	return unsafe.Slice((*value.Field)(unsafe.Pointer(unsafe.SliceData(fs))), len(fs))
}

func publicFields(fs []value.Field) []Field {
	return unsafe.Slice((*Field)(unsafe.Pointer(unsafe.SliceData(fs))), len(fs))
}

func (v Value) in() value.Value { return value.Value(v) }

// Kind returns the kind of v.
func (v Value) Kind() ValueKind { return ValueKind(v.in().Kind()) }

// IsNull reports whether v is Null.
func (v Value) IsNull() bool { return v.in().IsNull() }

// AsBool returns the boolean and true if v is a Bool.
func (v Value) AsBool() (bool, bool) { return v.in().AsBool() }

// AsInt returns the integer and true if v is an Int (no coercion from Float).
func (v Value) AsInt() (int64, bool) { return v.in().AsInt() }

// AsFloat returns the float and true if v is a Float (no coercion from Int).
func (v Value) AsFloat() (float64, bool) { return v.in().AsFloat() }

// AsString returns the string and true if v is a String.
func (v Value) AsString() (string, bool) { return v.in().AsString() }

// AsBytes returns a copy of the bytes and true if v is Bytes.
func (v Value) AsBytes() ([]byte, bool) { return v.in().AsBytes() }

// BytesString returns the content of a Bytes value as a string without
// copying, and true if v is Bytes.
func (v Value) BytesString() (string, bool) { return v.in().BytesString() }

// Len returns the number of elements of an Array or entries of an Object, the
// length in bytes of a String or Bytes, and 0 otherwise.
func (v Value) Len() int { return v.in().Len() }

// Index returns element i of an Array. It returns Null and false when v is not
// an Array or i is out of range.
func (v Value) Index(i int) (Value, bool) {
	x, ok := v.in().Index(i)
	return Value(x), ok
}

// AsArray returns a copy of the elements and true if v is an Array.
func (v Value) AsArray() ([]Value, bool) {
	xs, ok := v.in().AsArray()
	return publicValues(xs), ok
}

// Get returns the value of key in an Object, and false when v is not an
// Object or has no such key.
func (v Value) Get(key string) (Value, bool) {
	x, ok := v.in().Get(key)
	return Value(x), ok
}

// Keys returns the keys of an Object in ascending order (a copy).
func (v Value) Keys() []string { return v.in().Keys() }

// Fields returns the entries of an Object in key order (a copy).
func (v Value) Fields() []Field { return publicFields(v.in().Fields()) }

// AsMap returns a new map of an Object's entries and true if v is an Object.
func (v Value) AsMap() (map[string]Value, bool) {
	if v.Kind() != KindObject {
		return nil, false
	}
	fs := v.in().Fields()
	m := make(map[string]Value, len(fs))
	for _, f := range fs {
		m[f.Key] = Value(f.Value)
	}
	return m, true
}

// With returns a copy of the Object v with key set to x. On a non-object it
// returns an object holding only that entry.
func (v Value) With(key string, x Value) Value { return Value(v.in().With(key, x.in())) }

// Without returns a copy of the Object v without key.
func (v Value) Without(key string) Value { return Value(v.in().Without(key)) }

// Equal reports structural equality without coercion: Int(1) != Float(1),
// String("a") != Bytes("a"), NaN != NaN, object key order is irrelevant.
func (v Value) Equal(w Value) bool { return v.in().Equal(w.in()) }

// Identical is like Equal but compares floats by their bits, so NaN is
// identical to the same NaN and -0.0 differs from +0.0.
func (v Value) Identical(w Value) bool { return v.in().Identical(w.in()) }

// Depth returns the nesting depth: 0 for scalars, 1 + the deepest child for
// arrays and objects (an empty array has depth 1).
func (v Value) Depth() int { return v.in().Depth() }

// ValidUTF8 reports whether every String inside v (object keys included) is
// valid UTF-8; writes reject Values for which it is false.
func (v Value) ValidUTF8() bool { return v.in().ValidUTF8() }

// String renders v for humans, JSON-like: Bytes as b64"...", non-finite
// floats as NaN, +Inf and -Inf. It is not a stable format; use ValueToJSON
// for interchange.
func (v Value) String() string { return v.in().String() }

// MarshalJSON renders v as JSON for display: Bytes become base64 strings and
// non-finite floats the strings "NaN", "+Inf" and "-Inf", which JSON cannot
// express otherwise (ValueToJSON reports them as errors instead).
func (v Value) MarshalJSON() ([]byte, error) { return v.in().MarshalJSON() }

// UnmarshalJSON parses JSON text into v, as ValueFromJSON does.
func (v *Value) UnmarshalJSON(b []byte) error { return (*value.Value)(v).UnmarshalJSON(b) }

// Decode fills the Go value that x points to from v, by the rules of
// encoding/json: struct fields by their json tags, maps with string keys,
// slices, numbers, strings, booleans, time.Time from an RFC 3339 string, and
// []byte from Bytes. It is the inverse of ValueOf for the data ValueOf
// accepts. A mismatch between v's shape and x's type is an InvalidArgument
// error.
func (v Value) Decode(x any) error {
	b := value.ToJSONLossy(v.in())
	if err := json.Unmarshal(b, x); err != nil {
		return errorf(CodeInvalidArgument, "Value.Decode", "%v", err)
	}
	return nil
}

// EncodedSize returns the size in bytes of v's binary encoding, the size the
// value limits (Options.MaxValueBytes) are checked against.
func (v Value) EncodedSize() int { return v.in().EncodedSize() }
