package inmem

import (
	"context"
	"iter"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
)

// ScanUnchecked is KVStore.Scan as it was before iteration reported
// errors: it checks the database once and ctx per key and stops silently.
// Benchmarks measure the cost of the checked Scan against it.
func ScanUnchecked(db *DB, ctx context.Context, run RunID, prefix string) iter.Seq2[string, Versioned[Value]] {
	snap := db.eng.Visible()
	return func(yield func(string, Versioned[Value]) bool) {
		if db.checkOpen("kv.Scan") != nil {
			return
		}
		db.eng.ScanSnapshot(run, core.KV, prefix, engine.PrefixEnd(prefix), snap, func(key string, e engine.Entry) bool {
			if ctx.Err() != nil {
				return false
			}
			return yield(key, versioned(e))
		})
	}
}
