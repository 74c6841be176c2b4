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

// TestStateCommands: state get and list show a run's cells.
func TestStateCommands(t *testing.T) {
	dir, run := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		must[inmem.Version](t)(db.State().Init(ctx, run, "phase", inmem.String("planning")))
		must[inmem.Version](t)(db.State().Set(ctx, run, "phase", inmem.String("acting")))
		must[inmem.Version](t)(db.State().Init(ctx, run, "plan/step", inmem.Int(3)))
	})
	out, _ := mustRun(t, ExitOK, "state", "get", dir, "agent", "phase")
	if strings.TrimSpace(out) != `"acting"` {
		t.Errorf("state get: %q", out)
	}
	out, _ = mustRun(t, ExitOK, "state", "get", "-o", "json", dir, run.String(), "phase")
	ev := decodeJSON[map[string]any](t, out)
	if ev["value"] != "acting" || ev["key"] != "phase" || ev["version"] == "" {
		t.Errorf("state get -o json: %v", ev)
	}
	out, _ = mustRun(t, ExitOK, "state", "list", "-o", "json", dir, "agent")
	cells := decodeJSON[[]map[string]any](t, out)
	if len(cells) != 2 || cells[0]["key"] != "phase" || cells[1]["key"] != "plan/step" || cells[1]["value"] != float64(3) {
		t.Errorf("state list: %v", cells)
	}
	out, _ = mustRun(t, ExitOK, "state", "list", dir, "agent", "plan/")
	if !strings.Contains(out, "plan/step") || strings.Contains(out, "phase") {
		t.Errorf("state list with a prefix:\n%s", out)
	}
	mustRun(t, ExitError, "state", "get", dir, "agent", "missing")
	mustRun(t, ExitUsage, "state", "get", dir, "agent")
}

// TestTracesCommands: traces get and list show a run's traces.
func TestTracesCommands(t *testing.T) {
	var root, child inmem.TraceID
	dir, _ := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		root = must[inmem.TraceID](t)(db.Traces().Record(ctx, run, inmem.TraceSpec{
			Body: inmem.ToolCallTrace{Tool: "search", Input: inmem.String("weather")}, Tags: []string{"web"}}))
		child = must[inmem.TraceID](t)(db.Traces().RecordChild(ctx, run, root, inmem.TraceSpec{
			Body: inmem.ThoughtTrace{Content: "it will rain"}}))
	})
	out, _ := mustRun(t, ExitOK, "traces", "list", dir, "agent")
	if !strings.Contains(out, "tool=search") || !strings.Contains(out, "content=it will rain") {
		t.Errorf("traces list:\n%s", out)
	}
	out, _ = mustRun(t, ExitOK, "traces", "list", "-o", "json", "--type", "thought", dir, "agent")
	ts := decodeJSON[[]traceView](t, out)
	if len(ts) != 1 || ts[0].ID != uint64(child) || ts[0].Parent != uint64(root) || ts[0].Body["content"] != "it will rain" {
		t.Errorf("traces list --type thought: %+v", ts)
	}
	out, _ = mustRun(t, ExitOK, "traces", "list", "-o", "json", "--tag", "web", dir, "agent")
	if ts := decodeJSON[[]traceView](t, out); len(ts) != 1 || ts[0].ID != uint64(root) {
		t.Errorf("traces list --tag web: %+v", ts)
	}
	out, _ = mustRun(t, ExitOK, "traces", "get", "-o", "json", dir, "agent", fmt.Sprint(root))
	tv := decodeJSON[traceView](t, out)
	if tv.Type != "tool_call" || tv.Body["tool"] != "search" || tv.Body["input"] != "weather" || len(tv.Tags) != 1 {
		t.Errorf("traces get: %+v", tv)
	}
	mustRun(t, ExitOK, "traces", "get", dir, "agent", fmt.Sprint(child))
	mustRun(t, ExitError, "traces", "get", dir, "agent", "99")
	mustRun(t, ExitUsage, "traces", "get", dir, "agent", "x")
	mustRun(t, ExitUsage, "traces", "list", "--type", "thought", "--tag", "web", dir, "agent")
}

// TestWALDumpReadableKeys: wal dump shows entity references, with the
// internal key still available as raw_key.
func TestWALDumpReadableKeys(t *testing.T) {
	dir, run := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		must[inmem.Version](t)(db.Events().Append(ctx, run, "note", inmem.String("hi")))
		must[inmem.Version](t)(db.State().Init(ctx, run, "phase", inmem.String("planning")))
		must[inmem.TraceID](t)(db.Traces().Record(ctx, run, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}}))
		must[inmem.Version](t)(db.KV().Put(ctx, run, "k", inmem.Int(1)))
	})
	out, _ := mustRun(t, ExitOK, "wal", "dump", "-o", "json", dir)
	recs := decodeJSON[[]recordView](t, out)
	refs := map[string]mutationView{}
	for _, r := range recs {
		for _, m := range r.Mutations {
			if m.RawKey == "" || m.Kind == "" {
				t.Errorf("mutation without raw_key or kind: %+v", m)
			}
			if m.Kind != "unknown" && strings.Contains(m.Key, `\x`) {
				t.Errorf("key %q is not readable (%s)", m.Key, m.Kind)
			}
			refs[m.Key] = m
		}
	}
	for _, want := range []string{
		"run://" + run.String(),
		"event://" + run.String() + "/0",
		"state://" + run.String() + "/phase",
		"trace://" + run.String() + "/1",
		"kv://" + run.String() + "/k",
	} {
		m, ok := refs[want]
		if !ok {
			t.Errorf("no mutation with key %s in the dump:\n%s", want, out)
			continue
		}
		if m.Ref != want {
			t.Errorf("%s: ref %q", want, m.Ref)
		}
	}
	if m := refs["event://"+run.String()+"/0"]; m.RawKey != `e\x00\x00\x00\x00\x00\x00\x00\x00` {
		t.Errorf("event raw_key %q", m.RawKey)
	}
	if _, ok := refs["event://"+run.String()+" [event.head]"]; !ok {
		t.Errorf("the log head is not shown as such:\n%s", out)
	}
	out, _ = mustRun(t, ExitOK, "wal", "dump", dir)
	if !strings.Contains(out, "event://"+run.String()+"/0") || !strings.Contains(out, "[trace.index.time at ") {
		t.Errorf("table dump:\n%s", out)
	}
}
