package jsonpath

import (
	"math"
	"slices"
	"strconv"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

// Get returns the value at p in doc.
func Get(doc value.Value, p Path) (value.Value, error) {
	v, e := get(doc, p)
	if e != nil {
		e.Op = "jsonpath.Get"
		return value.Value{}, e
	}
	return v, nil
}

// Set returns doc with the value at p set to v. The root path replaces the
// whole document. A missing object key is created, and so are missing
// intermediate objects (like mkdir -p) wherever the segment is a key or a
// pointer token; nothing is created inside arrays, and an explicit index
// under a missing parent is NotFound. On an array an index below the length
// replaces the element and an index equal to the length, or the end
// position, appends; a larger index is an InvalidPath error. On error Set
// returns doc unchanged.
func Set(doc value.Value, p Path, v value.Value) (value.Value, error) {
	out, e := set(doc, p, v)
	if e != nil {
		e.Op = "jsonpath.Set"
		return doc, e
	}
	return out, nil
}

// Delete returns doc without the object member or array element at p; later
// array elements shift down. The root cannot be deleted (InvalidPath) and a
// missing target is NotFound. On error Delete returns doc unchanged.
func Delete(doc value.Value, p Path) (value.Value, error) {
	out, e := remove(doc, p)
	if e != nil {
		e.Op = "jsonpath.Delete"
		return doc, e
	}
	return out, nil
}

func get(doc value.Value, p Path) (value.Value, *dberr.Error) {
	if e := p.check(); e != nil {
		return value.Value{}, e
	}
	cur := doc
	for i := range p.segs {
		var e *dberr.Error
		if cur, e = child(cur, p, i); e != nil {
			return value.Value{}, e
		}
	}
	return cur, nil
}

// child returns the element of cur (the value at the first i segments of p)
// named by segment i.
func child(cur value.Value, p Path, i int) (value.Value, *dberr.Error) {
	switch cur.Kind() {
	case value.KindObject:
		key, e := objectKey(p, i)
		if e != nil {
			return value.Value{}, e
		}
		v, ok := cur.Get(key)
		if !ok {
			return value.Value{}, errKeyNotFound(p, i, key)
		}
		return v, nil
	case value.KindArray:
		idx, e := arrayIndex(p, i)
		if e != nil {
			return value.Value{}, e
		}
		v, ok := cur.Index(idx)
		if !ok {
			return value.Value{}, errElemNotFound(p, i, cur.Len())
		}
		return v, nil
	}
	return value.Value{}, errScalar(p, i, cur)
}

// objectKey returns the key segment i of p names on an object.
func objectKey(p Path, i int) (string, *dberr.Error) {
	s := p.segs[i]
	if k, ok := s.Key(); ok {
		return k, nil
	}
	return "", newErr(dberr.WrongType, p, "array position [%s] used on the object at %s", s.Token(), at(p, i))
}

// endIndex stands for the end-of-array position; it is out of range of every
// array, as is an index too large for an int.
const endIndex = math.MaxInt

// arrayIndex returns the index segment i of p names on an array: endIndex
// for "-" and for indices too large for an int.
func arrayIndex(p Path, i int) (int, *dberr.Error) {
	s := p.segs[i]
	switch s.kind {
	case SegIndex:
		return s.idx, nil
	case SegEnd:
		return endIndex, nil
	case SegKey:
		return 0, newErr(dberr.WrongType, p, "key %s used on the array at %s", strconv.Quote(s.text), at(p, i))
	}
	switch s.cls {
	case arrIndex:
		return s.idx, nil
	case arrEnd, arrOverflow:
		return endIndex, nil
	case arrLeadingZero:
		// RFC 6901 forbids leading zeros in array indices: the path is
		// malformed, whatever the document holds.
		return 0, newErr(dberr.InvalidPath, p, "token %q used on the array at %s is not an array index (leading zero)", s.text, at(p, i))
	}
	return 0, newErr(dberr.WrongType, p, "token %s used on the array at %s is not an array index", quoteTrunc(s.text), at(p, i))
}

// at describes the location of the first i segments of p.
func at(p Path, i int) string {
	if i == 0 {
		return "the root"
	}
	return quoteTrunc(p.prefixString(i))
}

func newErr(code dberr.Code, p Path, format string, args ...any) *dberr.Error {
	return dberr.New(code, "", "path %s: "+format, append([]any{quoteTrunc(p.String())}, args...)...)
}

func errKeyNotFound(p Path, i int, key string) *dberr.Error {
	return newErr(dberr.NotFound, p, "key %s not found in the object at %s", quoteTrunc(key), at(p, i))
}

func errElemNotFound(p Path, i, n int) *dberr.Error {
	if p.segs[i].IsEnd() {
		return newErr(dberr.NotFound, p, "\"-\" names no element of the array at %s (length %d)", at(p, i), n)
	}
	return newErr(dberr.NotFound, p, "index %s not found in the array at %s (length %d)", p.segs[i].Token(), at(p, i), n)
}

func errOutOfRange(p Path, i, n int) *dberr.Error {
	return newErr(dberr.InvalidPath, p, "index %s out of range (length %d) for the array at %s", p.segs[i].Token(), n, at(p, i))
}

func errScalar(p Path, i int, cur value.Value) *dberr.Error {
	return newErr(dberr.WrongType, p, "cannot step into the %s at %s", cur.Kind(), at(p, i))
}

func errNoParent(p Path, i int) *dberr.Error {
	return newErr(dberr.NotFound, p, "nothing at %s to hold array position [%s]", at(p, i), p.segs[i].Token())
}

// leafFunc computes the new value of the container at the parent of the
// target of p from its old value. present is false when Set is creating the
// parent.
type leafFunc func(parent value.Value, present bool) (value.Value, *dberr.Error)

// edit returns doc with the parent of the target of p (p is not the root)
// replaced by leaf's result, copying the containers on the way. With mkdir,
// missing objects on the way are created where the segment is a key or a
// token; otherwise everything on the way must exist.
func edit(doc value.Value, p Path, mkdir bool, leaf leafFunc) (value.Value, *dberr.Error) {
	return editAt(doc, true, p, 0, mkdir, leaf)
}

func editAt(cur value.Value, present bool, p Path, i int, mkdir bool, leaf leafFunc) (value.Value, *dberr.Error) {
	if i == len(p.segs)-1 {
		return leaf(cur, present)
	}
	if !present {
		if k := p.segs[i].kind; k == SegIndex || k == SegEnd {
			return value.Value{}, errNoParent(p, i)
		}
		cur = value.ObjectOf()
	}
	switch cur.Kind() {
	case value.KindObject:
		key, e := objectKey(p, i)
		if e != nil {
			return value.Value{}, e
		}
		c, ok := cur.Get(key)
		if !ok && !mkdir {
			return value.Value{}, errKeyNotFound(p, i, key)
		}
		nc, e := editAt(c, ok, p, i+1, mkdir, leaf)
		if e != nil {
			return value.Value{}, e
		}
		return cur.With(key, nc), nil
	case value.KindArray:
		idx, e := arrayIndex(p, i)
		if e != nil {
			return value.Value{}, e
		}
		c, ok := cur.Index(idx)
		if !ok {
			return value.Value{}, errElemNotFound(p, i, cur.Len())
		}
		nc, e := editAt(c, true, p, i+1, mkdir, leaf)
		if e != nil {
			return value.Value{}, e
		}
		return arrayWith(cur, idx, nc), nil
	}
	return value.Value{}, errScalar(p, i, cur)
}

func set(doc value.Value, p Path, v value.Value) (value.Value, *dberr.Error) {
	if e := p.check(); e != nil {
		return value.Value{}, e
	}
	if p.IsRoot() {
		return v, nil
	}
	i := len(p.segs) - 1
	return edit(doc, p, true, func(parent value.Value, present bool) (value.Value, *dberr.Error) {
		if !present {
			if k := p.segs[i].kind; k == SegIndex || k == SegEnd {
				return value.Value{}, errNoParent(p, i)
			}
			parent = value.ObjectOf()
		}
		switch parent.Kind() {
		case value.KindObject:
			key, e := objectKey(p, i)
			if e != nil {
				return value.Value{}, e
			}
			return parent.With(key, v), nil
		case value.KindArray:
			idx, e := arrayIndex(p, i)
			if e != nil {
				return value.Value{}, e
			}
			n := parent.Len()
			switch {
			case idx < n:
				return arrayWith(parent, idx, v), nil
			case idx == n || p.segs[i].IsEnd():
				return arrayInsert(parent, n, v), nil
			}
			return value.Value{}, errOutOfRange(p, i, n)
		}
		return value.Value{}, errScalar(p, i, parent)
	})
}

// add is the RFC 6902 "add": the parent must exist; on an object the member
// is added or replaced, on an array the value is inserted before the index
// (appended at the length or "-").
func add(doc value.Value, p Path, v value.Value) (value.Value, *dberr.Error) {
	if e := p.check(); e != nil {
		return value.Value{}, e
	}
	if p.IsRoot() {
		return v, nil
	}
	i := len(p.segs) - 1
	return edit(doc, p, false, func(parent value.Value, _ bool) (value.Value, *dberr.Error) {
		switch parent.Kind() {
		case value.KindObject:
			key, e := objectKey(p, i)
			if e != nil {
				return value.Value{}, e
			}
			return parent.With(key, v), nil
		case value.KindArray:
			idx, e := arrayIndex(p, i)
			if e != nil {
				return value.Value{}, e
			}
			n := parent.Len()
			switch {
			case idx <= n:
				return arrayInsert(parent, idx, v), nil
			case p.segs[i].IsEnd():
				return arrayInsert(parent, n, v), nil
			}
			return value.Value{}, errOutOfRange(p, i, n)
		}
		return value.Value{}, errScalar(p, i, parent)
	})
}

// replace is the RFC 6902 "replace": the target must exist.
func replace(doc value.Value, p Path, v value.Value) (value.Value, *dberr.Error) {
	if e := p.check(); e != nil {
		return value.Value{}, e
	}
	if p.IsRoot() {
		return v, nil
	}
	i := len(p.segs) - 1
	return edit(doc, p, false, func(parent value.Value, _ bool) (value.Value, *dberr.Error) {
		switch parent.Kind() {
		case value.KindObject:
			key, e := objectKey(p, i)
			if e != nil {
				return value.Value{}, e
			}
			if _, ok := parent.Get(key); !ok {
				return value.Value{}, errKeyNotFound(p, i, key)
			}
			return parent.With(key, v), nil
		case value.KindArray:
			idx, e := arrayIndex(p, i)
			if e != nil {
				return value.Value{}, e
			}
			if idx >= parent.Len() {
				return value.Value{}, errElemNotFound(p, i, parent.Len())
			}
			return arrayWith(parent, idx, v), nil
		}
		return value.Value{}, errScalar(p, i, parent)
	})
}

// remove deletes the target of p, which must exist and not be the root.
func remove(doc value.Value, p Path) (value.Value, *dberr.Error) {
	if e := p.check(); e != nil {
		return value.Value{}, e
	}
	if p.IsRoot() {
		return value.Value{}, dberr.New(dberr.InvalidPath, "", "the root cannot be deleted")
	}
	i := len(p.segs) - 1
	return edit(doc, p, false, func(parent value.Value, _ bool) (value.Value, *dberr.Error) {
		switch parent.Kind() {
		case value.KindObject:
			key, e := objectKey(p, i)
			if e != nil {
				return value.Value{}, e
			}
			if _, ok := parent.Get(key); !ok {
				return value.Value{}, errKeyNotFound(p, i, key)
			}
			return parent.Without(key), nil
		case value.KindArray:
			idx, e := arrayIndex(p, i)
			if e != nil {
				return value.Value{}, e
			}
			if idx >= parent.Len() {
				return value.Value{}, errElemNotFound(p, i, parent.Len())
			}
			vs, _ := parent.AsArray()
			return value.Array(slices.Delete(vs, idx, idx+1)...), nil
		}
		return value.Value{}, errScalar(p, i, parent)
	})
}

// arrayWith returns a copy of the array a with element i (in range) set to x.
func arrayWith(a value.Value, i int, x value.Value) value.Value {
	vs, _ := a.AsArray()
	vs[i] = x
	return value.Array(vs...)
}

// arrayInsert returns a copy of the array a with x inserted before element i
// (0 <= i <= length).
func arrayInsert(a value.Value, i int, x value.Value) value.Value {
	vs, _ := a.AsArray()
	return value.Array(slices.Insert(vs, i, x)...)
}
