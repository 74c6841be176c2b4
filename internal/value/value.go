package value

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is one of the eight kinds of Value. The numeric values are not
// persisted (the binary encoding has its own tags).
type Kind uint8

const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindBytes
	KindArray
	KindObject
)

func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindString:
		return "string"
	case KindBytes:
		return "bytes"
	case KindArray:
		return "array"
	case KindObject:
		return "object"
	}
	return "invalid"
}

// Value is an immutable tagged value of one of eight kinds. The zero Value is
// Null.
type Value struct {
	kind Kind
	bits uint64     // Bool (0/1), Int (two's complement), Float (IEEE bits)
	str  string     // String and Bytes content (Bytes kept as a string: immutable)
	comp *composite // Array and Object
}

// composite holds the children of an Array or Object. For an Object, keys is
// sorted ascending with no duplicates and vals[i] belongs to keys[i].
type composite struct {
	vals []Value
	keys []string
}

// Null returns the null Value (also the zero Value).
func Null() Value { return Value{} }

// Bool returns a boolean Value.
func Bool(b bool) Value {
	v := Value{kind: KindBool}
	if b {
		v.bits = 1
	}
	return v
}

// Int returns an integer Value.
func Int(i int64) Value { return Value{kind: KindInt, bits: uint64(i)} }

// Float returns a floating-point Value. NaN, ±Inf and -0.0 are kept exactly.
func Float(f float64) Value { return Value{kind: KindFloat, bits: math.Float64bits(f)} }

// String returns a string Value. The database rejects strings that are not
// valid UTF-8 when they are written (see Validate).
func String(s string) Value { return Value{kind: KindString, str: s} }

// Bytes returns a byte-string Value holding a copy of b.
func Bytes(b []byte) Value { return Value{kind: KindBytes, str: string(b)} }

// BytesFromString returns a byte-string Value with the bytes of s, without
// copying (strings are immutable).
func BytesFromString(s string) Value { return Value{kind: KindBytes, str: s} }

// Array returns an array Value holding a copy of the slice vs.
func Array(vs ...Value) Value {
	return Value{kind: KindArray, comp: &composite{vals: slices.Clone(vs)}}
}

// Object returns an object Value with the entries of m (copied).
func Object(m map[string]Value) Value {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]Value, len(keys))
	for i, k := range keys {
		vals[i] = m[k]
	}
	return Value{kind: KindObject, comp: &composite{vals: vals, keys: keys}}
}

// Field is one key/value pair of an object.
type Field struct {
	Key   string
	Value Value
}

// ObjectOf returns an object Value from pairs. When a key repeats, the last
// pair wins.
func ObjectOf(fields ...Field) Value {
	fs := slices.Clone(fields)
	if !slices.IsSortedFunc(fs, compareFields) {
		slices.SortStableFunc(fs, compareFields)
	}
	keys := make([]string, 0, len(fs))
	vals := make([]Value, 0, len(fs))
	for i, f := range fs {
		if i+1 < len(fs) && fs[i+1].Key == f.Key {
			continue // a later pair with the same key wins
		}
		keys = append(keys, f.Key)
		vals = append(vals, f.Value)
	}
	return Value{kind: KindObject, comp: &composite{vals: vals, keys: keys}}
}

func compareFields(a, b Field) int { return strings.Compare(a.Key, b.Key) }

// Kind returns the kind of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is Null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsBool returns the boolean and true if v is a Bool.
func (v Value) AsBool() (bool, bool) { return v.bits == 1, v.kind == KindBool }

// AsInt returns the integer and true if v is an Int (no coercion from Float).
func (v Value) AsInt() (int64, bool) { return int64(v.bits), v.kind == KindInt }

// AsFloat returns the float and true if v is a Float (no coercion from Int).
func (v Value) AsFloat() (float64, bool) {
	return math.Float64frombits(v.bits), v.kind == KindFloat
}

// AsString returns the string and true if v is a String.
func (v Value) AsString() (string, bool) {
	if v.kind != KindString {
		return "", false
	}
	return v.str, true
}

// AsBytes returns a copy of the bytes and true if v is Bytes.
func (v Value) AsBytes() ([]byte, bool) {
	if v.kind != KindBytes {
		return nil, false
	}
	return []byte(v.str), true
}

// BytesString returns the content of a Bytes value as a string without
// copying, and true if v is Bytes.
func (v Value) BytesString() (string, bool) {
	if v.kind != KindBytes {
		return "", false
	}
	return v.str, true
}

// Len returns the number of elements of an Array or entries of an Object, the
// length in bytes of a String or Bytes, and 0 otherwise.
func (v Value) Len() int {
	switch v.kind {
	case KindString, KindBytes:
		return len(v.str)
	case KindArray, KindObject:
		return len(v.comp.vals)
	}
	return 0
}

// Index returns element i of an Array. It returns Null and false when v is not
// an Array or i is out of range.
func (v Value) Index(i int) (Value, bool) {
	if v.kind != KindArray || i < 0 || i >= len(v.comp.vals) {
		return Value{}, false
	}
	return v.comp.vals[i], true
}

// AsArray returns a copy of the elements and true if v is an Array.
func (v Value) AsArray() ([]Value, bool) {
	if v.kind != KindArray {
		return nil, false
	}
	return slices.Clone(v.comp.vals), true
}

// Get returns the value of key in an Object.
func (v Value) Get(key string) (Value, bool) {
	if v.kind != KindObject {
		return Value{}, false
	}
	i, ok := slices.BinarySearch(v.comp.keys, key)
	if !ok {
		return Value{}, false
	}
	return v.comp.vals[i], true
}

// Keys returns the keys of an Object in ascending order (a copy).
func (v Value) Keys() []string {
	if v.kind != KindObject {
		return nil
	}
	return slices.Clone(v.comp.keys)
}

// Fields returns the entries of an Object in key order (a copy).
func (v Value) Fields() []Field {
	if v.kind != KindObject {
		return nil
	}
	fs := make([]Field, len(v.comp.keys))
	for i, k := range v.comp.keys {
		fs[i] = Field{Key: k, Value: v.comp.vals[i]}
	}
	return fs
}

// AsMap returns a new map of an Object's entries and true if v is an Object.
func (v Value) AsMap() (map[string]Value, bool) {
	if v.kind != KindObject {
		return nil, false
	}
	m := make(map[string]Value, len(v.comp.keys))
	for i, k := range v.comp.keys {
		m[k] = v.comp.vals[i]
	}
	return m, true
}

// With returns a copy of the Object v with key set to x. On a non-object it
// returns an object holding only that entry.
func (v Value) With(key string, x Value) Value {
	if v.kind != KindObject {
		return Value{kind: KindObject, comp: &composite{vals: []Value{x}, keys: []string{key}}}
	}
	i, found := slices.BinarySearch(v.comp.keys, key)
	keys := slices.Clone(v.comp.keys)
	vals := slices.Clone(v.comp.vals)
	if found {
		vals[i] = x
	} else {
		keys = slices.Insert(keys, i, key)
		vals = slices.Insert(vals, i, x)
	}
	return Value{kind: KindObject, comp: &composite{vals: vals, keys: keys}}
}

// Without returns a copy of the Object v without key.
func (v Value) Without(key string) Value {
	if v.kind != KindObject {
		return v
	}
	i, found := slices.BinarySearch(v.comp.keys, key)
	if !found {
		return v
	}
	keys := slices.Delete(slices.Clone(v.comp.keys), i, i+1)
	vals := slices.Delete(slices.Clone(v.comp.vals), i, i+1)
	return Value{kind: KindObject, comp: &composite{vals: vals, keys: keys}}
}

// Equal reports structural equality without coercion: Int(1) != Float(1),
// String("a") != Bytes("a"), NaN != NaN, object key order is irrelevant.
func (v Value) Equal(w Value) bool { return v.equal(w, false) }

// Identical is like Equal but compares floats by their bits, so NaN is
// identical to the same NaN and -0.0 differs from +0.0. Tests of exact
// round-trips through storage use it.
func (v Value) Identical(w Value) bool { return v.equal(w, true) }

func (v Value) equal(w Value, bitwise bool) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindNull:
		return true
	case KindBool, KindInt:
		return v.bits == w.bits
	case KindFloat:
		if bitwise {
			return v.bits == w.bits
		}
		return math.Float64frombits(v.bits) == math.Float64frombits(w.bits)
	case KindString, KindBytes:
		return v.str == w.str
	case KindArray, KindObject:
		// Object keys are sorted and unique, so equal objects have equal key
		// slices; arrays have none.
		if len(v.comp.vals) != len(w.comp.vals) {
			return false
		}
		for i := range v.comp.vals {
			if v.kind == KindObject && v.comp.keys[i] != w.comp.keys[i] {
				return false
			}
			if !v.comp.vals[i].equal(w.comp.vals[i], bitwise) {
				return false
			}
		}
		return true
	}
	return false
}

// Depth returns the nesting depth: 0 for scalars, 1 + the deepest child for
// arrays and objects (an empty array has depth 1).
func (v Value) Depth() int {
	if v.kind != KindArray && v.kind != KindObject {
		return 0
	}
	d := 0
	for _, c := range v.comp.vals {
		if cd := c.Depth(); cd > d {
			d = cd
		}
	}
	return d + 1
}

// ValidUTF8 reports whether every string and object key in v is valid UTF-8.
func (v Value) ValidUTF8() bool {
	switch v.kind {
	case KindString:
		return utf8.ValidString(v.str)
	case KindArray:
		for _, c := range v.comp.vals {
			if !c.ValidUTF8() {
				return false
			}
		}
	case KindObject:
		for i, c := range v.comp.vals {
			if !utf8.ValidString(v.comp.keys[i]) || !c.ValidUTF8() {
				return false
			}
		}
	}
	return true
}

// String renders v for humans, JSON-like: bytes as b64"...", floats that are
// not finite as NaN/+Inf/-Inf. Use MarshalJSON for interchange.
func (v Value) String() string {
	var b strings.Builder
	v.writeText(&b)
	return b.String()
}

func (v Value) writeText(b *strings.Builder) {
	switch v.kind {
	case KindNull:
		b.WriteString("null")
	case KindBool:
		b.WriteString(strconv.FormatBool(v.bits == 1))
	case KindInt:
		b.WriteString(strconv.FormatInt(int64(v.bits), 10))
	case KindFloat:
		f := math.Float64frombits(v.bits)
		switch {
		case math.IsNaN(f):
			b.WriteString("NaN")
		case math.IsInf(f, 1):
			b.WriteString("+Inf")
		case math.IsInf(f, -1):
			b.WriteString("-Inf")
		default:
			s := strconv.FormatFloat(f, 'g', -1, 64)
			b.WriteString(s)
			if !strings.ContainsAny(s, ".eEn") {
				b.WriteString(".0") // keep floats distinguishable from ints
			}
		}
	case KindString:
		b.WriteString(strconv.Quote(v.str))
	case KindBytes:
		b.WriteString("b64")
		b.WriteString(strconv.Quote(base64Std(v.str)))
	case KindArray:
		b.WriteByte('[')
		for i, c := range v.comp.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			c.writeText(b)
		}
		b.WriteByte(']')
	case KindObject:
		b.WriteByte('{')
		for i, c := range v.comp.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(v.comp.keys[i]))
			b.WriteByte(':')
			c.writeText(b)
		}
		b.WriteByte('}')
	}
}
