package server

import (
	"encoding/json"
	"reflect"
	"testing"
)

// opCorpus are operations the fast path takes, ones it must pass on, and
// mistakes; decodeOp must answer each exactly as the general decoder does.
var opCorpus = []string{
	`{"op":"kv.put","key":"n/1","value":{"i":1,"pad":"0123"}}`,
	` { "op" : "kv.put" , "key" : "a" , "value" : [1, {"x":"}"}] } `,
	`{"op":"event.append","type":"step","value":7}`,
	`{"op":"state.set","key":"progress","value":null}`,
	`{"op":"json.merge","key":"doc","value":{"last":3}}`,
	`{"op":"json.set","key":"d","path":"$.a","value":"x\"y"}`,
	`{"op":"kv.put","key":"a","value":1,"if_version":3}`,
	`{"op":"kv.put","key":"a","value":1,"if_absent":true}`,
	`{"op":"kv.put","key":null,"value":1}`,
	`{"op":"kv.put","key":"a\u0062","value":1}`,
	`{"op":"kv.put","key":"é","value":1}`,
	`{"op":"kv.put","key":"a","key":"b","value":1}`,
	`{"op":"kv.put","key":"a","key":5,"value":1}`,
	`{"op":"kv.put","key":5,"value":1}`,
	`{"op":"kv.put","KEY":"a","value":1}`,
	`{"op":"kv.put","k\u0065y":"a","value":1}`,
	`{"op":"kv.put","key":"a","value":1,"extra":1}`,
	`{"op":"kv.put","key":"a","value":1,"limit":3}`,
	`{"op":"kv.nope","key":"a"}`,
	`{"op":5,"key":"a"}`,
	`{"op":"kv\u002eput","key":"a","value":1}`,
	`{"key":"a","value":1}`,
	`{}`,
	`[]`,
	`"kv.put"`,
	`null`,
	`{"op":"vector.upsert","collection":"c","key":"k","embedding":[1,2.5],"metadata":{"a":1}}`,
	`{"op":"vector.search","collection":"c","embedding":[1],"k":1,"filter":[{"field":"a","op":"eq","value":1}]}`,
	`{"op":"vector.search","collection":"c","embedding":[1],"k":1,"filter":[{"field":"a","eq":1,"bogus":2}]}`,
	`{"op":"trace.record","type":"t","body":{"b":[]},"parent":2,"tags":["x"],"metadata":{}}`,
	`{"op":"event.list","from":2,"limit":10,"type":"step"}`,
	`{"op":"event.list","from":-1}`,
	`{"op":"run.create","name":"n","parent_run":"","tags":[],"metadata":null}`,
	`{"op":"vector.collections"}`,
	`{"op":"json.patch","key":"d","patch":[{"op":"add","path":"/a","value":1}]}`,
}

func sameDecode(t *testing.T, raw string) {
	t.Helper()
	got, gerr := decodeOp(json.RawMessage(raw))
	want, werr := decodeOpGeneral(json.RawMessage(raw))
	if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
		t.Fatalf("%s: error %v, the general decoder's %v", raw, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", raw, got, want)
	}
}

// TestDecodeOpFastAgrees: the fast path decodes what it takes exactly as
// the general decoder does, and every mistake gets the same error.
func TestDecodeOpFastAgrees(t *testing.T) {
	taken := 0
	for _, raw := range opCorpus {
		sameDecode(t, raw)
		if _, ok := decodeOpFast(json.RawMessage(raw)); ok {
			taken++
		}
	}
	if taken < 10 {
		t.Fatalf("the fast path took only %d operations", taken)
	}
}

// FuzzDecodeOp checks the same agreement on any valid JSON.
func FuzzDecodeOp(f *testing.F) {
	for _, raw := range opCorpus {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return // the request decoder refuses it before decodeOp
		}
		sameDecode(t, raw)
	})
}

// TestDecodeOpAllocs: the load test's operations decode without a map per
// operation (the general decoder makes 28 for this one; they showed in
// the server's CPU profile under load).
func TestDecodeOpAllocs(t *testing.T) {
	raw := json.RawMessage(`{"op":"kv.put","key":"n/1","value":{"i":1,"pad":"0123456789abcdef0123456789abcdef"}}`)
	n := testing.AllocsPerRun(100, func() {
		if _, err := decodeOp(raw); err != nil {
			t.Fatal(err)
		}
	})
	if n > 3 {
		t.Fatalf("%v allocations per operation, want at most 3", n)
	}
}
