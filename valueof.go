package inmem

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/inmemdb/inmem/internal/value"
)

// maxValueOfDepth bounds how deep ValueOf follows nested Go data, so a
// cyclic structure (a pointer loop) is an error instead of a stack overflow.
const maxValueOfDepth = 256

var timeType = reflect.TypeFor[time.Time]()

// valueOf converts plain Go data to a Value: what value.FromGo knows
// directly, and through reflection structs (exported fields, named by their
// json tags, "-" skipped, omitempty honoured), maps with string keys of any
// value type, named scalar types, arrays, pointers and time.Time (an
// RFC 3339 string with nanoseconds, as encoding/json writes it).
func valueOf(x any) (Value, error) {
	if v, err := value.FromGo(x); err == nil {
		return Value(v), nil
	}
	return reflectValue(reflect.ValueOf(x), 0)
}

func reflectValue(rv reflect.Value, depth int) (Value, error) {
	if depth > maxValueOfDepth {
		return Value{}, fmt.Errorf("data nests deeper than %d levels (a cycle?)", maxValueOfDepth)
	}
	if !rv.IsValid() {
		return Null(), nil
	}
	if rv.Type() == timeType {
		return String(rv.Interface().(time.Time).Format(time.RFC3339Nano)), nil
	}
	if rv.CanInterface() {
		if v, ok := rv.Interface().(Value); ok {
			return v, nil
		}
	}
	switch rv.Kind() {
	case reflect.Bool:
		return Bool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return Int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > 1<<63-1 {
			return Value{}, fmt.Errorf("integer %d overflows int64", u)
		}
		return Int(int64(u)), nil
	case reflect.Float32, reflect.Float64:
		return Float(rv.Float()), nil
	case reflect.String:
		return String(rv.String()), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return Null(), nil
		}
		return reflectValue(rv.Elem(), depth+1)
	case reflect.Slice:
		if rv.IsNil() {
			return Null(), nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return Bytes(rv.Bytes()), nil
		}
		fallthrough
	case reflect.Array:
		vals := make([]Value, rv.Len())
		for i := range vals {
			v, err := reflectValue(rv.Index(i), depth+1)
			if err != nil {
				return Value{}, err
			}
			vals[i] = v
		}
		return Array(vals...), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return Value{}, fmt.Errorf("cannot convert %s: map keys must be strings", rv.Type())
		}
		if rv.IsNil() {
			return Null(), nil
		}
		m := make(map[string]Value, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			v, err := reflectValue(it.Value(), depth+1)
			if err != nil {
				return Value{}, err
			}
			m[it.Key().String()] = v
		}
		return Object(m), nil
	case reflect.Struct:
		var fields []Field
		if err := structFields(rv, depth, &fields); err != nil {
			return Value{}, err
		}
		return ObjectOf(fields...), nil
	}
	return Value{}, fmt.Errorf("cannot convert %s to a Value", rv.Type())
}

// structFields appends the fields of struct rv as encoding/json names them;
// embedded structs without a name contribute their fields.
func structFields(rv reflect.Value, depth int, out *[]Field) error {
	t := rv.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		fv := rv.Field(i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, ft = fv.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := structFields(fv, depth+1, out); err != nil {
					return err
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if strings.Contains(","+opts+",", ",omitempty,") && fv.IsZero() {
			continue
		}
		v, err := reflectValue(fv, depth+1)
		if err != nil {
			return fmt.Errorf("field %s: %w", sf.Name, err)
		}
		*out = append(*out, Field{Key: name, Value: v})
	}
	return nil
}
