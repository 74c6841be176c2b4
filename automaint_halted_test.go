package inmem

import (
	"context"
	"errors"
	"testing"

	"github.com/inmemdb/inmem/vfs"
)

// TestMaintenanceHaltedRefusesManualRuns: once background maintenance has
// halted (the MANIFEST cannot be published), Checkpoint, Compact and Export
// are refused with ErrMaintenanceHalted instead of hitting the same failure,
// which for a manual run would poison the database.
func TestMaintenanceHaltedRefusesManualRuns(t *testing.T) {
	efs := vfs.NewErrorFS(vfs.NewMem())
	h := newMaintHooks()
	db := openMaint(t, efs, h, AutoMaintenance{CheckpointWALBytes: 1 << 10}, func(o *Options) { o.WALSegmentSize = 1 << 20 })
	defer db.Close()
	putN(t, db, "a", 20, 200)
	efs.AddRule(vfs.Rule{OpKinds: vfs.OpRename, Path: "MANIFEST", Index: -1, Sticky: true})
	if ev := h.tick(t, h.check); !ev.ran || ev.err == nil {
		t.Fatalf("the injected failure did not fail the checkpoint: %+v", ev)
	}
	if !db.Stats().Maintenance.Halted {
		t.Fatal("maintenance did not halt")
	}
	ctx := context.Background()
	check := func(op string, err error) {
		t.Helper()
		var e *Error
		if !errors.Is(err, ErrMaintenanceHalted) || !errors.As(err, &e) || e.Code != CodeInternal || e.Op != op {
			t.Fatalf("%s while halted: %v, want ErrMaintenanceHalted (Internal, op %s)", op, err, op)
		}
	}
	_, err := db.Checkpoint(ctx)
	check("Checkpoint", err)
	_, err = db.Compact(ctx, WALOnly)
	check("Compact", err)
	_, err = db.Compact(ctx, Full)
	check("Compact", err)
	_, err = db.Export(ctx, "/copy")
	check("Export", err)
	if err := db.eng.Poisoned(); err != nil {
		t.Fatalf("a refused manual run poisoned the database: %v", err)
	}
	if _, err := db.KV().Put(ctx, GlobalRun, "after", Int(1)); err != nil {
		t.Fatalf("commit while maintenance is halted: %v", err)
	}
	// Once the disk works again the refusal stays until a reopen, which
	// recovers the durable state from the files.
	efs.ClearRules()
	_, err = db.Checkpoint(ctx)
	check("Checkpoint", err)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := openMaint(t, efs, newMaintHooks(), AutoMaintenance{}, nil)
	defer db2.Close()
	if _, err := db2.Checkpoint(ctx); err != nil {
		t.Fatalf("Checkpoint after reopening: %v", err)
	}
	if _, err := db2.KV().Get(ctx, GlobalRun, "after"); err != nil {
		t.Fatalf("commit lost: %v", err)
	}
}
