package cli

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
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

// TestDemoRefusesUserDatabase checks that the demo deletes an in-mem
// database only if an earlier demo created it, or with --force: a user's
// database is refused with a usage error and left intact, even with a
// marker copied from a demo directory.
func TestDemoRefusesUserDatabase(t *testing.T) {
	dir, run := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		must[inmem.Version](t)(db.KV().Put(ctx, run, "precious", inmem.String("user data")))
	})
	before := dirDigest(t, dir)
	_, stderr := mustRun(t, ExitUsage, "demo", "--steps", "2", dir)
	if !strings.Contains(stderr, "did not create") || !strings.Contains(stderr, "--force") {
		t.Errorf("the refusal does not explain itself:\n%s", stderr)
	}
	// A marker from another demo's database does not make it deletable.
	demoDir := filepath.Join(t.TempDir(), "demo")
	mustRun(t, ExitOK, "demo", "--steps", "2", demoDir)
	marker, err := os.ReadFile(filepath.Join(demoDir, demoMarkerName))
	if err != nil {
		t.Fatalf("the demo left no marker: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, demoMarkerName), marker, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, ExitUsage, "demo", "--steps", "2", dir)
	if err := os.Remove(filepath.Join(dir, demoMarkerName)); err != nil {
		t.Fatal(err)
	}
	if after := dirDigest(t, dir); after != before {
		t.Fatalf("the refused demo changed the user's database:\nbefore %s\nafter  %s", before, after)
	}
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.KV().Get(ctx, run, "precious")
	db.Close()
	if err != nil || !v.Value.Equal(inmem.String("user data")) {
		t.Fatalf("the user's data after the refused demo: %v, %v", v.Value, err)
	}
	mustRun(t, ExitOK, "check", dir)

	// The demo's own database is replaced, and --force replaces any.
	_, stderr = mustRun(t, ExitOK, "demo", "--steps", "2", demoDir)
	if !strings.Contains(stderr, "removed the previous demo database") {
		t.Errorf("stderr:\n%s", stderr)
	}
	mustRun(t, ExitOK, "demo", "--steps", "2", "--force", dir)
	if _, err := os.Stat(filepath.Join(dir, demoMarkerName)); err != nil {
		t.Errorf("no marker after a forced demo: %v", err)
	}
}

// dirDigest describes every file under dir: path, size and contents hash.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s:%x ", strings.TrimPrefix(p, dir), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
