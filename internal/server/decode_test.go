package server

import (
	"testing"

	"github.com/inmemdb/inmem"
)

// TestScalarFastPathAgreesWithValueFromJSON: the scalar fast path gives
// exactly what ValueFromJSON gives, and leaves everything it does not
// fully understand (escapes, non-ASCII, fractions, huge or malformed
// numbers) to it.
func TestScalarFastPathAgreesWithValueFromJSON(t *testing.T) {
	fast := []string{`null`, `true`, `false`, `0`, `-0`, `7`, `-45`, `123456789012345678`, `"abc"`, `""`, `"a b/c"`}
	slow := []string{`"a\"b"`, `"a\\b"`, `"é"`, `1.5`, `1e3`, `-`, `01`, `-01`, `1234567890123456789`, `"abc`, `"`, `{}`, `[1]`, `nul`, "\"a\x01\""}
	for _, s := range fast {
		got, ok := scalarFromJSON([]byte(s))
		if !ok {
			t.Errorf("%s: not taken by the fast path", s)
			continue
		}
		want, err := inmem.ValueFromJSON([]byte(s))
		if err != nil || !got.Equal(want) || got.Kind() != want.Kind() {
			t.Errorf("%s: fast path %v (%s), ValueFromJSON %v (%v)", s, got, got.Kind(), want, err)
		}
	}
	for _, s := range slow {
		if v, ok := scalarFromJSON([]byte(s)); ok {
			t.Errorf("%s: fast path took it as %v", s, v)
		}
	}
}

// TestDecodeOpStaysStrict: decoding an operation with a plain Unmarshal
// still refuses unknown fields, field names in another case, and unknown
// fields inside filter conditions.
func TestDecodeOpStaysStrict(t *testing.T) {
	for _, raw := range []string{
		`{"op":"kv.put","key":"a","value":1,"extra":1}`,
		`{"op":"kv.put","KEY":"a","value":1}`,
		`{"op":"kv.put","key":"a","value":1,"limit":3}`,
		`{"op":"vector.search","collection":"c","embedding":[1],"k":1,"filter":[{"field":"a","eq":1,"bogus":2}]}`,
		`{"op":"kv.put","key":5,"value":1}`,
	} {
		if _, err := decodeOp([]byte(raw)); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", raw, err)
		}
	}
	op, err := decodeOp([]byte(`{"op":"kv.put","key":"a","value":{"x":1},"if_version":3}`))
	if err != nil || op.Key != "a" || op.IfVersion == nil || *op.IfVersion != 3 || string(op.Value) != `{"x":1}` {
		t.Fatalf("decodeOp = %+v, %v", op, err)
	}
}
