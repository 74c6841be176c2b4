package engine

import "github.com/inmemdb/inmem/internal/core"

// Dropping retired stream entries.
//
// Event logs and trace stores retain a prefix of their stream rather than
// versions of each entity: an event is written once, so per-entity trimming
// never removes one. Retiring a prefix is two steps. The caller first
// commits a marker (the stream's first retained position) at version
// marker; readers whose snapshot includes the marker answer HistoryTrimmed
// below it without looking for the entries. Drop then removes the entries
// themselves, but only once no open snapshot predates the marker: a
// transaction that began before it may still read them, and it keeps
// reading what it saw. A Drop that has to wait simply does nothing; the
// next compaction retries.

// Drop removes every version of the given keys of (run, sp), which the
// caller retired with a marker committed at version marker. It returns the
// number of versions removed, an estimate of the memory they held (as
// TrimResult.BytesRemoved), and ok false, having removed nothing, while an
// open snapshot is older than marker. A key with a version newer than
// marker is left alone (it was written after the retirement was decided).
// No trim floor rises: the start entry is what tells readers, views of
// the past included, that the entries are gone, and a floor would refuse
// views of the whole run below the marker.
func (e *Engine) Drop(run core.RunID, sp core.PrimitiveType, keys []string, marker uint64) (removed uint64, bytes int64, ok bool) {
	if sp == core.System || len(keys) == 0 {
		return 0, 0, true
	}
	if e.OldestSnapshot() < marker || e.ForkPinned(run) {
		return 0, 0, false
	}
	var gone []string
	for start := 0; start < len(keys); start += trimBatch {
		batch := keys[start:min(start+trimBatch, len(keys))]
		e.commitMu.Lock()
		if e.ForkPinned(run) {
			// A fork made meanwhile reads these entries through its link.
			e.commitMu.Unlock()
			break
		}
		for _, k := range batch {
			c := e.lookup(run, sp, k)
			if c == nil || c.purged() {
				continue
			}
			h := c.head.Load()
			if h == nil || h.n > marker {
				continue
			}
			for v := h; v != nil; v = v.next {
				removed++
				bytes += versionBytes(v)
			}
			bytes += int64(len(k))
			e.purgeChain(c)
			gone = append(gone, k)
		}
		e.commitMu.Unlock()
	}
	if len(gone) > 0 {
		e.commitMu.Lock()
		e.dropKeys(run, sp, gone)
		e.commitMu.Unlock()
	}
	return removed, bytes, true
}
