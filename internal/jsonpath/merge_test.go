package jsonpath

import "testing"

func TestMergePatchRFC7396(t *testing.T) {
	cases := []struct{ target, patch, want string }{
		// Section 3.
		{`{
			"title": "Goodbye!",
			"author": {"givenName": "John", "familyName": "Doe"},
			"tags": ["example", "sample"],
			"content": "This will be unchanged"
		}`, `{
			"title": "Hello!",
			"phoneNumber": "+01-123-456-7890",
			"author": {"familyName": null},
			"tags": ["example"]
		}`, `{
			"title": "Hello!",
			"author": {"givenName": "John"},
			"tags": ["example"],
			"content": "This will be unchanged",
			"phoneNumber": "+01-123-456-7890"
		}`},
		// Appendix A.
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
		// More.
		{`{"a":1}`, `{}`, `{"a":1}`},
		{`"scalar"`, `{}`, `{}`},
		{`null`, `{"a":{"b":null,"c":[null]}}`, `{"a":{"c":[null]}}`},
		{`{"a":{"b":1}}`, `{"a":{"b":{"c":1}}}`, `{"a":{"b":{"c":1}}}`},
		{`{"a":{"b":1,"c":2}}`, `{"a":null,"d":{"e":null}}`, `{"d":{}}`},
		{`{"a":1}`, `{"a":1.0}`, `{"a":1.0}`},
	}
	for _, tc := range cases {
		target, patch := mustJSON(t, tc.target), mustJSON(t, tc.patch)
		got := MergePatch(target, patch)
		if want := mustJSON(t, tc.want); !got.Identical(want) {
			t.Errorf("MergePatch(%s, %s) = %v, want %v", tc.target, tc.patch, got, want)
		}
		if !target.Identical(mustJSON(t, tc.target)) || !patch.Identical(mustJSON(t, tc.patch)) {
			t.Errorf("MergePatch(%s, %s) changed an input", tc.target, tc.patch)
		}
	}
}
