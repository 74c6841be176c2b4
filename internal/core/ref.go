package core

import (
	"fmt"
	"net/url"
	"strings"
)

// EntityRef addresses one entity of one primitive in one run.
//
//	KV       kv://<run>/<key>
//	Event    event://<run>/<sequence>
//	State    state://<run>/<cell>
//	Trace    trace://<run>/<trace id>
//	Run      run://<run>
//	JSON     json://<run>/<document id>
//	Vector   vector://<run>/<collection>/<key>   (Key = collection, Sub = key;
//	                                              a collection itself has Sub == "")
//
// Key and Sub are path-escaped in the text form, so any key round-trips.
type EntityRef struct {
	Primitive PrimitiveType
	Run       RunID
	Key       string
	Sub       string
}

// String returns the stable text form.
func (r EntityRef) String() string {
	var b strings.Builder
	b.WriteString(r.Primitive.String())
	b.WriteString("://")
	b.WriteString(r.Run.String())
	if r.Primitive == Run && r.Key == "" {
		return b.String()
	}
	b.WriteByte('/')
	b.WriteString(url.PathEscape(r.Key))
	if r.Primitive == Vector && r.Sub != "" {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(r.Sub))
	}
	return b.String()
}

// ParseEntityRef parses the text form produced by EntityRef.String.
func ParseEntityRef(s string) (EntityRef, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return EntityRef{}, fmt.Errorf("invalid entity reference %q: missing scheme", s)
	}
	p, ok := ParsePrimitiveType(scheme)
	if !ok || p == System {
		return EntityRef{}, fmt.Errorf("invalid entity reference %q: unknown primitive %q", s, scheme)
	}
	runText, path, hasPath := strings.Cut(rest, "/")
	run, err := ParseRunID(runText)
	if err != nil {
		return EntityRef{}, fmt.Errorf("invalid entity reference %q: %w", s, err)
	}
	ref := EntityRef{Primitive: p, Run: run}
	if p == Run {
		if hasPath {
			return EntityRef{}, fmt.Errorf("invalid entity reference %q: a run reference has no key", s)
		}
		return ref, nil
	}
	if !hasPath {
		return EntityRef{}, fmt.Errorf("invalid entity reference %q: missing key", s)
	}
	parts := strings.Split(path, "/")
	want := 1
	if p == Vector && len(parts) == 2 {
		want = 2
	}
	if len(parts) != want {
		return EntityRef{}, fmt.Errorf("invalid entity reference %q: unexpected '/' in key (keys are path-escaped)", s)
	}
	if ref.Key, err = url.PathUnescape(parts[0]); err != nil {
		return EntityRef{}, fmt.Errorf("invalid entity reference %q: %v", s, err)
	}
	if want == 2 {
		if ref.Sub, err = url.PathUnescape(parts[1]); err != nil {
			return EntityRef{}, fmt.Errorf("invalid entity reference %q: %v", s, err)
		}
	}
	return ref, nil
}
