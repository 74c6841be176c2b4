package engine

import (
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// A chain's first version lives in its hash entry, so trimming it off the
// chain does not free it: its value must be dropped explicitly, but only
// once no reader can still walk the old chain through it.
func TestTrim_ReleasesTheInlineFirstVersion(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	big := value.String(string(make([]byte, 4096)))
	commitOne(t, e, r, core.KV, "k", big)
	commitOne(t, e, r, core.KV, "k", value.Int(2))
	c := e.lookup(r, core.KV, "k")
	if c.head.Load().next != &c.first {
		t.Fatal("the first version is not the inline one")
	}

	keepLast1 := func(core.RunID, core.PrimitiveType) Keep { return Keep{Last: 1} }
	e.Trim(keepLast1, 1)
	if c.head.Load().next != nil {
		t.Fatal("the trim kept the first version on the chain")
	}
	// Cut, but a snapshot as old as the cut may belong to a reader that
	// loaded the old head and is still walking it.
	walker := e.Begin(r, false)
	if c.first.val.IsNull() {
		t.Fatal("the first version's value was dropped while a reader could still reach it")
	}
	commitOne(t, e, r, core.KV, "other", value.Int(3))
	e.Trim(keepLast1, 1)
	if c.first.val.IsNull() {
		t.Fatal("dropped under a snapshot older than the cut")
	}
	walker.Rollback()
	e.Trim(keepLast1, 1)
	if !c.first.val.IsNull() {
		t.Fatal("the trimmed inline first version still holds its value")
	}
	if got, ok := e.Get(r, core.KV, "k", e.Visible()); !ok || !got.Value.Equal(value.Int(2)) {
		t.Fatalf("k = %v %v after the release, want 2", got, ok)
	}
}
