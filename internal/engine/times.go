package engine

import (
	"slices"
	"sort"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
)

// timeIndex maps commit timestamps to commit versions, for reads "as of" a
// wall-clock time. Commit timestamps never go backwards (see Commit), so
// the pairs (version, time) are sorted on both fields and a binary search
// finds the last commit at or before any time.
//
// Memory: 8 bytes per commit, until Full compaction trims the index below
// the oldest version retention lets a run read (TimeFloor in retain.go);
// once every entity is purged, to the newest commit alone, so a database
// that purged everything keeps O(1) of it. Pairs live in chunks of up to
// timeChunkLen entries; a chunk stores its first pair in full and every
// entry as two uint32 deltas from it (version and microseconds). A delta
// that does not fit — over about 71 minutes between a chunk's first and
// last commit, or 4 billion versions — starts a new chunk, which costs 48
// bytes. A million commits thus take about 8 MiB, a fraction of the
// version chains they install (every version costs a chain entry of over
// 50 bytes).
//
// The index is appended to under the commit lock by every commit and by
// recovery (WAL records and snapshot versions), and read under the same
// lock: lookups are rare next to commits, which then pay no extra lock.
type timeIndex struct {
	chunks []*timeChunk
	last   uint64 // newest version noted
	lastTS int64
	// pending collects the versions of a snapshot while it loads, in no
	// particular order; Restore sorts them into the index.
	pending []timePair
}

type timePair struct {
	v  uint64
	ts int64
}

// timeChunkLen bounds a chunk; its entries cost 8 bytes each.
const timeChunkLen = 4096

type timeChunk struct {
	v0  uint64
	ts0 int64
	dv  []uint32
	dts []uint32
}

// note records that version v committed at ts. Versions must come in
// ascending order; a repeated or older one is ignored. A timestamp older
// than the previous one (only corrupt input can hold one) is raised to it,
// keeping the index sorted.
func (x *timeIndex) note(v uint64, ts int64) {
	if v == 0 || (len(x.chunks) > 0 && v <= x.last) {
		return
	}
	if len(x.chunks) > 0 && ts < x.lastTS {
		ts = x.lastTS
	}
	x.last, x.lastTS = v, ts
	if n := len(x.chunks); n > 0 {
		c := x.chunks[n-1]
		dv, dts := v-c.v0, ts-c.ts0
		if len(c.dv) < timeChunkLen && dv <= 1<<32-1 && dts <= 1<<32-1 {
			c.dv = append(c.dv, uint32(dv))
			c.dts = append(c.dts, uint32(dts))
			return
		}
	}
	c := &timeChunk{v0: v, ts0: ts, dv: make([]uint32, 1, 64), dts: make([]uint32, 1, 64)}
	x.chunks = append(x.chunks, c)
}

// first returns the oldest version noted (0 if none).
func (x *timeIndex) first() uint64 {
	if len(x.chunks) == 0 {
		return 0
	}
	return x.chunks[0].v0
}

// atOrBefore returns the newest noted version whose time is at or before ts.
func (x *timeIndex) atOrBefore(ts int64) (uint64, bool) {
	// The first chunk whose first time is after ts; the answer is in the
	// chunk before it.
	i := sort.Search(len(x.chunks), func(i int) bool { return x.chunks[i].ts0 > ts })
	if i == 0 {
		return 0, false
	}
	c := x.chunks[i-1]
	d := uint64(ts - c.ts0)
	j := sort.Search(len(c.dts), func(j int) bool { return uint64(c.dts[j]) > d })
	return c.v0 + uint64(c.dv[j-1]), true
}

// timeOf returns the time of the newest noted version at or below v.
func (x *timeIndex) timeOf(v uint64) (int64, bool) {
	i := sort.Search(len(x.chunks), func(i int) bool { return x.chunks[i].v0 > v })
	if i == 0 {
		return 0, false
	}
	c := x.chunks[i-1]
	d := v - c.v0
	j := sort.Search(len(c.dv), func(j int) bool { return uint64(c.dv[j]) > d })
	return c.ts0 + int64(c.dts[j-1]), true
}

// trimBelow drops the pairs of versions below v, never the newest pair
// (an empty index would resolve every time to the empty database). Times
// before the first pair kept then answer HistoryTrimmed (see VersionAt)
// instead of resolving to a version the index no longer holds exactly. The
// chunks kept are copied, so the dropped ones' arrays are released. It
// returns the bytes freed.
func (x *timeIndex) trimBelow(v uint64) int {
	if len(x.chunks) == 0 || v <= x.chunks[0].v0 {
		return 0
	}
	v = min(v, x.last)
	before := x.bytes()
	// The chunk holding v (the last whose first version is at or below it).
	i := sort.Search(len(x.chunks), func(i int) bool { return x.chunks[i].v0 > v }) - 1
	c := x.chunks[i]
	d := v - c.v0
	j := sort.Search(len(c.dv), func(j int) bool { return uint64(c.dv[j]) >= d })
	kept := make([]*timeChunk, 0, len(x.chunks)-i)
	if j < len(c.dv) {
		// Rebase the rest of the chunk on its first kept pair: the deltas
		// only shrink, so they still fit.
		v0, ts0 := c.v0+uint64(c.dv[j]), c.ts0+int64(c.dts[j])
		n := len(c.dv) - j
		nc := &timeChunk{v0: v0, ts0: ts0, dv: make([]uint32, n), dts: make([]uint32, n)}
		for k := range n {
			nc.dv[k] = c.dv[j+k] - c.dv[j]
			nc.dts[k] = c.dts[j+k] - c.dts[j]
		}
		kept = append(kept, nc)
	}
	x.chunks = append(kept, x.chunks[i+1:]...)
	return before - x.bytes()
}

// bytes returns the memory the index holds (its chunks' arrays).
func (x *timeIndex) bytes() int {
	n := 0
	for _, c := range x.chunks {
		n += 48 + 4*(cap(c.dv)+cap(c.dts))
	}
	return n
}

// loadPending sorts the versions a snapshot held into the index. Versions
// above w (which a valid snapshot does not hold) are dropped.
func (x *timeIndex) loadPending(w uint64) {
	p := x.pending
	x.pending = nil
	slices.SortFunc(p, func(a, b timePair) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	for _, tp := range p {
		if tp.v <= w {
			x.note(tp.v, tp.ts)
		}
	}
}

// VersionAt resolves a wall-clock time (µs since the epoch) to the newest
// published commit at or before it. Before the first commit it returns 0
// (the empty database), unless the index does not reach back to version 1
// — trimmed by retention (TrimTimes), or history recovered from a snapshot
// that no longer held the oldest versions — which is HistoryTrimmed: the
// answer would be a guess.
func (e *Engine) VersionAt(ts int64) (uint64, error) {
	e.commitMu.Lock()
	v, ok := e.times.atOrBefore(ts)
	first := e.times.first()
	e.commitMu.Unlock()
	vis := e.visible.Load()
	if !ok {
		if first > 1 {
			return 0, &dberr.Error{Code: dberr.HistoryTrimmed, Op: "VersionAt",
				Msg: "the time precedes the oldest commit whose time is known", Requested: core.Txn(0), EarliestRetained: core.Txn(first), Offset: -1}
		}
		return 0, nil
	}
	// Every version up to the watermark committed at or before the one
	// found: a newer unpublished commit is not visible yet, the watermark is.
	return min(v, vis), nil
}

// CommitTime returns the commit time of version v (that of the newest
// commit at or below it), false if the index holds none.
func (e *Engine) CommitTime(v uint64) (int64, bool) {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	return e.times.timeOf(v)
}

// TimeIndexBytes returns the memory held by the time index.
func (e *Engine) TimeIndexBytes() int {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	return e.times.bytes()
}

// BeginAtInto starts a read-only transaction on run that reads at snapshot
// snap, a version at or below the published watermark (the caller checks).
// The snapshot is registered like any other, so trimming that starts later
// keeps what it reads; a trim already under way may not have seen it, which
// the caller detects by checking the trim floors after reading.
func (e *Engine) BeginAtInto(t *Txn, run core.RunID, snap uint64) {
	*t = Txn{e: e, run: run, snap: snap}
	sh := &e.snaps.shards[shardOf(t)]
	sh.mu.Lock()
	if sh.snaps == nil {
		sh.snaps = make(map[uint64]int32)
	}
	sh.snaps[snap]++
	sh.mu.Unlock()
}
