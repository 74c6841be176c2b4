package jsonpath

import (
	"errors"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

func mustJSON(t testing.TB, s string) value.Value {
	t.Helper()
	v, err := value.FromJSON([]byte(s))
	if err != nil {
		t.Fatalf("FromJSON(%s): %v", s, err)
	}
	return v
}

// checkErr reports whether err matches want (nil meaning success).
func checkErr(t *testing.T, what string, err, want error) bool {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: unexpected error %v", what, err)
			return false
		}
		return true
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
	return false
}

const getDoc = `{
	"a": {"b": [10, {"c": "deep"}, [1, 2]], "n": null},
	"": "empty key",
	"a/b": 1, "m~n": 2, "x.y": 3, "[0]": 4, "0": 5, "-": 6, "01": 7,
	"é": "unicode",
	"s": "str", "t": true, "i": 42, "f": 1.5,
	"arr": [0, 1, 2],
	"empty": {}, "none": []
}`

func TestGet(t *testing.T) {
	doc := mustJSON(t, getDoc)
	cases := []struct {
		path string
		want string // JSON, when err is nil
		err  error
	}{
		{"", getDoc, nil},
		{"$", getDoc, nil},
		{"/a/b/0", "10", nil},
		{"a.b[0]", "10", nil},
		{"$.a.b[1].c", `"deep"`, nil},
		{"/a/b/1/c", `"deep"`, nil},
		{"/a/b/2/1", "2", nil},
		{"a.b[2][1]", "2", nil},
		{"/a/n", "null", nil},
		{"/", `"empty key"`, nil},
		{`$[""]`, `"empty key"`, nil},
		{"/a~1b", "1", nil},
		{`$["a/b"]`, "1", nil},
		{"a/b", "1", nil},
		{"/m~0n", "2", nil},
		{"m~n", "2", nil},
		{"/x.y", "3", nil},
		{`$["x.y"]`, "3", nil},
		{"/[0]", "4", nil},
		{`$["[0]"]`, "4", nil},
		{"/0", "5", nil},
		{"$.0", "5", nil},
		{"/-", "6", nil},
		{"$.-", "6", nil},
		{"/01", "7", nil},
		{"/é", `"unicode"`, nil},
		{`$["\u00e9"]`, `"unicode"`, nil},
		{"/empty", "{}", nil},
		{"/none", "[]", nil},

		{"/missing", "", dberr.ErrNotFound},
		{"/a/missing", "", dberr.ErrNotFound},
		{"/a/missing/deeper", "", dberr.ErrNotFound},
		{"/arr/3", "", dberr.ErrNotFound},
		{"arr[3]", "", dberr.ErrNotFound},
		{"/arr/-", "", dberr.ErrNotFound},
		{"arr[-]", "", dberr.ErrNotFound},
		{"/arr/99999999999999999999999", "", dberr.ErrNotFound},
		{"/none/0", "", dberr.ErrNotFound},
		{"/empty/0", "", dberr.ErrNotFound},
		{"/s/0", "", dberr.ErrWrongType},
		{"/s/x", "", dberr.ErrWrongType},
		{"/t/x", "", dberr.ErrWrongType},
		{"/i/x", "", dberr.ErrWrongType},
		{"/f/x", "", dberr.ErrWrongType},
		{"/a/n/x", "", dberr.ErrWrongType},
		{"s[0]", "", dberr.ErrWrongType},
		{"$[0]", "", dberr.ErrWrongType},       // explicit index on an object
		{"a[0]", "", dberr.ErrWrongType},       // explicit index on an object
		{"$[-]", "", dberr.ErrWrongType},       // end position on an object
		{`$.arr["0"]`, "", dberr.ErrWrongType}, // explicit key on an array
		{"arr.0", "", dberr.ErrWrongType},      // explicit key on an array
		{"/arr/x", "", dberr.ErrWrongType},     // token that is no index
		{"/arr/01", "", dberr.ErrInvalidPath},  // leading zero
		{"/arr/", "", dberr.ErrWrongType},      // empty token
		{"/arr/-1", "", dberr.ErrWrongType},
	}
	for _, tc := range cases {
		got, err := Get(doc, MustParse(tc.path))
		if checkErr(t, "Get "+tc.path, err, tc.err) {
			if want := mustJSON(t, tc.want); !got.Equal(want) {
				t.Errorf("Get %s = %v, want %v", tc.path, got, want)
			}
		}
		if err != nil && !got.IsNull() {
			t.Errorf("Get %s returned %v with an error", tc.path, got)
		}
	}
	if !doc.Identical(mustJSON(t, getDoc)) {
		t.Error("Get changed the document")
	}
}

func TestSet(t *testing.T) {
	const base = `{"a": {"b": 1}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}}`
	cases := []struct {
		path  string
		value string
		want  string
		err   error
	}{
		{"", `7`, `7`, nil},
		{"$", `{"x": 1}`, `{"x": 1}`, nil},
		{"/a/b", `2`, `{"a": {"b": 2}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"a.c", `3`, `{"a": {"b": 1, "c": 3}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"/new", `[]`, `{"a": {"b": 1}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}, "new": []}`, nil},
		{"/a", `null`, `{"a": null, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"/n", `1`, `{"a": {"b": 1}, "arr": [0, 1, 2], "s": "str", "n": 1, "o": {"0": "zero"}}`, nil},
		// mkdir -p through missing keys, for keys and pointer tokens alike
		{"/x/y/z", `1`, `{"a": {"b": 1}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}, "x": {"y": {"z": 1}}}`, nil},
		{"x.y.z", `1`, `{"a": {"b": 1}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}, "x": {"y": {"z": 1}}}`, nil},
		{"/a/q/0/-", `1`, `{"a": {"b": 1, "q": {"0": {"-": 1}}}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"/o/0", `"nil"`, `{"a": {"b": 1}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "nil"}}`, nil},
		{"/o/1", `"one"`, `{"a": {"b": 1}, "arr": [0, 1, 2], "s": "str", "n": null, "o": {"0": "zero", "1": "one"}}`, nil},
		// arrays: replace, append at the length or "-"
		{"/arr/1", `"x"`, `{"a": {"b": 1}, "arr": [0, "x", 2], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"arr[0]", `"x"`, `{"a": {"b": 1}, "arr": ["x", 1, 2], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"/arr/3", `3`, `{"a": {"b": 1}, "arr": [0, 1, 2, 3], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"arr[3]", `3`, `{"a": {"b": 1}, "arr": [0, 1, 2, 3], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"/arr/-", `3`, `{"a": {"b": 1}, "arr": [0, 1, 2, 3], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"arr[-]", `3`, `{"a": {"b": 1}, "arr": [0, 1, 2, 3], "s": "str", "n": null, "o": {"0": "zero"}}`, nil},
		{"/arr/4", `4`, "", dberr.ErrInvalidPath},
		{"arr[5]", `4`, "", dberr.ErrInvalidPath},
		{"/arr/99999999999999999999999", `4`, "", dberr.ErrInvalidPath},
		{"/arr/3/x", `1`, "", dberr.ErrNotFound}, // no mkdir inside arrays
		{"/arr/-/x", `1`, "", dberr.ErrNotFound},
		// explicit index under a missing parent
		{"x[0]", `1`, "", dberr.ErrNotFound},
		{"x[-]", `1`, "", dberr.ErrNotFound},
		{"x.y[0]", `1`, "", dberr.ErrNotFound},
		{"x[0].y", `1`, "", dberr.ErrNotFound},
		// type errors
		{"/s/x", `1`, "", dberr.ErrWrongType},
		{"/s/0", `1`, "", dberr.ErrWrongType},
		{"/n/x", `1`, "", dberr.ErrWrongType},
		{"/s/x/y", `1`, "", dberr.ErrWrongType},
		{"a[0]", `1`, "", dberr.ErrWrongType},
		{"$[-]", `1`, "", dberr.ErrWrongType},
		{"arr.x", `1`, "", dberr.ErrWrongType},
		{`arr["0"]`, `1`, "", dberr.ErrWrongType},
		{"/arr/x", `1`, "", dberr.ErrWrongType},
		{"/arr/01", `1`, "", dberr.ErrInvalidPath}, // leading zero: RFC 6901 forbids it
		{"/arr/x/y", `1`, "", dberr.ErrWrongType},
	}
	for _, tc := range cases {
		doc := mustJSON(t, base)
		got, err := Set(doc, MustParse(tc.path), mustJSON(t, tc.value))
		if checkErr(t, "Set "+tc.path, err, tc.err) {
			if want := mustJSON(t, tc.want); !got.Equal(want) {
				t.Errorf("Set %s = %v, want %v", tc.path, got, want)
			}
		} else if !got.Identical(doc) {
			t.Errorf("Set %s failed but returned %v, not the document", tc.path, got)
		}
		if !doc.Identical(mustJSON(t, base)) {
			t.Errorf("Set %s changed the original document: %v", tc.path, doc)
		}
	}
	// Set on scalar and array documents.
	if _, err := Set(value.Int(1), MustParse("/a"), value.Int(2)); !errors.Is(err, dberr.ErrWrongType) {
		t.Errorf("Set into a scalar root: %v", err)
	}
	if got, err := Set(mustJSON(t, `[]`), MustParse("/0"), value.Int(2)); err != nil || !got.Equal(mustJSON(t, `[2]`)) {
		t.Errorf("Set /0 on []: %v %v", got, err)
	}
}

func TestDelete(t *testing.T) {
	const base = `{"a": {"b": 1, "c": 2}, "arr": [0, 1, 2], "s": "str", "": "e", "-": "dash", "o": {"0": "zero"}}`
	cases := []struct {
		path string
		want string
		err  error
	}{
		{"/a/b", `{"a": {"c": 2}, "arr": [0, 1, 2], "s": "str", "": "e", "-": "dash", "o": {"0": "zero"}}`, nil},
		{"a", `{"arr": [0, 1, 2], "s": "str", "": "e", "-": "dash", "o": {"0": "zero"}}`, nil},
		{"/", `{"a": {"b": 1, "c": 2}, "arr": [0, 1, 2], "s": "str", "-": "dash", "o": {"0": "zero"}}`, nil},
		{"/-", `{"a": {"b": 1, "c": 2}, "arr": [0, 1, 2], "s": "str", "": "e", "o": {"0": "zero"}}`, nil},
		{"/o/0", `{"a": {"b": 1, "c": 2}, "arr": [0, 1, 2], "s": "str", "": "e", "-": "dash", "o": {}}`, nil},
		{"/arr/0", `{"a": {"b": 1, "c": 2}, "arr": [1, 2], "s": "str", "": "e", "-": "dash", "o": {"0": "zero"}}`, nil},
		{"arr[1]", `{"a": {"b": 1, "c": 2}, "arr": [0, 2], "s": "str", "": "e", "-": "dash", "o": {"0": "zero"}}`, nil},
		{"/arr/2", `{"a": {"b": 1, "c": 2}, "arr": [0, 1], "s": "str", "": "e", "-": "dash", "o": {"0": "zero"}}`, nil},
		{"", "", dberr.ErrInvalidPath},
		{"$", "", dberr.ErrInvalidPath},
		{"/missing", "", dberr.ErrNotFound},
		{"/a/missing", "", dberr.ErrNotFound},
		{"/missing/x", "", dberr.ErrNotFound},
		{"/o/1", "", dberr.ErrNotFound},
		{"/arr/3", "", dberr.ErrNotFound},
		{"/arr/-", "", dberr.ErrNotFound},
		{"arr[-]", "", dberr.ErrNotFound},
		{"/s/x", "", dberr.ErrWrongType},
		{"a[0]", "", dberr.ErrWrongType},
		{"arr.x", "", dberr.ErrWrongType},
		{"/arr/x", "", dberr.ErrWrongType},
		{"/arr/00", "", dberr.ErrInvalidPath},
	}
	for _, tc := range cases {
		doc := mustJSON(t, base)
		got, err := Delete(doc, MustParse(tc.path))
		if checkErr(t, "Delete "+tc.path, err, tc.err) {
			if want := mustJSON(t, tc.want); !got.Equal(want) {
				t.Errorf("Delete %s = %v, want %v", tc.path, got, want)
			}
		} else if !got.Identical(doc) {
			t.Errorf("Delete %s failed but returned %v, not the document", tc.path, got)
		}
		if !doc.Identical(mustJSON(t, base)) {
			t.Errorf("Delete %s changed the original document: %v", tc.path, doc)
		}
	}
}

// TestPointerFormOfSuccessfulPath checks the promise that an operation that
// succeeds with a dotted path succeeds with the same result using
// Parse(p.String()).
func TestPointerFormOfSuccessfulPath(t *testing.T) {
	const base = `{"a": {"b": [1, {"c": 2}], "0": "z"}, "list": [1], "k.e/y": {"~": 1}}`
	paths := []string{
		"a", "a.b", "a.b[0]", "a.b[1].c", "a.b[2]", "a.b[-]", "a.0", `a["0"]`, "list[0]",
		"list[1]", "list[-]", `$["k.e/y"]["~"]`, `$["k.e/y"].new`, "x.y.z", "a.b[1].d",
		"a[0]", "list.x", "a.b[7]", "x[0]",
	}
	doc := mustJSON(t, base)
	v := mustJSON(t, `"new"`)
	for _, s := range paths {
		p := MustParse(s)
		q := MustParse(p.String())
		if got, err := Get(doc, p); err == nil {
			if got2, err2 := Get(doc, q); err2 != nil || !got2.Equal(got) {
				t.Errorf("Get %s ok, Get %s: %v %v", s, q, got2, err2)
			}
		}
		if got, err := Set(doc, p, v); err == nil {
			if got2, err2 := Set(doc, q, v); err2 != nil || !got2.Equal(got) {
				t.Errorf("Set %s ok, Set %s: %v %v", s, q, got2, err2)
			}
		}
		if got, err := Delete(doc, p); err == nil {
			if got2, err2 := Delete(doc, q); err2 != nil || !got2.Equal(got) {
				t.Errorf("Delete %s ok, Delete %s: %v %v", s, q, got2, err2)
			}
		}
	}
}

func TestOpErrorMessages(t *testing.T) {
	doc := mustJSON(t, `{"a": {"arr": [1, 2, 3], "s": "x"}}`)
	cases := []struct {
		err  func() error
		code dberr.Code
		op   string
		subs []string
	}{
		{func() error { _, err := Set(doc, MustParse("/a/arr/5"), value.Null()); return err },
			dberr.InvalidPath, "jsonpath.Set", []string{"index 5 out of range (length 3)", `"/a/arr"`}},
		{func() error { _, err := Get(doc, MustParse("/a/nope/x")); return err },
			dberr.NotFound, "jsonpath.Get", []string{`key "nope"`, `"/a"`, `"/a/nope/x"`}},
		{func() error { _, err := Get(doc, MustParse("/a/arr/7")); return err },
			dberr.NotFound, "jsonpath.Get", []string{"index 7", "length 3"}},
		{func() error { _, err := Get(doc, MustParse("/")); return err },
			dberr.NotFound, "jsonpath.Get", []string{`key ""`, "the root"}},
		{func() error { _, err := Get(doc, MustParse("/a/s/x")); return err },
			dberr.WrongType, "jsonpath.Get", []string{"string", `"/a/s"`}},
		{func() error { _, err := Delete(doc, MustParse("a.arr.k")); return err },
			dberr.WrongType, "jsonpath.Delete", []string{`key "k"`, "array"}},
		{func() error { _, err := Delete(doc, Root()); return err },
			dberr.InvalidPath, "jsonpath.Delete", []string{"root"}},
		{func() error { _, err := Get(doc, MustParse("a[0]")); return err },
			dberr.WrongType, "jsonpath.Get", []string{"[0]", "object"}},
	}
	for i, tc := range cases {
		err := tc.err()
		var e *dberr.Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Op != tc.op {
			t.Errorf("case %d: err = %v, want code %v op %s", i, err, tc.code, tc.op)
			continue
		}
		for _, s := range tc.subs {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("case %d: %q does not contain %q", i, err.Error(), s)
			}
		}
	}
}

func TestHandBuiltPathLimits(t *testing.T) {
	p := Root()
	for range MaxSegments + 1 {
		p = p.Key("a")
	}
	doc := mustJSON(t, `{}`)
	if _, err := Get(doc, p); !errors.Is(err, dberr.ErrInvalidPath) {
		t.Errorf("Get with %d segments: %v", p.Len(), err)
	}
	if _, err := Set(doc, p, value.Null()); !errors.Is(err, dberr.ErrInvalidPath) {
		t.Errorf("Set with %d segments: %v", p.Len(), err)
	}
	long := Root().Key(strings.Repeat("/", MaxPathLen/2))
	if _, err := Delete(doc, long); !errors.Is(err, dberr.ErrInvalidPath) {
		t.Errorf("Delete with a long key: %v", err)
	}
	ok := p.Parent()
	if got, err := Set(doc, ok, value.Int(1)); err != nil || got.Depth() != MaxSegments {
		t.Errorf("Set with %d segments: depth %d, %v", ok.Len(), got.Depth(), err)
	}
}
