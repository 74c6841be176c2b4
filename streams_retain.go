package inmem

import (
	"errors"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
)

// retireStreams applies the stream policies of every run's event log and
// trace store at now (µs): it commits each stream's new start entry, then
// drops the retired entries from memory if no open snapshot predates that
// commit. It returns the versions removed and the memory they held.
// A stream whose retirement conflicts with a concurrent append is left for
// the next compaction.
func (db *DB) retireStreams(rules func(core.RunID, core.PrimitiveType) engine.Keep, now int64) (uint64, int64, error) {
	var runs []core.RunID
	db.eng.Runs(func(run core.RunID) bool {
		runs = append(runs, run)
		return true
	})
	var (
		removed uint64
		bytes   int64
	)
	for _, run := range runs {
		if db.eng.ForkPinned(run) {
			// A fork reads this run's streams through its link: they stay
			// whole until no fork does (engine.Drop refuses too, for a
			// fork made while this runs).
			continue
		}
		for _, sp := range [...]core.PrimitiveType{core.Event, core.Trace} {
			keep := rules(run, sp)
			if keep.All() {
				continue
			}
			var (
				marker uint64
				keys   []string
				err    error
			)
			if sp == core.Event {
				marker, keys, err = db.retireEvents(run, keep, now)
			} else {
				marker, keys, err = db.retireTraces(run, keep, now)
			}
			if errors.Is(err, ErrConflict) {
				db.opts.Logger.Info("retention: stream busy, left for the next compaction", "run", run.String(), "space", sp.String())
				continue
			}
			if err != nil {
				return removed, bytes, err
			}
			if marker == 0 || len(keys) == 0 {
				continue
			}
			n, b, ok := db.eng.Drop(run, sp, keys, marker)
			if !ok {
				continue // an open snapshot predates the start entry
			}
			removed += n
			bytes += b
		}
	}
	return removed, bytes, nil
}

// ancestorStarts calls fn with the newest start entry (key: evStartKey or
// trStartKey) of each of run's ancestors through the fork links live at
// snap. A fork shares its parent's stream up to the fork point, and with it
// what the parent had retired before the fork: reads below that start must
// answer HistoryTrimmed in the fork too. (Once a fork exists its parent
// retires nothing more while the link lives, see retireStreams.)
func (db *DB) ancestorStarts(run RunID, snap uint64, key string, fn func(Value)) {
	for range engine.MaxForkDepth {
		p, at, ok := db.eng.ForkOf(run, snap)
		if !ok {
			return
		}
		if e, ok := db.getLatest(p, core.System, key); ok {
			fn(Value(e.Value))
		}
		run, snap = p, at
	}
}
