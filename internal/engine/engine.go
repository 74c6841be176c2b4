package engine

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

// Env is everything a commit needs besides the engine's own state, given
// once, at construction (see "Construction" in the package doc).
type Env struct {
	// Now returns the current time in microseconds since the Unix epoch.
	Now func() int64
	// Log receives every commit, in version order, before it is
	// published; nil means nothing is persisted and commits publish at
	// once.
	Log core.Log
	// Observers are called for every installed mutation of their space,
	// under the commit lock, in version order — whether or not the commit
	// is later published, and during recovery too. Derived structures (the
	// vector search index) use them to follow committed state. An observer
	// must be fast and must not call back into the engine.
	Observers Observers
	// CurrentOnly are System-space keys of which only the newest version
	// is ever read (besides the trim floors, which the engine knows):
	// Trim keeps only that one, bounded by open snapshots like any trim.
	// Each is rewritten by compactions, and would otherwise keep one more
	// version for good every time.
	CurrentOnly []string
}

// Observers maps a space to the function told about its mutations.
type Observers map[core.PrimitiveType]func(m *core.Mutation)

// Engine is the multi-version store. It is safe for concurrent use.
type Engine struct {
	// Read-mostly fields first: every reader and writer loads them.
	runs      sync.Map // core.RunID -> *runIndex
	log       core.Log
	now       func() int64
	broken    atomic.Pointer[dberr.Error]
	observers [spaceCount]func(m *core.Mutation) // Env.Observers by space
	current   []string                           // Env.CurrentOnly

	// The commit lock and what it guards share cache lines of their own, so
	// handing the lock from one core to another moves as few lines as
	// possible and never disturbs the read-mostly fields above.
	_        [64]byte
	commitMu sync.Mutex
	last     uint64 // last assigned commit version
	lastTime int64  // timestamp of the last commit
	closed   bool   // no commit is accepted any more
	// inflight counts commits between submission to the sink and the
	// sink's acknowledgement; Close waits for zero (see awaitLog).
	inflight     atomic.Int64
	closing      atomic.Bool // closed, readable without the lock
	inflightDone sync.Cond
	stats        Stats // except ReadOnly
	versionSlab  []version
	times        timeIndex // commit times, for reads as of a time

	// visible is the published watermark that snapshots read: written by
	// every commit, loaded by every Begin, on a line of its own.
	_       [64]byte
	visible atomic.Uint64
	_       [56]byte
	// published is closed (and replaced) whenever the watermark advances
	// through publish, waking WaitVisible.
	published atomic.Pointer[chan struct{}]
	waiters   atomic.Int32 // goroutines in WaitVisible
	readOnly  atomic.Uint64

	// Inline first versions that left their chains, waiting for the proof
	// that nobody reads them (readers.go). Guarded by commitMu.
	retiring, closedFirsts, readyFirsts retiredList
	reclaimMu                           sync.Mutex // one ReclaimFirsts at a time

	snaps  snapRegistry  // open transactions' snapshots (retain.go)
	forks  forkState     // fork links and the versions they pin (fork.go)
	pinSeq atomic.Uint64 // spreads Pins over the registry's shards

	// readers counts the chain walks that have no registered snapshot
	// (readers.go); its counters sit on cache lines of their own.
	_       [64]byte
	readers readEpoch
}

// Stats are cumulative counters.
type Stats struct {
	Commits   uint64 // committed transactions with writes
	ReadOnly  uint64 // committed read-only transactions
	Conflicts uint64 // commits aborted by validation
	Versions  uint64 // versions installed (including recovered ones)
}

// New returns an empty engine that commits through env.
func New(env Env) *Engine {
	e := &Engine{log: env.Log, now: env.Now, current: slices.Clone(env.CurrentOnly)}
	if e.now == nil {
		panic("engine: Env.Now is required")
	}
	for sp, fn := range env.Observers {
		if int(sp) >= spaceCount {
			panic("engine: observer for an unknown space")
		}
		e.observers[sp] = fn
	}
	e.inflightDone.L = &e.commitMu
	return e
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	st := e.stats
	st.ReadOnly = e.readOnly.Load()
	return st
}

// Close refuses every later commit and waits until the commits already
// handed to the log are acknowledged, so the log can then be closed.
func (e *Engine) Close() {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	e.closed = true
	e.closing.Store(true)
	for e.inflight.Load() > 0 {
		e.inflightDone.Wait()
	}
}

// Visible returns the published watermark: the newest version a new snapshot
// sees.
func (e *Engine) Visible() uint64 { return e.visible.Load() }

// LastAssigned returns the newest assigned commit version (published or not).
func (e *Engine) LastAssigned() uint64 {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	return e.last
}

// publish makes every commit up to and including version v visible to new
// snapshots. Committers call it once their log ticket completes; several
// may race (members of one group commit), and the watermark only ever
// rises.
func (e *Engine) publish(v uint64) {
	for {
		cur := e.visible.Load()
		if v <= cur {
			return
		}
		if e.visible.CompareAndSwap(cur, v) {
			break
		}
	}
	if e.waiters.Load() == 0 {
		return // nobody to wake: no channel to replace
	}
	next := make(chan struct{})
	if old := e.published.Swap(&next); old != nil {
		close(*old)
	}
}

// WaitVisible waits until version v is visible (published), the engine is
// poisoned, or done is closed. A transaction that conflicted with a commit
// still waiting for its fsync waits here before it retries: a retry from an
// older snapshot would only conflict again.
func (e *Engine) WaitVisible(v uint64, done <-chan struct{}) {
	e.waiters.Add(1)
	defer e.waiters.Add(-1)
	for e.visible.Load() < v && e.broken.Load() == nil {
		ch := e.published.Load()
		if ch == nil {
			next := make(chan struct{})
			if !e.published.CompareAndSwap(nil, &next) {
				continue
			}
			ch = &next
		}
		if e.visible.Load() >= v {
			return
		}
		select {
		case <-*ch:
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
			// Poisoning does not publish; look again now and then.
		}
	}
}

// Poison makes every later commit fail with err (a Poisoned error). Reads
// keep working. The first poisoning wins.
func (e *Engine) Poison(err *dberr.Error) { e.broken.CompareAndSwap(nil, err) }

// Poisoned returns the poisoning error, if any.
func (e *Engine) Poisoned() *dberr.Error { return e.broken.Load() }

// version is one entry of a chain. It is immutable once its commit is
// published.
type version struct {
	n    uint64 // commit version
	ts   int64  // commit timestamp (µs)
	val  value.Value
	tomb bool
	next *version // older
}

// chain is the version history of one entity, newest first.
type chain struct {
	head atomic.Pointer[version]
	// first holds the chain's first version: allocated with the chain, it
	// costs a new key no allocation of its own, and a read of a key
	// written once finds its version next to the chain, not one cache
	// miss further. It is in use once its n is set (versions start at 1).
	first version
}

// at returns the newest version visible at snapshot snap.
func (c *chain) at(snap uint64) *version {
	for v := c.head.Load(); v != nil; v = v.next {
		if v.n <= snap {
			return v
		}
	}
	return nil
}

// item is one entry of a space tree.
type item struct {
	key string
	c   *chain
}

// spaceCount bounds the space tags (core.PrimitiveType values).
const spaceCount = int(core.System) + 1

// space is one primitive's keys in one run: a hash index for point lookups
// and an ordered tree for scans.
//
// The index takes no lock on lookups (see hashIndex), so readers on
// different cores never contend on a lock word — a reader-writer mutex's
// reader count alone bounces between cores on every read. A tree search
// would also chase a pointer to the key bytes at every comparison, which is
// slow for a million keys. Chains are only ever added, by installers
// holding the engine's commit lock; treeMu orders tree inserts against scans.
type space struct {
	index  hashIndex
	treeMu sync.RWMutex
	tree   *keyTree
}

// runIndex holds one run's spaces.
type runIndex struct {
	spaces [spaceCount]atomic.Pointer[space]
	// record is the chain of this run's record in the run index (see
	// RunRecordKey), once it exists: every write into a run reads it, and
	// keeping it here saves a lookup in the global run's index, which all
	// writers share.
	record    atomic.Pointer[chain]
	recordKey string
	// floors are the run's trim floors by space (retain.go), replaced
	// whole when one rises.
	floors atomic.Pointer[[spaceCount]uint64]
	// fork is the run's fork link, if it is or was a fork (fork.go).
	fork atomic.Pointer[forkLink]
}

// RunRecordKey is the key of a run's record in the run index: space
// core.Run of the global run, "r" followed by the 16 bytes of the id.
func RunRecordKey(run core.RunID) string { return "r" + string(run[:]) }

// runRecordOf returns the run whose record key is key, if key is one.
func runRecordOf(run core.RunID, space core.PrimitiveType, key string) (core.RunID, bool) {
	var id core.RunID
	if space != core.Run || !run.IsGlobal() || len(key) != 17 || key[0] != 'r' {
		return id, false
	}
	copy(id[:], key[1:])
	return id, true
}

func (e *Engine) runFor(run core.RunID, create bool) *runIndex {
	if ri, ok := e.runs.Load(run); ok {
		return ri.(*runIndex)
	}
	if !create {
		return nil
	}
	ri, _ := e.runs.LoadOrStore(run, &runIndex{recordKey: RunRecordKey(run)})
	return ri.(*runIndex)
}

// lookup finds the chain of (run, sp, key) without taking any lock.
func (e *Engine) lookup(run core.RunID, sp core.PrimitiveType, key string) *chain {
	ri := e.runFor(run, false)
	if ri == nil {
		return nil
	}
	s := ri.spaces[sp].Load()
	if s == nil {
		return nil
	}
	return s.index.get(key)
}

// chainForInstall returns the chain of (run, sp, key), creating it. The
// caller holds the commit lock, so no other goroutine creates chains.
func (e *Engine) chainForInstall(run core.RunID, sp core.PrimitiveType, key string) *chain {
	ri := e.runFor(run, true)
	s := ri.spaces[sp].Load()
	if s == nil {
		s = &space{tree: newKeyTree()}
		ri.spaces[sp].Store(s)
	}
	// The caller's lookup found nothing, but it may have run before another
	// commit created the chain: look again, in the probe that inserts.
	en, added := s.index.getOrAdd(key)
	c := &en.c
	if !added {
		return c
	}
	s.treeMu.Lock()
	s.tree.set(en)
	s.treeMu.Unlock()
	if id, ok := runRecordOf(run, sp, key); ok {
		e.runFor(id, true).record.Store(c)
	}
	return c
}

// Versions are carved from slabs: one allocation serves many installs,
// which is cheaper than one allocation each and wastes no size class
// rounding. A slab lives as long as any version in it does; versions are
// only ever dropped by compaction, so the cost is small. Slabs are used
// under the commit lock.
const slabSize = 64

func (e *Engine) newVersion() *version {
	if len(e.versionSlab) == 0 {
		e.versionSlab = make([]version, slabSize)
	}
	v := &e.versionSlab[0]
	e.versionSlab = e.versionSlab[1:]
	return v
}

// install prepends a version for m. c is the chain if the caller already
// knows it. The caller holds the commit lock.
func (e *Engine) install(m *core.Mutation, c *chain, ts int64) {
	c = e.chainForWrite(c, m.Run, m.Space, m.Key)
	h := c.head.Load()
	var v *version
	if h == nil && c.first.n == 0 && m.Version != 0 {
		v = &c.first
	} else {
		v = e.newVersion()
		if h == nil && c.first.n != 0 {
			// A purged chain written again: its first version still
			// holds the purged entity's value, which reads that loaded
			// the chain before the purge may yet walk.
			e.retireFirst(c, v, nil)
		}
	}
	v.n, v.ts, v.next = m.Version, ts, h
	if m.Op == core.OpDelete {
		v.tomb = true
	} else {
		v.val = m.Value
	}
	c.head.Store(v)
	e.stats.Versions++
	if m.Space == core.System {
		if sp, f, ok := floorOf(m); ok {
			e.raiseFloor(m.Run, sp, f)
		} else if m.Key == ForkKey {
			e.noteFork(m)
		}
	}
	if obs := e.observers[m.Space]; obs != nil {
		obs(m)
	}
}

// Apply installs commits read back from storage during recovery, with the
// versions recorded in them, and publishes them. A commit at or below the
// last applied version is ignored, so replaying a record twice equals once.
// Commits must arrive in version order.
func (e *Engine) Apply(commits ...*core.Commit) error {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	for _, c := range commits {
		if c.Version <= e.last {
			continue
		}
		for i := range c.Mutations {
			m := &c.Mutations[i]
			if m.Version != c.Version {
				return dberr.New(dberr.Internal, "engine.Apply", "mutation version %d differs from commit version %d", m.Version, c.Version)
			}
			e.install(m, nil, c.Time)
		}
		e.last = c.Version
		if c.Time > e.lastTime {
			e.lastTime = c.Time
		}
		e.times.note(c.Version, c.Time)
		e.stats.Commits++
	}
	e.visible.Store(e.last)
	return nil
}

// Entry is what a read returns.
type Entry struct {
	Value     value.Value
	Version   uint64
	Time      int64
	Tombstone bool
}

func entryOf(v *version) Entry {
	return Entry{Value: v.val, Version: v.n, Time: v.ts, Tombstone: v.tomb}
}

// Get reads (run, space, key) at snapshot snap outside any transaction. It
// returns false when the key has no live version at snap.
func (e *Engine) Get(run core.RunID, space core.PrimitiveType, key string, snap uint64) (Entry, bool) {
	// The hottest read path: no defer (nothing below panics on a valid
	// engine), and the entry is copied out before the read ends.
	r := e.readers.enter()
	v := e.resolve(e.lookup(run, space, key), run, space, key, snap)
	if v == nil || v.tomb {
		exitRead(r)
		return Entry{}, false
	}
	en := entryOf(v)
	exitRead(r)
	return en, true
}

// Runs calls fn for every run that has ever held data, in no particular
// order, until fn returns false.
func (e *Engine) Runs(fn func(core.RunID) bool) {
	e.runs.Range(func(k, _ any) bool { return fn(k.(core.RunID)) })
}
