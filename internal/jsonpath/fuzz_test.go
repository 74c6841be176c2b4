package jsonpath

import (
	"slices"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, tc := range validPointers {
		f.Add(tc.in)
	}
	for _, in := range invalidPointers {
		f.Add(in)
	}
	for _, tc := range validDotted {
		f.Add(tc.in)
	}
	for _, in := range invalidDotted {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		str := p.String()
		if len(str) != p.plen {
			t.Fatalf("Parse(%q): String() is %d bytes, plen %d", s, len(str), p.plen)
		}
		q, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(%q): %v", s, str, err)
		}
		if q.String() != str || !slices.Equal(tokens(p), tokens(q)) {
			t.Fatalf("Parse(%q) -> %q -> tokens %q, want %q", s, str, tokens(q), tokens(p))
		}
		for i, seg := range q.segs {
			if seg.Kind() != SegToken {
				t.Fatalf("Parse(%q) segment %d is a %v", str, i, seg.Kind())
			}
		}
		if (s == "" || s[0] == '/') && (!q.Equal(p) || str != s) {
			t.Fatalf("pointer %q does not round-trip exactly: %q", s, str)
		}
	})
}

const fuzzDoc = `{"a": {"b": [1, 2.5, {"c": null}], "": "e", "~/": true}, "arr": [0, [1, 2], "s"], "s": "str", "n": null}`

func FuzzPatch(f *testing.F) {
	for _, tc := range rfc6902AppendixA {
		f.Add(tc.patch)
	}
	for _, tc := range morePatchCases {
		f.Add(tc.patch)
	}
	f.Add(`[{"op": "move", "from": "/a/b/2", "path": "/arr/1/-"}]`)
	f.Add(`[{"op": "copy", "from": "/a", "path": "/a/b/0"}]`)
	f.Add(`[{"op": "remove", "path": "/a/~0~1"}, {"op": "test", "path": "/a/", "value": "e"}]`)
	f.Add(`[{"op": "add", "path": "$.arr[1][2]", "value": 3}, {"op": "replace", "path": "/s", "value": {}}]`)
	f.Fuzz(func(t *testing.T, patch string) {
		doc := mustJSON(t, fuzzDoc)
		ops, err := ParsePatch([]byte(patch))
		if err != nil {
			return
		}
		got, err := Patch(doc, ops)
		if !doc.Identical(mustJSON(t, fuzzDoc)) {
			t.Fatalf("Patch(%s) changed its input", patch)
		}
		if err != nil && !got.Identical(doc) {
			t.Fatalf("Patch(%s) failed (%v) and returned %v, not the document", patch, err, got)
		}
	})
}
