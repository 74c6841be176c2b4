package engine

import "unsafe"

// ReleaseIdle gives back memory that the engine holds for speed rather than
// for data, once a Full compaction has trimmed: the unused rest of the
// version slab and the snapshot registry's empty maps. Both come back on
// demand (the next commit takes a new slab, the next Begin of a shard makes
// its map), so a database that purged everything returns to about the
// heap of a fresh one instead of keeping them forever.
//
// The slab matters after a purge: the purge markers come from it, and while
// the engine still allocates from it the whole array stays live even once
// every marker is gone. Releasing it costs at most the unused rest of one
// slab per compaction (the array lives on while a version in it does).
func (e *Engine) ReleaseIdle() {
	e.commitMu.Lock()
	e.versionSlab = nil
	e.commitMu.Unlock()
	for i := range e.snaps.shards {
		sh := &e.snaps.shards[i]
		sh.mu.Lock()
		// Go maps keep their buckets when emptied; a nil map is free and
		// registerIn makes a new one on the next Begin.
		if len(sh.snaps) == 0 {
			sh.snaps = nil
		}
		sh.mu.Unlock()
	}
}

// IdleBytes returns the memory ReleaseIdle would give back: the unused rest
// of the version slab and an estimate for the snapshot registry's empty
// maps (a small Go map costs about this much).
func (e *Engine) IdleBytes() int {
	const emptyMap = 160
	e.commitMu.Lock()
	n := len(e.versionSlab) * int(unsafe.Sizeof(version{}))
	e.commitMu.Unlock()
	for i := range e.snaps.shards {
		sh := &e.snaps.shards[i]
		sh.mu.Lock()
		if sh.snaps != nil && len(sh.snaps) == 0 {
			n += emptyMap
		}
		sh.mu.Unlock()
	}
	return n
}
