package inmem_test

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// maintPhase is one step of the maintenance script: commits or one
// maintenance call.
type maintPhase struct {
	name  string
	steps [2]int // commit steps [from, to], when name is "commits"
}

var maintScript = []maintPhase{
	{name: "commits", steps: [2]int{1, 12}},
	{name: "checkpoint"},
	{name: "commits", steps: [2]int{13, 24}},
	{name: "checkpoint"},
	{name: "compact"},
	{name: "export"},
	{name: "commits", steps: [2]int{25, 30}},
}

func runMaint(db *inmem.DB, name string) error {
	switch name {
	case "checkpoint":
		_, err := db.Checkpoint(ctx)
		return err
	case "compact":
		_, err := db.Compact(ctx, inmem.WALOnly)
		return err
	case "export":
		_, err := db.Export(ctx, "/export")
		return err
	}
	panic(name)
}

// uncertainFailure reports whether err comes from an injected failure that
// leaves the durable state unknown: a failed fsync or rename.
func uncertainFailure(err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Op {
	case "sync", "fdatasync", "rename":
		// Only the database's own files: failures writing an export's
		// copy concern another directory.
		return pe.Path == dbDir || isUnder(pe.Path, dbDir)
	}
	return false
}

func isUnder(p, dir string) bool { return len(p) > len(dir) && p[:len(dir)+1] == dir+"/" }

// TestFaults_MaintenanceErrorAtEveryOperation injects an I/O error at every
// file-system operation of Checkpoint, Compact and Export (counted in a dry
// run). The call returns a typed error and nothing panics. A failed fsync
// or rename of the database's files poisons the database, as
// docs/DURABILITY.md says: later commits and maintenance return Poisoned,
// reads keep working. Any other failure leaves the database working, and
// the rest of the script succeeds. Either way reopening — the files as
// left, or what a power cut would leave — recovers every acknowledged
// commit.
func TestFaults_MaintenanceErrorAtEveryOperation(t *testing.T) {
	const segSize = 2048
	probe := vfs.NewErrorFS(vfs.NewMem())
	db := mustOpenFS(t, probe, inmem.Strict, segSize)
	type span struct {
		name       string
		start, end int
	}
	var spans []span
	for _, ph := range maintScript {
		if ph.name == "commits" {
			for i := ph.steps[0]; i <= ph.steps[1]; i++ {
				if err := commitStep(db, i); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		start := probe.OpCount()
		if err := runMaint(db, ph.name); err != nil {
			t.Fatalf("dry run: %s: %v", ph.name, err)
		}
		spans = append(spans, span{ph.name, start, probe.OpCount()})
	}
	db.Close()

	poisoned, survived := 0, 0
	for _, sp := range spans {
		if sp.end == sp.start {
			t.Fatalf("%s did no file operation in the dry run", sp.name)
		}
		for k := sp.start; k < sp.end; k++ {
			for _, rule := range []vfs.Rule{
				{Index: k, Err: vfs.ErrEIO},
				{Index: k, Err: vfs.ErrENOSPC, PartialWrite: true},
			} {
				where := fmt.Sprintf("%s op %d (%v)", sp.name, k, rule.Err)
				mem := vfs.NewMem()
				efs := vfs.NewErrorFS(mem, rule)
				db := mustOpenFS(t, efs, inmem.Strict, segSize)
				acked, failed := 0, false
			script:
				for _, ph := range maintScript {
					if ph.name == "commits" {
						for i := ph.steps[0]; i <= ph.steps[1]; i++ {
							if err := commitStep(db, i); err != nil {
								if !failed {
									t.Fatalf("%s: commit %d: %v", where, i, err)
								}
								if !errors.Is(err, inmem.ErrPoisoned) {
									t.Fatalf("%s: commit after poisoning = %v, want Poisoned", where, err)
								}
								break script
							}
							acked = i
						}
						continue
					}
					err := runMaint(db, ph.name)
					if err == nil {
						continue
					}
					if failed {
						if !errors.Is(err, inmem.ErrPoisoned) {
							t.Fatalf("%s: %s after poisoning = %v, want Poisoned", where, ph.name, err)
						}
						continue
					}
					failed = true
					var ie *inmem.Error
					if !errors.As(err, &ie) {
						t.Fatalf("%s: %s returned %T %v, want *inmem.Error", where, ph.name, err, err)
					}
					if !errors.Is(err, rule.Err.(syscall.Errno)) {
						t.Fatalf("%s: %s = %v, does not wrap the injected error", where, ph.name, err)
					}
					uncertain := uncertainFailure(err)
					if got := errors.Is(err, inmem.ErrPoisoned); got != uncertain {
						t.Fatalf("%s: %s = %v: poisoned %v, want %v", where, ph.name, err, got, uncertain)
					}
					if !uncertain {
						survived++
						failed = false // the database keeps working: the script goes on
						continue
					}
					poisoned++
					if err := commitStep(db, 999); !errors.Is(err, inmem.ErrPoisoned) {
						t.Fatalf("%s: commit after poisoning = %v, want Poisoned", where, err)
					}
					for _, m := range []string{"checkpoint", "compact", "export"} {
						if err := runMaint(db, m); !errors.Is(err, inmem.ErrPoisoned) {
							t.Fatalf("%s: %s after poisoning = %v, want Poisoned", where, m, err)
						}
					}
					if _, err := db.KV().Get(ctx, crashRun, fmt.Sprintf("k%05d", acked)); err != nil {
						t.Fatalf("%s: read after poisoning: %v", where, err)
					}
				}
				if !failed && acked != 30 {
					t.Fatalf("%s: the script stopped at step %d without a failure", where, acked)
				}
				db.Close()
				for _, img := range []*vfs.MemFS{mem.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll}), mem.Crash(vfs.CrashOptions{Mode: vfs.CrashDropUnsynced})} {
					db, err := openFS(t, img, inmem.Strict, segSize)
					if err != nil {
						t.Fatalf("%s: reopen: %v", where, err)
					}
					checkPrefix(t, db, acked)
					if err := commitStep(db, acked+1); err != nil {
						t.Fatalf("%s: commit after reopening: %v", where, err)
					}
					db.Close()
				}
			}
		}
	}
	if poisoned == 0 || survived == 0 {
		t.Fatalf("%d failures poisoned, %d did not: the script missed a kind", poisoned, survived)
	}
	t.Logf("%d maintenance operations; %d failures poisoned, %d left the database working", len(spans), poisoned, survived)
}

// TestCompaction_ExcludesCheckpoint checks that a compaction holds the lock
// that checkpoints hold while they write and publish a snapshot, so that it
// never removes files under a running checkpoint (it would delete the
// snapshot a checkpoint is about to publish as "stale").
func TestCompaction_ExcludesCheckpoint(t *testing.T) {
	db := mustOpenFS(t, vfs.NewMem(), inmem.Strict, 2048)
	defer db.Close()
	runSteps(db, 10)
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	var held bool
	inmem.SetCompactingHook(func() { held = inmem.SnapshotLockHeld(db) })
	defer inmem.SetCompactingHook(nil)
	if _, err := db.Compact(ctx, inmem.WALOnly); err != nil {
		t.Fatal(err)
	}
	if !held {
		t.Fatal("Compact ran without the snapshot lock: a Checkpoint could run beside it")
	}
}
