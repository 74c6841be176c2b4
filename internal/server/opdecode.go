package server

import (
	"encoding/json"
	"slices"
)

// The fast path of decodeOp. A batch's operations are small objects whose
// members are mostly plain strings and JSON values kept raw; decoding
// each one into a map (to check its field names) and then again into an
// Op cost a third of the server's CPU per batch under load, and on a busy
// machine CPU per request is what bounds throughput over HTTP. This path
// reads the members in place and leaves anything unusual to the general
// decoder, so it accepts and refuses exactly what that decoder does.

// opMember is one top-level member of an operation object.
type opMember struct{ key, val []byte }

// maxOpMembers bounds the members the fast path looks at (no operation
// has more fields); an object with more goes to the general decoder.
const maxOpMembers = 12

// decodeOpFast decodes raw, which the request decoder has already checked
// to be valid JSON, without building a map. ok is false when raw has
// anything the general decoder must judge: an unknown operation or
// field, a key with escapes, a filter, a member it could not decode.
func decodeOpFast(raw []byte) (op Op, ok bool) {
	var buf [maxOpMembers]opMember
	ms, ok := scanMembers(raw, buf[:0])
	if !ok {
		return Op{}, false
	}
	var spec opSpec
	found := false
	for _, m := range ms {
		if string(m.key) == "op" {
			name, simple := plainString(m.val)
			if !simple {
				return Op{}, false
			}
			op.Op = name
			spec, found = opSpecs[name]
		}
	}
	if !found {
		return Op{}, false
	}
	rest := false // members left to json.Unmarshal
	for _, m := range ms {
		k := string(m.key)
		if k == "op" {
			continue
		}
		if !slices.Contains(spec.fields, k) || k == "filter" {
			return Op{}, false
		}
		var dst *string
		switch k {
		case "key":
			dst = &op.Key
		case "type":
			dst = &op.Type
		case "path":
			dst = &op.Path
		case "collection":
			dst = &op.Collection
		case "prefix":
			dst = &op.Prefix
		case "value":
			op.Value = m.val
			continue
		case "body":
			op.Body = m.val
			continue
		case "patch":
			op.Patch = m.val
			continue
		case "metadata":
			op.Metadata = m.val
			continue
		default:
			rest = true
			continue
		}
		s, simple := plainString(m.val)
		if !simple {
			rest = true
			continue
		}
		*dst = s
	}
	if rest {
		// Members in order, the last of a repeated one winning: the same
		// as a decode from scratch, which this is.
		op = Op{}
		if err := json.Unmarshal(raw, &op); err != nil {
			return Op{}, false
		}
	}
	return op, true
}

// plainString returns the text of a JSON string made of printable ASCII
// without escapes, whose bytes are its value; ok is false for anything
// else (escapes, other bytes, null, other types).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	for _, b := range body {
		if b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return "", false
		}
	}
	return string(body), true
}

// scanMembers appends the top-level members of the JSON object raw to ms.
// ok is false if raw is not an object, a key is not plain (escapes, bytes
// that are not printable ASCII), there are more than cap(ms) members, or
// anything is unexpected.
func scanMembers(raw []byte, ms []opMember) ([]opMember, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return ms, skipSpace(raw, i+1) == len(raw)
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return nil, false
		}
		end := skipString(raw, i)
		if end < 0 {
			return nil, false
		}
		if _, plain := plainString(raw[i:end]); !plain {
			return nil, false
		}
		key := raw[i+1 : end-1]
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return nil, false
		}
		i = skipSpace(raw, i+1)
		vend := skipValue(raw, i)
		if vend < 0 || len(ms) == cap(ms) {
			return nil, false
		}
		ms = append(ms, opMember{key: key, val: raw[i:vend]})
		i = skipSpace(raw, vend)
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return ms, skipSpace(raw, i+1) == len(raw)
		default:
			return nil, false
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"'),
// or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or
// -1. It relies on b being valid JSON: it only tracks nesting and
// strings.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := skipString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
