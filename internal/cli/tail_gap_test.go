package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

// TestTailFromCompactedVersion: tail --from a version a compaction removed
// from the log fails with HistoryTrimmed at once, also when the checkpoint
// left the log without a single record (no commit after the gap).
func TestTailFromCompactedVersion(t *testing.T) {
	dir, _ := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		for i := range 10 {
			must[inmem.Version](t)(db.KV().Put(ctx, run, fmt.Sprintf("k%d", i), inmem.Int(int64(i))))
		}
		must[inmem.CheckpointInfo](t)(db.Checkpoint(ctx))
		must[inmem.CompactInfo](t)(db.Compact(ctx, inmem.WALOnly))
	})
	for _, from := range []string{"1", "3"} {
		_, stderr := mustRun(t, ExitError, "tail", dir, "--from", from)
		if !strings.Contains(stderr, "HistoryTrimmed") {
			t.Errorf("tail --from %s: %s, want HistoryTrimmed", from, stderr)
		}
	}
}
