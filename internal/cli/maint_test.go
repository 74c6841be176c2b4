package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// TestInfoListsTornTails cuts a torn tail (garbage appended to the last
// segment, cut by the next open) and checks that info reports the side
// file in both output formats.
func TestInfoListsTornTails(t *testing.T) {
	dir, _ := eventsDB(t, 3)
	path, data, _ := readSegment(t, dir)
	garbage := []byte(strings.Repeat("\xee", 100))
	if err := os.WriteFile(path, append(data, garbage...), 0o600); err != nil {
		t.Fatal(err)
	}
	// A write command opens the database for writing: recovery cuts the
	// tail and keeps it in a side file.
	mustRun(t, ExitOK, "kv", "put", dir, "agent", "k", "1")
	seg, _ := wal.ParseSegmentName(filepath.Base(path))
	side := filepath.Join(dir, "WAL", wal.TornSideName(seg, int64(len(data))))
	if _, err := vfs.OS().Stat(side); err != nil {
		t.Fatalf("no side file %s: %v", side, err)
	}
	out, _ := mustRun(t, ExitOK, "info", dir)
	if !strings.Contains(out, "torn tail") || !strings.Contains(out, side) {
		t.Errorf("info does not list %s:\n%s", side, out)
	}
	out, _ = mustRun(t, ExitOK, "info", "-o", "json", dir)
	v := decodeJSON[infoView](t, out)
	if len(v.TornTails) != 1 || v.TornTails[0].File != side || v.TornTails[0].Segment != seg ||
		v.TornTails[0].Offset != int64(len(data)) || v.TornTails[0].Bytes != int64(len(garbage)) {
		t.Errorf("info torn_tails = %+v, want %s (%d bytes)", v.TornTails, side, len(garbage))
	}
}
