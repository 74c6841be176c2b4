package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
	"pgregory.net/rapid"
)

// jv parses JSON text into a Value, for literals.
func jv(t testing.TB, s string) inmem.Value {
	t.Helper()
	v, err := inmem.ValueFromJSON([]byte(s))
	if err != nil {
		t.Fatalf("ValueFromJSON(%s): %v", s, err)
	}
	return v
}

// jsonText renders a Value as JSON (object keys sorted, so equal documents
// give identical bytes).
func jsonText(t testing.TB, v inmem.Value) string {
	t.Helper()
	b, err := inmem.ValueToJSON(v)
	if err != nil {
		t.Fatalf("ValueToJSON(%v): %v", v, err)
	}
	return string(b)
}

func mustCreateDoc(t testing.TB, db *inmem.DB, run inmem.RunID, id, doc string) inmem.Version {
	t.Helper()
	ver, err := db.JSON().Create(ctx, run, id, jv(t, doc))
	if err != nil {
		t.Fatalf("Create(%q): %v", id, err)
	}
	return ver
}

// wantDoc checks the whole document id against JSON text.
func wantDoc(t testing.TB, db *inmem.DB, run inmem.RunID, id, want string) inmem.Versioned[inmem.Value] {
	t.Helper()
	got, err := db.JSON().Get(ctx, run, id, "")
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	if g, w := jsonText(t, got.Value), jsonText(t, jv(t, want)); g != w {
		t.Fatalf("document %q = %s, want %s", id, g, w)
	}
	return got
}

func wantCode(t testing.TB, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: err = %v, want %v", what, err, sentinel)
	}
	var e *inmem.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %T is not *inmem.Error", what, err)
	}
}

func TestJSON_CRUD(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()

	v1 := mustCreateDoc(t, db, run, "agent/plan", `{"goal":"ship","steps":["a","b"],"meta":{"n":1}}`)
	if v1.Kind != inmem.TxnVersion || v1.N == 0 {
		t.Fatalf("Create returned %v, want a Txn version", v1)
	}
	_, err := js.Create(ctx, run, "agent/plan", jv(t, `{}`))
	wantCode(t, "Create of an existing document", err, inmem.ErrAlreadyExists)

	for _, root := range []string{"", "$"} {
		got, err := js.Get(ctx, run, "agent/plan", root)
		if err != nil {
			t.Fatalf("Get(root %q): %v", root, err)
		}
		if got.Version != v1 || got.Timestamp == 0 {
			t.Fatalf("Get(root %q) version %v ts %v, want %v", root, got.Version, got.Timestamp, v1)
		}
	}
	got, err := js.Get(ctx, run, "agent/plan", "/steps/1")
	if err != nil || !got.Value.Equal(inmem.String("b")) || got.Version != v1 {
		t.Fatalf("Get(/steps/1) = %+v, %v", got, err)
	}
	if ok, err := js.Exists(ctx, run, "agent/plan"); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if ok, err := js.Exists(ctx, run, "nope"); ok || err != nil {
		t.Fatalf("Exists(missing) = %v, %v", ok, err)
	}
	_, err = js.Get(ctx, run, "nope", "")
	wantCode(t, "Get of a missing document", err, inmem.ErrNotFound)
	_, err = js.Get(ctx, run, "agent/plan", "/missing")
	wantCode(t, "Get of a missing path", err, inmem.ErrNotFound)
	_, err = js.Get(ctx, run, "agent/plan", "/steps/2")
	wantCode(t, "Get of a missing element", err, inmem.ErrNotFound)
	_, err = js.Get(ctx, run, "agent/plan", "/goal/x")
	wantCode(t, "Get into a scalar", err, inmem.ErrWrongType)

	v2, err := js.Set(ctx, run, "agent/plan", "/meta/n", inmem.Int(2))
	if err != nil || v2.N <= v1.N {
		t.Fatalf("Set = %v, %v", v2, err)
	}
	v3, err := js.Delete(ctx, run, "agent/plan", "/steps/0")
	if err != nil || v3.N <= v2.N {
		t.Fatalf("Delete = %v, %v", v3, err)
	}
	if got := wantDoc(t, db, run, "agent/plan", `{"goal":"ship","steps":["b"],"meta":{"n":2}}`); got.Version != v3 {
		t.Fatalf("version after Delete = %v, want %v", got.Version, v3)
	}
	_, err = js.Delete(ctx, run, "agent/plan", "")
	wantCode(t, "Delete of the root", err, inmem.ErrInvalidPath)
	_, err = js.Delete(ctx, run, "agent/plan", "$")
	wantCode(t, "Delete of the root ($)", err, inmem.ErrInvalidPath)
	_, err = js.Delete(ctx, run, "agent/plan", "/steps/5")
	wantCode(t, "Delete of a missing element", err, inmem.ErrNotFound)
	_, err = js.Set(ctx, run, "nope", "/a", inmem.Int(1))
	wantCode(t, "Set on a missing document", err, inmem.ErrNotFound)
	_, err = js.Delete(ctx, run, "nope", "/a")
	wantCode(t, "Delete on a missing document", err, inmem.ErrNotFound)

	// Set at the root replaces the whole document, with any JSON value.
	if _, err := js.Set(ctx, run, "agent/plan", "$", inmem.String("done")); err != nil {
		t.Fatal(err)
	}
	wantDoc(t, db, run, "agent/plan", `"done"`)

	mustCreateDoc(t, db, run, "agent/notes", `[]`)
	mustCreateDoc(t, db, run, "other", `null`)
	mustCreateDoc(t, db, run, "agent/a", `1.5`)
	ids, err := js.List(ctx, run, "agent/")
	if err != nil || !slices.Equal(ids, []string{"agent/a", "agent/notes", "agent/plan"}) {
		t.Fatalf("List(agent/) = %v, %v", ids, err)
	}
	all, _ := js.List(ctx, run, "")
	if !slices.Equal(all, []string{"agent/a", "agent/notes", "agent/plan", "other"}) {
		t.Fatalf("List() = %v", all)
	}
	n := 0
	for d, err := range js.Scan(ctx, run, "agent/") {
		if err != nil {
			t.Fatal(err)
		}
		if d.Key == "agent/a" && !d.Value.Equal(inmem.Float(1.5)) {
			t.Fatalf("Scan yielded %s = %v", d.Key, d.Value)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("Scan yielded %d documents, want 3", n)
	}

	vd, err := js.Destroy(ctx, run, "agent/plan")
	if err != nil || vd.N == 0 {
		t.Fatalf("Destroy = %v, %v", vd, err)
	}
	if ok, _ := js.Exists(ctx, run, "agent/plan"); ok {
		t.Fatal("destroyed document still exists")
	}
	_, err = js.Destroy(ctx, run, "agent/plan")
	wantCode(t, "Destroy of a destroyed document", err, inmem.ErrNotFound)
	_, err = js.Get(ctx, run, "agent/plan", "")
	wantCode(t, "Get of a destroyed document", err, inmem.ErrNotFound)
	mustCreateDoc(t, db, run, "agent/plan", `{"again":true}`)
	wantDoc(t, db, run, "agent/plan", `{"again":true}`)
	// A null document is a live document.
	if got, err := js.Get(ctx, run, "other", ""); err != nil || !got.Value.IsNull() {
		t.Fatalf("Get(null document) = %v, %v", got, err)
	}
}

func TestJSON_PathSyntaxesAgree(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "d", `{"a":{"b":[10,{"c":"x"}]},"a/b":1,"m~n":2,"with.dot":3,"":4,"sp ace":5}`)
	pairs := []struct{ pointer, dotted string }{
		{"/a", "a"},
		{"/a", "$.a"},
		{"/a/b", "a.b"},
		{"/a/b/0", "a.b[0]"},
		{"/a/b/1/c", "$.a.b[1].c"},
		{"/a/b/1/c", `$["a"]['b'][1]["c"]`},
		{"/a~1b", `$["a/b"]`},
		{"/m~0n", "m~n"},
		{"/with.dot", `$["with.dot"]`},
		{"/", `$[""]`},
		{"/sp ace", "sp ace"},
	}
	for i, p := range pairs {
		g1, err1 := js.Get(ctx, run, "d", p.pointer)
		g2, err2 := js.Get(ctx, run, "d", p.dotted)
		if err1 != nil || err2 != nil || !g1.Value.Equal(g2.Value) {
			t.Fatalf("%q and %q read differently: %v/%v, %v/%v", p.pointer, p.dotted, g1.Value, err1, g2.Value, err2)
		}
		// Writing through one syntax is visible through the other.
		val := inmem.Int(int64(100 + i))
		if _, err := js.Set(ctx, run, "d", p.dotted, val); err != nil {
			t.Fatalf("Set(%q): %v", p.dotted, err)
		}
		if got, err := js.Get(ctx, run, "d", p.pointer); err != nil || !got.Value.Equal(val) {
			t.Fatalf("Set(%q) then Get(%q) = %v, %v", p.dotted, p.pointer, got.Value, err)
		}
		val = inmem.Int(int64(200 + i))
		if _, err := js.Set(ctx, run, "d", p.pointer, val); err != nil {
			t.Fatalf("Set(%q): %v", p.pointer, err)
		}
		if got, err := js.Get(ctx, run, "d", p.dotted); err != nil || !got.Value.Equal(val) {
			t.Fatalf("Set(%q) then Get(%q) = %v, %v", p.pointer, p.dotted, got.Value, err)
		}
		// Restore the document so later pairs find their paths.
		if i < 4 {
			db2 := `{"a":{"b":[10,{"c":"x"}]},"a/b":1,"m~n":2,"with.dot":3,"":4,"sp ace":5}`
			if _, err := js.Set(ctx, run, "d", "", jv(t, db2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Deleting through either syntax removes the same member.
	if _, err := js.Delete(ctx, run, "d", `$["a/b"]`); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Get(ctx, run, "d", "/a~1b"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("after deleting $[\"a/b\"], /a~1b = %v", err)
	}
}

func TestJSON_SetCreatesAndAppends(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "d", `{"list":[1,2]}`)
	steps := []struct {
		path string
		val  inmem.Value
	}{
		{"/name", inmem.String("n")},       // a missing key is created
		{"x.y.z", inmem.Bool(true)},        // so are missing objects on the way
		{"/list/2", inmem.Int(3)},          // index == length appends
		{"/list/-", inmem.Int(4)},          // "-" appends
		{"$.list[4]", inmem.Int(5)},        // dotted index == length appends
		{"$.list[-]", inmem.Int(6)},        // dotted end appends
		{"/list/0", inmem.Int(0)},          // index < length replaces
		{"/x/y/w", jv(t, `{"deep":[]}`)},   // a key next to an existing one
		{"/x/y/w/deep/0", inmem.Null()},    // append to an empty array
		{"/list/6", jv(t, `{"k":"v"}`)},    // append an object
		{"$.list[6].k", inmem.String("w")}, // edit inside an array element
	}
	for _, s := range steps {
		if _, err := js.Set(ctx, run, "d", s.path, s.val); err != nil {
			t.Fatalf("Set(%q): %v", s.path, err)
		}
	}
	want := `{"list":[0,2,3,4,5,6,{"k":"w"}],"name":"n","x":{"y":{"z":true,"w":{"deep":[null]}}}}`
	before := wantDoc(t, db, run, "d", want)

	bad := []struct {
		path string
		err  error
	}{
		{"/list/8", inmem.ErrInvalidPath},     // beyond the end
		{"$.list[100]", inmem.ErrInvalidPath}, // beyond the end
		{"/list/x", inmem.ErrWrongType},       // not an index
		{"/list/01", inmem.ErrInvalidPath},    // leading zero
		{"$.name.sub", inmem.ErrWrongType},    // into a string
		{"$.list.k", inmem.ErrWrongType},      // key on an array
		{"$.x[0]", inmem.ErrWrongType},        // index on an object
		{"$.nothere[0]", inmem.ErrNotFound},   // index under a missing parent
		{"/a~2", inmem.ErrInvalidPath},        // bad escape
		{"a..b", inmem.ErrInvalidPath},        // empty name
		{"$.a[01]", inmem.ErrInvalidPath},     // leading zero in dotted index
		{"$.a[", inmem.ErrInvalidPath},        // unterminated
	}
	for _, b := range bad {
		_, err := js.Set(ctx, run, "d", b.path, inmem.Int(9))
		wantCode(t, fmt.Sprintf("Set(%q)", b.path), err, b.err)
	}
	after := wantDoc(t, db, run, "d", want)
	if after.Version != before.Version {
		t.Fatalf("failed Sets changed the version: %v -> %v", before.Version, after.Version)
	}
}

func TestJSON_DeletePaths(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "d", `{"a":[1,2,3],"b":{"c":1,"d":2}}`)
	for _, p := range []string{"/a/0", "$.b.c", "a[1]"} {
		if _, err := js.Delete(ctx, run, "d", p); err != nil {
			t.Fatalf("Delete(%q): %v", p, err)
		}
	}
	wantDoc(t, db, run, "d", `{"a":[2],"b":{"d":2}}`)
	for _, c := range []struct {
		path string
		err  error
	}{{"/a/1", inmem.ErrNotFound}, {"/a/-", inmem.ErrNotFound}, {"/zz", inmem.ErrNotFound}, {"/b/d/e", inmem.ErrWrongType}, {"", inmem.ErrInvalidPath}} {
		_, err := js.Delete(ctx, run, "d", c.path)
		wantCode(t, fmt.Sprintf("Delete(%q)", c.path), err, c.err)
	}
}

func TestJSON_PatchAtomic(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	v0 := mustCreateDoc(t, db, run, "d", `{"a":1,"list":[1,2],"o":{"k":"v"}}`)
	before := wantDoc(t, db, run, "d", `{"a":1,"list":[1,2],"o":{"k":"v"}}`)
	beforeText := jsonText(t, before.Value)

	failing := []struct {
		name string
		ops  []inmem.PatchOp
		err  error
	}{
		{"missing remove", []inmem.PatchOp{
			{Op: "add", Path: "/b", Value: inmem.Int(2)},
			{Op: "replace", Path: "/a", Value: inmem.Int(3)},
			{Op: "remove", Path: "/nothere"},
		}, inmem.ErrNotFound},
		{"failed test", []inmem.PatchOp{
			{Op: "add", Path: "/list/-", Value: inmem.Int(3)},
			{Op: "remove", Path: "/o/k"},
			{Op: "test", Path: "/a", Value: inmem.Int(42)},
		}, inmem.ErrConstraintViolation},
		{"unknown op", []inmem.PatchOp{
			{Op: "add", Path: "/b", Value: inmem.Int(2)},
			{Op: "copy", From: "/a", Path: "/c"},
			{Op: "frobnicate", Path: "/a"},
		}, inmem.ErrInvalidArgument},
		{"bad path", []inmem.PatchOp{
			{Op: "add", Path: "/b", Value: inmem.Int(2)},
			{Op: "move", From: "/a", Path: "/z"},
			{Op: "add", Path: "/a~9", Value: inmem.Int(1)},
		}, inmem.ErrInvalidPath},
		{"index out of range", []inmem.PatchOp{
			{Op: "add", Path: "/b", Value: inmem.Int(2)},
			{Op: "add", Path: "/list/0", Value: inmem.Int(0)},
			{Op: "add", Path: "/list/9", Value: inmem.Int(9)},
		}, inmem.ErrInvalidPath},
	}
	for _, f := range failing {
		_, err := js.Patch(ctx, run, "d", f.ops)
		wantCode(t, f.name, err, f.err)
		if !strings.Contains(err.Error(), "op 2") {
			t.Fatalf("%s: error %q does not name op 2", f.name, err)
		}
		got := wantDoc(t, db, run, "d", beforeText)
		if jsonText(t, got.Value) != beforeText || !got.Value.Identical(before.Value) {
			t.Fatalf("%s: document changed: %s", f.name, jsonText(t, got.Value))
		}
		if got.Version != v0 {
			t.Fatalf("%s: version changed: %v -> %v", f.name, v0, got.Version)
		}
		if h, _ := js.History(ctx, run, "d"); len(h) != 1 {
			t.Fatalf("%s: a failed patch left history %v", f.name, h)
		}
	}

	// Inside a transaction too, a failed patch leaves the transaction's
	// view of the document alone and the transaction can go on.
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.JSON().Patch("d", failing[0].ops); !errors.Is(err, inmem.ErrNotFound) {
			return fmt.Errorf("patch in tx: %v", err)
		}
		got, err := tx.JSON().Get("d", "")
		if err != nil || jsonText(t, got.Value) != beforeText {
			return fmt.Errorf("tx view after failed patch: %v %v", got.Value, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	ok := []inmem.PatchOp{
		{Op: "test", Path: "/a", Value: inmem.Float(1)}, // JSON equality: 1 == 1.0
		{Op: "add", Path: "/list/1", Value: inmem.String("x")},
		{Op: "replace", Path: "/o/k", Value: jv(t, `[true]`)},
		{Op: "copy", From: "/o", Path: "/o2"},
		{Op: "move", From: "/a", Path: "/b"},
		{Op: "remove", Path: "/list/0"},
	}
	v1, err := js.Patch(ctx, run, "d", ok)
	if err != nil || v1.N <= v0.N {
		t.Fatalf("Patch = %v, %v", v1, err)
	}
	wantDoc(t, db, run, "d", `{"b":1,"list":["x",2],"o":{"k":[true]},"o2":{"k":[true]}}`)

	v2, err := js.PatchJSON(ctx, run, "d", []byte(`[
		{"op":"test","path":"/b","value":1},
		{"op":"add","path":"/list/-","value":{"n":null}},
		{"op":"remove","path":"/o2"}
	]`))
	if err != nil || v2.N <= v1.N {
		t.Fatalf("PatchJSON = %v, %v", v2, err)
	}
	wantDoc(t, db, run, "d", `{"b":1,"list":["x",2,{"n":null}],"o":{"k":[true]}}`)
	_, err = js.PatchJSON(ctx, run, "d", []byte(`[{"op":"add","path":"/q","value":1},{"op":"test","path":"/b","value":2}]`))
	wantCode(t, "PatchJSON failing test", err, inmem.ErrConstraintViolation)
	for _, bad := range []string{`{`, `{"op":"add"}`, `[{"op":"add","path":"/x"}]`, `[{"path":"/x"}]`, `[{"op":"nope","path":"/x"}]`, `[1]`} {
		_, err := js.PatchJSON(ctx, run, "d", []byte(bad))
		wantCode(t, "PatchJSON("+bad+")", err, inmem.ErrInvalidArgument)
	}
	_, err = js.PatchJSON(ctx, run, "d", []byte(`[{"op":"add","path":"a..b","value":1}]`))
	wantCode(t, "PatchJSON with a bad path", err, inmem.ErrInvalidPath)
	_, err = js.Patch(ctx, run, "missing", ok)
	wantCode(t, "Patch of a missing document", err, inmem.ErrNotFound)
	if h, _ := js.History(ctx, run, "d"); len(h) != 3 {
		t.Fatalf("history has %d versions, want 3", len(h))
	}
}

func TestJSON_Merge(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "d", `{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}`)
	// The example of RFC 7396 section 3.
	if _, err := js.Merge(ctx, run, "d", jv(t, `{"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]}`)); err != nil {
		t.Fatal(err)
	}
	wantDoc(t, db, run, "d", `{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}`)

	cases := []struct{ doc, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"a":1}`, `{"a":[null,{"b":null}]}`, `{"a":[null,{"b":null}]}`}, // arrays are taken whole
	}
	for i, c := range cases {
		id := fmt.Sprint("case", i)
		mustCreateDoc(t, db, run, id, c.doc)
		if _, err := js.Merge(ctx, run, id, jv(t, c.patch)); err != nil {
			t.Fatalf("Merge(%s, %s): %v", c.doc, c.patch, err)
		}
		wantDoc(t, db, run, id, c.want)
	}

	// A missing document is created from null.
	v, err := js.Merge(ctx, run, "fresh", jv(t, `{"a":{"b":1,"c":null},"d":null}`))
	if err != nil || v.N == 0 {
		t.Fatalf("Merge into a missing document = %v, %v", v, err)
	}
	wantDoc(t, db, run, "fresh", `{"a":{"b":1}}`)
	if _, err := js.Destroy(ctx, run, "fresh"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Merge(ctx, run, "fresh", jv(t, `{"again":1}`)); err != nil {
		t.Fatal(err)
	}
	wantDoc(t, db, run, "fresh", `{"again":1}`)
}

func TestJSON_GetAtAndHistory(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	vc := mustCreateDoc(t, db, run, "d", `{"a":1}`)
	vs, err := js.Set(ctx, run, "d", "/b", inmem.Int(2))
	if err != nil {
		t.Fatal(err)
	}
	vdel, err := js.Delete(ctx, run, "d", "/a")
	if err != nil {
		t.Fatal(err)
	}
	vdes, err := js.Destroy(ctx, run, "d")
	if err != nil {
		t.Fatal(err)
	}
	vre := mustCreateDoc(t, db, run, "d", `{"c":3}`)
	if !(vc.N < vs.N && vs.N < vdel.N && vdel.N < vdes.N && vdes.N < vre.N) {
		t.Fatalf("versions not increasing: %v %v %v %v %v", vc, vs, vdel, vdes, vre)
	}
	want := []struct {
		ver     inmem.Version
		doc     string
		deleted bool
	}{{vre, `{"c":3}`, false}, {vdes, "", true}, {vdel, `{"b":2}`, false}, {vs, `{"a":1,"b":2}`, false}, {vc, `{"a":1}`, false}}
	h, err := js.History(ctx, run, "d")
	if err != nil || len(h) != len(want) {
		t.Fatalf("History = %v, %v; want %d entries", h, err, len(want))
	}
	for i, w := range want {
		if h[i].Version != w.ver || h[i].Deleted != w.deleted || h[i].Timestamp == 0 {
			t.Fatalf("History[%d] = %+v, want version %v deleted %v", i, h[i], w.ver, w.deleted)
		}
		if !w.deleted && jsonText(t, h[i].Value) != jsonText(t, jv(t, w.doc)) {
			t.Fatalf("History[%d] = %v, want %s", i, h[i].Value, w.doc)
		}
	}
	for _, c := range []struct {
		at   inmem.Version
		want string // "" = NotFound
	}{
		{inmem.Txn(vc.N - 1), ""}, {vc, `{"a":1}`}, {vs, `{"a":1,"b":2}`}, {vdel, `{"b":2}`},
		{vdes, ""}, {inmem.Txn(vre.N - 1), ""}, {vre, `{"c":3}`}, {inmem.Txn(vre.N + 100), `{"c":3}`},
	} {
		got, err := js.GetAt(ctx, run, "d", c.at)
		if c.want == "" {
			wantCode(t, fmt.Sprintf("GetAt(%v)", c.at), err, inmem.ErrNotFound)
			continue
		}
		if err != nil || jsonText(t, got.Value) != jsonText(t, jv(t, c.want)) || got.Version.N > c.at.N {
			t.Fatalf("GetAt(%v) = %+v, %v; want %s", c.at, got, err, c.want)
		}
	}
	_, err = js.GetAt(ctx, run, "d", inmem.Counter(vc.N))
	wantCode(t, "GetAt with a Counter version", err, inmem.ErrInvalidArgument)
	_, err = js.GetAt(ctx, run, "d", inmem.Sequence(vc.N))
	wantCode(t, "GetAt with a Sequence version", err, inmem.ErrInvalidArgument)
	if h, err := js.History(ctx, run, "never"); err != nil || len(h) != 0 {
		t.Fatalf("History(never written) = %v, %v", h, err)
	}
}

// TestJSON_ConcurrentSetsToOneDocument: writers to different paths of one
// document conflict at the document level; the DB-level calls retry, so no
// update is lost.
func TestJSON_ConcurrentSetsToOneDocument(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "shared", `{}`)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := js.Set(ctx, run, "shared", fmt.Sprintf("/w%d_%d", w, i), inmem.Int(int64(w*1000+i))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// One merger too, racing the Sets on the same document.
	wg.Go(func() {
		for i := range each {
			if _, err := js.Merge(ctx, run, "shared", inmem.ObjectOf(inmem.Field{Key: fmt.Sprint("m", i), Value: inmem.Bool(true)})); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := js.Get(ctx, run, "shared", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Value.Len() != writers*each+each {
		t.Fatalf("document has %d keys, want %d", got.Value.Len(), writers*each+each)
	}
	for w := range writers {
		for i := range each {
			v, ok := got.Value.Get(fmt.Sprintf("w%d_%d", w, i))
			if n, _ := v.AsInt(); !ok || n != int64(w*1000+i) {
				t.Fatalf("key w%d_%d = %v (present %v): an update was lost", w, i, v, ok)
			}
		}
	}
	t.Logf("%d conflicts retried", db.Stats().Conflicts)
	h, _ := js.History(ctx, run, "shared")
	if len(h) != writers*each+each+1 {
		t.Fatalf("history has %d versions, want %d", len(h), writers*each+each+1)
	}
}

// TestJSON_TransactionConflict: two transactions writing different paths of
// one document conflict (the first committer wins).
func TestJSON_TransactionConflict(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustCreateDoc(t, db, run, "d", `{}`)
	t1, _ := db.Begin(ctx, run, true)
	t2, _ := db.Begin(ctx, run, true)
	defer t1.Rollback()
	defer t2.Rollback()
	if err := t1.JSON().Set("d", "/a", inmem.Int(1)); err != nil {
		t.Fatal(err)
	}
	if err := t2.JSON().Set("d", "/b", inmem.Int(2)); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	err := t2.Commit()
	wantCode(t, "second writer of the document", err, inmem.ErrConflict)
	wantDoc(t, db, run, "d", `{"a":1}`)
}

func TestJSON_Transactions(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	// Read-your-writes, atomic with KV, zero versions until commit.
	var cv inmem.Version
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		j := tx.JSON()
		if err := j.Create("d", jv(t, `{"n":1}`)); err != nil {
			return fmt.Errorf("Create: %v", err)
		}
		if err := j.Set("d", "$.list", jv(t, `[]`)); err != nil {
			return err
		}
		if err := j.Patch("d", []inmem.PatchOp{{Op: "add", Path: "/list/-", Value: inmem.Int(7)}}); err != nil {
			return err
		}
		if err := j.Merge("d", jv(t, `{"n":null,"m":2}`)); err != nil {
			return err
		}
		got, err := j.Get("d", "/list/0")
		if err != nil || !got.Value.Equal(inmem.Int(7)) || got.Version != inmem.Txn(0) {
			return fmt.Errorf("Get own write = %+v, %v", got, err)
		}
		if ok, _ := j.Exists("d"); !ok {
			return errors.New("own document does not exist")
		}
		if ids, _ := j.List(""); !slices.Equal(ids, []string{"d"}) {
			return fmt.Errorf("List in tx = %v", ids)
		}
		if h, _ := j.History("d"); len(h) != 0 {
			return fmt.Errorf("History shows buffered writes: %v", h)
		}
		if err := tx.KV().Put("k", inmem.Int(1)); err != nil {
			return err
		}
		cv = tx.CommitVersion()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := wantDoc(t, db, run, "d", `{"m":2,"list":[7]}`)
	kvGot, _ := db.KV().Get(ctx, run, "k")
	if got.Version != kvGot.Version || cv != inmem.Txn(0) {
		t.Fatalf("JSON and KV writes of one transaction have versions %v and %v", got.Version, kvGot.Version)
	}
	if h, _ := db.JSON().History(ctx, run, "d"); len(h) != 1 {
		t.Fatalf("one transaction made %d versions, want 1", len(h))
	}

	// Rollback leaves nothing; Destroy then Create in one transaction.
	boom := errors.New("boom")
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.JSON().Destroy("d"); err != nil {
			return err
		}
		if ok, _ := tx.JSON().Exists("d"); ok {
			return errors.New("destroyed document still visible in the transaction")
		}
		if _, err := tx.JSON().Get("d", ""); !errors.Is(err, inmem.ErrNotFound) {
			return fmt.Errorf("Get after Destroy in tx = %v", err)
		}
		if err := tx.JSON().Create("d", jv(t, `[1]`)); err != nil {
			return err
		}
		if err := tx.JSON().Create("e", jv(t, `[2]`)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	wantDoc(t, db, run, "d", `{"m":2,"list":[7]}`)
	if ok, _ := db.JSON().Exists(ctx, run, "e"); ok {
		t.Fatal("rolled-back Create is visible")
	}

	// Reads in a read-only transaction; writes refused.
	err = db.View(ctx, run, func(tx *inmem.Tx) error {
		if _, err := tx.JSON().Get("d", "m"); err != nil {
			return err
		}
		err := tx.JSON().Set("d", "m", inmem.Int(3))
		wantCode(t, "Set in a read-only transaction", err, inmem.ErrInvalidArgument)
		err = tx.JSON().Merge("d", inmem.Null())
		wantCode(t, "Merge in a read-only transaction", err, inmem.ErrInvalidArgument)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Everything fails with ErrTxDone on a finished transaction.
	tx, _ := db.Begin(ctx, run, true)
	tx.Rollback()
	j := tx.JSON()
	_, err = j.Get("d", "")
	wantCode(t, "Get after Rollback", err, inmem.ErrTxDone)
	err = j.Set("d", "/x", inmem.Int(1))
	wantCode(t, "Set after Rollback", err, inmem.ErrTxDone)
	_, err = j.History("d")
	wantCode(t, "History after Rollback", err, inmem.ErrTxDone)
	_, err = j.GetAt("d", inmem.Txn(1))
	wantCode(t, "GetAt after Rollback", err, inmem.ErrTxDone)
	_, err = j.List("")
	wantCode(t, "List after Rollback", err, inmem.ErrTxDone)
	_, err = j.Exists("d")
	wantCode(t, "Exists after Rollback", err, inmem.ErrTxDone)
	err = j.Destroy("d")
	wantCode(t, "Destroy after Rollback", err, inmem.ErrTxDone)
}

// nest returns a document nesting depth deep: {"n":{"n":...1...}}.
func nest(depth int) inmem.Value {
	v := inmem.Int(1)
	for range depth {
		v = inmem.ObjectOf(inmem.Field{Key: "n", Value: v})
	}
	return v
}

func TestJSON_Limits(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()

	// Depth: 100 is allowed, 101 is not, however the document gets there.
	if _, err := js.Create(ctx, run, "deep", nest(100)); err != nil {
		t.Fatalf("a 100-deep document is allowed: %v", err)
	}
	_, err := js.Create(ctx, run, "deeper", nest(101))
	wantCode(t, "Create of a 101-deep document", err, inmem.ErrInvalidArgument)
	mustCreateDoc(t, db, run, "d", `{"a":{}}`)
	if _, err := js.Set(ctx, run, "d", "/a/b", nest(98)); err != nil {
		t.Fatalf("Set making depth 100: %v", err)
	}
	_, err = js.Set(ctx, run, "d", "/a/c", nest(99)) // a small value, too deep where it goes
	wantCode(t, "Set making depth 101", err, inmem.ErrInvalidArgument)
	_, err = js.Set(ctx, run, "d", "/x/y", nest(99)) // created objects count
	wantCode(t, "Set creating objects up to depth 101", err, inmem.ErrInvalidArgument)
	_, err = js.Merge(ctx, run, "d", inmem.ObjectOf(inmem.Field{Key: "m", Value: nest(100)}))
	wantCode(t, "Merge making depth 101", err, inmem.ErrInvalidArgument)
	_, err = js.Patch(ctx, run, "d", []inmem.PatchOp{{Op: "copy", From: "/a", Path: "/a/b/n/n/n"}})
	wantCode(t, "Patch making depth 101", err, inmem.ErrInvalidArgument)
	_, err = js.Merge(ctx, run, "new", nest(101))
	wantCode(t, "Merge creating a 101-deep document", err, inmem.ErrInvalidArgument)
	if ok, _ := js.Exists(ctx, run, "new"); ok {
		t.Fatal("refused Merge created the document")
	}
	if h, _ := js.History(ctx, run, "d"); len(h) != 2 {
		t.Fatalf("refused writes left history: %d versions", len(h))
	}

	// Size: each part fits, the sum does not.
	half := inmem.String(strings.Repeat("x", 8<<20))
	if _, err := js.Create(ctx, run, "big", inmem.ObjectOf(inmem.Field{Key: "a", Value: half})); err != nil {
		t.Fatal(err)
	}
	_, err = js.Set(ctx, run, "big", "/b", half)
	wantCode(t, "Set growing the document past 16 MiB", err, inmem.ErrInvalidArgument)
	_, err = js.Patch(ctx, run, "big", []inmem.PatchOp{{Op: "copy", From: "/a", Path: "/b"}})
	wantCode(t, "Patch growing the document past 16 MiB", err, inmem.ErrInvalidArgument)
	if got, _ := js.Get(ctx, run, "big", ""); got.Value.Len() != 1 {
		t.Fatal("refused write changed the document")
	}

	// Lower configured limits apply to documents too.
	small, err := inmem.Open("", &inmem.Options{Limits: inmem.Limits{MaxValueBytes: 100, MaxNesting: 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if _, err := small.JSON().Create(ctx, run, "d", jv(t, `{"s":""}`)); err != nil {
		t.Fatal(err)
	}
	_, err = small.JSON().Set(ctx, run, "d", "/s", inmem.String(strings.Repeat("y", 96)))
	wantCode(t, "Set past a 100-byte limit", err, inmem.ErrInvalidArgument)
	_, err = small.JSON().Set(ctx, run, "d", "/a/b/c/d/e/f", inmem.Int(1))
	wantCode(t, "Set past a nesting limit of 5", err, inmem.ErrInvalidArgument)
	if _, err := small.JSON().Set(ctx, run, "d", "/a/b/c/d/e", inmem.Int(1)); err != nil {
		t.Fatalf("depth 5 is allowed: %v", err)
	}
}

func TestJSON_NonJSONValuesRefused(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "d", `{"a":[1]}`)
	bad := map[string]inmem.Value{
		"bytes": inmem.Bytes([]byte("x")),
		"nested": inmem.ObjectOf(inmem.Field{Key: "x/~", Value: inmem.Array(inmem.Int(1),
			inmem.ObjectOf(inmem.Field{Key: "y", Value: inmem.Bytes([]byte{0})}))}),
		"nan":         inmem.Float(math.NaN()),
		"inf":         inmem.Float(math.Inf(1)),
		"-inf in obj": inmem.ObjectOf(inmem.Field{Key: "f", Value: inmem.Float(math.Inf(-1))}),
	}
	for name, v := range bad {
		_, err := js.Create(ctx, run, "new", v)
		wantCode(t, "Create with "+name, err, inmem.ErrInvalidArgument)
		_, err = js.Set(ctx, run, "d", "/a/0", v)
		wantCode(t, "Set with "+name, err, inmem.ErrInvalidArgument)
		_, err = js.Merge(ctx, run, "d", inmem.ObjectOf(inmem.Field{Key: "m", Value: v}))
		wantCode(t, "Merge with "+name, err, inmem.ErrInvalidArgument)
		for _, op := range []string{"add", "replace", "test"} {
			_, err = js.Patch(ctx, run, "d", []inmem.PatchOp{{Op: "test", Path: "/a", Value: jv(t, `[1]`)}, {Op: op, Path: "/a/0", Value: v}})
			wantCode(t, "Patch "+op+" with "+name, err, inmem.ErrInvalidArgument)
			if !strings.Contains(err.Error(), "op 1") {
				t.Fatalf("error %q does not name op 1", err)
			}
		}
	}
	_, err := js.Set(ctx, run, "d", "/a", bad["nested"])
	if err == nil || !strings.Contains(err.Error(), `"/x~1~0/1/y"`) {
		t.Fatalf("error does not locate the bytes: %v", err)
	}
	// Values a JSON document can hold, including -0.0 and odd strings.
	for _, v := range []inmem.Value{inmem.Float(math.Copysign(0, -1)), inmem.Int(math.MinInt64), inmem.String("é\u2028\x00"), inmem.Null()} {
		if _, err := js.Set(ctx, run, "d", "/ok", v); err != nil {
			t.Fatalf("Set(%v): %v", v, err)
		}
		if got, _ := js.Get(ctx, run, "d", "/ok"); !got.Value.Identical(v) {
			t.Fatalf("Set(%v) read back %v", v, got.Value)
		}
	}
	// Invalid UTF-8 anywhere is refused as for every value.
	_, err = js.Set(ctx, run, "d", "/s", inmem.String("\xff"))
	wantCode(t, "Set of invalid UTF-8", err, inmem.ErrInvalidArgument)
	_, err = js.Merge(ctx, run, "d", inmem.ObjectOf(inmem.Field{Key: "\xfe", Value: inmem.Int(1)}))
	wantCode(t, "Merge with an invalid UTF-8 key", err, inmem.ErrInvalidArgument)
	if h, _ := js.History(ctx, run, "d"); len(h) != 5 {
		t.Fatalf("refused writes left history: %d versions", len(h))
	}
	if ok, _ := js.Exists(ctx, run, "new"); ok {
		t.Fatal("a refused Create created the document")
	}
}

func TestJSON_RunsAreIsolated(t *testing.T) {
	db := openMem(t)
	a, b := inmem.NewRunID(), inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, a, "d", `{"run":"a"}`)
	mustCreateDoc(t, db, b, "d", `{"run":"b"}`)
	if _, err := js.Set(ctx, a, "d", "/x", inmem.Int(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Destroy(ctx, b, "d"); err != nil {
		t.Fatal(err)
	}
	wantDoc(t, db, a, "d", `{"run":"a","x":1}`)
	if ok, _ := js.Exists(ctx, b, "d"); ok {
		t.Fatal("destroy in run b did not take")
	}
	mustCreateDoc(t, db, b, "only-b", `1`)
	if ids, _ := js.List(ctx, a, ""); !slices.Equal(ids, []string{"d"}) {
		t.Fatalf("run a lists %v", ids)
	}
	if h, _ := js.History(ctx, a, "only-b"); len(h) != 0 {
		t.Fatal("run a sees history of run b")
	}
	// JSON documents and KV keys of the same name do not meet.
	mustPut(t, db, a, "d", inmem.Int(5))
	wantDoc(t, db, a, "d", `{"run":"a","x":1}`)
}

// TestJSON_KeyLayout: a document is exactly one engine entry in the JSON
// space of its run, keyed by the document id, whose versions are the whole
// documents (a tombstone for Destroy).
func TestJSON_KeyLayout(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustCreateDoc(t, db, run, "doc", `{"a":1}`)
	if _, err := db.JSON().Set(ctx, run, "doc", "/b", inmem.Int(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JSON().Destroy(ctx, run, "doc"); err != nil {
		t.Fatal(err)
	}
	dump := inmem.DumpState(db, inmem.Visible(db))
	lines := strings.Split(strings.TrimSpace(dump), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], run.String()+` json "doc":`) {
		t.Fatalf("engine entries:\n%s", dump)
	}
	if !strings.Contains(lines[0], `{"a":1}`) || !strings.Contains(lines[0], `{"a":1,"b":2}`) || !strings.Contains(lines[0], "<deleted>") {
		t.Fatalf("entry does not hold the whole documents: %s", lines[0])
	}
}

// TestJSON_SurvivesReopen: documents and their history come back from the
// WAL, and from a checkpoint plus the WAL.
func TestJSON_SurvivesReopen(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "a", `{"list":[1],"f":-0.0}`)
	if _, err := js.Patch(ctx, run, "a", []inmem.PatchOp{{Op: "add", Path: "/list/-", Value: inmem.Int(2)}}); err != nil {
		t.Fatal(err)
	}
	mustCreateDoc(t, db, run, "b", `"gone"`)
	if _, err := js.Destroy(ctx, run, "b"); err != nil {
		t.Fatal(err)
	}
	want := inmem.DumpState(db, inmem.Visible(db))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(db *inmem.DB) {
		t.Helper()
		if got := inmem.DumpState(db, inmem.Visible(db)); !strings.HasPrefix(got, want) {
			t.Fatalf("state after reopen:\n%s\nwant prefix:\n%s", got, want)
		}
		wantDoc(t, db, run, "a", `{"list":[1,2],"f":-0.0}`)
		if h, _ := db.JSON().History(ctx, run, "b"); len(h) != 2 || !h[0].Deleted {
			t.Fatalf("history of b after reopen: %v", h)
		}
	}
	db = mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	check(db)
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JSON().Merge(ctx, run, "c", jv(t, `{"after":"checkpoint"}`)); err != nil {
		t.Fatal(err)
	}
	want = inmem.DumpState(db, inmem.Visible(db))
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	defer db.Close()
	check(db)
	wantDoc(t, db, run, "c", `{"after":"checkpoint"}`)
}

func TestJSON_BadInput(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	js := db.JSON()
	mustCreateDoc(t, db, run, "d", `{"a":1}`)
	long := strings.Repeat("x", 1025)
	ops := []inmem.PatchOp{{Op: "test", Path: "/a", Value: inmem.Int(1)}}
	for _, id := range []string{"", long, "a\x00b", "_system/doc"} {
		calls := map[string]func() error{
			"Create":    func() error { _, err := js.Create(ctx, run, id, inmem.Null()); return err },
			"Get":       func() error { _, err := js.Get(ctx, run, id, ""); return err },
			"Exists":    func() error { _, err := js.Exists(ctx, run, id); return err },
			"Set":       func() error { _, err := js.Set(ctx, run, id, "/a", inmem.Int(1)); return err },
			"Delete":    func() error { _, err := js.Delete(ctx, run, id, "/a"); return err },
			"Destroy":   func() error { _, err := js.Destroy(ctx, run, id); return err },
			"Patch":     func() error { _, err := js.Patch(ctx, run, id, ops); return err },
			"PatchJSON": func() error { _, err := js.PatchJSON(ctx, run, id, []byte(`[]`)); return err },
			"Merge":     func() error { _, err := js.Merge(ctx, run, id, inmem.Null()); return err },
			"GetAt":     func() error { _, err := js.GetAt(ctx, run, id, inmem.Txn(1)); return err },
			"History":   func() error { _, err := js.History(ctx, run, id); return err },
		}
		for name, call := range calls {
			wantCode(t, fmt.Sprintf("%s(%.10q)", name, id), call(), inmem.ErrInvalidKey)
		}
	}
	for _, path := range []string{"/a~", "/a~2", "a..b", "$.", "$x", "a[", "a[x]", "a[-1]", "\xff", "/\xff", strings.Repeat("/a", 300)} {
		_, err := js.Get(ctx, run, "d", path)
		wantCode(t, fmt.Sprintf("Get(%.20q)", path), err, inmem.ErrInvalidPath)
		_, err = js.Set(ctx, run, "d", path, inmem.Int(1))
		wantCode(t, fmt.Sprintf("Set(%.20q)", path), err, inmem.ErrInvalidPath)
		_, err = js.Delete(ctx, run, "d", path)
		wantCode(t, fmt.Sprintf("Delete(%.20q)", path), err, inmem.ErrInvalidPath)
		_, err = js.Patch(ctx, run, "d", []inmem.PatchOp{{Op: "remove", Path: path}})
		wantCode(t, fmt.Sprintf("Patch remove %.20q", path), err, inmem.ErrInvalidPath)
		_, err = js.Patch(ctx, run, "d", []inmem.PatchOp{{Op: "move", From: path, Path: "/b"}})
		wantCode(t, fmt.Sprintf("Patch move from %.20q", path), err, inmem.ErrInvalidPath)
	}
	_, err := js.PatchJSON(ctx, run, "d", nil)
	wantCode(t, "PatchJSON(nil)", err, inmem.ErrInvalidArgument)
	_, err = js.Patch(ctx, run, "d", []inmem.PatchOp{{}})
	wantCode(t, "Patch with a zero op", err, inmem.ErrInvalidArgument)
	if got := wantDoc(t, db, run, "d", `{"a":1}`); got.Version.N != 1 {
		t.Fatalf("bad input wrote: version %v", got.Version)
	}

	// A cancelled context stops writes before they start.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = js.Set(cctx, run, "d", "/a", inmem.Int(2))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with a cancelled context = %v", err)
	}

	// A closed database refuses everything with ErrClosed.
	db.Close()
	closedCalls := map[string]func() error{
		"Create":  func() error { _, err := js.Create(ctx, run, "x", inmem.Null()); return err },
		"Get":     func() error { _, err := js.Get(ctx, run, "d", ""); return err },
		"Exists":  func() error { _, err := js.Exists(ctx, run, "d"); return err },
		"Set":     func() error { _, err := js.Set(ctx, run, "d", "/a", inmem.Int(1)); return err },
		"Merge":   func() error { _, err := js.Merge(ctx, run, "d", inmem.Null()); return err },
		"List":    func() error { _, err := js.List(ctx, run, ""); return err },
		"GetAt":   func() error { _, err := js.GetAt(ctx, run, "d", inmem.Txn(1)); return err },
		"History": func() error { _, err := js.History(ctx, run, "d"); return err },
	}
	for name, call := range closedCalls {
		wantCode(t, name+" after Close", call(), inmem.ErrClosed)
	}
}

// TestJSON_RandomOperationsNeverPanic drives every operation with random
// ids, paths, values and patches: each call either succeeds or returns an
// *inmem.Error with a code the operation documents, and a failed call never
// changes the document.
func TestJSON_RandomOperationsNeverPanic(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		db, err := inmem.Open("", &inmem.Options{Limits: inmem.Limits{MaxNesting: 6, MaxValueBytes: 4096}})
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()
		run := inmem.NewRunID()
		js := db.JSON()
		idGen := rapid.SampledFrom([]string{"a", "b", "", "_system/x"})
		pathGen := rapid.SampledFrom([]string{"", "$", "/", "/a", "/a/0", "/a/-", "/a/1/b", "/b", "a", "a[0]", "a[-]", "$.a[1].b", "b.c.d", "/a~1", "/a~", "a..", "$[", "/0", "/-"})
		var valGen *rapid.Generator[inmem.Value]
		valGen = rapid.Custom(func(t *rapid.T) inmem.Value {
			switch rapid.IntRange(0, 9).Draw(t, "kind") {
			case 0:
				return inmem.Int(rapid.Int64Range(-3, 3).Draw(t, "i"))
			case 1:
				return inmem.String(rapid.SampledFrom([]string{"", "x", "\xff"}).Draw(t, "s"))
			case 2:
				return inmem.Float(rapid.SampledFrom([]float64{0, 1.5, math.NaN(), math.Inf(1)}).Draw(t, "f"))
			case 3:
				return inmem.Bytes([]byte("b"))
			case 4, 5:
				n := rapid.IntRange(0, 3).Draw(t, "n")
				vs := make([]inmem.Value, n)
				for i := range vs {
					vs[i] = inmem.Int(int64(i))
				}
				return inmem.Array(vs...)
			case 6, 7:
				return inmem.ObjectOf(
					inmem.Field{Key: "a", Value: inmem.Array(inmem.Int(1), inmem.ObjectOf(inmem.Field{Key: "b", Value: inmem.Null()}))},
					inmem.Field{Key: rapid.SampledFrom([]string{"b", "c"}).Draw(t, "k"), Value: inmem.Bool(true)})
			case 8:
				return nest(rapid.IntRange(0, 8).Draw(t, "depth"))
			}
			return inmem.Null()
		})
		opGen := rapid.Custom(func(t *rapid.T) inmem.PatchOp {
			return inmem.PatchOp{
				Op:    rapid.SampledFrom([]string{"add", "remove", "replace", "move", "copy", "test", "bogus", ""}).Draw(t, "op"),
				Path:  pathGen.Draw(t, "path"),
				From:  pathGen.Draw(t, "from"),
				Value: valGen.Draw(t, "value"),
			}
		})
		allowed := func(t *rapid.T, name string, err error) {
			if err == nil {
				return
			}
			var e *inmem.Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: %T %v is not *inmem.Error", name, err, err)
			}
			switch e.Code {
			case inmem.CodeNotFound, inmem.CodeAlreadyExists, inmem.CodeWrongType, inmem.CodeInvalidKey,
				inmem.CodeInvalidPath, inmem.CodeInvalidArgument, inmem.CodeConstraintViolation:
			default:
				t.Fatalf("%s: unexpected code %v: %v", name, e.Code, err)
			}
		}
		// unchanged checks that a failed write left the document alone.
		unchanged := func(t *rapid.T, name, id string, before []inmem.Versioned[inmem.Value], err error) {
			if err == nil || id == "" || strings.HasPrefix(id, "_system/") {
				return
			}
			after, _ := js.History(ctx, run, id)
			if len(after) != len(before) {
				t.Fatalf("%s failed (%v) but wrote a version", name, err)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"create": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				h, _ := js.History(ctx, run, id)
				_, err := js.Create(ctx, run, id, valGen.Draw(t, "doc"))
				allowed(t, "Create", err)
				unchanged(t, "Create", id, h, err)
			},
			"get": func(t *rapid.T) {
				_, err := js.Get(ctx, run, idGen.Draw(t, "id"), pathGen.Draw(t, "path"))
				allowed(t, "Get", err)
			},
			"set": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				h, _ := js.History(ctx, run, id)
				_, err := js.Set(ctx, run, id, pathGen.Draw(t, "path"), valGen.Draw(t, "val"))
				allowed(t, "Set", err)
				unchanged(t, "Set", id, h, err)
			},
			"delete": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				h, _ := js.History(ctx, run, id)
				_, err := js.Delete(ctx, run, id, pathGen.Draw(t, "path"))
				allowed(t, "Delete", err)
				unchanged(t, "Delete", id, h, err)
			},
			"destroy": func(t *rapid.T) {
				_, err := js.Destroy(ctx, run, idGen.Draw(t, "id"))
				allowed(t, "Destroy", err)
			},
			"patch": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				h, _ := js.History(ctx, run, id)
				_, err := js.Patch(ctx, run, id, rapid.SliceOfN(opGen, 0, 4).Draw(t, "ops"))
				allowed(t, "Patch", err)
				unchanged(t, "Patch", id, h, err)
			},
			"patchJSON": func(t *rapid.T) {
				text := rapid.SampledFrom([]string{`[]`, `[{"op":"add","path":"/a","value":1}]`, `[{"op":"remove","path":"/a/0"}]`, `x`, `[{"op":"add"}]`, `[{"op":"move","from":"/a","path":"/a/0"}]`}).Draw(t, "patch")
				_, err := js.PatchJSON(ctx, run, idGen.Draw(t, "id"), []byte(text))
				allowed(t, "PatchJSON", err)
			},
			"merge": func(t *rapid.T) {
				id := idGen.Draw(t, "id")
				h, _ := js.History(ctx, run, id)
				_, err := js.Merge(ctx, run, id, valGen.Draw(t, "patch"))
				allowed(t, "Merge", err)
				unchanged(t, "Merge", id, h, err)
			},
			"getAt": func(t *rapid.T) {
				_, err := js.GetAt(ctx, run, idGen.Draw(t, "id"), inmem.Txn(rapid.Uint64Range(0, 20).Draw(t, "at")))
				allowed(t, "GetAt", err)
			},
			"": func(t *rapid.T) {
				// Every stored document is valid JSON within the limits.
				for d, err := range js.Scan(ctx, run, "") {
					if err != nil {
						t.Fatal(err)
					}
					if _, err := inmem.ValueToJSON(d.Value); err != nil {
						t.Fatalf("document %q is not JSON: %v", d.Key, err)
					}
					if d.Value.Depth() > 6 {
						t.Fatalf("document %q nests %d deep", d.Key, d.Value.Depth())
					}
				}
			},
		})
	})
}
