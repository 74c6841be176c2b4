package engine

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// Retention: trimming version chains.
//
// Trim removes old versions from chains and purges entities whose only
// retained version is a tombstone. It never touches a version that an open
// snapshot can still read: a version may leave its chain only when its
// successor (the next newer version) is at or below the trim bound, the
// smaller of the published watermark and the oldest snapshot of an open
// transaction. A transaction older than a trim therefore keeps reading what
// it saw; the trim is bounded by it rather than waiting for it, so one
// forgotten transaction delays reclamation but never blocks a compaction.
//
// Chains are never cut in place: the retained versions are copied into new
// nodes and the chain head is swapped under the commit lock, so a reader
// walking the old nodes sees an immutable, consistent chain.
//
// Every run and space keeps a trim floor: the highest version at which a
// removed version stopped being current (for a purged tombstone, the
// tombstone's own version). A read at a version below the floor that finds
// no retained version answers HistoryTrimmed: a per-entity floor would have
// to outlive a purged entity, so the floor is per (run, space), and it is
// conservative for keys that never existed that far back. Floors are
// entries of the System space ("_system/floor/<space tag>" in each run), so
// they are WAL-logged, in snapshots, exported and recovered like any entry;
// installing such an entry raises the in-memory floor.

// FloorKeyPrefix starts the System-space keys that hold trim floors.
const FloorKeyPrefix = "_system/floor/"

// FloorKey is the System-space key of the trim floor of space.
func FloorKey(space core.PrimitiveType) string {
	return FloorKeyPrefix + strconv.Itoa(int(space))
}

// floorOf parses a floor entry; ok is false for any other System key or a
// malformed value (which is then ignored: a floor only ever makes reads
// more conservative, and a hostile value must not crash recovery).
func floorOf(m *core.Mutation) (space core.PrimitiveType, floor uint64, ok bool) {
	if !strings.HasPrefix(m.Key, FloorKeyPrefix) || m.Op == core.OpDelete {
		return 0, 0, false
	}
	n, err := strconv.Atoi(m.Key[len(FloorKeyPrefix):])
	if err != nil || n < 1 || n >= spaceCount {
		return 0, 0, false
	}
	f, isInt := m.Value.AsInt()
	if !isInt || f < 0 {
		return 0, 0, false
	}
	return core.PrimitiveType(n), uint64(f), true
}

// raiseFloor sets the floor of (run, space) to at least f. The caller holds
// the commit lock (the only writer of floors).
func (e *Engine) raiseFloor(run core.RunID, space core.PrimitiveType, f uint64) {
	ri := e.runFor(run, true)
	cur := ri.floors.Load()
	if cur != nil && cur[space] >= f {
		return
	}
	var next [spaceCount]uint64
	if cur != nil {
		next = *cur
	}
	next[space] = f
	ri.floors.Store(&next)
}

// Floor returns the trim floor of (run, space): reads below it that find
// no retained version answer HistoryTrimmed. Zero means nothing was trimmed.
func (e *Engine) Floor(run core.RunID, space core.PrimitiveType) uint64 {
	ri := e.runFor(run, false)
	if ri == nil {
		return 0
	}
	if f := ri.floors.Load(); f != nil {
		return f[space]
	}
	return 0
}

// Floors calls fn for every non-zero trim floor.
func (e *Engine) Floors(fn func(run core.RunID, space core.PrimitiveType, floor uint64)) {
	e.runs.Range(func(k, v any) bool {
		if f := v.(*runIndex).floors.Load(); f != nil {
			for sp, x := range f {
				if x > 0 {
					fn(k.(core.RunID), core.PrimitiveType(sp), x)
				}
			}
		}
		return true
	})
}

// Trimmed reports whether a read of (run, space, key) at version at that
// found no retained version must answer HistoryTrimmed, and the earliest
// version from which reads of that key are answered.
func (e *Engine) Trimmed(run core.RunID, space core.PrimitiveType, key string, at uint64) (earliest uint64, trimmed bool) {
	f := e.Floor(run, space)
	if at >= f {
		return 0, false
	}
	earliest = f
	r := e.readers.enter()
	defer exitRead(r)
	if c := e.lookup(run, space, key); c != nil {
		if o := c.oldest(); o != nil && o.n < earliest {
			earliest = o.n
		}
	}
	return earliest, true
}

// oldest returns the oldest version of c, or nil.
func (c *chain) oldest() *version {
	var o *version
	for v := c.head.Load(); v != nil && v != &purgedMark; v = v.next {
		o = v
	}
	return o
}

// purgedMark ends the chain of a purged entity: its version is above every
// snapshot, so readers never return it, and validation recognizes a chain
// that left the index (a later write of the key creates a new chain).
var purgedMark = version{n: math.MaxUint64}

// purged reports whether c left the index.
func (c *chain) purged() bool {
	h := c.head.Load()
	return h != nil && h.next == &purgedMark
}

// Keep is the retention rule of one (run, space). The zero Keep keeps
// everything.
type Keep struct {
	Last int   // keep the newest Last versions of each entity (0: no limit)
	For  int64 // keep versions committed within For µs of now (0: no limit)
}

// All reports whether k keeps every version.
func (k Keep) All() bool { return k.Last <= 0 && k.For <= 0 }

// TrimResult says what Trim removed.
type TrimResult struct {
	Bound           uint64 // versions were trimmed only below this snapshot
	VersionsRemoved uint64
	EntitiesPurged  uint64
	// BytesRemoved estimates the memory the removed versions held: their
	// nodes and encoded values, and the keys of purged entities.
	BytesRemoved int64
	// Floors are the trim floors Trim raised; the caller persists them as
	// System entries (FloorKey) so they survive recovery.
	Floors []FloorChange
}

// FloorChange is one raised trim floor.
type FloorChange struct {
	Run   core.RunID
	Space core.PrimitiveType
	Floor uint64
}

// trimBatch is how many chains Trim processes per hold of the commit lock,
// so commits keep flowing during a long trim.
const trimBatch = 256

// Trim applies retention at time now (µs): policy gives the rule of each
// (run, space). The System space is never trimmed. Readers and writers
// keep working; see the package comment on retention for the guarantees.
func (e *Engine) Trim(policy func(run core.RunID, space core.PrimitiveType) Keep, now int64) TrimResult {
	res := TrimResult{Bound: e.OldestSnapshot()}
	e.ReclaimFirsts()
	var runs []core.RunID
	e.runs.Range(func(k, _ any) bool {
		runs = append(runs, k.(core.RunID))
		return true
	})
	for _, run := range runs {
		for sp := core.PrimitiveType(1); int(sp) < spaceCount; sp++ {
			if sp == core.System {
				continue
			}
			keep := policy(run, sp)
			if keep.All() {
				continue
			}
			e.trimSpace(run, sp, keep, now, &res)
		}
		e.trimBookkeeping(run, &res)
	}
	res.BytesRemoved += int64(e.TrimTimes())
	return res
}

// TrimTimes trims the commit-time index (times.go) below TimeFloor and
// returns the bytes freed. Trim calls it; recovery calls it once the
// snapshot's floors are known, so a reopened database answers reads by
// time as the one that trimmed did.
func (e *Engine) TrimTimes() int {
	// TimeFloor looks at the runs without the commit lock: a commit that
	// lands meanwhile (of a run it found without data, say) must keep its
	// time, so nothing newer than the last version before it is trimmed.
	e.commitMu.Lock()
	last := e.last
	e.commitMu.Unlock()
	return e.trimTimes(e.TimeFloor(), last)
}

// trimTimes trims the time index below t, never above last.
func (e *Engine) trimTimes(t, last uint64) int {
	if t == 0 {
		return 0
	}
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	return e.times.trimBelow(min(t, last))
}

// TimeFloor returns the oldest version whose commit time the time index
// must still hold: the lowest history floor among the runs that hold data,
// a run's history floor being the highest trim floor of its primitives
// (below it a read of the run at a version answers HistoryTrimmed anyway).
// Zero means nothing may be trimmed.
//
// Runs that hold no data do not count, nor does the System space, nor the
// run index (space Run of the global run): otherwise a retention policy or
// a run record written at version 1 and never overwritten would pin the
// whole index forever. A read by time of such a run below the bound
// answers HistoryTrimmed — conservative, never another version (a run
// that holds no data reads the same state at every version it could
// resolve to). A run that holds data but had nothing trimmed (KeepAll, or
// nothing old enough yet) keeps the whole index. Once retention has raised
// a floor and no run holds data (every entity purged), the bound is
// math.MaxUint64: trimBelow keeps only the newest commit, so a purge
// leaves O(1) of the index, not 8 bytes per commit. A database that never
// trimmed keeps its index whole, data or not.
//
// The trimmed index answers exactly at and above the bound: a version
// there is in it because every commit notes its version. After a
// recovery the index also lacks the versions whose every write was
// trimmed before the snapshot; a time that falls on one resolves to the
// last older version kept, which for every run whose floor allows the read
// holds the same state (its writes at or above its floor are retained, so
// noted).
func (e *Engine) TimeFloor() uint64 {
	t := uint64(math.MaxUint64)
	trimmed := false
	e.runs.Range(func(k, v any) bool {
		run, ri := k.(core.RunID), v.(*runIndex)
		var f uint64
		if fl := ri.floors.Load(); fl != nil {
			for sp := core.KV; sp <= core.Vector; sp++ {
				f = max(f, fl[sp])
			}
		}
		trimmed = trimmed || f > 0
		if f < t && e.holdsData(run) {
			t = f
		}
		return t > 0
	})
	if t == math.MaxUint64 && !trimmed {
		return 0
	}
	return t
}

// holdsData reports whether run has an entity in a primitive (not the
// System space, and not the run index in the global run).
func (e *Engine) holdsData(run core.RunID) bool {
	for sp := core.KV; sp <= core.Vector; sp++ {
		if sp == core.Run && run.IsGlobal() {
			continue
		}
		found := false
		e.scan(run, sp, "", "", func(string, *chain) bool {
			found = true
			return false
		})
		if found {
			return true
		}
	}
	return false
}

func (e *Engine) trimSpace(run core.RunID, sp core.PrimitiveType, keep Keep, now int64, res *TrimResult) {
	var batch []item
	var gone []string
	var floor uint64
	flush := func() {
		e.commitMu.Lock()
		// A fork reads this run as of its fork point: keep what it
		// reads. Read under the lock, per batch: a fork made while the
		// trim runs pins its point before it checks the floors.
		bound := min(res.Bound, e.forkBound(run))
		// A run that is (or was) a fork keeps its tombstones (below).
		// Its link is installed by a commit, so read it under the lock.
		forked := false
		if ri := e.runFor(run, false); ri != nil {
			forked = ri.fork.Load() != nil
		}
		for _, it := range batch {
			removed, bytes, f, purge := e.trimChain(it.c, keep, now, bound)
			if purge && forked {
				// In a fork a tombstone also hides what the run
				// inherits: purged, the parent's version would show
				// through again. Keep it as the chain's only version.
				purge = false
			}
			if removed == 0 && !purge {
				continue
			}
			if f > floor {
				floor = f
				// Raised before the head swap: a reader that sees the
				// shorter chain also sees the floor.
				e.raiseFloor(run, sp, f)
			}
			res.VersionsRemoved += removed
			res.BytesRemoved += bytes
			if purge {
				res.VersionsRemoved++ // the tombstone itself
				res.BytesRemoved += versionBytes(it.c.head.Load()) + int64(len(it.key))
				e.purgeChain(it.c)
				gone = append(gone, it.key)
				if id, ok := runRecordOf(run, sp, it.key); ok {
					if ri := e.runFor(id, false); ri != nil {
						ri.record.Store(nil)
					}
				}
			} else {
				e.cutChain(it.c, removed)
			}
		}
		e.commitMu.Unlock()
		batch = batch[:0]
	}
	e.scan(run, sp, "", "", func(key string, c *chain) bool {
		batch = append(batch, item{key: key, c: c})
		if len(batch) == trimBatch {
			flush()
		}
		return true
	})
	flush()
	if len(gone) > 0 {
		e.commitMu.Lock()
		e.dropKeys(run, sp, gone)
		e.commitMu.Unlock()
		res.EntitiesPurged += uint64(len(gone))
	}
	if floor > 0 {
		res.Floors = append(res.Floors, FloorChange{Run: run, Space: sp, Floor: e.Floor(run, sp)})
	}
}

// trimBookkeeping keeps only the newest version of run's trim floor
// entries and of its Env.CurrentOnly keys. Every compaction that raises a
// floor commits a new version of it, and the System space is otherwise
// never trimmed: a database that compacts every hour would hold, and write
// into every snapshot, one more version per run and primitive each time.
// Nothing reads an old floor: the engine's floor is the newest one (floors
// only rise). The removed versions are not counted in VersionsRemoved,
// which counts user data.
func (e *Engine) trimBookkeeping(run core.RunID, res *TrimResult) {
	var cs []*chain
	e.scan(run, core.System, FloorKeyPrefix, PrefixEnd(FloorKeyPrefix), func(_ string, c *chain) bool {
		cs = append(cs, c)
		return true
	})
	for _, k := range e.current {
		if c := e.lookup(run, core.System, k); c != nil {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return
	}
	bound := min(res.Bound, e.forkBound(run))
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	for _, c := range cs {
		removed, bytes, _, purge := e.trimChain(c, Keep{Last: 1}, 0, bound)
		if removed == 0 || purge {
			continue
		}
		res.BytesRemoved += bytes
		e.cutChain(c, removed)
	}
}

// trimChain decides what to drop from c: removed versions from the old end,
// the floor that implies, and whether the entity is purged (its only
// retained version is a tombstone nobody can read past). The caller holds
// the commit lock.
func (e *Engine) trimChain(c *chain, keep Keep, now int64, bound uint64) (removed uint64, bytes int64, floor uint64, purge bool) {
	h := c.head.Load()
	if h == nil || h.next == &purgedMark {
		return 0, 0, 0, false
	}
	var succ *version // the next newer version of v
	i := 0
	for v := h; v != nil; succ, v, i = v, v.next, i+1 {
		if succ == nil || succ.n > bound {
			continue // the newest version, or one an open snapshot reads
		}
		drop := (keep.Last > 0 && i >= keep.Last) || (keep.For > 0 && v.ts < now-keep.For)
		if !drop {
			continue
		}
		for x := v; x != nil; x = x.next {
			removed++
			bytes += versionBytes(x)
		}
		floor = succ.n
		break
	}
	if h.tomb && h.n <= bound && h.next == nil {
		// Nothing older is in the chain: the key was written and deleted in
		// one commit, or an earlier trim removed its older versions and
		// raised the floor then. Purging it hides no history, so it raises
		// no floor: a floor covers every key of the run and space, and
		// would refuse reads of versions the policy keeps.
		return removed, bytes, 0, true
	}
	if h.tomb && h.n <= bound && floor == h.n {
		return removed, bytes, h.n, true
	}
	return removed, bytes, floor, false
}

// versionBytes estimates the memory v holds: its node and its value.
func versionBytes(v *version) int64 {
	n := int64(unsafe.Sizeof(*v))
	if !v.tomb {
		n += int64(v.val.EncodedSize())
	}
	return n
}

// cutChain replaces c with a copy of its versions without the oldest
// removed ones. The caller holds the commit lock.
func (e *Engine) cutChain(c *chain, removed uint64) {
	var n uint64
	for v := c.head.Load(); v != nil; v = v.next {
		n++
	}
	keepN := n - removed
	var head, tail *version
	old := c.head.Load()
	v := old
	for i := uint64(0); i < keepN; i, v = i+1, v.next {
		var nv *version
		if i == keepN-1 && c.first.n == 0 {
			// A reclaimed first version is on no chain and nobody reads
			// it (readers.go): the oldest kept version goes back inline.
			nv = &c.first
		} else {
			nv = e.newVersion()
		}
		*nv = version{n: v.n, ts: v.ts, val: v.val, tomb: v.tomb}
		if tail == nil {
			head = nv
		} else {
			tail.next = nv
		}
		tail = nv
	}
	c.head.Store(head)
	// The new chain is all copies (or the reclaimed first version): the
	// first version, if it holds one, is off it (now, or since an earlier
	// cut whose reclamation this cut supersedes), and the old nodes are
	// dead once nobody walks them.
	e.retireFirst(c, tail, old)
}

// purgeChain ends c with purgedMark. The caller holds the commit lock.
func (e *Engine) purgeChain(c *chain) {
	h := c.head.Load()
	nv := e.newVersion()
	*nv = version{n: h.n, ts: h.ts, tomb: true, next: &purgedMark}
	c.head.Store(nv)
	e.retireFirst(c, nv, h)
}

// chainForWrite returns the chain a new version of (run, sp, key) goes on;
// c is the chain the writer looked up, if any. A transaction looks its
// chains up before it commits, so a trim may purge one in between: a
// version installed there would sit on a chain the index and the tree
// have dropped, readable by nobody and in no snapshot. A purged chain that
// is still indexed (its trim has not reached dropKeys) starts over empty
// instead, and dropKeys then leaves it alone. The caller holds the commit
// lock.
func (e *Engine) chainForWrite(c *chain, run core.RunID, sp core.PrimitiveType, key string) *chain {
	if c == nil || c.purged() {
		c = e.chainForInstall(run, sp, key)
	}
	if c.purged() {
		c.head.Store(nil)
		if id, ok := runRecordOf(run, sp, key); ok {
			e.runFor(id, true).record.Store(c)
		}
	}
	return c
}

// dropKeys removes purged keys from the index and the tree of (run, sp).
// The hash index is rebuilt without them and published with one store, as
// growth does: a reader still probing the old table finds the purged chain,
// whose tombstone reads as absent. The caller holds the commit lock.
func (e *Engine) dropKeys(run core.RunID, sp core.PrimitiveType, keys []string) {
	s := e.runFor(run, true).spaces[sp].Load()
	if s == nil {
		return
	}
	s.treeMu.Lock()
	for _, k := range keys {
		// A key written again since its purge keeps its chain.
		if en, ok := s.tree.get(k); ok && en.c.purged() {
			s.tree.Delete(item{key: k})
		}
	}
	s.treeMu.Unlock()
	old := s.index.table.Load()
	if old == nil {
		return
	}
	live := 0
	for i := range old.slots {
		if en := old.slots[i].Load(); en != nil && !en.c.purged() {
			live++
		}
	}
	if live == 0 && s.tree.t.Len() == 0 {
		// Every key is gone: drop the space, whose table and tree would
		// otherwise stay for good. A reader holding it finds only purged
		// chains; the next write makes a new one (chainForInstall).
		e.runFor(run, true).spaces[sp].CompareAndSwap(s, nil)
		return
	}
	size := 16
	for 2*(live+1) > size {
		size *= 2
	}
	t := newHashTable(size)
	for i := range old.slots {
		if en := old.slots[i].Load(); en != nil && !en.c.purged() {
			t.insert(en)
		}
	}
	s.index.table.Store(t)
	s.index.n = live
}

// FloorValue is the System-space value of a trim floor.
func FloorValue(f uint64) value.Value { return value.Int(int64(f)) }

// snapRegistry records the snapshots of open transactions, so Trim can
// bound itself by the oldest. It is sharded: every Begin registers, and one
// lock would make all of them contend.
type snapRegistry struct {
	shards [snapShards]snapShard
}

const snapShards = 16

type snapShard struct {
	mu    sync.Mutex
	snaps map[uint64]int32
	_     [40]byte
}

func shardOf(t *Txn) int { return int(uintptr(unsafe.Pointer(t))>>6) % snapShards }

// register takes t's snapshot under the shard lock, so a concurrent
// OldestSnapshot either sees the registration or reads a watermark no newer
// than the snapshot.
func (r *snapRegistry) register(e *Engine, t *Txn) uint64 {
	return r.registerIn(e, shardOf(t))
}

func (r *snapRegistry) registerIn(e *Engine, shard int) uint64 {
	sh := &r.shards[shard]
	sh.mu.Lock()
	snap := e.visible.Load()
	if sh.snaps == nil {
		sh.snaps = make(map[uint64]int32)
	}
	sh.snaps[snap]++
	sh.mu.Unlock()
	return snap
}

func (r *snapRegistry) unregister(t *Txn) { r.unregisterIn(shardOf(t), t.snap) }

func (r *snapRegistry) unregisterIn(shard int, snap uint64) {
	sh := &r.shards[shard]
	sh.mu.Lock()
	if n := sh.snaps[snap] - 1; n > 0 {
		sh.snaps[snap] = n
	} else {
		delete(sh.snaps, snap)
	}
	sh.mu.Unlock()
}

// Pin is a snapshot held open outside a transaction: trimming keeps every
// version a read at it can need until Release. Scans that run for as long
// as their caller likes take one, so a concurrent Full compaction can never
// remove a key from under them.
type Pin struct {
	e     *Engine
	shard int
	snap  uint64
}

// Pin registers a snapshot at the published watermark.
func (e *Engine) Pin() Pin {
	shard := int(e.pinSeq.Add(1) % snapShards)
	return Pin{e: e, shard: shard, snap: e.snaps.registerIn(e, shard)}
}

// Snapshot returns the pinned version.
func (p Pin) Snapshot() uint64 { return p.snap }

// Release lets trimming pass the pinned snapshot. Call it exactly once.
func (p Pin) Release() { p.e.snaps.unregisterIn(p.shard, p.snap) }

// oldest returns the oldest registered snapshot, and false if there is
// none.
func (r *snapRegistry) oldest() (uint64, bool) {
	o, any := uint64(math.MaxUint64), false
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for s := range sh.snaps {
			o, any = min(o, s), true
		}
		sh.mu.Unlock()
	}
	return o, any
}

// OldestSnapshot returns the smaller of the published watermark and the
// oldest snapshot of an open transaction: no snapshot older than it can
// start any more, so versions superseded at or below it are unreadable by
// anyone but GetAt and History.
func (e *Engine) OldestSnapshot() uint64 {
	bound := e.visible.Load()
	for i := range e.snaps.shards {
		sh := &e.snaps.shards[i]
		sh.mu.Lock()
		for s := range sh.snaps {
			bound = min(bound, s)
		}
		sh.mu.Unlock()
	}
	return bound
}
