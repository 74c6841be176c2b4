package engine

import (
	"encoding/binary"
	"iter"
	"math"
	"sync"
	"sync/atomic"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// Forks: copy-on-write runs.
//
// A fork is a run whose reads fall through to another run (its parent) as
// of a fixed version (the fork point) for every entity the fork has no
// version of. Creating one writes a single System-space entry in the fork,
// ForkKey = Bytes(parent id ‖ fork point), so it costs the same whatever
// the parent's size, and the link is WAL-logged, in snapshots, exported and
// recovered like any entry; installing it (commit, replay or snapshot
// load) registers the link in memory, and a tombstone of it ends the link.
//
// Reads resolve an entity in the fork first: any version of its own at the
// snapshot wins, a tombstone included, so a delete in the fork hides the
// parent's entity. Otherwise the parent answers at min(snapshot, fork
// point), recursively for a fork of a fork. Scans merge the fork's keys
// with the parent's in key order. Writes only ever go to the fork's own
// chains, so the parent never sees them, and the parent's later versions
// are above the fork point, so the fork never sees those.
//
// A version of the parent that was current at the fork point must survive
// retention for as long as the fork exists: every live fork point pins its
// parent run, and Trim bounds its work on that run by the oldest pin
// (forkBound). The System and Run spaces never fall through: a fork has
// its own retention policy, trim floors and link.

// ForkKey is the System-space key whose entry makes a run a fork.
const ForkKey = "_system/fork"

// MaxForkDepth bounds a chain of forks (a fork of a fork ...). Reads stop
// falling through beyond it, so a crafted cycle of links cannot loop.
const MaxForkDepth = 32

// ForkValue encodes a fork link: the parent and the fork point.
func ForkValue(parent core.RunID, at uint64) value.Value {
	b := make([]byte, 24)
	copy(b, parent[:])
	binary.BigEndian.PutUint64(b[16:], at)
	return value.Bytes(b)
}

// ParseForkValue decodes a fork link; ok is false for a malformed value.
func ParseForkValue(v value.Value) (parent core.RunID, at uint64, ok bool) {
	b, isBytes := v.BytesString()
	if !isBytes || len(b) != 24 {
		return parent, 0, false
	}
	copy(parent[:], b[:16])
	return parent, binary.BigEndian.Uint64([]byte(b[16:])), true
}

// forkLink is the in-memory form of a run's fork entry, immutable once
// stored.
type forkLink struct {
	parent core.RunID
	at     uint64 // fork point: the parent's version the fork reads
	from   uint64 // version that made the run a fork
	until  uint64 // version that removed the link; 0 while it is live
}

func (l *forkLink) liveAt(snap uint64) bool {
	return l.from <= snap && (l.until == 0 || snap < l.until)
}

// forkState is the engine's record of fork links.
type forkState struct {
	// links counts runs that have ever had a link since start; while it is
	// zero no read looks for one, so databases without forks pay nothing.
	links atomic.Int32
	mu    sync.Mutex
	pins  map[core.RunID]map[uint64]int // parent -> fork point -> live forks
}

func (f *forkState) pin(parent core.RunID, at uint64, delta int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pins == nil {
		f.pins = make(map[core.RunID]map[uint64]int)
	}
	m := f.pins[parent]
	if m == nil {
		m = make(map[uint64]int)
		f.pins[parent] = m
	}
	if m[at] += delta; m[at] <= 0 {
		delete(m, at)
		if len(m) == 0 {
			delete(f.pins, parent)
		}
	}
}

// forkBound returns the oldest fork point pinning run (MaxUint64 if none):
// Trim keeps every version of run current at or after it.
func (e *Engine) forkBound(run core.RunID) uint64 {
	f := &e.forks
	f.mu.Lock()
	defer f.mu.Unlock()
	b := uint64(math.MaxUint64)
	for at := range f.pins[run] {
		b = min(b, at)
	}
	return b
}

// ForkPinned reports whether a fork reads run through its link (or one is
// being made): entries of run must not be dropped from under it.
func (e *Engine) ForkPinned(run core.RunID) bool {
	return e.forkBound(run) != math.MaxUint64
}

// PinFork keeps every version of run current at version at from being
// trimmed until the returned function is called. Fork holds one while it
// checks the trim floors and commits the link, which then pins by itself.
func (e *Engine) PinFork(run core.RunID, at uint64) (release func()) {
	e.forks.pin(run, at, 1)
	var once sync.Once
	return func() { once.Do(func() { e.forks.pin(run, at, -1) }) }
}

// noteFork installs a mutation of a run's ForkKey. The caller holds the
// commit lock. A malformed entry is ignored, like a malformed floor: it
// makes the run an ordinary one, and a hostile file cannot crash recovery.
func (e *Engine) noteFork(m *core.Mutation) {
	ri := e.runFor(m.Run, true)
	old := ri.fork.Load()
	if old != nil && old.until == 0 {
		e.forks.pin(old.parent, old.at, -1)
		ended := *old
		ended.until = m.Version
		ri.fork.Store(&ended)
	}
	if m.Op == core.OpDelete {
		return
	}
	parent, at, ok := ParseForkValue(m.Value)
	if !ok || parent == m.Run {
		return
	}
	ri.fork.Store(&forkLink{parent: parent, at: at, from: m.Version})
	e.forks.pin(parent, at, 1)
	e.forks.links.Add(1)
}

// forkParent returns the run that (run, space) reads through at snapshot
// snap, and the snapshot to read it at.
func (e *Engine) forkParent(run core.RunID, sp core.PrimitiveType, snap uint64) (core.RunID, uint64, bool) {
	if e.forks.links.Load() == 0 || sp == core.System || sp == core.Run {
		return core.RunID{}, 0, false
	}
	ri := e.runFor(run, false)
	if ri == nil {
		return core.RunID{}, 0, false
	}
	l := ri.fork.Load()
	if l == nil || !l.liveAt(snap) {
		return core.RunID{}, 0, false
	}
	return l.parent, min(snap, l.at), true
}

// ForkOf returns the parent and fork point of run as of snapshot snap.
func (e *Engine) ForkOf(run core.RunID, snap uint64) (parent core.RunID, at uint64, ok bool) {
	if e.forks.links.Load() == 0 {
		return parent, 0, false // no fork since start: no lookup
	}
	ri := e.runFor(run, false)
	if ri == nil {
		return parent, 0, false
	}
	l := ri.fork.Load()
	if l == nil || !l.liveAt(snap) {
		return parent, 0, false
	}
	return l.parent, l.at, true
}

// inherited returns the version of (run, sp, key) a read at snap finds in
// run's ancestors, for a run that has no version of its own at snap (nil
// when no ancestor has one either).
func (e *Engine) inherited(run core.RunID, sp core.PrimitiveType, key string, snap uint64) *version {
	for depth := 0; depth < MaxForkDepth; depth++ {
		p, at, ok := e.forkParent(run, sp, snap)
		if !ok {
			return nil
		}
		run, snap = p, at
		if c := e.lookup(run, sp, key); c != nil {
			if v := c.at(snap); v != nil {
				return v
			}
		}
	}
	return nil
}

// resolve returns the version of (run, sp, key) a read at snap sees: the
// run's own, else an inherited one; nil if there is none.
func (e *Engine) resolve(c *chain, run core.RunID, sp core.PrimitiveType, key string, snap uint64) *version {
	if c != nil {
		if v := c.at(snap); v != nil {
			return v
		}
	}
	if e.forks.links.Load() == 0 {
		return nil
	}
	return e.inherited(run, sp, key, snap)
}

// inheritedHistory appends the versions run's ancestors hold of key, as a
// read at snap sees them through the fork links, newest first.
func (e *Engine) inheritedHistory(out []Entry, run core.RunID, sp core.PrimitiveType, key string, snap uint64) []Entry {
	for depth := 0; depth < MaxForkDepth; depth++ {
		p, at, ok := e.forkParent(run, sp, snap)
		if !ok {
			return out
		}
		run, snap = p, at
		if c := e.lookup(run, sp, key); c != nil {
			for v := c.head.Load(); v != nil; v = v.next {
				if v.n <= snap {
					out = append(out, entryOf(v))
				}
			}
		}
	}
	return out
}

// scanView calls fn for every key of (run, space) in [start, end),
// ascending, with the version a read at snap resolves it to (possibly a
// tombstone, or nil for a chain with no version at snap) and the run's own
// chain (nil for a key only an ancestor has). For a fork it merges the
// run's keys with its parent's; a key of its own with a version at snap
// hides the parent's.
func (e *Engine) scanView(run core.RunID, sp core.PrimitiveType, start, end string, snap uint64, fn func(key string, c *chain, v *version) bool) {
	e.scanViewDepth(run, sp, start, end, snap, 0, fn)
}

func (e *Engine) scanViewDepth(run core.RunID, sp core.PrimitiveType, start, end string, snap uint64, depth int, fn func(key string, c *chain, v *version) bool) {
	p, at, ok := e.forkParent(run, sp, snap)
	if !ok || depth >= MaxForkDepth {
		e.scan(run, sp, start, end, func(key string, c *chain) bool { return fn(key, c, c.at(snap)) })
		return
	}
	next, stop := iter.Pull2(func(yield func(string, *version) bool) {
		e.scanViewDepth(p, sp, start, end, at, depth+1, func(key string, _ *chain, v *version) bool {
			if v == nil {
				return true
			}
			return yield(key, v)
		})
	})
	defer stop()
	pk, pv, pok := next()
	stopped := false
	e.scan(run, sp, start, end, func(key string, c *chain) bool {
		for pok && pk < key {
			if !fn(pk, nil, pv) {
				stopped = true
				return false
			}
			pk, pv, pok = next()
		}
		v := c.at(snap)
		if pok && pk == key {
			if v == nil {
				v = pv
			}
			pk, pv, pok = next()
		}
		if !fn(key, c, v) {
			stopped = true
			return false
		}
		return true
	})
	for !stopped && pok {
		if !fn(pk, nil, pv) {
			return
		}
		pk, pv, pok = next()
	}
}

// ScanOwn calls fn for each key of (run, space) in [start, end) that the
// run itself holds a live version of at the snapshot, ignoring fork links
// and the transaction's own writes; every key yielded joins the read set.
// Deleting a fork needs only its own keys: tombstoning what it inherits
// would cost the parent's size.
func (t *Txn) ScanOwn(run core.RunID, space core.PrimitiveType, start, end string, fn func(key string, e Entry) bool) {
	r := t.e.readers.enter() // as in Scan
	defer exitRead(r)
	t.e.scan(run, space, start, end, func(key string, c *chain) bool {
		v := c.at(t.snap)
		if v == nil || v.tomb {
			return true
		}
		t.track(run, space, key, c)
		return fn(key, entryOf(v))
	})
}

// HasData reports whether run holds any entity of its own, in any space.
func (e *Engine) HasData(run core.RunID) bool {
	found := false
	for sp := core.PrimitiveType(1); int(sp) < spaceCount && !found; sp++ {
		e.scan(run, sp, "", "", func(string, *chain) bool {
			found = true
			return false
		})
	}
	return found
}

// KeyRange selects, for ChangedKeys, the keys whose own chain in Run holds
// a version in (Lo, Hi].
type KeyRange struct {
	Run    core.RunID
	Lo, Hi uint64
}

// ChangedKeys calls fn once for each key of space sp, ascending, that any
// of ranges selects, until fn returns false. Only the runs' own chains are
// looked at, never what they inherit through fork links: comparing a fork
// with its source needs the keys the fork wrote plus those the source
// wrote since the fork point, and nothing the two still share.
//
// Each run's tree is walked in chunks under its read lock, and a key costs
// a look at the newest versions of its chain (down to Lo), not a read of
// its value through the fork links; fn is never called under a lock. Keys
// are buffered a chunk at a time per range, so memory stays bounded
// whatever the runs' sizes.
func (e *Engine) ChangedKeys(sp core.PrimitiveType, ranges []KeyRange, fn func(key string) bool) {
	r := e.readers.enter()
	defer exitRead(r)
	cs := make([]*keyCursor, 0, len(ranges))
	for _, r := range ranges {
		if r.Lo >= r.Hi {
			continue
		}
		ri := e.runFor(r.Run, false)
		if ri == nil {
			continue
		}
		if s := ri.spaces[sp].Load(); s != nil {
			cs = append(cs, &keyCursor{s: s, lo: r.Lo, hi: r.Hi})
		}
	}
	for {
		var low string
		found := false
		for _, c := range cs {
			if k, ok := c.peek(); ok && (!found || k < low) {
				low, found = k, true
			}
		}
		if !found {
			return
		}
		for _, c := range cs {
			if k, ok := c.peek(); ok && k == low {
				c.i++
			}
		}
		if !fn(low) {
			return
		}
	}
}

// changedChunk is how many tree items a ChangedKeys cursor examines under
// the read lock at a time.
const changedChunk = 1024

// keyCursor walks one space's tree for ChangedKeys.
type keyCursor struct {
	s       *space
	lo, hi  uint64
	buf     []string
	i       int
	after   string // last key examined
	started bool
	done    bool
}

func (c *keyCursor) peek() (string, bool) {
	for c.i == len(c.buf) {
		if c.done {
			return "", false
		}
		c.fill()
	}
	return c.buf[c.i], true
}

func (c *keyCursor) fill() {
	c.buf, c.i = c.buf[:0], 0
	n := 0
	c.s.treeMu.RLock()
	c.s.tree.Ascend(item{key: c.after}, func(it item) bool {
		if c.started && it.key == c.after {
			return true
		}
		n++
		c.after, c.started = it.key, true
		if changedIn(it.c, c.lo, c.hi) {
			c.buf = append(c.buf, it.key)
		}
		return n < changedChunk
	})
	c.s.treeMu.RUnlock()
	if n < changedChunk {
		c.done = true
	}
}

// changedIn reports whether c holds a version in (lo, hi].
func changedIn(c *chain, lo, hi uint64) bool {
	for v := c.head.Load(); v != nil && v.n > lo; v = v.next {
		if v.n <= hi {
			return true
		}
	}
	return false
}

// SameInheritance reports whether reads of run at snapshots lo ≤ hi find
// the same state through its fork link for every key the run has no
// version of its own: both fall through to the same parent at the same
// version, or neither falls through. A diff of run at lo against run at hi
// then only has to look at the run's own versions in (lo, hi].
func (e *Engine) SameInheritance(run core.RunID, lo, hi uint64) bool {
	ri := e.runFor(run, false)
	if ri == nil {
		return true
	}
	l := ri.fork.Load()
	if l == nil {
		return true
	}
	a, b := l.liveAt(lo), l.liveAt(hi)
	if a != b {
		return false
	}
	return !a || lo == hi || l.at <= lo
}
