package core

import (
	"errors"
	"strings"
	"testing"
)

// The tags and op codes are written into WAL records and snapshots.
func TestPersistedNumbersArePinned(t *testing.T) {
	tags := map[PrimitiveType]uint8{KV: 1, Event: 2, State: 3, Trace: 4, Run: 5, JSON: 6, Vector: 7, System: 8}
	for p, n := range tags {
		if uint8(p) != n {
			t.Errorf("%s = %d, want %d", p, uint8(p), n)
		}
	}
	ops := map[Op]uint8{OpPut: 1, OpDelete: 2, OpAppend: 3}
	for o, n := range ops {
		if uint8(o) != n {
			t.Errorf("%s = %d, want %d", o, uint8(o), n)
		}
	}
	if len(Primitives) != 7 {
		t.Fatalf("Primitives has %d entries", len(Primitives))
	}
	for i, p := range Primitives {
		if uint8(p) != uint8(i+1) {
			t.Errorf("Primitives[%d] = %s", i, p)
		}
	}
}

func TestPrimitiveTypeNames(t *testing.T) {
	seen := map[string]bool{}
	for p := PrimitiveType(0); p < 20; p++ {
		s := p.String()
		got, ok := ParsePrimitiveType(s)
		if p.Valid() != ok {
			t.Errorf("%d: Valid %v but ParsePrimitiveType(%q) ok=%v", p, p.Valid(), s, ok)
		}
		if ok && got != p {
			t.Errorf("ParsePrimitiveType(%q) = %d, want %d", s, got, p)
		}
		if seen[s] {
			t.Errorf("duplicate name %q", s)
		}
		seen[s] = true
	}
	if PrimitiveType(0).Valid() || PrimitiveType(9).Valid() || !System.Valid() {
		t.Fatal("Valid bounds wrong")
	}
	for _, s := range []string{"", "KV", "primitive(1)", "kv "} {
		if _, ok := ParsePrimitiveType(s); ok {
			t.Errorf("ParsePrimitiveType(%q) accepted", s)
		}
	}
}

func TestOp(t *testing.T) {
	for o := Op(0); o < 6; o++ {
		if o.Valid() != (o.String() != "invalid") {
			t.Errorf("op %d: Valid %v, String %q", o, o.Valid(), o)
		}
	}
}

func TestNewRunID(t *testing.T) {
	a, b := NewRunID(), NewRunID()
	if a == b || a.IsGlobal() {
		t.Fatalf("NewRunID gave %s and %s", a, b)
	}
	if a[6]>>4 != 4 || a[8]>>6 != 2 {
		t.Fatalf("%s is not a version 4, RFC 4122 UUID", a)
	}
	if !GlobalRun.IsGlobal() || GlobalRun.String() != "00000000-0000-0000-0000-000000000000" {
		t.Fatalf("GlobalRun = %s", GlobalRun)
	}
}

func TestRunIDText(t *testing.T) {
	id := RunID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}
	const want = "01234567-89ab-cdef-fedc-ba9876543210"
	if id.String() != want {
		t.Fatalf("String = %s", id)
	}
	for _, s := range []string{want, strings.ToUpper(want)} {
		got, err := ParseRunID(s)
		if err != nil || got != id {
			t.Fatalf("ParseRunID(%q) = %s, %v", s, got, err)
		}
	}
	txt, err := id.MarshalText()
	if err != nil || string(txt) != want {
		t.Fatalf("MarshalText = %q, %v", txt, err)
	}
	var back RunID
	if err := back.UnmarshalText(txt); err != nil || back != id {
		t.Fatalf("UnmarshalText = %s, %v", back, err)
	}
	for _, s := range []string{
		"", want[:35], want + "0", strings.ReplaceAll(want, "-", ""),
		"0123456789ab-cdef-fedc-ba98-76543210", // dashes in the wrong places
		"01234567-89ab-cdef-fedc-ba987654321g",
		"01234567-89ab-cdef-fedc-ba98765432\u00e9",
		"{1234567-89ab-cdef-fedc-ba9876543210",
	} {
		if _, err := ParseRunID(s); !errors.Is(err, ErrBadRunID) {
			t.Errorf("ParseRunID(%q) = %v, want ErrBadRunID", s, err)
		}
		orig := id
		if err := orig.UnmarshalText([]byte(s)); err == nil || orig != id {
			t.Errorf("UnmarshalText(%q) = %v and changed the id to %s", s, err, orig)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		v, w Version
		want int
	}{
		{Txn(1), Txn(2), -1}, {Txn(2), Txn(2), 0}, {Txn(3), Txn(2), 1},
		{Sequence(0), Sequence(0), 0}, {Counter(^uint64(0)), Counter(0), 1},
	} {
		got, err := tc.v.Compare(tc.w)
		if err != nil || got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, %v; want %d", tc.v, tc.w, got, err, tc.want)
		}
	}
	if _, err := Txn(1).Compare(Sequence(1)); !errors.Is(err, ErrVersionKindMismatch) {
		t.Fatalf("comparing kinds: %v", err)
	}
	if !(Version{}).IsZero() || Txn(0).IsZero() || (Version{N: 1}).IsZero() {
		t.Fatal("IsZero wrong")
	}
	for _, v := range []Version{Txn(0), Txn(42), Sequence(7), Counter(^uint64(0))} {
		got, err := ParseVersion(v.String())
		if err != nil || got != v {
			t.Errorf("ParseVersion(%q) = %v, %v", v.String(), got, err)
		}
	}
	if Txn(42).String() != "txn:42" || Sequence(1).String() != "seq:1" || Counter(2).String() != "counter:2" {
		t.Fatal("version text forms changed")
	}
	for _, s := range []string{"", "txn", "txn:", ":1", "txn:-1", "txn:+1", "txn:1x", "invalid:1", "TXN:1", "txn:18446744073709551616"} {
		if v, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", s, v)
		}
	}
}

func TestEntityRefRoundTrip(t *testing.T) {
	run := RunID{0xaa, 1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, 15}
	for _, ref := range []EntityRef{
		{Primitive: KV, Run: run, Key: "plain"},
		{Primitive: KV, Run: run, Key: ""},
		{Primitive: KV, Run: GlobalRun, Key: "a/b/../c"},
		{Primitive: KV, Run: run, Key: "100% sure?#frag &x=1 +"},
		{Primitive: State, Run: run, Key: "ünïcødé 🚀"},
		{Primitive: Event, Run: run, Key: "17"},
		{Primitive: Trace, Run: run, Key: "\x00\xff"},
		{Primitive: JSON, Run: run, Key: "doc://x"},
		{Primitive: Run, Run: run},
		{Primitive: Vector, Run: run, Key: "coll"},
		{Primitive: Vector, Run: run, Key: "coll/with/slashes", Sub: "key/too"},
		{Primitive: Vector, Run: run, Key: "", Sub: "k"},
	} {
		s := ref.String()
		got, err := ParseEntityRef(s)
		if err != nil || got != ref {
			t.Errorf("ParseEntityRef(%q) = %+v, %v; want %+v", s, got, err, ref)
		}
	}
	if s := (EntityRef{Primitive: Run, Run: run}).String(); s != "run://aa010203-0405-4607-8809-0a0b0c0d0e0f" {
		t.Fatalf("run ref text = %s", s)
	}
	if s := (EntityRef{Primitive: KV, Run: run, Key: "a/b c"}).String(); s != "kv://aa010203-0405-4607-8809-0a0b0c0d0e0f/a%2Fb%20c" {
		t.Fatalf("kv ref text = %s", s)
	}
}

func TestParseEntityRefRejects(t *testing.T) {
	const run = "aa010203-0405-4607-8809-0a0b0c0d0e0f"
	for _, s := range []string{
		"", "kv", "kv:/" + run + "/k", "kv//" + run + "/k",
		"nope://" + run + "/k",
		"system://" + run + "/k", // reserved, not addressable
		"primitive(0)://" + run + "/k",
		"kv://" + run, // missing key
		"kv://not-a-uuid/k",
		"kv://" + run + "/a/b",  // unescaped slash
		"kv://" + run + "/%zz",  // bad escape
		"run://" + run + "/key", // a run has no key
		"run://" + run + "/",
		"vector://" + run + "/a/b/c",
		"vector://" + run + "/a/%zz",
	} {
		if ref, err := ParseEntityRef(s); err == nil {
			t.Errorf("ParseEntityRef(%q) = %+v, want an error", s, ref)
		}
	}
}

func FuzzParseEntityRef(f *testing.F) {
	const run = "aa010203-0405-4607-8809-0a0b0c0d0e0f"
	for _, s := range []string{
		"kv://" + run + "/k", "run://" + run, "vector://" + run + "/c/k",
		"vector://" + run + "//k", "json://" + strings.ToUpper(run) + "/%41", "kv://" + run + "/%2F",
		"state://" + run + "/", "x://y/z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseEntityRef(s)
		if err != nil {
			return
		}
		// Whatever parses prints to text that parses back to the same ref.
		again, err := ParseEntityRef(ref.String())
		if err != nil || again != ref {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, ref, ref.String(), again, err)
		}
	})
}

func FuzzEntityRefText(f *testing.F) {
	f.Add(uint8(1), []byte("0123456789abcdef"), "key", "")
	f.Add(uint8(7), []byte("0123456789abcdef"), "c/1", "k%2")
	f.Add(uint8(5), []byte{}, "", "")
	f.Fuzz(func(t *testing.T, tag uint8, runBytes []byte, key, sub string) {
		p := PrimitiveType(tag%7 + 1)
		var run RunID
		copy(run[:], runBytes)
		ref := EntityRef{Primitive: p, Run: run, Key: key, Sub: sub}
		switch p {
		case Run:
			ref.Key, ref.Sub = "", ""
		case Vector:
		default:
			ref.Sub = ""
		}
		got, err := ParseEntityRef(ref.String())
		if err != nil || got != ref {
			t.Fatalf("%+v -> %q -> %+v, %v", ref, ref.String(), got, err)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"txn:1", "seq:0", "counter:18446744073709551615", "txn:007", "x:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("%q -> %v -> %v, %v", s, v, again, err)
		}
	})
}

func FuzzParseRunID(f *testing.F) {
	f.Add("01234567-89ab-cdef-fedc-ba9876543210")
	f.Add("01234567-89AB-CDEF-FEDC-BA9876543210")
	f.Add("0123456789abcdeffedcba9876543210")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseRunID(s)
		if err != nil {
			if !errors.Is(err, ErrBadRunID) {
				t.Fatalf("ParseRunID(%q): untyped error %v", s, err)
			}
			return
		}
		if !strings.EqualFold(id.String(), s) {
			t.Fatalf("ParseRunID(%q) = %s", s, id)
		}
	})
}
