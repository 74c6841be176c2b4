package inmem

import (
	"fmt"
	"strings"

	"github.com/inmemdb/inmem/internal/core"
)

// DumpState renders every entity's versions at or below version at, in a
// canonical order, for tests that compare logical states.
func DumpState(db *DB, at uint64) string {
	var b strings.Builder
	db.eng.ForEachEntity(at, func(run core.RunID, space core.PrimitiveType, key string, vs []core.VersionRec) error {
		fmt.Fprintf(&b, "%s %s %q:", run, space, key)
		for _, v := range vs {
			if v.Tombstone {
				fmt.Fprintf(&b, " %d@%d=<deleted>", v.Version, v.Time)
			} else {
				fmt.Fprintf(&b, " %d@%d=%s", v.Version, v.Time, v.Value)
			}
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

// Visible returns the newest published commit version.
func Visible(db *DB) uint64 { return db.eng.Visible() }

// SetCompactingHook sets a function that runs while a compaction holds its
// lock.
func SetCompactingHook(f func()) {
	if f == nil {
		testHookCompacting = nil
		return
	}
	testHookCompacting = func(*storage) { f() }
}

// VectorSearchPaths returns how many searches the index answered and how
// many fell back to scanning chains.
func VectorSearchPaths(db *DB) (indexed, scanned uint64) {
	return db.vectors.indexed.Load(), db.vectors.scanned.Load()
}

// SnapshotLockHeld reports whether a snapshot writer (Checkpoint, Export)
// or a compaction holds the database's snapshot lock.
func SnapshotLockHeld(db *DB) bool {
	if !db.store.snapMu.TryLock() {
		return true
	}
	db.store.snapMu.Unlock()
	return false
}
