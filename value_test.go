package inmem_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/inmemdb/inmem"
)

func TestValue_DecodeIsTheInverseOfValueOf(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	in := agentStep{Name: "plan", Note: "n", Level: "high", Score: 0.5, At: at, Tags: map[string]int{"a": 1},
		Parent: &agentStep{Name: "root", At: at}}
	v, err := inmem.ValueOf(in)
	if err != nil {
		t.Fatal(err)
	}
	var out agentStep
	if err := v.Decode(&out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out, cmp.AllowUnexported(agentStep{})); diff != "" {
		t.Errorf("Decode(ValueOf(x)) differs from x (-want +got):\n%s", diff)
	}

	var blob struct {
		Data []byte `json:"data"`
		N    int64  `json:"n"`
	}
	if err := inmem.ObjectOf(inmem.Field{Key: "data", Value: inmem.Bytes([]byte{0, 1, 255})}, inmem.Field{Key: "n", Value: inmem.Int(-7)}).Decode(&blob); err != nil {
		t.Fatal(err)
	}
	if string(blob.Data) != "\x00\x01\xff" || blob.N != -7 {
		t.Errorf("Decode bytes/int = %+v", blob)
	}
}

func TestValue_DecodeMismatchIsInvalidArgument(t *testing.T) {
	var n int
	for _, v := range []inmem.Value{inmem.String("x"), inmem.Array(inmem.Int(1)), inmem.Float(1.5)} {
		err := v.Decode(&n)
		if !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("Decode(%v into int) = %v, want InvalidArgument", v, err)
		}
	}
	if err := inmem.Int(1).Decode(n); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("Decode into a non-pointer = %v, want InvalidArgument", err)
	}
}

func TestValue_SlicesAndMapsAreCopies(t *testing.T) {
	elems := []inmem.Value{inmem.Int(1), inmem.Int(2)}
	arr := inmem.Array(elems...)
	elems[0] = inmem.Int(99)
	got, ok := arr.AsArray()
	if !ok || len(got) != 2 || !got[0].Equal(inmem.Int(1)) {
		t.Fatalf("Array kept a reference to its input: %v", got)
	}
	got[1] = inmem.Int(42)
	if again, _ := arr.AsArray(); !again[1].Equal(inmem.Int(2)) {
		t.Errorf("AsArray returned the stored slice: %v", again)
	}
	fields := []inmem.Field{{Key: "a", Value: inmem.Int(1)}}
	obj := inmem.ObjectOf(fields...)
	fields[0].Value = inmem.Int(2)
	if x, _ := obj.Get("a"); !x.Equal(inmem.Int(1)) {
		t.Errorf("ObjectOf kept a reference to its input: %v", obj)
	}
	m, ok := obj.AsMap()
	if !ok || len(m) != 1 || !m["a"].Equal(inmem.Int(1)) {
		t.Errorf("AsMap = %v, %v", m, ok)
	}
	if obj.Kind() != inmem.KindObject || obj.Kind().String() != "object" {
		t.Errorf("Kind = %v", obj.Kind())
	}
}

// TestGoDoc_ValueMethodsAreDocumented guards the reason Value is a declared
// type and not an alias: go doc must list its methods.
func TestGoDoc_ValueMethodsAreDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go doc")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	for _, sym := range []string{"Value.AsString", "Value.Decode", "Value.Get", "ValueKind.String"} {
		out, err := exec.Command(goBin, "doc", "github.com/inmemdb/inmem", sym).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "func (") {
			t.Errorf("go doc %s: %v\n%s", sym, err, out)
		}
	}
}
