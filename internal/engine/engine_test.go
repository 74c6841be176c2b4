package engine

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

// gateSink holds every submitted commit until release is called, then
// completes the tickets in order — a WAL whose fsync takes as long as the test wants.
type gateSink struct {
	mu      sync.Mutex
	pending []*gateTicket
	order   []uint64
}

type gateTicket struct {
	v    uint64
	done chan error
}

func (t *gateTicket) Wait() error { return <-t.done }

func (s *gateSink) Submit(c *core.Commit) core.Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &gateTicket{v: c.Version, done: make(chan error, 1)}
	s.pending = append(s.pending, t)
	s.order = append(s.order, c.Version)
	return t
}

// release acknowledges the n oldest pending commits (all if n < 0) with err.
func (s *gateSink) release(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 || n > len(s.pending) {
		n = len(s.pending)
	}
	for _, t := range s.pending[:n] {
		t.done <- err
	}
	s.pending = s.pending[n:]
}

func (s *gateSink) waitPending(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.pending)
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d commits pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func newGated() (*Engine, *gateSink) {
	var clock atomic.Int64
	s := &gateSink{}
	e := New(Env{Now: func() int64 { return clock.Add(1) }, Log: s})
	return e, s
}

var run = core.NewRunID()

// A commit waiting for its sink is invisible to readers and to new
// snapshots, but validation of later commits sees it: a read-modify-write
// that started before it cannot overwrite it (no lost update through the
// group-commit window).
func TestPendingCommitInvisibleButValidated(t *testing.T) {
	e, s := newGated()
	seed := e.Begin(run, true)
	seed.Put(run, core.KV, "k", value.Int(1))
	seeded := make(chan error, 1)
	go func() { _, err := seed.Commit(); seeded <- err }()
	s.waitPending(t, 1)
	s.release(-1, nil)
	if err := <-seeded; err != nil {
		t.Fatal(err)
	}

	rmw := e.Begin(run, true) // snapshot before the pending commit
	if got, _ := rmw.Get(run, core.KV, "k"); !got.Value.Equal(value.Int(1)) {
		t.Fatalf("read %v", got.Value)
	}

	writer := e.Begin(run, true)
	writer.Put(run, core.KV, "k", value.Int(2))
	done := make(chan error, 1)
	go func() { _, err := writer.Commit(); done <- err }()
	s.waitPending(t, 1)

	if got, ok := e.Get(run, core.KV, "k", e.Visible()); !ok || !got.Value.Equal(value.Int(1)) {
		t.Fatalf("pending commit visible to a reader: %v", got.Value)
	}
	if fresh := e.Begin(run, false); fresh.Snapshot() >= 2+seed.Snapshot() {
		t.Fatalf("new snapshot %d includes the pending commit", fresh.Snapshot())
	}

	rmw.Put(run, core.KV, "k", value.Int(100))
	_, err := rmw.Commit()
	if !errors.Is(err, dberr.ErrConflict) {
		t.Fatalf("read-modify-write over a pending commit = %v, want Conflict", err)
	}
	s.release(-1, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Get(run, core.KV, "k", e.Visible()); !got.Value.Equal(value.Int(2)) {
		t.Fatalf("after publish k = %v", got.Value)
	}
}

// Versions reach the sink in commit order, and a committer returns only once
// its version is visible.
func TestSinkOrderAndVisibleOnReturn(t *testing.T) {
	e, s := newGated()
	var wg sync.WaitGroup
	const n = 32
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx := e.Begin(run, true)
			tx.Put(run, core.KV, string(rune('a'+i%26))+"x", value.Int(int64(i)))
			v, err := tx.Commit()
			if err == nil && e.Visible() < v {
				err = errors.New("commit returned before its version was visible")
			}
			errs <- err
		}()
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.release(1, nil)
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range s.order {
		if v != uint64(i+1) {
			t.Fatalf("sink saw versions %v, want 1..%d in order", s.order, n)
		}
	}
}

func TestSinkFailureLeavesCommitInvisible(t *testing.T) {
	e, s := newGated()
	tx := e.Begin(run, true)
	tx.Put(run, core.KV, "k", value.Int(1))
	done := make(chan error, 1)
	go func() { _, err := tx.Commit(); done <- err }()
	s.waitPending(t, 1)
	boom := dberr.New(dberr.Poisoned, "wal", "fsync failed")
	e.Poison(boom)
	s.release(-1, boom)
	if err := <-done; !errors.Is(err, dberr.ErrPoisoned) {
		t.Fatalf("Commit = %v, want the sink's error", err)
	}
	if _, ok := e.Get(run, core.KV, "k", e.Visible()); ok {
		t.Fatal("a failed commit became visible")
	}
	tx2 := e.Begin(run, true)
	tx2.Put(run, core.KV, "j", value.Int(1))
	if _, err := tx2.Commit(); !errors.Is(err, dberr.ErrPoisoned) {
		t.Fatalf("commit after poisoning = %v", err)
	}
	ro := e.Begin(run, false)
	if _, ok := ro.Get(run, core.KV, "k"); ok {
		t.Fatal("read-only transaction sees the failed commit")
	}
}

func TestApplyIsIdempotentAndOrdered(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	c1 := &core.Commit{Version: 1, Run: run, Time: 10, Mutations: []core.Mutation{{Op: core.OpPut, Run: run, Space: core.KV, Key: "k", Value: value.Int(1), Version: 1}}}
	c2 := &core.Commit{Version: 2, Run: run, Time: 20, Mutations: []core.Mutation{{Op: core.OpDelete, Run: run, Space: core.KV, Key: "k", Version: 2}}}
	for _, c := range []*core.Commit{c1, c1, c2, c1, c2} {
		if err := e.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	tx := e.Begin(run, false)
	h := tx.History(run, core.KV, "k")
	if len(h) != 2 || !h[0].Tombstone || h[0].Version != 2 || h[1].Version != 1 || h[1].Time != 10 {
		t.Fatalf("history after replaying twice = %+v", h)
	}
	if e.Visible() != 2 || e.LastAssigned() != 2 {
		t.Fatalf("visible %d last %d", e.Visible(), e.LastAssigned())
	}
	// New commits continue after the recovered versions, with timestamps
	// that do not go backwards even if the clock does.
	w := e.Begin(run, true)
	w.Put(run, core.KV, "k", value.Int(3))
	v, err := w.Commit()
	if err != nil || v != 3 {
		t.Fatalf("commit after recovery = %d, %v", v, err)
	}
	if got, _ := e.Get(run, core.KV, "k", 3); got.Time < 20 {
		t.Fatalf("timestamp went backwards: %d", got.Time)
	}
}

func TestObserverSeesInstallsInOrder(t *testing.T) {
	var seen []uint64
	e := New(Env{Now: func() int64 { return 1 }, Observers: Observers{
		core.Vector: func(m *core.Mutation) { seen = append(seen, m.Version) },
	}})
	for i := range 3 {
		tx := e.Begin(run, true)
		tx.Put(run, core.Vector, "v", value.Int(int64(i)))
		tx.Put(run, core.KV, "k", value.Int(int64(i)))
		if _, err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 3 || seen[0] != 1 || seen[2] != 3 {
		t.Fatalf("observer saw %v", seen)
	}
}

func TestPrefixEnd(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "b", "a\xff": "b", "\xff\xff": "", "ab": "ac"} {
		if got := PrefixEnd(in); got != want {
			t.Errorf("PrefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}
