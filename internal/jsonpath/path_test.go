package jsonpath

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
)

func tokens(p Path) []string {
	out := []string{}
	for _, s := range p.segs {
		out = append(out, s.Token())
	}
	return out
}

// validPointers maps JSON Pointers to their unescaped tokens.
var validPointers = []struct {
	in   string
	want []string
}{
	{"", []string{}},
	{"/", []string{""}},
	{"//", []string{"", ""}},
	{"/a//b", []string{"a", "", "b"}},
	{"/a/", []string{"a", ""}},
	{"/foo", []string{"foo"}},
	{"/foo/0", []string{"foo", "0"}},
	{"/a/b/0", []string{"a", "b", "0"}},
	{"/-", []string{"-"}},
	{"/a/-", []string{"a", "-"}},
	{"/a~1b", []string{"a/b"}},
	{"/m~0n", []string{"m~n"}},
	{"/~01", []string{"~1"}},
	{"/~10", []string{"/0"}},
	{"/~0~1~0", []string{"~/~"}},
	{"/~1~1", []string{"//"}},
	{"/~0", []string{"~"}},
	{"/~1", []string{"/"}},
	{"/c%d", []string{"c%d"}},
	{"/e^f", []string{"e^f"}},
	{"/g|h", []string{"g|h"}},
	{`/i\j`, []string{`i\j`}},
	{`/k"l`, []string{`k"l`}},
	{"/ ", []string{" "}},
	{"/ m", []string{" m"}},
	{"/a.b", []string{"a.b"}},
	{"/[0]", []string{"[0]"}},
	{"/a[0]", []string{"a[0]"}},
	{"/$", []string{"$"}},
	{"/01", []string{"01"}},
	{"/ü/日本語/😀", []string{"ü", "日本語", "😀"}},
	{"/\x00", []string{"\x00"}},
	{"/99999999999999999999999", []string{"99999999999999999999999"}},
}

var invalidPointers = []string{
	"/~",
	"/a~",
	"/~2",
	"/~a",
	"/~~",
	"/~/",
	"/a~/b",
	"/~01~",
	"/ok/~x/ok",
	"/~\xff",
	"/\xff",
	"/a\xc3",
	"/" + strings.Repeat("a/", MaxSegments),
}

func TestParsePointer(t *testing.T) {
	for _, tc := range validPointers {
		p, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := tokens(p); !slices.Equal(got, tc.want) {
			t.Errorf("Parse(%q) tokens = %q, want %q", tc.in, got, tc.want)
		}
		for i, s := range p.segs {
			if s.Kind() != SegToken {
				t.Errorf("Parse(%q) segment %d kind = %v, want token", tc.in, i, s.Kind())
			}
		}
		if p.Len() != len(tc.want) || p.IsRoot() != (len(tc.want) == 0) {
			t.Errorf("Parse(%q): Len %d IsRoot %v", tc.in, p.Len(), p.IsRoot())
		}
		if got := p.String(); got != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got)
		}
	}
}

func TestParsePointerInvalid(t *testing.T) {
	for _, in := range invalidPointers {
		p, err := Parse(in)
		if !errors.Is(err, dberr.ErrInvalidPath) {
			t.Errorf("Parse(%q) = %q, %v; want InvalidPath", in, p.String(), err)
		}
	}
}

func TestTokenClassification(t *testing.T) {
	cases := []struct {
		tok   string
		index int
		isIdx bool
		isEnd bool
	}{
		{"0", 0, true, false},
		{"7", 7, true, false},
		{"10", 10, true, false},
		{"01", 0, false, false},
		{"00", 0, false, false},
		{"-", 0, false, true},
		{"-1", 0, false, false},
		{"+1", 0, false, false},
		{"1e3", 0, false, false},
		{"", 0, false, false},
		{" 1", 0, false, false},
		{"99999999999999999999999", 0, false, false},
	}
	for _, tc := range cases {
		s := Root().Token(tc.tok).Segment(0)
		i, ok := s.Index()
		if ok != tc.isIdx || (ok && i != tc.index) || s.IsEnd() != tc.isEnd {
			t.Errorf("token %q: Index() = %d, %v; IsEnd() = %v", tc.tok, i, ok, s.IsEnd())
		}
		if k, ok := s.Key(); !ok || k != tc.tok {
			t.Errorf("token %q: Key() = %q, %v", tc.tok, k, ok)
		}
	}
}

// validDotted maps dotted paths to the paths they mean.
var validDotted = []struct {
	in   string
	want Path
}{
	{"$", Root()},
	{"$.a", Root().Key("a")},
	{"a", Root().Key("a")},
	{".a", Root().Key("a")},
	{"a.b[0]", Root().Key("a").Key("b").Index(0)},
	{"$.a.b[0].c", Root().Key("a").Key("b").Index(0).Key("c")},
	{"[0]", Root().Index(0)},
	{"$[0][1]", Root().Index(0).Index(1)},
	{"$[10]", Root().Index(10)},
	{"a[2147483647]", Root().Key("a").Index(2147483647)},
	{`$["key with.dots"]`, Root().Key("key with.dots")},
	{`["a"]`, Root().Key("a")},
	{`$['k']`, Root().Key("k")},
	{`a["b"].c`, Root().Key("a").Key("b").Key("c")},
	{`a['b']['c']`, Root().Key("a").Key("b").Key("c")},
	{"$.a[-]", Root().Key("a").End()},
	{"[-]", Root().End()},
	{"$[-]", Root().End()},
	{"$.0", Root().Key("0")},
	{"a.-", Root().Key("a").Key("-")},
	{"a.-.b", Root().Key("a").Key("-").Key("b")},
	{"$.$ref", Root().Key("$ref")},
	{"a.b c", Root().Key("a").Key("b c")},
	{"a/b", Root().Key("a/b")},
	{"a~b.~0", Root().Key("a~b").Key("~0")},
	{"$.a/b/c", Root().Key("a/b/c")},
	{"'k'", Root().Key("'k'")},
	{`"k"`, Root().Key(`"k"`)},
	{"a.日本語.ü", Root().Key("a").Key("日本語").Key("ü")},
	{"😀", Root().Key("😀")},
	{`$[""]`, Root().Key("")},
	{`$['']`, Root().Key("")},
	{`[""][""]`, Root().Key("").Key("")},
	{`$["a\"b"]`, Root().Key(`a"b`)},
	{`$['it\'s']`, Root().Key("it's")},
	{`$['say "hi"']`, Root().Key(`say "hi"`)},
	{`$["it's"]`, Root().Key("it's")},
	{`$["\u00e9"]`, Root().Key("é")},
	{`$["\u00E9"]`, Root().Key("é")},
	{`$["\ud83d\ude00"]`, Root().Key("😀")},
	{`$["\u0000"]`, Root().Key("\x00")},
	{`$["\n\t\\\/\b\f\r"]`, Root().Key("\n\t\\/\b\f\r")},
	{`$['\n\"\'']`, Root().Key("\n\"'")},
	{`$["a/b~c"]`, Root().Key("a/b~c")},
	{`$["[x]"]`, Root().Key("[x]")},
	{`$["a.b"]["c.d"][3]`, Root().Key("a.b").Key("c.d").Index(3)},
	{`$["0"]`, Root().Key("0")},
	{`$["-"]`, Root().Key("-")},
	{`["$"]`, Root().Key("$")},
	{"a\tb", Root().Key("a\tb")},
}

var invalidDotted = []string{
	"$a",
	"$$",
	"$ .a",
	"$.",
	"a.",
	"a..b",
	".",
	"..a",
	"]",
	"a]",
	"a[0]]",
	"a[0]b",
	"[",
	"a[",
	"[]",
	"[01]",
	"[00]",
	"[-1]",
	"[+1]",
	"[1",
	"[1.5]",
	"[ 0]",
	"[0 ]",
	"[a]",
	"[-",
	"[-x]",
	"[-].a",
	"a[-][0]",
	"a[-].b",
	"$[99999999999999999999999]",
	`["a]`,
	`["a"`,
	`["a"x]`,
	`['a"]`,
	`["a']`,
	`["\x"]`,
	`["\'"]`,
	`["\u12"]`,
	`["\u12g4"]`,
	`["\ud800"]`,
	`["\udc00"]`,
	`["\ud800\u0041"]`,
	`["\ud800x"]`,
	`["\`,
	"[\"a\x01\"]",
	"['\n']",
	"\xff",
	"a.\xff",
	"$['\xff']",
}

func TestParseDotted(t *testing.T) {
	for _, tc := range validDotted {
		p, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !p.Equal(tc.want) {
			t.Errorf("Parse(%q) = %v %q, want %v %q", tc.in, kinds(p), tokens(p), kinds(tc.want), tokens(tc.want))
		}
		if p.String() != tc.want.String() || p.plen != len(p.String()) {
			t.Errorf("Parse(%q).String() = %q (plen %d), want %q", tc.in, p.String(), p.plen, tc.want.String())
		}
	}
}

func kinds(p Path) []SegmentKind {
	var out []SegmentKind
	for _, s := range p.segs {
		out = append(out, s.Kind())
	}
	return out
}

func TestParseDottedInvalid(t *testing.T) {
	for _, in := range invalidDotted {
		p, err := Parse(in)
		if !errors.Is(err, dberr.ErrInvalidPath) {
			t.Errorf("Parse(%q) = %v %q, %v; want InvalidPath", in, kinds(p), tokens(p), err)
		}
	}
}

func TestParseLimits(t *testing.T) {
	ok := []string{
		"/" + strings.Repeat("a/", MaxSegments-1) + "a",
		strings.Repeat("[0]", MaxSegments),
		"a" + strings.Repeat(".a", MaxSegments-1),
		"$" + strings.Repeat(".a", MaxSegments),
		"/" + strings.Repeat("x", MaxPathLen-1),
		strings.Repeat("x", MaxPathLen-1), // "/xxx..." is MaxPathLen bytes
		"/" + strings.Repeat("~0", (MaxPathLen-1)/2),
		"a." + strings.Repeat("~", (MaxPathLen-3)/2), // pointer form "/a/~0~0..." fits
	}
	for _, in := range ok {
		p, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(len %d): %v", len(in), err)
			continue
		}
		if q, err := Parse(p.String()); err != nil || q.Len() != p.Len() {
			t.Errorf("Parse(String()) of a path of len %d: %v", len(in), err)
		}
	}
	bad := []string{
		"/" + strings.Repeat("a/", MaxSegments),
		strings.Repeat("[0]", MaxSegments+1),
		"a" + strings.Repeat(".a", MaxSegments),
		"$" + strings.Repeat(".a", MaxSegments+1),
		"/" + strings.Repeat("x", MaxPathLen),
		strings.Repeat("x", MaxPathLen+1),
		strings.Repeat("x", MaxPathLen), // "/xxx..." is one byte too long
		strings.Repeat("~", MaxPathLen), // fits as text, twice as long as a pointer
		"a." + strings.Repeat("/", MaxPathLen-2),
	}
	for _, in := range bad {
		if _, err := Parse(in); !errors.Is(err, dberr.ErrInvalidPath) {
			t.Errorf("Parse(len %d %q...) = %v, want InvalidPath", len(in), in[:10], err)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	var inputs []string
	for _, tc := range validPointers {
		inputs = append(inputs, tc.in)
	}
	for _, tc := range validDotted {
		inputs = append(inputs, tc.in)
	}
	for _, in := range inputs {
		p := MustParse(in)
		s := p.String()
		q, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q) -> %q: %v", in, s, err)
			continue
		}
		if !slices.Equal(tokens(p), tokens(q)) || q.String() != s {
			t.Errorf("Parse(%q) -> %q -> tokens %q, want %q", in, s, tokens(q), tokens(p))
		}
		if s == "" || s[0] == '/' {
			if in == "" || in[0] == '/' {
				if !q.Equal(p) {
					t.Errorf("pointer %q does not round-trip exactly", in)
				}
			}
		} else {
			t.Errorf("String() of %q = %q is not a JSON Pointer", in, s)
		}
	}
	want := map[string]string{
		"$":                    "",
		"a.b[0]":               "/a/b/0",
		`$["a/b"]["m~n"]`:      "/a~1b/m~0n",
		"$.list[-]":            "/list/-",
		`$[""]`:                "/",
		`$["key with.dots"].x`: "/key with.dots/x",
		`$["~1"]`:              "/~01",
	}
	for in, w := range want {
		if got := MustParse(in).String(); got != w {
			t.Errorf("Parse(%q).String() = %q, want %q", in, got, w)
		}
	}
}

func TestPathBuilders(t *testing.T) {
	for k, want := range map[SegmentKind]string{SegToken: "token", SegKey: "key", SegIndex: "index", SegEnd: "end", 9: "SegmentKind(9)"} {
		if k.String() != want {
			t.Errorf("SegmentKind %d String() = %q", k, k.String())
		}
	}
	base := Root().Key("a")
	p1 := base.Index(3)
	p2 := base.Key("x/y")
	p3 := p1.End()
	if got := base.String(); got != "/a" {
		t.Errorf("base = %q", got)
	}
	if got := p1.String(); got != "/a/3" {
		t.Errorf("p1 = %q", got)
	}
	if got := p2.String(); got != "/a/x~1y" {
		t.Errorf("p2 = %q", got)
	}
	if got := p3.String(); got != "/a/3/-" {
		t.Errorf("p3 = %q", got)
	}
	if got := Root().Token("~").Token("").String(); got != "/~0/" {
		t.Errorf("tokens = %q", got)
	}
	if p3.Len() != 3 || p3.IsRoot() || !Root().IsRoot() || Root().Len() != 0 || Root().String() != "" {
		t.Error("Len/IsRoot wrong")
	}
	if !p3.Parent().Equal(p1) || !p1.Parent().Equal(base) || !base.Parent().Equal(Root()) || !Root().Parent().IsRoot() {
		t.Error("Parent wrong")
	}
	if p := p2.Parent(); p.plen != len(p.String()) {
		t.Error("Parent length bookkeeping wrong")
	}
	if s, ok := p3.Last(); !ok || s.Kind() != SegEnd || !s.IsEnd() || s.Token() != "-" {
		t.Errorf("Last = %v %v", s, ok)
	}
	if _, ok := Root().Last(); ok {
		t.Error("Root().Last() ok")
	}
	if s := p1.Segment(1); s.Kind() != SegIndex {
		t.Errorf("segment kind %v", s.Kind())
	} else if i, ok := s.Index(); !ok || i != 3 {
		t.Errorf("Index() = %d %v", i, ok)
	} else if _, ok := s.Key(); ok {
		t.Error("index segment has a key")
	}
	// Appending to a shared prefix must not disturb the other paths.
	q1 := p1.Parent().Key("q1")
	q2 := p1.Parent().Key("q2")
	if q1.String() != "/a/q1" || q2.String() != "/a/q2" || p1.String() != "/a/3" {
		t.Errorf("sharing: %q %q %q", q1, q2, p1)
	}
	segs := p1.Segments()
	segs[0] = Segment{}
	if p1.String() != "/a/3" {
		t.Error("Segments() aliases the path")
	}
	if !p1.HasPrefix(base) || !p1.HasPrefix(Root()) || !p1.HasPrefix(p1) || base.HasPrefix(p1) || p2.HasPrefix(p1) {
		t.Error("HasPrefix wrong")
	}
	if !MustParse("/a/3").HasPrefix(MustParse("a[3]")) || MustParse("/a/3").Equal(MustParse("a[3]")) {
		t.Error("HasPrefix compares tokens, Equal compares kinds")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Index(-1) did not panic")
			}
		}()
		Root().Index(-1)
	}()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustParse of an invalid path did not panic")
			}
		}()
		MustParse("/~")
	}()
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse("/a/~2")
	var e *dberr.Error
	if !errors.As(err, &e) || e.Code != dberr.InvalidPath || e.Op != "jsonpath.Parse" {
		t.Fatalf("err = %#v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "~2") || !strings.Contains(msg, "offset 3") {
		t.Errorf("message %q", msg)
	}
	_, err = Parse(strings.Repeat("a", 1000) + "]")
	if len(err.Error()) > 400 {
		t.Errorf("message not truncated: %d bytes", len(err.Error()))
	}
}
