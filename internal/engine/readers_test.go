package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

func keepLast1(core.RunID, core.PrimitiveType) Keep { return Keep{Last: 1} }

// trimmedPair writes k twice (a large first value, then 2) and trims it to
// its newest version, leaving the inline first version off the chain.
func trimmedPair(t *testing.T) (*Engine, core.RunID, *chain) {
	t.Helper()
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	commitOne(t, e, r, core.KV, "k", value.String(string(make([]byte, 4096))))
	commitOne(t, e, r, core.KV, "k", value.Int(2))
	c := e.lookup(r, core.KV, "k")
	if c.head.Load().next != &c.first {
		t.Fatal("the first version is not the inline one")
	}
	return e, r, c
}

func holdsInline(c *chain, n int64) bool {
	h := c.head.Load()
	v, ok := c.first.val.AsInt()
	return h == &c.first && h.next == nil && ok && v == n
}

// A trim copies the kept version out of the chain's inline first version;
// once nobody can read the old one, the kept version moves back inline
// and the old value is gone: a key trimmed to one version costs what a
// key written once does.
func TestReclaimFirst_MovesTheKeptVersionInline(t *testing.T) {
	e, r, c := trimmedPair(t)
	e.Trim(keepLast1, 1)
	if h := c.head.Load(); h == &c.first || h.next != nil {
		t.Fatal("the trim did not cut the first version off")
	}
	if n := e.ReclaimFirsts(); n == 0 || !holdsInline(c, 2) {
		t.Fatalf("reclaimed %d; the kept version is not back inline", n)
	}
	if got, ok := e.Get(r, core.KV, "k", e.Visible()); !ok || got.Version != 2 {
		t.Fatalf("Get after reclaiming = %+v, %v", got, ok)
	}
	if e.ReclaimFirsts() != 0 || e.retiring.n+e.closedFirsts.n+e.readyFirsts.n != 0 {
		t.Fatal("reclaiming left work behind")
	}
}

// A read without a registered snapshot that loaded the chain before the
// cut can walk into the old first version at any later moment: it must
// still find the old value there.
func TestReclaimFirst_WaitsForAnUnregisteredRead(t *testing.T) {
	e, r, c := trimmedPair(t)
	rd := e.readers.enter()
	old := c.head.Load()
	e.Trim(keepLast1, 1)
	commitOne(t, e, r, core.KV, "other", value.Int(3))
	for range 3 {
		if e.ReclaimFirsts() != 0 {
			t.Fatal("reclaimed under a read that started before the cut")
		}
	}
	if v := old.next; v != &c.first || v.n != 1 || !isBig(v.val) {
		t.Fatal("the old chain changed under its reader")
	}
	exitRead(rd)
	if e.ReclaimFirsts() == 0 || !holdsInline(c, 2) {
		t.Fatal("not reclaimed once the read ended")
	}
}

// A read that starts after the cut loads the new head: it delays nothing
// once the phase it counted in has ended.
func TestReclaimFirst_LaterReadsDoNotBlockForever(t *testing.T) {
	e, r, c := trimmedPair(t)
	e.Trim(keepLast1, 1)
	commitOne(t, e, r, core.KV, "other", value.Int(3))
	rd := e.readers.enter() // counted in the phase being closed
	if e.ReclaimFirsts() != 0 {
		t.Fatal("reclaimed while a read of the closed phase was in progress")
	}
	later := e.readers.enter() // counted in the new phase
	exitRead(rd)
	if e.ReclaimFirsts() == 0 || !holdsInline(c, 2) {
		t.Fatal("a read of the next phase blocked the reclamation")
	}
	exitRead(later)
}

// A transaction whose snapshot is as old as the cut may still walk the
// old chain (its History does, down to the first version).
func TestReclaimFirst_WaitsForARegisteredSnapshot(t *testing.T) {
	e, r, c := trimmedPair(t)
	tx := e.Begin(r, false)
	old := c.head.Load()
	e.Trim(keepLast1, 1)
	if e.ReclaimFirsts() != 0 {
		t.Fatal("reclaimed under a snapshot as old as the cut")
	}
	commitOne(t, e, r, core.KV, "other", value.Int(3))
	later := e.Begin(r, false) // above the cut: loads the new head
	defer later.Rollback()
	if e.ReclaimFirsts() != 0 {
		t.Fatal("reclaimed under a snapshot as old as the cut")
	}
	if v := old.next; v != &c.first || v.n != 1 || !isBig(v.val) {
		t.Fatal("the old chain changed under a registered snapshot")
	}
	tx.Rollback()
	if e.ReclaimFirsts() == 0 || !holdsInline(c, 2) {
		t.Fatal("not reclaimed once the snapshot closed")
	}
}

func isBig(v value.Value) bool {
	s, ok := v.AsString()
	return ok && len(s) == 4096
}

// A chain cut again before its reclamation is reclaimed once, by the
// latest cut's entry; the earlier entry must not rewrite the first version
// that the chain got back in between.
func TestReclaimFirst_StaleEntriesAreIgnored(t *testing.T) {
	e, r, c := trimmedPair(t)
	rd := e.readers.enter()
	e.Trim(keepLast1, 1) // entry A, blocked by rd
	commitOne(t, e, r, core.KV, "k", value.Int(4))
	e.Trim(keepLast1, 1) // entry B for the same chain
	commitOne(t, e, r, core.KV, "other", value.Int(5))
	exitRead(rd)
	for range 3 {
		e.ReclaimFirsts()
	}
	if !holdsInline(c, 4) {
		t.Fatalf("chain head %+v, first %+v", c.head.Load(), c.first)
	}
	if e.retiring.n+e.closedFirsts.n+e.readyFirsts.n != 0 {
		t.Fatal("entries left behind")
	}
}

// Readers without registered snapshots, writers, trims and reclamations
// all at once: every read returns a version's own value (each commit
// writes its round number, recorded with the commit's version), never a
// reclaimed node's new or cleared contents. Under -race, a reclamation
// that rewrote a node a reader could still load is also a reported race.
func TestReclaimFirst_ConcurrentReadsSeeTheirVersion(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	const keys, rounds = 16, 300
	name := func(i int) string { return string(rune('a' + i)) }
	var roundOf sync.Map // commit version -> round
	var done atomic.Bool
	var wg sync.WaitGroup
	type seen struct {
		ver   uint64
		round int64
	}
	reads := make([][]seen, 2)
	for g := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At least some reads each, however the goroutines are
			// scheduled; more while the writer runs.
			for i := 0; i < 2000 || !done.Load(); i++ {
				got, ok := e.Get(r, core.KV, name(i%keys), e.Visible())
				if !ok {
					continue
				}
				n, isInt := got.Value.AsInt()
				if !isInt {
					reads[g] = append(reads[g], seen{got.Version, -1})
					continue
				}
				reads[g] = append(reads[g], seen{got.Version, n})
				if i%7 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			e.Trim(keepLast1, 1)
			commitOne(t, e, r, core.KV, "tick", value.Int(0))
			e.ReclaimFirsts()
		}
	}()
	for round := int64(1); round <= rounds; round++ {
		tx := e.Begin(r, true)
		for i := range keys {
			tx.Put(r, core.KV, name(i), value.Int(round))
		}
		n, err := tx.Commit()
		if err != nil {
			t.Fatal(err)
		}
		roundOf.Store(n, round)
	}
	done.Store(true)
	wg.Wait()
	checked := 0
	for _, rs := range reads {
		for _, s := range rs {
			want, ok := roundOf.Load(s.ver)
			if !ok || want.(int64) != s.round {
				t.Fatalf("read version %d with round %d, want round %v", s.ver, s.round, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no read happened")
	}
	e.Trim(keepLast1, 1)
	commitOne(t, e, r, core.KV, "tick", value.Int(0))
	e.ReclaimFirsts()
	for i := range keys {
		if c := e.lookup(r, core.KV, name(i)); !holdsInline(c, rounds) {
			t.Fatalf("key %s not back inline after the last trim: head %p %+v first %p %+v; lists %d %d %d phase %d", name(i), c.head.Load(), c.head.Load(), &c.first, c.first, e.retiring.n, e.closedFirsts.n, e.readyFirsts.n, e.readers.phase.Load())
		}
	}
}

// The nodes a cut or a purge replaced are cleared once nobody can walk
// them: a dead node in a slab that a live neighbour keeps must not keep
// its value and the rest of its old chain.
func TestReclaimFirst_ClearsReplacedNodes(t *testing.T) {
	e, r, c := trimmedPair(t)
	commitOne(t, e, r, core.KV, "k", value.Int(3))
	old := c.head.Load() // 3 -> 2 -> first
	mid := old.next
	rd := e.readers.enter()
	e.Trim(keepLast1, 1)
	e.ReclaimFirsts()
	if old.n != 3 || mid.n != 2 || mid.next != &c.first || !isBig(c.first.val) {
		t.Fatal("replaced nodes changed under a read that may walk them")
	}
	exitRead(rd)
	if e.ReclaimFirsts() == 0 || !holdsInline(c, 3) {
		t.Fatal("not reclaimed")
	}
	if old.n != 0 || old.next != nil || mid.n != 0 || mid.next != nil || !mid.val.IsNull() {
		t.Fatalf("replaced nodes not cleared: %+v %+v", *old, *mid)
	}

	// A purge: the tombstone's chain is replaced by the purge marker.
	commitOne(t, e, r, core.KV, "gone", value.Int(1))
	tx := e.Begin(r, true)
	tx.Delete(r, core.KV, "gone")
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	g := e.lookup(r, core.KV, "gone")
	tomb := g.head.Load()
	e.Trim(keepLast1, 1)
	if !g.purged() {
		t.Fatal("not purged")
	}
	e.ReclaimFirsts()
	if tomb.n != 0 || tomb.next != nil {
		t.Fatalf("purged chain's nodes not cleared: %+v", *tomb)
	}
}

// A purge that raises no floor commits nothing afterwards: its retired
// chains must not wait for a commit that may never come (they would keep
// every purged entry alive on an idle database).
func TestReclaimFirst_PurgesLeaveNothingRetired(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	tx := e.Begin(r, true)
	tx.Put(r, core.KV, "x", value.Int(1))
	tx.Delete(r, core.KV, "x")
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	res := e.Trim(keepLast1, 1)
	if res.EntitiesPurged != 1 || len(res.Floors) != 0 {
		t.Fatalf("trim = %+v, want one purge and no floor", res)
	}
	e.ReclaimFirsts()
	if n := e.retiring.n + e.closedFirsts.n + e.readyFirsts.n; n != 0 {
		t.Fatalf("%d retired chains wait for a commit", n)
	}
}

// Each compaction that raises a floor commits a new version of the floor
// entry; only the newest is ever read, so trimming keeps only that one.
func TestTrim_KeepsOnlyTheNewestFloorVersion(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	for i := range 5 {
		commitOne(t, e, r, core.KV, "k", value.Int(int64(i)))
		res := e.Trim(keepLast1, 1)
		tx := e.Begin(core.GlobalRun, true)
		for _, f := range res.Floors {
			tx.Put(f.Run, core.System, FloorKey(f.Space), FloorValue(f.Floor))
		}
		if _, err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	e.Trim(keepLast1, 1)
	c := e.lookup(r, core.System, FloorKey(core.KV))
	if c == nil {
		t.Fatal("no floor entry")
	}
	n := 0
	for v := c.head.Load(); v != nil; v = v.next {
		n++
	}
	got, _ := c.head.Load().val.AsInt()
	if n != 1 || uint64(got) != e.Floor(r, core.KV) || e.Floor(r, core.KV) == 0 {
		t.Fatalf("floor chain holds %d versions, newest %d, floor %d", n, got, e.Floor(r, core.KV))
	}
}
