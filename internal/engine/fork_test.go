package engine

import (
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

func commitOne(t *testing.T, e *Engine, run core.RunID, sp core.PrimitiveType, key string, v value.Value) uint64 {
	t.Helper()
	tx := e.Begin(run, true)
	tx.Put(run, sp, key, v)
	n, err := tx.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Fork links come from disk like any entry: a malformed one, a self-link
// or a cycle of links must neither crash nor loop.
func TestFork_HostileLinks(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	a, b, c := core.NewRunID(), core.NewRunID(), core.NewRunID()
	va := commitOne(t, e, a, core.KV, "k", value.Int(1))
	commitOne(t, e, b, core.KV, "own", value.Int(2))
	// A cycle: a reads through b and b through a.
	commitOne(t, e, a, core.System, ForkKey, ForkValue(b, va))
	commitOne(t, e, b, core.System, ForkKey, ForkValue(a, va))
	// Self-link and malformed links are ignored.
	commitOne(t, e, c, core.System, ForkKey, ForkValue(c, va))
	commitOne(t, e, c, core.System, ForkKey, value.String("garbage"))
	snap := e.Visible()
	if _, ok := e.Get(a, core.KV, "missing", snap); ok {
		t.Fatal("found a key nobody wrote")
	}
	if got, ok := e.Get(a, core.KV, "k", snap); !ok || !got.Value.Equal(value.Int(1)) {
		t.Fatalf("own key through a cycle: %v %v", got, ok)
	}
	n := 0
	e.ScanSnapshot(b, core.KV, "", "", snap, func(string, Entry) bool { n++; return true })
	if n != 2 { // b's own key and a's, once each
		t.Fatalf("scan through a cycle yielded %d keys, want 2", n)
	}
	if _, _, ok := e.ForkOf(c, snap); ok {
		t.Fatal("a malformed link made c a fork")
	}
}

// A tombstone ends a link, releasing its pin; reads at snapshots before
// the tombstone still fall through.
func TestFork_LinkEnds(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	p, f := core.NewRunID(), core.NewRunID()
	at := commitOne(t, e, p, core.KV, "k", value.Int(1))
	commitOne(t, e, f, core.System, ForkKey, ForkValue(p, at))
	if e.forkBound(p) != at {
		t.Fatalf("fork bound %d, want %d", e.forkBound(p), at)
	}
	live := e.Visible()
	tx := e.Begin(f, true)
	tx.Delete(f, core.System, ForkKey)
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Get(f, core.KV, "k", e.Visible()); ok {
		t.Fatal("read through an ended link")
	}
	if _, ok := e.Get(f, core.KV, "k", live); !ok {
		t.Fatal("a snapshot from before the end lost its fall-through")
	}
	if b := e.forkBound(p); b != ^uint64(0) {
		t.Fatalf("pin not released: bound %d", b)
	}
}
