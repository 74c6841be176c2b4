package value

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// ErrNotJSON is returned when a Value has no faithful JSON form (Bytes, NaN,
// ±Inf) or a JSON text cannot be parsed.
var ErrNotJSON = errors.New("not representable as JSON")

// FromJSON parses one JSON text. Numbers written without a fraction or
// exponent that fit an int64 become Int; every other number becomes Float.
func FromJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := fromJSONToken(dec, 0)
	if err != nil {
		return Value{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Value{}, fmt.Errorf("%w: trailing data after the JSON value", ErrNotJSON)
	}
	return v, nil
}

func fromJSONToken(dec *json.Decoder, depth int) (Value, error) {
	if depth > MaxDecodeDepth {
		return Value{}, fmt.Errorf("%w: nesting deeper than %d", ErrNotJSON, MaxDecodeDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return Value{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	switch t := tok.(type) {
	case nil:
		return Null(), nil
	case bool:
		return Bool(t), nil
	case json.Number:
		return numberValue(string(t))
	case string:
		return String(t), nil
	case json.Delim:
		switch t {
		case '[':
			var vals []Value
			for dec.More() {
				c, err := fromJSONToken(dec, depth+1)
				if err != nil {
					return Value{}, err
				}
				vals = append(vals, c)
			}
			if _, err := dec.Token(); err != nil {
				return Value{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
			}
			return Value{kind: KindArray, comp: &composite{vals: vals}}, nil
		case '{':
			var fields []Field
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return Value{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
				}
				key, _ := kt.(string)
				c, err := fromJSONToken(dec, depth+1)
				if err != nil {
					return Value{}, err
				}
				fields = append(fields, Field{Key: key, Value: c})
			}
			if _, err := dec.Token(); err != nil {
				return Value{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
			}
			return ObjectOf(fields...), nil
		}
	}
	return Value{}, fmt.Errorf("%w: unexpected token %v", ErrNotJSON, tok)
}

func numberValue(s string) (Value, error) {
	isInt := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '.' || c == 'e' || c == 'E' {
			isInt = false
			break
		}
	}
	if isInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Int(i), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Value{}, fmt.Errorf("%w: number %q: %v", ErrNotJSON, s, err)
	}
	return Float(f), nil
}

// ToJSON renders v as JSON. It fails with ErrNotJSON for Bytes and for
// non-finite floats, which JSON cannot express. Floats with an integral value
// are written with a ".0" so that FromJSON reads them back as Float.
func ToJSON(v Value) ([]byte, error) {
	return appendJSON(nil, v, false)
}

// ToJSONLossy renders v as JSON for display: Bytes become base64 strings and
// non-finite floats the strings "NaN", "+Inf", "-Inf".
func ToJSONLossy(v Value) []byte {
	b, _ := appendJSON(nil, v, true)
	return b
}

// MarshalJSON implements json.Marshaler with the lossy rendering.
func (v Value) MarshalJSON() ([]byte, error) { return ToJSONLossy(v), nil }

// UnmarshalJSON implements json.Unmarshaler (see FromJSON).
func (v *Value) UnmarshalJSON(b []byte) error {
	x, err := FromJSON(b)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

func appendJSON(dst []byte, v Value, lossy bool) ([]byte, error) {
	var err error
	switch v.kind {
	case KindNull:
		return append(dst, "null"...), nil
	case KindBool:
		return strconv.AppendBool(dst, v.bits == 1), nil
	case KindInt:
		return strconv.AppendInt(dst, int64(v.bits), 10), nil
	case KindFloat:
		f := math.Float64frombits(v.bits)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if !lossy {
				return nil, fmt.Errorf("%w: float %v", ErrNotJSON, f)
			}
			return strconv.AppendQuote(dst, Float(f).String()), nil
		}
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
		if !bytes.ContainsAny(dst[start:], ".eE") {
			dst = append(dst, ".0"...)
		}
		return dst, nil
	case KindString:
		return appendJSONString(dst, v.str), nil
	case KindBytes:
		if !lossy {
			return nil, fmt.Errorf("%w: bytes", ErrNotJSON)
		}
		return appendJSONString(dst, base64Std(v.str)), nil
	case KindArray:
		dst = append(dst, '[')
		for i, c := range v.comp.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendJSON(dst, c, lossy); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case KindObject:
		dst = append(dst, '{')
		for i, c := range v.comp.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, v.comp.keys[i])
			dst = append(dst, ':')
			if dst, err = appendJSON(dst, c, lossy); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return dst, nil
}

func appendJSONString(dst []byte, s string) []byte {
	if utf8.ValidString(s) {
		b, _ := json.Marshal(s)
		return append(dst, b...)
	}
	return strconv.AppendQuote(dst, s)
}

// FromGo converts common Go values: nil, bool, signed and unsigned integers
// (uint64 above MaxInt64 is an error), float32/64, string, []byte, Value,
// json.Number, []any, []Value, []string, []float64, []float32, map[string]any
// and map[string]Value. Other types are an error.
func FromGo(x any) (Value, error) {
	switch t := x.(type) {
	case nil:
		return Null(), nil
	case Value:
		return t, nil
	case bool:
		return Bool(t), nil
	case int:
		return Int(int64(t)), nil
	case int8:
		return Int(int64(t)), nil
	case int16:
		return Int(int64(t)), nil
	case int32:
		return Int(int64(t)), nil
	case int64:
		return Int(t), nil
	case uint:
		return fromUint(uint64(t))
	case uint8:
		return Int(int64(t)), nil
	case uint16:
		return Int(int64(t)), nil
	case uint32:
		return Int(int64(t)), nil
	case uint64:
		return fromUint(t)
	case float32:
		return Float(float64(t)), nil
	case float64:
		return Float(t), nil
	case string:
		return String(t), nil
	case []byte:
		return Bytes(t), nil
	case json.Number:
		return numberValue(string(t))
	case []Value:
		return Array(t...), nil
	case []string:
		vals := make([]Value, len(t))
		for i, s := range t {
			vals[i] = String(s)
		}
		return Value{kind: KindArray, comp: &composite{vals: vals}}, nil
	case []float64:
		vals := make([]Value, len(t))
		for i, f := range t {
			vals[i] = Float(f)
		}
		return Value{kind: KindArray, comp: &composite{vals: vals}}, nil
	case []float32:
		vals := make([]Value, len(t))
		for i, f := range t {
			vals[i] = Float(float64(f))
		}
		return Value{kind: KindArray, comp: &composite{vals: vals}}, nil
	case []any:
		vals := make([]Value, len(t))
		for i, c := range t {
			v, err := FromGo(c)
			if err != nil {
				return Value{}, err
			}
			vals[i] = v
		}
		return Value{kind: KindArray, comp: &composite{vals: vals}}, nil
	case map[string]Value:
		return Object(t), nil
	case map[string]any:
		m := make(map[string]Value, len(t))
		for k, c := range t {
			v, err := FromGo(c)
			if err != nil {
				return Value{}, err
			}
			m[k] = v
		}
		return Object(m), nil
	}
	return Value{}, fmt.Errorf("cannot convert %T to a Value", x)
}

func fromUint(u uint64) (Value, error) {
	if u > math.MaxInt64 {
		return Value{}, fmt.Errorf("integer %d overflows int64", u)
	}
	return Int(int64(u)), nil
}

// ToGo converts v to plain Go values: nil, bool, int64, float64, string,
// []byte, []any, map[string]any.
func ToGo(v Value) any {
	switch v.kind {
	case KindBool:
		return v.bits == 1
	case KindInt:
		return int64(v.bits)
	case KindFloat:
		return math.Float64frombits(v.bits)
	case KindString:
		return v.str
	case KindBytes:
		return []byte(v.str)
	case KindArray:
		out := make([]any, len(v.comp.vals))
		for i, c := range v.comp.vals {
			out[i] = ToGo(c)
		}
		return out
	case KindObject:
		out := make(map[string]any, len(v.comp.keys))
		for i, k := range v.comp.keys {
			out[k] = ToGo(v.comp.vals[i])
		}
		return out
	}
	return nil
}
