package jsonpath

import (
	"bytes"
	"encoding/json"
	"math"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

// Op is one operation of an RFC 6902 JSON Patch. Path and From must be JSON
// Pointers (RFC 6901), as RFC 6902 requires: the dotted syntax that Parse
// also accepts is refused inside a patch with InvalidPath, so a document
// that another RFC 6902 implementation rejects is rejected here too. From is
// used by "move" and "copy", Value by "add", "replace" and "test".
type Op struct {
	Op, Path, From string
	Value          value.Value
}

// ParsePatch parses a JSON Patch document: a JSON array of operation
// objects. Members an operation does not use are ignored (RFC 6902 section
// 4), but an object that repeats a member name is rejected. A malformed
// document, an unknown "op", or a missing or non-string "op", "path" or
// "from", or a missing "value", is InvalidArgument; a path that does not
// parse is InvalidPath.
func ParsePatch(data []byte) ([]Op, error) {
	const opName = "jsonpath.ParsePatch"
	doc, err := value.FromJSON(data)
	if err != nil {
		return nil, dberr.Wrap(dberr.InvalidArgument, opName, err, "patch is not valid JSON")
	}
	elems, ok := doc.AsArray()
	if !ok {
		return nil, dberr.New(dberr.InvalidArgument, opName, "a JSON Patch must be an array, not %s", doc.Kind())
	}
	if i, name, dup := duplicateMember(data); dup {
		return nil, dberr.New(dberr.InvalidArgument, opName, "op %d: member %q appears more than once", i, name)
	}
	ops := make([]Op, len(elems))
	for i, el := range elems {
		if el.Kind() != value.KindObject {
			return nil, dberr.New(dberr.InvalidArgument, opName, "op %d: an operation must be an object, not %s", i, el.Kind())
		}
		str := func(member string) (string, *dberr.Error) {
			m, ok := el.Get(member)
			if !ok {
				return "", dberr.New(dberr.InvalidArgument, opName, "op %d: missing %q member", i, member)
			}
			s, ok := m.AsString()
			if !ok {
				return "", dberr.New(dberr.InvalidArgument, opName, "op %d: %q must be a string, not %s", i, member, m.Kind())
			}
			return s, nil
		}
		name, e := str("op")
		if e != nil {
			return nil, e
		}
		op := Op{Op: name}
		var usesFrom, usesValue bool
		switch name {
		case "add", "replace", "test":
			usesValue = true
		case "remove":
		case "move", "copy":
			usesFrom = true
		default:
			return nil, dberr.New(dberr.InvalidArgument, opName, "op %d: unknown op %s", i, quoteTrunc(name))
		}
		if op.Path, e = str("path"); e != nil {
			return nil, e
		}
		if _, e := parse(op.Path); e != nil {
			return nil, dberr.New(e.Code, opName, "op %d (%s): %s", i, name, e.Msg)
		}
		if usesFrom {
			if op.From, e = str("from"); e != nil {
				return nil, e
			}
			if _, e := parse(op.From); e != nil {
				return nil, dberr.New(e.Code, opName, "op %d (%s) from: %s", i, name, e.Msg)
			}
		}
		if usesValue {
			if op.Value, ok = el.Get("value"); !ok {
				return nil, dberr.New(dberr.InvalidArgument, opName, "op %d (%s): missing \"value\" member", i, name)
			}
		}
		ops[i] = op
	}
	return ops, nil
}

// duplicateMember reports the first operation object in the JSON array data
// (already known to be valid JSON) that repeats a member name.
func duplicateMember(data []byte) (int, string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return 0, "", false
	}
	for i := 0; dec.More(); i++ {
		t, err := dec.Token()
		if err != nil {
			return 0, "", false
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return 0, "", false
				}
				k, _ := kt.(string)
				if seen[k] {
					return i, k, true
				}
				seen[k] = true
				if !skipValue(dec) {
					return 0, "", false
				}
			}
			if _, err := dec.Token(); err != nil {
				return 0, "", false
			}
		case json.Delim('['):
			if !skipRest(dec) {
				return 0, "", false
			}
		}
	}
	return 0, "", false
}

// skipValue consumes one JSON value.
func skipValue(dec *json.Decoder) bool {
	t, err := dec.Token()
	if err != nil {
		return false
	}
	if t == json.Delim('[') || t == json.Delim('{') {
		return skipRest(dec)
	}
	return true
}

// skipRest consumes the rest of an array or object whose opening delimiter
// has been read.
func skipRest(dec *json.Decoder) bool {
	for depth := 1; depth > 0; {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		switch t {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
	return true
}

// Patch applies the operations of an RFC 6902 JSON Patch to doc in order and
// returns the result. If an operation fails the whole patch fails: Patch
// returns doc unchanged and an error naming the operation by its index.
// A failed "test" is ConstraintViolation; "test" compares like JSON, so an
// Int and a Float are equal when their values are (NaN equals nothing).
func Patch(doc value.Value, ops []Op) (value.Value, error) {
	cur := doc
	for i, op := range ops {
		next, e := applyOp(cur, op)
		if e != nil {
			return doc, dberr.New(e.Code, "jsonpath.Patch", "op %d (%s): %s", i, quoteTrunc(op.Op), e.Msg)
		}
		cur = next
	}
	return cur, nil
}

func applyOp(doc value.Value, op Op) (value.Value, *dberr.Error) {
	var from Path
	switch op.Op {
	case "add", "remove", "replace", "test":
	case "move", "copy":
		var e *dberr.Error
		if from, e = parsePatchPointer(op.From); e != nil {
			e.Msg = "from: " + e.Msg
			return value.Value{}, e
		}
	default:
		return value.Value{}, dberr.New(dberr.InvalidArgument, "", "unknown op")
	}
	path, e := parsePatchPointer(op.Path)
	if e != nil {
		return value.Value{}, e
	}
	switch op.Op {
	case "add":
		return add(doc, path, op.Value)
	case "remove":
		return remove(doc, path)
	case "replace":
		return replace(doc, path, op.Value)
	case "test":
		v, e := get(doc, path)
		if e != nil {
			return value.Value{}, e
		}
		if !jsonEqual(v, op.Value) {
			return value.Value{}, newErr(dberr.ConstraintViolation, path, "test failed: the value differs")
		}
		return doc, nil
	case "copy":
		v, e := get(doc, from)
		if e != nil {
			return value.Value{}, e
		}
		return add(doc, path, v)
	}
	// move
	v, e := get(doc, from)
	if e != nil {
		return value.Value{}, e
	}
	if from.Equal(path) {
		return doc, nil
	}
	if path.HasPrefix(from) && path.Len() > from.Len() {
		return value.Value{}, dberr.New(dberr.InvalidPath, "", "cannot move %s into its own child %s", quoteTrunc(from.String()), quoteTrunc(path.String()))
	}
	if doc, e = remove(doc, from); e != nil {
		return value.Value{}, e
	}
	return add(doc, path, v)
}

// jsonEqual is value equality as RFC 6902 "test" defines it: like
// value.Equal, but numbers are equal when their values are, whether Int or
// Float.
func jsonEqual(a, b value.Value) bool {
	ak, bk := a.Kind(), b.Kind()
	if isNumber(ak) && isNumber(bk) {
		return numbersEqual(a, b)
	}
	if ak != bk {
		return false
	}
	switch ak {
	case value.KindArray:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			x, _ := a.Index(i)
			y, _ := b.Index(i)
			if !jsonEqual(x, y) {
				return false
			}
		}
		return true
	case value.KindObject:
		if a.Len() != b.Len() {
			return false
		}
		for _, f := range a.Fields() {
			y, ok := b.Get(f.Key)
			if !ok || !jsonEqual(f.Value, y) {
				return false
			}
		}
		return true
	}
	return a.Equal(b)
}

func isNumber(k value.Kind) bool { return k == value.KindInt || k == value.KindFloat }

func numbersEqual(a, b value.Value) bool {
	ai, aInt := a.AsInt()
	bi, bInt := b.AsInt()
	af, _ := a.AsFloat()
	bf, _ := b.AsFloat()
	switch {
	case aInt && bInt:
		return ai == bi
	case aInt:
		return intEqualsFloat(ai, bf)
	case bInt:
		return intEqualsFloat(bi, af)
	}
	return af == bf
}

// intEqualsFloat compares exactly, without rounding i to a float64.
func intEqualsFloat(i int64, f float64) bool {
	// -2^63 <= f < 2^63 and integral: then int64(f) is exact.
	if !(f >= -(1<<63) && f < 1<<63) || f != math.Trunc(f) {
		return false
	}
	return int64(f) == i
}

// parsePatchPointer parses a path of a patch operation, which must be a
// JSON Pointer: the empty string or text starting with "/".
func parsePatchPointer(s string) (Path, *dberr.Error) {
	if s != "" && s[0] != '/' {
		return Path{}, dberr.New(dberr.InvalidPath, "", "%s is not a JSON Pointer (RFC 6902 paths start with \"/\")", quoteTrunc(s))
	}
	return parse(s)
}
