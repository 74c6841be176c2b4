package engine

import (
	"bytes"
	"slices"

	"github.com/inmemdb/inmem/internal/core"
)

// ForEachEntity calls fn for every entity that has a version at or below
// snap, with those versions oldest first, in a deterministic order: runs by
// id, spaces by tag, keys ascending. It reads while writers continue: the
// versions at or below snap are immutable, and entities created later have
// none. vs is reused between calls. It is the entity source a snapshot
// writer reads (snapshot.Source).
func (e *Engine) ForEachEntity(snap uint64, fn func(run core.RunID, space core.PrimitiveType, key string, vs []core.VersionRec) error) error {
	var runs []core.RunID
	e.runs.Range(func(k, _ any) bool {
		runs = append(runs, k.(core.RunID))
		return true
	})
	slices.SortFunc(runs, func(a, b core.RunID) int { return bytes.Compare(a[:], b[:]) })
	r := e.readers.enter()
	defer exitRead(r)
	var vs []core.VersionRec
	var err error
	for _, run := range runs {
		for sp := core.PrimitiveType(1); int(sp) < spaceCount; sp++ {
			e.scan(run, sp, "", "", func(key string, c *chain) bool {
				vs = vs[:0]
				for v := c.head.Load(); v != nil; v = v.next {
					if v.n <= snap {
						vs = append(vs, core.VersionRec{Version: v.n, Time: v.ts, Tombstone: v.tomb, Value: v.val})
					}
				}
				if len(vs) == 0 {
					return true
				}
				slices.Reverse(vs)
				err = fn(run, sp, key, vs)
				return err == nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Clock returns the newest assigned version and its commit timestamp.
func (e *Engine) Clock() (last uint64, lastTime int64) {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	return e.last, e.lastTime
}

// Load installs an entity's versions (oldest first) while recovering from a
// snapshot, before any commit. Observers see each version in order.
func (e *Engine) Load(run core.RunID, space core.PrimitiveType, key string, vs []core.VersionRec) {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	c := e.chainForInstall(run, space, key)
	for _, r := range vs {
		m := core.Mutation{Op: core.OpPut, Run: run, Space: space, Key: key, Value: r.Value, Version: r.Version}
		if r.Tombstone {
			m.Op = core.OpDelete
		}
		e.install(&m, c, r.Time)
		e.times.pending = append(e.times.pending, timePair{r.Version, r.Time})
	}
}

// Restore sets the engine's clock after a snapshot was loaded: the last
// assigned and visible version is w, committed at ts.
func (e *Engine) Restore(w uint64, ts int64) {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	e.last, e.lastTime = w, ts
	e.times.loadPending(w)
	e.visible.Store(w)
	// The snapshot's floors are installed: trim the index as the database
	// that wrote it did. Floors the WAL replay raises later only make reads
	// more conservative until the next Full compaction trims again.
	if t := e.TimeFloor(); t > 0 {
		e.times.trimBelow(t)
	}
}
