package jsonpath

import "github.com/inmemdb/inmem/internal/value"

// MergePatch applies an RFC 7396 JSON Merge Patch to doc and returns the
// result. A patch that is not an object replaces the document. An object
// patch is merged member by member into the document (a document that is
// not an object is first replaced by {}): a null member deletes the key, any
// other member is merged recursively into the member of the same key.
// Unchanged members are shared with doc.
func MergePatch(doc, patch value.Value) value.Value {
	if patch.Kind() != value.KindObject {
		return patch
	}
	m, ok := doc.AsMap()
	if !ok {
		m = make(map[string]value.Value, patch.Len())
	}
	for _, f := range patch.Fields() {
		if f.Value.IsNull() {
			delete(m, f.Key)
			continue
		}
		m[f.Key] = MergePatch(m[f.Key], f.Value) // a missing key is Null
	}
	return value.Object(m)
}
