package jsonpath

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/dberr"
)

// Limits of a path.
const (
	// MaxPathLen is the longest path text Parse accepts, in bytes. The JSON
	// Pointer form of a path (String) is held to the same bound.
	MaxPathLen = 64 << 10
	// MaxSegments is the most segments a path may have.
	MaxSegments = 256
)

// SegmentKind says how a segment is resolved against a document.
type SegmentKind uint8

const (
	// SegToken is a JSON Pointer reference token: a key on an object, an
	// index or "-" on an array.
	SegToken SegmentKind = iota
	// SegKey is an object key (dotted ".name" or ["name"]).
	SegKey
	// SegIndex is an array index (dotted [n]).
	SegIndex
	// SegEnd is the position after the last element of an array (dotted [-]).
	SegEnd
)

func (k SegmentKind) String() string {
	switch k {
	case SegToken:
		return "token"
	case SegKey:
		return "key"
	case SegIndex:
		return "index"
	case SegEnd:
		return "end"
	}
	return "SegmentKind(" + strconv.Itoa(int(k)) + ")"
}

// arrClass classifies a SegToken by what it means on an array (RFC 6901).
type arrClass uint8

const (
	arrNone        arrClass = iota // not decimal digits: no element of any array
	arrIndex                       // a canonical index that fits an int
	arrEnd                         // "-"
	arrLeadingZero                 // digits with a leading zero: not an index
	arrOverflow                    // canonical digits too large for an int
)

// Segment is one step of a Path. The zero Segment is the token "".
type Segment struct {
	kind SegmentKind
	cls  arrClass // SegToken only
	idx  int      // SegIndex; SegToken with cls == arrIndex
	text string   // SegToken, SegKey
}

// Kind returns the kind of s.
func (s Segment) Kind() SegmentKind { return s.kind }

// Token returns s as an unescaped JSON Pointer reference token: the key or
// token text, the decimal index, or "-".
func (s Segment) Token() string {
	switch s.kind {
	case SegIndex:
		return strconv.Itoa(s.idx)
	case SegEnd:
		return "-"
	}
	return s.text
}

// Key returns the object key s names and true, for a SegKey or a SegToken.
func (s Segment) Key() (string, bool) {
	if s.kind == SegKey || s.kind == SegToken {
		return s.text, true
	}
	return "", false
}

// Index returns the array index s names and true, for a SegIndex or a
// SegToken that is an RFC 6901 array index fitting an int.
func (s Segment) Index() (int, bool) {
	if s.kind == SegIndex || (s.kind == SegToken && s.cls == arrIndex) {
		return s.idx, true
	}
	return 0, false
}

// IsEnd reports whether s is the end-of-array position: SegEnd or the token
// "-".
func (s Segment) IsEnd() bool {
	return s.kind == SegEnd || (s.kind == SegToken && s.cls == arrEnd)
}

// pointerLen is the length of "/" + the escaped token of s.
func (s Segment) pointerLen() int {
	t := s.Token()
	return 1 + len(t) + strings.Count(t, "~") + strings.Count(t, "/")
}

func tokenSegment(t string) Segment {
	s := Segment{kind: SegToken, text: t}
	s.cls, s.idx = classify(t)
	return s
}

// classify applies the RFC 6901 array-index rules to a token.
func classify(t string) (arrClass, int) {
	if t == "-" {
		return arrEnd, 0
	}
	if t == "" {
		return arrNone, 0
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return arrNone, 0
		}
	}
	if len(t) > 1 && t[0] == '0' {
		return arrLeadingZero, 0
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return arrOverflow, 0
	}
	return arrIndex, n
}

// Path is a parsed path: a sequence of segments. The zero Path is the root.
// A Path is immutable; the methods that extend it return a new Path.
type Path struct {
	segs []Segment
	plen int // len(String())
}

// Root returns the empty path, which addresses the whole document.
func Root() Path { return Path{} }

// Len returns the number of segments.
func (p Path) Len() int { return len(p.segs) }

// IsRoot reports whether p has no segments.
func (p Path) IsRoot() bool { return len(p.segs) == 0 }

// Segment returns segment i; it panics if i is out of range.
func (p Path) Segment(i int) Segment { return p.segs[i] }

// Segments returns a copy of the segments.
func (p Path) Segments() []Segment { return slices.Clone(p.segs) }

// Parent returns p without its last segment; the parent of the root is the
// root.
func (p Path) Parent() Path {
	if len(p.segs) == 0 {
		return p
	}
	last := p.segs[len(p.segs)-1]
	return Path{segs: slices.Clip(p.segs[:len(p.segs)-1]), plen: p.plen - last.pointerLen()}
}

// Last returns the last segment and true, or false for the root.
func (p Path) Last() (Segment, bool) {
	if len(p.segs) == 0 {
		return Segment{}, false
	}
	return p.segs[len(p.segs)-1], true
}

func (p Path) append(s Segment) Path {
	// slices.Clip makes append copy, so paths sharing a prefix stay apart.
	return Path{segs: append(slices.Clip(p.segs), s), plen: p.plen + s.pointerLen()}
}

// Key returns p extended by the object key k.
func (p Path) Key(k string) Path { return p.append(Segment{kind: SegKey, text: k}) }

// Index returns p extended by the array index i. It panics if i < 0.
func (p Path) Index(i int) Path {
	if i < 0 {
		panic("jsonpath: negative array index " + strconv.Itoa(i))
	}
	return p.append(Segment{kind: SegIndex, idx: i})
}

// End returns p extended by the end-of-array position (dotted [-]).
func (p Path) End() Path { return p.append(Segment{kind: SegEnd}) }

// Token returns p extended by the JSON Pointer reference token t (unescaped),
// which is resolved against the document like any pointer token.
func (p Path) Token(t string) Path { return p.append(tokenSegment(t)) }

// Equal reports whether p and q have the same segments, kinds included.
func (p Path) Equal(q Path) bool { return slices.Equal(p.segs, q.segs) }

// HasPrefix reports whether the tokens of q are the first tokens of p (kinds
// are ignored). Every path has the root as a prefix, and itself.
func (p Path) HasPrefix(q Path) bool {
	if len(q.segs) > len(p.segs) {
		return false
	}
	for i, s := range q.segs {
		if s.Token() != p.segs[i].Token() {
			return false
		}
	}
	return true
}

// String renders p as an RFC 6901 JSON Pointer ("" for the root).
func (p Path) String() string { return p.prefixString(len(p.segs)) }

// prefixString renders the first n segments as a JSON Pointer.
func (p Path) prefixString(n int) string {
	var b strings.Builder
	if n == len(p.segs) {
		b.Grow(p.plen)
	}
	for _, s := range p.segs[:n] {
		b.WriteByte('/')
		t := s.Token()
		if !strings.ContainsAny(t, "~/") {
			b.WriteString(t)
			continue
		}
		for i := 0; i < len(t); i++ {
			switch t[i] {
			case '~':
				b.WriteString("~0")
			case '/':
				b.WriteString("~1")
			default:
				b.WriteByte(t[i])
			}
		}
	}
	return b.String()
}

// check enforces the limits on a path that may have been built by hand.
func (p Path) check() *dberr.Error {
	if len(p.segs) > MaxSegments {
		return dberr.New(dberr.InvalidPath, "", "path has %d segments (at most %d)", len(p.segs), MaxSegments)
	}
	if p.plen > MaxPathLen {
		return dberr.New(dberr.InvalidPath, "", "path is %d bytes as a JSON Pointer (at most %d)", p.plen, MaxPathLen)
	}
	return nil
}

// MustParse is like Parse but panics on error. It is meant for tests and
// constant paths.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Parse parses a JSON Pointer (the empty string, or text starting with "/")
// or a dotted path (anything else); see the package documentation for the
// grammar. Errors match dberr.ErrInvalidPath.
func Parse(s string) (Path, error) {
	p, e := parse(s)
	if e != nil {
		e.Op = "jsonpath.Parse"
		return Path{}, e
	}
	return p, nil
}

func parse(s string) (Path, *dberr.Error) {
	if len(s) > MaxPathLen {
		return Path{}, dberr.New(dberr.InvalidPath, "", "path is %d bytes (at most %d)", len(s), MaxPathLen)
	}
	if !utf8.ValidString(s) {
		return Path{}, syntaxError(s, firstInvalidUTF8(s), "invalid UTF-8")
	}
	if s == "" {
		return Path{}, nil
	}
	if s[0] == '/' {
		return parsePointer(s)
	}
	return parseDotted(s)
}

func firstInvalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return len(s)
}

// syntaxError reports a malformed path, quoting (a prefix of) it.
func syntaxError(s string, off int, format string, args ...any) *dberr.Error {
	return dberr.New(dberr.InvalidPath, "", "path %s: %s at offset %d", quoteTrunc(s), fmt.Sprintf(format, args...), off)
}

// quoteTrunc quotes s for an error message, shortening a long s.
func quoteTrunc(s string) string {
	const max = 128
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func parsePointer(s string) (Path, *dberr.Error) {
	if n := strings.Count(s, "/"); n > MaxSegments {
		return Path{}, dberr.New(dberr.InvalidPath, "", "path %s has %d segments (at most %d)", quoteTrunc(s), n, MaxSegments)
	}
	var segs []Segment
	off := 1 // offset of the current token in s
	for {
		rest := s[off:]
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		t, e := unescapeToken(s, off, rest[:end])
		if e != nil {
			return Path{}, e
		}
		segs = append(segs, tokenSegment(t))
		off += end + 1
		if off > len(s) {
			break
		}
	}
	// The escaping is one-to-one, so the pointer form of the path is s.
	return Path{segs: segs, plen: len(s)}, nil
}

// unescapeToken decodes ~0 and ~1 in tok, which starts at offset off of s.
func unescapeToken(s string, off int, tok string) (string, *dberr.Error) {
	if strings.IndexByte(tok, '~') < 0 {
		return tok, nil
	}
	var b strings.Builder
	b.Grow(len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '~' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(tok) {
			return "", syntaxError(s, off+i, "'~' must be followed by '0' or '1'")
		}
		switch tok[i+1] {
		case '0':
			b.WriteByte('~')
		case '1':
			b.WriteByte('/')
		default:
			r, _ := utf8.DecodeRuneInString(tok[i+1:])
			return "", syntaxError(s, off+i, "invalid escape '~%c' (want ~0 or ~1)", r)
		}
		i++
	}
	return b.String(), nil
}

// nameEnd returns the end of the name starting at i: the offset of the first
// '.', '[' or ']' at or after i, or len(s).
func nameEnd(s string, i int) int {
	for j := i; j < len(s); j++ {
		if c := s[j]; c == '.' || c == '[' || c == ']' {
			return j
		}
	}
	return len(s)
}

func parseDotted(s string) (Path, *dberr.Error) {
	var p Path
	add := func(seg Segment, off int) *dberr.Error {
		if len(p.segs) == MaxSegments {
			return syntaxError(s, off, "more than %d segments", MaxSegments)
		}
		p.segs = append(p.segs, seg)
		p.plen += seg.pointerLen()
		return nil
	}
	i := 0
	switch s[0] {
	case '$':
		i = 1
	case '.', '[':
	default:
		// A bare first name; if s starts with ']' it is empty and the loop
		// below reports the ']'.
		if j := nameEnd(s, 0); j > 0 {
			if e := add(Segment{kind: SegKey, text: s[:j]}, 0); e != nil {
				return Path{}, e
			}
			i = j
		}
	}
	for i < len(s) {
		switch s[i] {
		case '.':
			j := nameEnd(s, i+1)
			if j == i+1 {
				return Path{}, syntaxError(s, i, "empty name after '.' (use [\"\"] for the empty key)")
			}
			if e := add(Segment{kind: SegKey, text: s[i+1 : j]}, i); e != nil {
				return Path{}, e
			}
			i = j
		case '[':
			seg, j, e := parseBracket(s, i)
			if e != nil {
				return Path{}, e
			}
			if seg.kind == SegEnd && j != len(s) {
				return Path{}, syntaxError(s, i, "[-] is allowed only as the last segment")
			}
			if e := add(seg, i); e != nil {
				return Path{}, e
			}
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			if i == 1 && s[0] == '$' {
				return Path{}, syntaxError(s, i, "unexpected %q after '$' (want '.' or '['; write $[\"$...\"] for a key starting with '$')", r)
			}
			return Path{}, syntaxError(s, i, "unexpected %q (want '.' or '[')", r)
		}
	}
	if p.plen > MaxPathLen {
		return Path{}, dberr.New(dberr.InvalidPath, "", "path %s is %d bytes as a JSON Pointer (at most %d)", quoteTrunc(s), p.plen, MaxPathLen)
	}
	return p, nil
}

// parseBracket parses "[...]" starting at s[i] == '[' and returns the segment
// and the offset after the ']'.
func parseBracket(s string, i int) (Segment, int, *dberr.Error) {
	start := i
	i++
	if i == len(s) {
		return Segment{}, 0, syntaxError(s, start, "unterminated '['")
	}
	var seg Segment
	switch c := s[i]; {
	case c == '"' || c == '\'':
		key, j, e := parseQuoted(s, i)
		if e != nil {
			return Segment{}, 0, e
		}
		seg, i = Segment{kind: SegKey, text: key}, j
	case c == '-':
		seg, i = Segment{kind: SegEnd}, i+1
	case c >= '0' && c <= '9':
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		digits := s[i:j]
		if len(digits) > 1 && digits[0] == '0' {
			return Segment{}, 0, syntaxError(s, i, "array index %s has a leading zero", digits)
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			return Segment{}, 0, syntaxError(s, i, "array index %s is too large", quoteTrunc(digits))
		}
		seg, i = Segment{kind: SegIndex, idx: n}, j
	default:
		return Segment{}, 0, syntaxError(s, i, "want an index, '-' or a quoted key after '['")
	}
	if i == len(s) || s[i] != ']' {
		return Segment{}, 0, syntaxError(s, i, "want ']' to close the '[' at offset %d", start)
	}
	return seg, i + 1, nil
}

// parseQuoted parses a quoted key starting at s[i] (the quote character) and
// returns it and the offset after the closing quote.
func parseQuoted(s string, i int) (string, int, *dberr.Error) {
	q := s[i]
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		c := s[j]
		switch {
		case c == q:
			return b.String(), j + 1, nil
		case c < 0x20:
			return "", 0, syntaxError(s, j, "control character %q in a quoted key (escape it)", c)
		case c != '\\':
			b.WriteByte(c)
			j++
			continue
		}
		if j+1 == len(s) {
			break
		}
		switch e := s[j+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case '\'':
			if q != '\'' {
				return "", 0, syntaxError(s, j, "invalid escape \\' in a double-quoted key")
			}
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, n, e := parseUnicodeEscape(s, j)
			if e != nil {
				return "", 0, e
			}
			b.WriteRune(r)
			j += n
			continue
		default:
			r, _ := utf8.DecodeRuneInString(s[j+1:])
			return "", 0, syntaxError(s, j, "invalid escape \\%c", r)
		}
		j += 2
	}
	return "", 0, syntaxError(s, i, "unterminated quoted key")
}

// parseUnicodeEscape decodes \uXXXX (or a surrogate pair \uXXXX\uXXXX)
// starting at s[j] == '\\' and returns the rune and the bytes consumed.
func parseUnicodeEscape(s string, j int) (rune, int, *dberr.Error) {
	r1, ok := hex4(s, j+2)
	if !ok {
		return 0, 0, syntaxError(s, j, "\\u must be followed by four hex digits")
	}
	if !utf16.IsSurrogate(r1) {
		return r1, 6, nil
	}
	if r1 < 0xDC00 && j+8 <= len(s) && s[j+6] == '\\' && s[j+7] == 'u' {
		if r2, ok := hex4(s, j+8); ok {
			if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
				return r, 12, nil
			}
		}
	}
	return 0, 0, syntaxError(s, j, "unpaired UTF-16 surrogate \\u%04X", r1)
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
