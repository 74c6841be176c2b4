package engine

import (
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

// recSink acknowledges every commit at once and keeps a copy of it, as a log
// would, to replay into another engine.
type recSink struct {
	commits []*core.Commit
}

type doneTicket struct{}

func (doneTicket) Wait() error { return nil }

func (s *recSink) Submit(c *core.Commit) core.Ticket {
	cp := *c
	cp.Mutations = slices.Clone(c.Mutations)
	s.commits = append(s.commits, &cp)
	return doneTicket{}
}

func newRecorded() (*Engine, *recSink) {
	var clock atomic.Int64
	s := &recSink{}
	e := New(Env{Now: func() int64 { return clock.Add(1) }, Log: s})
	return e, s
}

func intOf(t *testing.T, e Entry) int64 {
	t.Helper()
	n, ok := e.Value.AsInt()
	if !ok {
		t.Fatalf("%v is not an int", e.Value)
	}
	return n
}

// appendItem is a miniature log append: the counter "n" counts items "i<n>".
// It writes provisional entries numbered from what the transaction sees and
// a deferred operation that renumbers them from the newest counter.
func appendItem(t *testing.T, tx *Txn, payload string) (prov int64, final *int64) {
	t.Helper()
	var n int64
	if e, ok := tx.Peek(run, core.KV, "n"); ok {
		n = intOf(t, e)
	}
	prov = n + 1
	tx.PutProvisional(run, core.KV, "n", value.Int(prov))
	tx.AppendProvisional(run, core.KV, "i"+strconv.FormatInt(prov, 10), value.String(payload))
	final = new(int64)
	tx.Defer(DeferFunc(func(d *Deferral) error {
		var cur int64
		if e, ok := d.Latest(run, core.KV, "n"); ok {
			cur, _ = e.Value.AsInt()
		}
		*final = cur + 1
		d.Put(run, core.KV, "n", value.Int(cur+1))
		d.Append(run, core.KV, "i"+strconv.FormatInt(cur+1, 10), value.String(payload))
		return nil
	}))
	return prov, final
}

func TestDeferredAppendsCommute(t *testing.T) {
	e, s := newRecorded()
	a := e.Begin(run, true)
	b := e.Begin(run, true)
	pa, fa := appendItem(t, a, "a")
	pb, fb := appendItem(t, b, "b")
	if pa != 1 || pb != 1 {
		t.Fatalf("provisional numbers %d, %d, want 1, 1", pa, pb)
	}
	// The transaction reads its own provisional append.
	if got, ok := a.Get(run, core.KV, "i1"); !ok || !got.Value.Equal(value.String("a")) {
		t.Fatalf("own append reads %v, %v", got.Value, ok)
	}
	if _, err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	// a read i1 through Get: that read is validated, and b wrote i1.
	if _, err := a.Commit(); !errors.Is(err, dberr.ErrConflict) {
		t.Fatalf("commit after reading a provisional key another commit took = %v, want Conflict", err)
	}

	c := e.Begin(run, true)
	pc, fc := appendItem(t, c, "c")
	d := e.Begin(run, true)
	_, fd := appendItem(t, d, "d")
	if _, err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(); err != nil {
		t.Fatalf("append after a concurrent append = %v, want success", err)
	}
	if pc != 2 || *fb != 1 || *fd != 2 || *fc != 3 || *fa != 0 {
		t.Fatalf("provisional %d; final b=%d d=%d c=%d a=%d", pc, *fb, *fd, *fc, *fa)
	}
	want := map[string]string{"i1": "b", "i2": "d", "i3": "c"}
	check := func(e *Engine) {
		t.Helper()
		snap := e.Visible()
		if n, ok := e.Get(run, core.KV, "n", snap); !ok || intOf(t, n) != 3 {
			t.Fatalf("counter = %v, %v; want 3", n.Value, ok)
		}
		for k, v := range want {
			if got, ok := e.Get(run, core.KV, k, snap); !ok || !got.Value.Equal(value.String(v)) {
				t.Fatalf("%s = %v, %v; want %s", k, got.Value, ok, v)
			}
		}
		n := 0
		e.ScanSnapshot(run, core.KV, "i", "j", snap, func(string, Entry) bool { n++; return true })
		if n != 3 {
			t.Fatalf("%d items, want 3 (a provisional key was committed)", n)
		}
	}
	check(e)
	// The log holds only final writes: replaying it rebuilds the state.
	replica := New(Env{Now: func() int64 { return 0 }})
	if err := replica.Apply(s.commits...); err != nil {
		t.Fatal(err)
	}
	check(replica)
}

// A deferred operation sees a commit that is installed but still waiting
// for its sink (it commits first), not only published ones.
func TestDeferredSeesPendingCommit(t *testing.T) {
	e, s := newGated()
	first := e.Begin(run, true)
	appendItem(t, first, "first")
	done := make(chan error, 1)
	go func() { _, err := first.Commit(); done <- err }()
	s.waitPending(t, 1)
	second := e.Begin(run, true) // its snapshot does not hold first
	prov, final := appendItem(t, second, "second")
	done2 := make(chan error, 1)
	go func() { _, err := second.Commit(); done2 <- err }()
	s.waitPending(t, 2)
	s.release(-1, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if prov != 1 || *final != 2 {
		t.Fatalf("provisional %d final %d, want 1 and 2", prov, *final)
	}
}

// A normal write over a provisional one is final: the deferred operation
// leaves it alone. Reading the provisional value joins the read set.
func TestDeferredNormalWriteWins(t *testing.T) {
	e, _ := newRecorded()
	tx := e.Begin(run, true)
	appendItem(t, tx, "x")
	got, _ := tx.Get(run, core.KV, "n") // tracked: the value is provisional
	tx.Put(run, core.KV, "n", value.Int(intOf(t, got)+10))
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.Get(run, core.KV, "n", e.Visible()); intOf(t, n) != 11 {
		t.Fatalf("counter = %v, want the normal write 11", n.Value)
	}

	a := e.Begin(run, true)
	appendItem(t, a, "y")
	a.Get(run, core.KV, "n")
	other := e.Begin(run, true)
	appendItem(t, other, "z")
	if _, err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(); !errors.Is(err, dberr.ErrConflict) {
		t.Fatalf("commit after reading a provisional counter = %v, want Conflict", err)
	}
}

// A failing deferred operation aborts the commit with nothing installed.
func TestDeferredErrorAborts(t *testing.T) {
	e, s := newRecorded()
	tx := e.Begin(run, true)
	tx.Put(run, core.KV, "plain", value.Int(1))
	appendItem(t, tx, "x")
	boom := dberr.New(dberr.ConstraintViolation, "test", "full")
	tx.Defer(DeferFunc(func(*Deferral) error { return boom }))
	if _, err := tx.Commit(); !errors.Is(err, boom) {
		t.Fatalf("commit = %v, want the deferred error", err)
	}
	if _, ok := e.Get(run, core.KV, "plain", e.Visible()); ok || len(s.commits) != 0 || e.LastAssigned() != 0 {
		t.Fatalf("a failed deferred operation left writes behind")
	}
	// The engine goes on.
	tx = e.Begin(run, true)
	appendItem(t, tx, "y")
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
