package keyref

import (
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
)

// TestDescribeMalformed checks that keys fitting no layout are reported as
// unknown, with their bytes escaped, rather than misread.
func TestDescribeMalformed(t *testing.T) {
	run := core.NewRunID()
	for _, c := range []struct {
		space core.PrimitiveType
		key   string
	}{
		{core.Event, ""},
		{core.Event, "e\x00\x01"},           // short sequence
		{core.Event, "y"},                   // type head without a type
		{core.State, "c"},                   // no name
		{core.State, "x\x00name"},           // unknown tag
		{core.Trace, "t\x00"},               // short id
		{core.Trace, "y\xff\xff\xff\xffab"}, // length past the end
		{core.Trace, "g\x00\x00\x00\x01a"},  // no (at, id)
		{core.Run, "r\x01"},
		{core.Run, "s\x09act"},
		{core.Run, "p" + strings.Repeat("\x00", 39)},
		{core.Vector, "v\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"},
		{core.Vector, "v\x05ab"},
		{core.PrimitiveType(99), "k"},
	} {
		e := Describe(run, c.space, c.key)
		if e.Kind != KindUnknown || e.Ref != nil {
			t.Errorf("%s %q: %+v, want unknown", c.space, c.key, e)
		}
		if !strings.Contains(e.String(), "unknown") {
			t.Errorf("%s %q: %q", c.space, c.key, e.String())
		}
	}
}

func TestEscapeIsLossless(t *testing.T) {
	if got := Escape("a\\b\x00\xffz"); got != `a\x5cb\x00\xffz` {
		t.Fatalf("Escape = %q", got)
	}
}

// FuzzDescribe: any key of any space decodes without a panic, and a
// decoded reference renders.
func FuzzDescribe(f *testing.F) {
	f.Add(uint8(2), "e\x00\x00\x00\x00\x00\x00\x00\x01")
	f.Add(uint8(4), "y\x00\x00\x00\x01a"+strings.Repeat("\x00", 16))
	f.Add(uint8(5), "s\x06active"+strings.Repeat("\x00", 24))
	f.Add(uint8(7), "v\x02abkey")
	f.Fuzz(func(t *testing.T, space uint8, key string) {
		e := Describe(core.RunID{1}, core.PrimitiveType(space), key)
		if e.String() == "" {
			t.Fatal("empty description")
		}
	})
}
