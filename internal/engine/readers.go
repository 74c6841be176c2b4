package engine

import (
	"sync/atomic"
	"unsafe"
)

// Reclaiming a trimmed chain's inline first version.
//
// A chain's first version lives inside its hash entry (chain.first), so
// trimming it off the chain does not free it: the node, and the value it
// holds, stay for as long as the key does. Under KeepLast(1) that is one
// stale value per key, plus the slab node the trim copied the kept version
// into (a chain is never cut in place). The cure is to move the chain's
// oldest retained version back into the inline node once nobody can be
// reading the node's old contents any more, which needs two proofs:
//
//   - no registered snapshot (a transaction, a Pin) is as old as the cut:
//     the oldest one is above the watermark of the moment the node left
//     the chain, or there is none. A snapshot taken later loads the new
//     head.
//   - no read that walks chains without a registered snapshot (a point
//     read at the published watermark, a snapshot writer, a scan) started
//     before the cut and is still going. Those reads announce themselves to
//     readEpoch, which costs them two uncontended atomic adds and no lock.
//
// readEpoch is a two-phase grace-period counter. A read adds one to a
// counter of the current phase and subtracts it when done. Retiring
// (retire) files a chain under the current phase; flipping the phase
// (allowed only once the other phase's counters are all zero) closes it;
// the chains of a closed phase are safe once its counters have been seen at
// zero: every read that could have loaded a chain before it was retired
// counted in that phase or in the one before it, drained at the flip. A read
// that loaded the phase before a flip but counted itself after the zero
// check loads chain heads after that check, so it sees the retired chains'
// new heads. Nothing ever waits: reclamation is attempted after each trim
// and simply leaves what is not yet safe for the next attempt.

// readSlots spreads concurrent reads over counters on separate cache lines:
// a counter shared by two cores would move its line on every read.
const (
	readSlotBits = 5
	readSlots    = 1 << readSlotBits
)

type readSlot struct {
	n [2]atomic.Int64 // reads in progress, by phase
	// Two cache lines per slot, whatever the slots' alignment: neighbours
	// never share a line, nor the pair a core's prefetcher fetches.
	_ [112]byte
}

type readEpoch struct {
	phase atomic.Uint64 // flips so far; the current phase is its low bit
	_     [120]byte     // every read loads phase: keep the counters off its lines
	slots [readSlots]readSlot
}

// enter announces a read that walks chains without a registered snapshot.
// Pass the result to exitRead when the read is done.
func (r *readEpoch) enter() *atomic.Int64 {
	// The address of a stack variable differs between goroutines (they run
	// on separate stacks), which spreads concurrent reads over the slots
	// without shared state; the same goroutine may pick another slot next
	// time, which only matters for contention, never for correctness.
	// Stacks are aligned to powers of two, so the address is hashed: its
	// low bits alone would put every goroutine's read at the same frame
	// depth on the same slot.
	var anchor byte
	h := uint64(uintptr(unsafe.Pointer(&anchor))>>8) * 0x9e3779b97f4a7c15
	c := &r.slots[h>>(64-readSlotBits)].n[r.phase.Load()&1]
	c.Add(1)
	return c
}

// exit ends a read started with enter.
func exitRead(c *atomic.Int64) { c.Add(-1) }

// drained reports whether no read of phase p is in progress.
func (r *readEpoch) drained(p uint64) bool {
	for i := range r.slots {
		if r.slots[i].n[p&1].Load() != 0 {
			return false
		}
	}
	return true
}

// retiredFirst is a chain whose head was replaced (cut, purged) or whose
// inline first version was left holding a stale value, with what proves a
// reclamation of the first version current: the oldest node the chain had
// right after (tail; a later cut or reclamation replaces it), and the
// watermark at the moment (cut). old is the replaced chain, whose nodes
// are cleared once nobody can walk them: versions are carved from slabs,
// and a dead node in a slab that a live one keeps would otherwise keep its
// value and, through its link, the rest of its old chain.
type retiredFirst struct {
	c    *chain
	tail *version
	old  *version
	cut  uint64
}

// retiredList is a list of retired chains kept in fixed-size chunks: a
// Full compaction retires one entry per trimmed chain, millions of them,
// and a slice grown by doubling would copy them all again and again.
type retiredList struct {
	chunks [][]retiredFirst
	n      int
}

const retiredChunk = 4096

func (l *retiredList) add(x retiredFirst) {
	last := len(l.chunks) - 1
	if last < 0 || len(l.chunks[last]) == cap(l.chunks[last]) {
		l.chunks = append(l.chunks, make([]retiredFirst, 0, retiredChunk))
		last++
	}
	l.chunks[last] = append(l.chunks[last], x)
	l.n++
}

// take moves o's entries to the end of l.
func (l *retiredList) take(o *retiredList) {
	l.chunks = append(l.chunks, o.chunks...)
	l.n += o.n
	*o = retiredList{}
}

// retireFirst records that c's head was replaced, old being the replaced
// chain (nil if nothing needs clearing) and tail the new chain's oldest
// node. The caller holds the commit lock.
func (e *Engine) retireFirst(c *chain, tail, old *version) {
	if c.first.n == 0 && old == nil {
		return
	}
	e.retiring.add(retiredFirst{c: c, tail: tail, old: old, cut: e.visible.Load()})
}

// clearOld clears the nodes of x's replaced chain except the inline first
// version (reclaimFirst decides about that one). The caller holds the
// commit lock and has proven that nobody walks them.
func (x retiredFirst) clearOld() {
	for v := x.old; v != nil && v != &purgedMark; {
		next := v.next
		if v != &x.c.first {
			*v = version{}
		}
		v = next
	}
}

// ReclaimFirsts moves the oldest retained version of every retired chain
// back into the chain's inline first version, or clears that version, as
// far as it is safe (see above), and clears the nodes cuts, purges and
// earlier reclamations replaced; the rest waits for a later call. Trim
// calls it; calling it after a commit that follows a trim reclaims that
// trim's chains without waiting for the next one (with a snapshot open,
// the commit lifts the published watermark above the cut). It returns how
// many retired chains it processed.
func (e *Engine) ReclaimFirsts() int {
	e.reclaimMu.Lock()
	defer e.reclaimMu.Unlock()
	// A reclamation retires the nodes it replaced: with no reader about,
	// a second round clears them at once.
	n := e.reclaimRound()
	if n > 0 {
		n += e.reclaimRound()
	}
	return n
}

// reclaimRound advances the phases and processes what is proven safe,
// holding the commit lock for a batch of chains at a time (as Trim does),
// so that commits keep flowing while a million chains are reclaimed. The
// proof holds across the gaps: reads and snapshots that begin after it
// load the chains' new heads.
func (e *Engine) reclaimRound() int {
	e.commitMu.Lock()
	e.advancePhases()
	ready := e.readyFirsts
	e.readyFirsts = retiredList{}
	oldest, registered := e.snaps.oldest()
	e.commitMu.Unlock()
	done := 0
	var keep retiredList
	for _, chunk := range ready.chunks {
		for i := 0; i < len(chunk); i += trimBatch {
			e.commitMu.Lock()
			for _, x := range chunk[i:min(i+trimBatch, len(chunk))] {
				if registered && x.cut >= oldest {
					keep.add(x) // a registered snapshot may still walk it
					continue
				}
				// An entry a later cut superseded still clears its own
				// old chain; only the latest one may reclaim the first
				// version.
				x.clearOld()
				e.reclaimFirst(x)
				done++
			}
			e.commitMu.Unlock()
		}
	}
	if keep.n > 0 {
		e.commitMu.Lock()
		e.readyFirsts.take(&keep)
		e.commitMu.Unlock()
	}
	return done
}

// advancePhases moves retired chains along as their reads drain (see the
// comment at the top of this file). The caller holds the commit lock.
func (e *Engine) advancePhases() {
	r := &e.readers
	// The closed phase's reads have ended: its chains need only the
	// snapshot proof now.
	if e.closedFirsts.n > 0 && r.drained(r.phase.Load()-1) {
		e.readyFirsts.take(&e.closedFirsts)
	}
	// Close the current phase. The reads that move to the next phase's
	// counters (those of the phase before the current one) must have
	// ended; often the phase just closed has drained too.
	if e.closedFirsts.n == 0 && e.retiring.n > 0 && r.drained(r.phase.Load()+1) {
		r.phase.Add(1)
		e.closedFirsts.take(&e.retiring)
		if r.drained(r.phase.Load() - 1) {
			e.readyFirsts.take(&e.closedFirsts)
		}
	}
}

// current reports whether x is still the latest retirement of its chain:
// the chain's oldest node is the one x recorded, and the chain is neither
// purged nor using its first version again.
func (x retiredFirst) current() bool {
	var tail *version
	for v := x.c.head.Load(); v != nil; v = v.next {
		if v == &x.c.first || v == &purgedMark {
			return false
		}
		tail = v
	}
	return tail == x.tail
}

// reclaimMaxCopy bounds the versions a reclamation copies to put a chain's
// oldest one back inline; longer chains only have the inline version
// cleared.
const reclaimMaxCopy = 4

// reclaimFirst reclaims r's inline first version if r is still the chain's
// latest retirement. The caller holds the commit lock and has proven that
// nobody reads the inline version's old contents.
func (e *Engine) reclaimFirst(r retiredFirst) bool {
	if r.tail == nil || r.c.first.n == 0 || !r.current() {
		// Cut or reclaimed again since (that retirement decides), back in
		// use, or purged (the index drops it).
		return false
	}
	c := r.c
	var nodes [reclaimMaxCopy]*version
	k := 0
	old := c.head.Load()
	for v := old; v != nil; v = v.next {
		if k < len(nodes) {
			nodes[k] = v
		}
		k++
	}
	if k == 0 || k > len(nodes) {
		c.first = version{}
		return true
	}
	// Build the chain anew, its oldest version inline. The old nodes stay
	// untouched for reads that loaded them. A lone old node shares its
	// value with the inline version and links nowhere, so the collector
	// may keep it in its slab at no cost; longer ones are cleared after a
	// grace period of their own (tail nil: clear only).
	if k > 1 {
		defer func() { e.retiring.add(retiredFirst{c: c, old: old, cut: e.visible.Load()}) }()
	}
	last := nodes[k-1]
	c.first = version{n: last.n, ts: last.ts, val: last.val, tomb: last.tomb}
	head := &c.first
	for i := k - 2; i >= 0; i-- {
		nv := e.newVersion()
		*nv = version{n: nodes[i].n, ts: nodes[i].ts, val: nodes[i].val, tomb: nodes[i].tomb, next: head}
		head = nv
	}
	c.head.Store(head)
	return true
}
