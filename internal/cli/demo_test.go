package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// TestDemo runs the README's first command twice in one directory: the
// second run starts from a clean database, in the default directory.
func TestDemo(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "inmem-demo")

	stdout, stderr := mustRun(t, ExitOK, "demo", "-o", "json", dir)
	var rep demoReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("demo -o json: %v\n%s", err, stdout)
	}
	if !rep.OK {
		t.Fatalf("demo report not ok:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if len(rep.Verifications) < 8 {
		t.Errorf("%d verifications, want at least 8", len(rep.Verifications))
	}
	for _, c := range rep.Verifications {
		if !c.OK {
			t.Errorf("verification %q failed: %s", c.Name, c.Detail)
		}
	}
	if rep.Steps.Total != 12 || rep.Steps.BeforeCheckpoint != 6 || rep.Steps.Acknowledged != 6 {
		t.Errorf("steps %+v, want 12 with 6 before the checkpoint and 6 acknowledged by the child", rep.Steps)
	}
	want := map[string]int{"kv": 15, "events": 38, "state": 1, "traces": 36, "runs": 1, "json": 1, "vectors": 12}
	if len(rep.Primitives) != len(want) {
		t.Errorf("%d primitives reported, want %d", len(rep.Primitives), len(want))
	}
	for _, p := range rep.Primitives {
		if p.Count != want[p.Primitive] {
			t.Errorf("%s: count %d, want %d", p.Primitive, p.Count, want[p.Primitive])
		}
	}
	if rep.Run.Status != "completed" || rep.Run.Name != demoRunName {
		t.Errorf("run %+v, want %s completed", rep.Run, demoRunName)
	}
	if rep.Snapshot.Watermark == 0 || rep.Recovery.RecordsReplayed == 0 || rep.WAL.Segments == 0 || rep.WAL.Bytes == 0 {
		t.Errorf("storage figures missing: snapshot %+v, recovery %+v, wal %+v", rep.Snapshot, rep.Recovery, rep.WAL)
	}
	if rep.CommitVersion <= rep.Snapshot.Watermark {
		t.Errorf("commit version %d is not past the snapshot watermark %d", rep.CommitVersion, rep.Snapshot.Watermark)
	}
	if !strings.Contains(stderr, "killed with SIGKILL") {
		t.Errorf("stderr does not tell the crash:\n%s", stderr)
	}

	// The database the demo leaves is sound and inspectable.
	mustRun(t, ExitOK, "check", dir)
	out, _ := mustRun(t, ExitOK, "runs", "status", dir, demoRunName)
	if !strings.Contains(out, "completed") {
		t.Errorf("runs status: %s", out)
	}

	// Again, in the default directory: the old database is replaced.
	t.Chdir(parent)
	stdout, stderr = mustRun(t, ExitOK, "demo")
	if !strings.Contains(stdout, "result: every verification passed") {
		t.Errorf("table report:\n%s", stdout)
	}
	for _, s := range []string{"PRIMITIVE", "VERIFICATION", "vector search after recovery", "snapshot", "recovery"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("table report lacks %q:\n%s", s, stdout)
		}
	}
	if !strings.Contains(stderr, "removed the previous demo database") {
		t.Errorf("stderr:\n%s", stderr)
	}
	out, _ = mustRun(t, ExitOK, "runs", "ls", "-o", "json", "inmem-demo")
	var runs []runView
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 {
		t.Errorf("runs ls after the second demo: %v\n%s", err, out)
	}
}

// TestDemoRefusesOtherDirectories checks that the demo deletes nothing but
// an in-mem database.
func TestDemoRefusesOtherDirectories(t *testing.T) {
	foreign := t.TempDir()
	note := filepath.Join(foreign, "notes.txt")
	if err := os.WriteFile(note, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr := mustRun(t, ExitUsage, "demo", foreign)
	if !strings.Contains(stderr, "not an in-mem database") {
		t.Errorf("stderr: %s", stderr)
	}
	mustRun(t, ExitUsage, "demo", note)

	// A database directory with someone else's file in it.
	db, _ := newDB(t, nil)
	extra := filepath.Join(db, "README")
	if err := os.WriteFile(extra, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, ExitUsage, "demo", db)
	for _, p := range []string{note, extra, filepath.Join(db, "MANIFEST")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the demo removed %s: %v", p, err)
		}
	}
}

// TestDemoChildMustCrash: a child that exits instead of being killed is an
// error, not a passed demo.
func TestDemoChildMustCrash(t *testing.T) {
	defer func(f func(context.Context, ...string) (*exec.Cmd, error)) { childCommand = f }(childCommand)
	childCommand = func(ctx context.Context, args ...string) (*exec.Cmd, error) {
		return exec.CommandContext(ctx, os.Args[0], "-test.run=^$"), nil // exits 0 at once
	}
	_, stderr := mustRun(t, ExitError, "demo", filepath.Join(t.TempDir(), "d"))
	if !strings.Contains(stderr, "exited normally") {
		t.Errorf("stderr: %s", stderr)
	}
}

// TestDemoDetectsLostCommit cuts the crashed child's last acknowledged
// commit off the WAL before the demo reopens the directory: the demo must
// notice, report it and exit 3.
func TestDemoDetectsLostCommit(t *testing.T) {
	defer func(f func(string) error) { demoAfterCrash = f }(demoAfterCrash)
	demoAfterCrash = func(dir string) error {
		l, err := wal.List(vfs.OS(), filepath.Join(dir, "WAL"))
		if err != nil {
			return err
		}
		last := l.Segments[len(l.Segments)-1].Path
		data, err := os.ReadFile(last)
		if err != nil {
			return err
		}
		// The crashed child's segment is preallocated: its records end
		// where the zeros begin.
		end := format.SegmentHeaderSize
		for off := end; off < len(data); {
			f, _, err := format.ParseRecordFrame(data[off:])
			if err != nil {
				break
			}
			end, off = off, off+f.Size
		}
		return os.Truncate(last, int64(end))
	}
	stdout, stderr := mustRun(t, ExitIntegrity, "demo", filepath.Join(t.TempDir(), "d"))
	for _, s := range []string{"recovered to the last acknowledged commit  FAILED", "every acknowledged step present and exact  FAILED",
		"exact totals, nothing unacknowledged       FAILED", "event hash chain                           ok", "VERIFICATION FAILED"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("report lacks %q:\n%s", s, stdout)
		}
	}
	if !strings.Contains(stderr, "the demo failed") {
		t.Errorf("stderr:\n%s", stderr)
	}
}
