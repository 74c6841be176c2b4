package jsonpath

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

type patchCase struct {
	name  string
	doc   string
	patch string
	want  string // result JSON when err is nil
	err   error
}

// The examples of RFC 6902 Appendix A. A.13 has no document; it is a patch
// that ParsePatch must reject.
var rfc6902AppendixA = []patchCase{
	{"A.1 adding an object member",
		`{"foo": "bar"}`,
		`[{"op": "add", "path": "/baz", "value": "qux"}]`,
		`{"baz": "qux", "foo": "bar"}`, nil},
	{"A.2 adding an array element",
		`{"foo": ["bar", "baz"]}`,
		`[{"op": "add", "path": "/foo/1", "value": "qux"}]`,
		`{"foo": ["bar", "qux", "baz"]}`, nil},
	{"A.3 removing an object member",
		`{"baz": "qux", "foo": "bar"}`,
		`[{"op": "remove", "path": "/baz"}]`,
		`{"foo": "bar"}`, nil},
	{"A.4 removing an array element",
		`{"foo": ["bar", "qux", "baz"]}`,
		`[{"op": "remove", "path": "/foo/1"}]`,
		`{"foo": ["bar", "baz"]}`, nil},
	{"A.5 replacing a value",
		`{"baz": "qux", "foo": "bar"}`,
		`[{"op": "replace", "path": "/baz", "value": "boo"}]`,
		`{"baz": "boo", "foo": "bar"}`, nil},
	{"A.6 moving a value",
		`{"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}`,
		`[{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]`,
		`{"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}`, nil},
	{"A.7 moving an array element",
		`{"foo": ["all", "grass", "cows", "eat"]}`,
		`[{"op": "move", "from": "/foo/1", "path": "/foo/3"}]`,
		`{"foo": ["all", "cows", "eat", "grass"]}`, nil},
	{"A.8 testing a value: success",
		`{"baz": "qux", "foo": ["a", 2, "c"]}`,
		`[{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]`,
		`{"baz": "qux", "foo": ["a", 2, "c"]}`, nil},
	{"A.9 testing a value: error",
		`{"baz": "qux"}`,
		`[{"op": "test", "path": "/baz", "value": "bar"}]`,
		"", dberr.ErrConstraintViolation},
	{"A.10 adding a nested member object",
		`{"foo": "bar"}`,
		`[{"op": "add", "path": "/child", "value": {"grandchild": {}}}]`,
		`{"foo": "bar", "child": {"grandchild": {}}}`, nil},
	{"A.11 ignoring unrecognized elements",
		`{"foo": "bar"}`,
		`[{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]`,
		`{"foo": "bar", "baz": "qux"}`, nil},
	{"A.12 adding to a nonexistent target",
		`{"foo": "bar"}`,
		`[{"op": "add", "path": "/baz/bat", "value": "qux"}]`,
		"", dberr.ErrNotFound},
	{"A.13 invalid JSON Patch document",
		`{"foo": "bar"}`,
		`[{"op": "add", "path": "/baz", "value": "qux", "op": "remove"}]`,
		"", dberr.ErrInvalidArgument},
	{"A.14 ~ escape ordering",
		`{"/": 9, "~1": 10}`,
		`[{"op": "test", "path": "/~01", "value": 10}]`,
		`{"/": 9, "~1": 10}`, nil},
	{"A.15 comparing strings and numbers",
		`{"/": 9, "~1": 10}`,
		`[{"op": "test", "path": "/~01", "value": "10"}]`,
		"", dberr.ErrConstraintViolation},
	{"A.16 adding an array value",
		`{"foo": ["bar"]}`,
		`[{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]`,
		`{"foo": ["bar", ["abc", "def"]]}`, nil},
}

// More cases of the RFC 6902 rules.
var morePatchCases = []patchCase{
	{"add replaces an existing member",
		`{"a": 1}`, `[{"op": "add", "path": "/a", "value": 2}]`, `{"a": 2}`, nil},
	{"add at the root replaces the document",
		`{"a": 1}`, `[{"op": "add", "path": "", "value": [1]}]`, `[1]`, nil},
	{"add at index 0",
		`[1, 2]`, `[{"op": "add", "path": "/0", "value": 0}]`, `[0, 1, 2]`, nil},
	{"add at the length appends",
		`[1, 2]`, `[{"op": "add", "path": "/2", "value": 3}]`, `[1, 2, 3]`, nil},
	{"add beyond the length",
		`[1, 2]`, `[{"op": "add", "path": "/3", "value": 3}]`, "", dberr.ErrInvalidPath},
	{"add with a leading-zero index",
		`[1, 2]`, `[{"op": "add", "path": "/01", "value": 3}]`, "", dberr.ErrInvalidPath},
	{"add with a key on an array",
		`[1, 2]`, `[{"op": "add", "path": "/x", "value": 3}]`, "", dberr.ErrWrongType},
	{"add into a scalar",
		`{"a": 1}`, `[{"op": "add", "path": "/a/b", "value": 3}]`, "", dberr.ErrWrongType},
	{"add null",
		`{}`, `[{"op": "add", "path": "/a", "value": null}]`, `{"a": null}`, nil},
	{"add with a token that is a key on an object",
		`{"a": {}}`, `[{"op": "add", "path": "/a/0", "value": 1}, {"op": "add", "path": "/a/-", "value": 2}]`,
		`{"a": {"0": 1, "-": 2}}`, nil},
	{"add the empty key",
		`{}`, `[{"op": "add", "path": "/", "value": 1}]`, `{"": 1}`, nil},
	{"add with a dotted path is not RFC 6902",
		`{"a": [1]}`, `[{"op": "add", "path": "$.a[0]", "value": 0}]`, "", dberr.ErrInvalidPath},
	{"add with a bare member name is not RFC 6902",
		`{}`, `[{"op": "add", "path": "foo", "value": 0}]`, "", dberr.ErrInvalidPath},
	{"copy from a dotted path is not RFC 6902",
		`{"a": 1}`, `[{"op": "copy", "from": "a", "path": "/b"}]`, "", dberr.ErrInvalidPath},
	{"remove the root",
		`{"a": 1}`, `[{"op": "remove", "path": ""}]`, "", dberr.ErrInvalidPath},
	{"remove a missing member",
		`{"a": 1}`, `[{"op": "remove", "path": "/b"}]`, "", dberr.ErrNotFound},
	{"remove -",
		`[1]`, `[{"op": "remove", "path": "/-"}]`, "", dberr.ErrNotFound},
	{"replace the root",
		`{"a": 1}`, `[{"op": "replace", "path": "", "value": "x"}]`, `"x"`, nil},
	{"replace a missing member",
		`{"a": 1}`, `[{"op": "replace", "path": "/b", "value": 2}]`, "", dberr.ErrNotFound},
	{"replace inside a scalar",
		`{"s": "x"}`, `[{"op": "replace", "path": "/s/0", "value": 3}]`, "", dberr.ErrWrongType},
	{"move to a dotted path is not RFC 6902",
		`{"a": 1}`, `[{"op": "move", "from": "/a", "path": "b"}]`, "", dberr.ErrInvalidPath},
	{"replace with a key on an array",
		`{"a": [1]}`, `[{"op": "replace", "path": "/a/x", "value": 3}]`, "", dberr.ErrWrongType},
	{"replace a token member of an object",
		`{"a": {"0": 1}}`, `[{"op": "replace", "path": "/a/0", "value": 3}]`, `{"a": {"0": 3}}`, nil},
	{"replace an array element",
		`[1, 2]`, `[{"op": "replace", "path": "/1", "value": 3}]`, `[1, 3]`, nil},
	{"replace at the length",
		`[1, 2]`, `[{"op": "replace", "path": "/2", "value": 3}]`, "", dberr.ErrNotFound},
	{"replace -",
		`[1, 2]`, `[{"op": "replace", "path": "/-", "value": 3}]`, "", dberr.ErrNotFound},
	{"move to its own child",
		`{"a": {"b": 1}}`, `[{"op": "move", "from": "/a", "path": "/a/c"}]`, "", dberr.ErrInvalidPath},
	{"move the root into a child",
		`{"a": 1}`, `[{"op": "move", "from": "", "path": "/b"}]`, "", dberr.ErrInvalidPath},
	{"move to itself",
		`{"a": {"b": 1}}`, `[{"op": "move", "from": "/a", "path": "/a"}]`, `{"a": {"b": 1}}`, nil},
	{"move the root to the root",
		`{"a": 1}`, `[{"op": "move", "from": "", "path": ""}]`, `{"a": 1}`, nil},
	{"move to a sibling with a common prefix",
		`{"a": 1}`, `[{"op": "move", "from": "/a", "path": "/ab"}]`, `{"ab": 1}`, nil},
	{"move a child over its parent",
		`{"a": {"b": {"c": 1}}}`, `[{"op": "move", "from": "/a/b", "path": "/a"}]`, `{"a": {"c": 1}}`, nil},
	{"move a missing value",
		`{"a": 1}`, `[{"op": "move", "from": "/x", "path": "/y"}]`, "", dberr.ErrNotFound},
	{"move within an array backwards",
		`[1, 2, 3]`, `[{"op": "move", "from": "/2", "path": "/0"}]`, `[3, 1, 2]`, nil},
	{"move to -",
		`[1, 2, 3]`, `[{"op": "move", "from": "/0", "path": "/-"}]`, `[2, 3, 1]`, nil},
	{"copy",
		`{"a": {"b": [1]}}`, `[{"op": "copy", "from": "/a/b", "path": "/c"}]`, `{"a": {"b": [1]}, "c": [1]}`, nil},
	{"copy into an array",
		`{"a": [1, 2]}`, `[{"op": "copy", "from": "/a/1", "path": "/a/0"}]`, `{"a": [2, 1, 2]}`, nil},
	{"copy into its own child",
		`{"a": {"b": 1}}`, `[{"op": "copy", "from": "/a", "path": "/a/c"}]`, `{"a": {"b": 1, "c": {"b": 1}}}`, nil},
	{"copy a missing value",
		`{"a": 1}`, `[{"op": "copy", "from": "/x", "path": "/y"}]`, "", dberr.ErrNotFound},
	{"test a missing value",
		`{"a": 1}`, `[{"op": "test", "path": "/b", "value": 1}]`, "", dberr.ErrNotFound},
	{"test the root",
		`{"a": [1, 2.0]}`, `[{"op": "test", "path": "", "value": {"a": [1.0, 2]}}]`, `{"a": [1, 2.0]}`, nil},
	{"test int against float",
		`{"a": 1}`, `[{"op": "test", "path": "/a", "value": 1.0}]`, `{"a": 1}`, nil},
	{"test int against a different float",
		`{"a": 1}`, `[{"op": "test", "path": "/a", "value": 1.5}]`, "", dberr.ErrConstraintViolation},
	{"test object member sets",
		`{"a": {"x": 1}}`, `[{"op": "test", "path": "/a", "value": {"x": 1, "y": null}}]`, "", dberr.ErrConstraintViolation},
	{"test array order",
		`{"a": [1, 2]}`, `[{"op": "test", "path": "/a", "value": [2, 1]}]`, "", dberr.ErrConstraintViolation},
	{"test null",
		`{"a": null}`, `[{"op": "test", "path": "/a", "value": null}]`, `{"a": null}`, nil},
	{"test false against null",
		`{"a": false}`, `[{"op": "test", "path": "/a", "value": null}]`, "", dberr.ErrConstraintViolation},
	{"later op fails: whole patch fails",
		`{"a": 1}`, `[{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/a"}, {"op": "remove", "path": "/zzz"}]`,
		"", dberr.ErrNotFound},
	{"ops see earlier results",
		`{}`, `[{"op": "add", "path": "/a", "value": {}}, {"op": "add", "path": "/a/b", "value": [1]}, {"op": "add", "path": "/a/b/-", "value": 2}, {"op": "move", "from": "/a/b", "path": "/c"}, {"op": "test", "path": "/c", "value": [1, 2]}]`,
		`{"a": {}, "c": [1, 2]}`, nil},
	{"empty patch",
		`{"a": 1}`, `[]`, `{"a": 1}`, nil},
}

func runPatchCase(t *testing.T, tc patchCase) {
	t.Helper()
	doc := mustJSON(t, tc.doc)
	ops, err := ParsePatch([]byte(tc.patch))
	if err != nil {
		checkErr(t, tc.name+": ParsePatch", err, tc.err)
		return
	}
	got, err := Patch(doc, ops)
	if checkErr(t, tc.name, err, tc.err) {
		if want := mustJSON(t, tc.want); !got.Equal(want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	} else if !got.Identical(doc) {
		t.Errorf("%s: failed patch returned %v, not the document", tc.name, got)
	}
	if !doc.Identical(mustJSON(t, tc.doc)) {
		t.Errorf("%s: the original document changed: %v", tc.name, doc)
	}
}

func TestRFC6902AppendixA(t *testing.T) {
	for _, tc := range rfc6902AppendixA {
		runPatchCase(t, tc)
	}
}

func TestPatch(t *testing.T) {
	for _, tc := range morePatchCases {
		runPatchCase(t, tc)
	}
}

func TestPatchErrorNamesOp(t *testing.T) {
	doc := mustJSON(t, `{"a": 1}`)
	ops, err := ParsePatch([]byte(`[{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/a"}, {"op": "replace", "path": "/a", "value": 2}]`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Patch(doc, ops)
	var e *dberr.Error
	if !errors.As(err, &e) || e.Code != dberr.NotFound || e.Op != "jsonpath.Patch" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "op 2") || !strings.Contains(err.Error(), "replace") || !strings.Contains(err.Error(), `key "a"`) {
		t.Errorf("message %q does not name op 2", err.Error())
	}
	_, err = Patch(doc, []Op{{Op: "test", Path: "/a", Value: value.Int(2)}})
	if !errors.Is(err, dberr.ErrConstraintViolation) || !strings.Contains(err.Error(), "op 0") {
		t.Errorf("failed test: %v", err)
	}
}

func TestPatchProgrammaticOps(t *testing.T) {
	doc := mustJSON(t, `{"a": 1, "f": 2.5, "big": 9007199254740993}`)
	cases := []struct {
		op  Op
		err error
	}{
		{Op{Op: "frobnicate", Path: "/a"}, dberr.ErrInvalidArgument},
		{Op{Op: "", Path: "/a"}, dberr.ErrInvalidArgument},
		{Op{Op: "ADD", Path: "/a"}, dberr.ErrInvalidArgument},
		{Op{Op: "add", Path: "/~"}, dberr.ErrInvalidPath},
		{Op{Op: "move", From: "/~", Path: "/b"}, dberr.ErrInvalidPath},
		{Op{Op: "copy", From: "/a", Path: "a..b"}, dberr.ErrInvalidPath},
		{Op{Op: "test", Path: "/a", Value: value.Float(1)}, nil},
		{Op{Op: "test", Path: "/a", Value: value.Float(1.0000001)}, dberr.ErrConstraintViolation},
		{Op{Op: "test", Path: "/f", Value: value.Float(2.5)}, nil},
		{Op{Op: "test", Path: "/a", Value: value.Float(math.NaN())}, dberr.ErrConstraintViolation},
		{Op{Op: "test", Path: "/a", Value: value.String("1")}, dberr.ErrConstraintViolation},
		{Op{Op: "test", Path: "/big", Value: value.Float(9007199254740992)}, dberr.ErrConstraintViolation},
		{Op{Op: "test", Path: "/big", Value: value.Int(9007199254740993)}, nil},
		{Op{Op: "add", Path: "/n", Value: value.Float(math.NaN())}, nil},
	}
	for _, tc := range cases {
		got, err := Patch(doc, []Op{tc.op})
		checkErr(t, tc.op.Op+" "+tc.op.Path, err, tc.err)
		if err != nil && !got.Identical(doc) {
			t.Errorf("%v: failed patch did not return the document", tc.op)
		}
	}
	// A NaN in the document never tests equal, not even to itself.
	withNaN, err := Patch(doc, []Op{{Op: "add", Path: "/n", Value: value.Float(math.NaN())}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Patch(withNaN, []Op{{Op: "test", Path: "/n", Value: value.Float(math.NaN())}}); !errors.Is(err, dberr.ErrConstraintViolation) {
		t.Errorf("NaN tested equal: %v", err)
	}
}

func TestJSONEqual(t *testing.T) {
	cases := []struct {
		a, b  value.Value
		equal bool
	}{
		{value.Int(1), value.Float(1), true},
		{value.Float(1), value.Int(1), true},
		{value.Int(0), value.Float(math.Copysign(0, -1)), true},
		{value.Float(0), value.Float(math.Copysign(0, -1)), true},
		{value.Int(1), value.Float(1.5), false},
		{value.Int(math.MaxInt64), value.Float(9223372036854775807), false}, // the float is 2^63
		{value.Int(math.MinInt64), value.Float(-9223372036854775808), true},
		{value.Int(1 << 53), value.Float(1 << 53), true},
		{value.Int(1<<53 + 1), value.Float(1 << 53), false},
		{value.Int(1), value.Float(math.Inf(1)), false},
		{value.Int(0), value.Float(math.NaN()), false},
		{value.Float(math.NaN()), value.Float(math.NaN()), false},
		{value.Float(math.Inf(-1)), value.Float(math.Inf(-1)), true},
		{value.Int(1), value.String("1"), false},
		{value.Int(1), value.Bool(true), false},
		{value.Null(), value.Null(), true},
		{value.Null(), value.Bool(false), false},
		{value.String("a"), value.BytesFromString("a"), false},
		{value.BytesFromString("a"), value.BytesFromString("a"), true},
		{value.Array(value.Int(1), value.Float(2)), value.Array(value.Float(1), value.Int(2)), true},
		{value.Array(value.Int(1)), value.Array(value.Int(1), value.Int(1)), false},
		{value.Array(), value.ObjectOf(), false},
		{value.ObjectOf(value.Field{Key: "a", Value: value.Int(3)}), value.ObjectOf(value.Field{Key: "a", Value: value.Float(3)}), true},
		{value.ObjectOf(value.Field{Key: "a", Value: value.Int(3)}), value.ObjectOf(value.Field{Key: "b", Value: value.Int(3)}), false},
	}
	for _, tc := range cases {
		if got := jsonEqual(tc.a, tc.b); got != tc.equal {
			t.Errorf("jsonEqual(%v, %v) = %v", tc.a, tc.b, got)
		}
		if got := jsonEqual(tc.b, tc.a); got != tc.equal {
			t.Errorf("jsonEqual(%v, %v) = %v", tc.b, tc.a, got)
		}
	}
}

func TestParsePatch(t *testing.T) {
	ops, err := ParsePatch([]byte(`[
		{"op": "add", "path": "/a", "value": {"x": [1]}},
		{"op": "remove", "path": "/b", "value": "ignored"},
		{"op": "replace", "path": "$.c", "value": null},
		{"op": "move", "from": "/d", "path": "/e"},
		{"op": "copy", "from": "/f", "path": "/g", "extra": {"op": "x", "op": "y"}},
		{"op": "test", "path": "", "value": 1.5}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{Op: "add", Path: "/a", Value: mustJSON(t, `{"x": [1]}`)},
		{Op: "remove", Path: "/b"},
		{Op: "replace", Path: "$.c", Value: value.Null()},
		{Op: "move", From: "/d", Path: "/e"},
		{Op: "copy", From: "/f", Path: "/g"},
		{Op: "test", Path: "", Value: value.Float(1.5)},
	}
	if len(ops) != len(want) {
		t.Fatalf("got %d ops", len(ops))
	}
	for i := range ops {
		if ops[i].Op != want[i].Op || ops[i].Path != want[i].Path || ops[i].From != want[i].From || !ops[i].Value.Identical(want[i].Value) {
			t.Errorf("op %d = %+v, want %+v", i, ops[i], want[i])
		}
	}
}

func TestParsePatchErrors(t *testing.T) {
	cases := []struct {
		patch string
		err   error
		sub   string
	}{
		{``, dberr.ErrInvalidArgument, "JSON"},
		{`[`, dberr.ErrInvalidArgument, "JSON"},
		{`[] []`, dberr.ErrInvalidArgument, "JSON"},
		{`{"op": "add", "path": "/a", "value": 1}`, dberr.ErrInvalidArgument, "array"},
		{`null`, dberr.ErrInvalidArgument, "array"},
		{`[1]`, dberr.ErrInvalidArgument, "op 0"},
		{`[{"op": "test", "path": "", "value": 1}, []]`, dberr.ErrInvalidArgument, "op 1"},
		{`[{"path": "/a"}]`, dberr.ErrInvalidArgument, `"op"`},
		{`[{"op": 1, "path": "/a"}]`, dberr.ErrInvalidArgument, `"op"`},
		{`[{"op": null, "path": "/a"}]`, dberr.ErrInvalidArgument, `"op"`},
		{`[{"op": "delete", "path": "/a"}]`, dberr.ErrInvalidArgument, "unknown op"},
		{`[{"op": "Add", "path": "/a", "value": 1}]`, dberr.ErrInvalidArgument, "unknown op"},
		{`[{"op": "remove"}]`, dberr.ErrInvalidArgument, `"path"`},
		{`[{"op": "remove", "path": null}]`, dberr.ErrInvalidArgument, `"path"`},
		{`[{"op": "remove", "path": ["a"]}]`, dberr.ErrInvalidArgument, `"path"`},
		{`[{"op": "add", "path": "/a"}]`, dberr.ErrInvalidArgument, `"value"`},
		{`[{"op": "replace", "path": "/a"}]`, dberr.ErrInvalidArgument, `"value"`},
		{`[{"op": "test", "path": "/a"}]`, dberr.ErrInvalidArgument, `"value"`},
		{`[{"op": "move", "path": "/a"}]`, dberr.ErrInvalidArgument, `"from"`},
		{`[{"op": "copy", "path": "/a"}]`, dberr.ErrInvalidArgument, `"from"`},
		{`[{"op": "copy", "path": "/a", "from": 3}]`, dberr.ErrInvalidArgument, `"from"`},
		{`[{"op": "remove", "path": "/~2"}]`, dberr.ErrInvalidPath, "op 0"},
		{`[{"op": "move", "from": "a..b", "path": "/a"}]`, dberr.ErrInvalidPath, "from"},
		{`[{"op": "add", "path": "/a", "value": 1}, {"op": "add", "path": "/b", "path": "/c", "value": 1}]`, dberr.ErrInvalidArgument, `op 1: member "path"`},
		{`[{"op": "add", "path": "/a", "value": 1, "value": 2}]`, dberr.ErrInvalidArgument, `"value"`},
	}
	for _, tc := range cases {
		ops, err := ParsePatch([]byte(tc.patch))
		if !errors.Is(err, tc.err) {
			t.Errorf("ParsePatch(%s) = %v, %v; want %v", tc.patch, ops, err, tc.err)
			continue
		}
		if ops != nil {
			t.Errorf("ParsePatch(%s) returned ops with an error", tc.patch)
		}
		if !strings.Contains(err.Error(), tc.sub) {
			t.Errorf("ParsePatch(%s): %q does not mention %q", tc.patch, err.Error(), tc.sub)
		}
	}
}
