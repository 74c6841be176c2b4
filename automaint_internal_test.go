package inmem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/inmemdb/inmem/vfs"
)

// The maintenance tests drive ticks through maintHooks and wait for each
// tick's report: nothing depends on timing.

func newMaintHooks() *maintHooks {
	return &maintHooks{check: make(chan time.Time), full: make(chan time.Time), done: make(chan maintEvent), stopping: make(chan struct{})}
}

// tick sends one tick on c and returns the report of its handling.
func (h *maintHooks) tick(t *testing.T, c chan time.Time) maintEvent {
	t.Helper()
	c <- time.Time{}
	return <-h.done
}

func openMaint(t *testing.T, fsys vfs.FS, h *maintHooks, cfg AutoMaintenance, tweak func(*Options)) *DB {
	t.Helper()
	o := &Options{FS: fsys, Maintenance: cfg, WALSegmentSize: 1 << 10, maintHooks: h}
	if tweak != nil {
		tweak(o)
	}
	db, err := Open("/db", o)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func putN(t *testing.T, db *DB, prefix string, n, size int) {
	t.Helper()
	v := String(strings.Repeat("x", size))
	for i := range n {
		if _, err := db.KV().Put(context.Background(), GlobalRun, fmt.Sprintf("%s%05d", prefix, i), v); err != nil {
			t.Fatal(err)
		}
	}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAutoMaintenanceCheckpointsWhenWALGrows(t *testing.T) {
	h := newMaintHooks()
	var logs lockedBuffer
	db := openMaint(t, vfs.NewMem(), h, AutoMaintenance{CheckpointWALBytes: 4 << 10}, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	defer db.Close()
	putN(t, db, "a", 2, 10)
	if ev := h.tick(t, h.check); ev.ran {
		t.Fatalf("checkpoint ran below the threshold: %+v", ev)
	}
	putN(t, db, "b", 40, 200)
	ev := h.tick(t, h.check)
	if !ev.ran || ev.err != nil {
		t.Fatalf("checkpoint did not run above the threshold: %+v", ev)
	}
	st := db.Stats()
	ms := st.Maintenance
	if !ms.Enabled || ms.Checkpoint.Runs != 1 || ms.Checkpoint.Failures != 0 || ms.Checkpoint.LastRun.IsZero() {
		t.Fatalf("stats after a background checkpoint: %+v", ms)
	}
	if ms.Checkpoint.SegmentsRemoved == 0 || ms.Checkpoint.BytesReclaimed <= 0 {
		t.Fatalf("the WAL-only compaction reclaimed nothing: %+v", ms.Checkpoint)
	}
	if ms.WALSinceSnapshot >= 4<<10 {
		t.Fatalf("WAL since the snapshot is %d after the checkpoint", ms.WALSinceSnapshot)
	}
	if m := db.store.man.Get(); !m.HasSnapshot || m.SnapshotWatermark != st.CommitVersion {
		t.Fatalf("MANIFEST after the background checkpoint: %+v", m)
	}
	if l := logs.String(); !strings.Contains(l, "msg=maintenance task=checkpoint") || !strings.Contains(l, "bytes_reclaimed=") {
		t.Errorf("the background checkpoint is not logged:\n%s", l)
	}
	// Below the threshold again: no second checkpoint.
	if ev := h.tick(t, h.check); ev.ran {
		t.Fatalf("checkpoint ran again without new WAL: %+v", ev)
	}
}

// A database reopened with a long WAL above its snapshot counts it.
func TestAutoMaintenanceCountsRecoveredWAL(t *testing.T) {
	fsys := vfs.NewMem()
	db := openMaint(t, fsys, nil, AutoMaintenance{Disabled: true}, nil)
	putN(t, db, "a", 40, 200)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	h := newMaintHooks()
	db = openMaint(t, fsys, h, AutoMaintenance{CheckpointWALBytes: 4 << 10}, nil)
	defer db.Close()
	if n := db.Stats().Maintenance.WALSinceSnapshot; n < 4<<10 {
		t.Fatalf("WAL since the snapshot after recovery is %d", n)
	}
	if ev := h.tick(t, h.check); !ev.ran || ev.err != nil {
		t.Fatalf("no checkpoint of the recovered WAL: %+v", ev)
	}
}

func TestAutoMaintenanceFullCompactionOnInterval(t *testing.T) {
	for _, mode := range []string{"dir", "memory"} {
		t.Run(mode, func(t *testing.T) {
			h := newMaintHooks()
			var db *DB
			if mode == "dir" {
				db = openMaint(t, vfs.NewMem(), h, AutoMaintenance{}, nil)
			} else {
				var err error
				db, err = Open("", &Options{maintHooks: h})
				if err != nil {
					t.Fatal(err)
				}
			}
			defer db.Close()
			ctx := context.Background()
			for i := range 5 {
				if _, err := db.KV().Put(ctx, GlobalRun, "k", Int(int64(i))); err != nil {
					t.Fatal(err)
				}
			}
			if ev := h.tick(t, h.full); ev.ran {
				t.Fatalf("Full compaction ran with only KeepAll policies: %+v", ev)
			}
			if _, err := db.SetRetentionPolicy(ctx, GlobalRun, KeepLast(1)); err != nil {
				t.Fatal(err)
			}
			ev := h.tick(t, h.full)
			if !ev.ran || ev.err != nil {
				t.Fatalf("Full compaction did not run: %+v", ev)
			}
			fs := db.Stats().Maintenance.Full
			if fs.Runs != 1 || fs.VersionsRemoved < 4 || fs.LastVersionsRemoved != fs.VersionsRemoved {
				t.Fatalf("Full stats: %+v", fs)
			}
			_, err := db.KV().GetAt(ctx, GlobalRun, "k", Txn(1))
			if !errors.Is(err, ErrHistoryTrimmed) {
				t.Fatalf("GetAt a trimmed version: %v", err)
			}
		})
	}
}

// A background task that finds a manual compaction running skips its turn
// instead of overlapping it.
func TestAutoMaintenanceSkipsWhileCompacting(t *testing.T) {
	h := newMaintHooks()
	db := openMaint(t, vfs.NewMem(), h, AutoMaintenance{CheckpointWALBytes: 1 << 10}, nil)
	defer db.Close()
	putN(t, db, "a", 20, 200)
	db.store.compMu.Lock() // as a manual Compact holds it
	ev := h.tick(t, h.check)
	db.store.compMu.Unlock()
	if ev.ran {
		t.Fatalf("background checkpoint overlapped a compaction: %+v", ev)
	}
	if s := db.Stats().Maintenance.Checkpoint; s.Skipped != 1 || s.Runs != 0 {
		t.Fatalf("stats: %+v", s)
	}
	if ev := h.tick(t, h.check); !ev.ran || ev.err != nil {
		t.Fatalf("next tick: %+v", ev)
	}
}

// Failures of background maintenance are reported in Stats and never
// poison commits, including a failed fsync, which poisons the database when
// a manual Checkpoint meets it.
func TestAutoMaintenanceErrorNeverPoisons(t *testing.T) {
	cases := []struct {
		name   string
		rules  []vfs.Rule
		halted bool
	}{
		{name: "create", rules: []vfs.Rule{{OpKinds: vfs.OpCreate, Path: "snap-*", Index: -1}}},
		{name: "fsync", rules: []vfs.Rule{{OpKinds: vfs.OpSync, Path: "snap-*", Index: -1}}},
		{name: "manifest-rename-once"}, // through renameOnceFS
		{name: "manifest-stuck", halted: true, rules: []vfs.Rule{{OpKinds: vfs.OpRename, Path: "MANIFEST", Index: -1, Sticky: true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			once := &renameOnceFS{FS: vfs.NewMem()}
			efs := vfs.NewErrorFS(once)
			h := newMaintHooks()
			// Segments large enough not to rotate: a rotation publishes
			// the MANIFEST, which the stuck case fails for good.
			db := openMaint(t, efs, h, AutoMaintenance{CheckpointWALBytes: 1 << 10}, func(o *Options) { o.WALSegmentSize = 1 << 20 })
			defer db.Close()
			putN(t, db, "a", 20, 200)
			for _, r := range c.rules {
				efs.AddRule(r)
			}
			once.armed.Store(c.rules == nil)
			ev := h.tick(t, h.check)
			if !ev.ran || ev.err == nil {
				t.Fatalf("the injected failure did not fail the checkpoint: %+v", ev)
			}
			ms := db.Stats().Maintenance
			if ms.Checkpoint.Failures != 1 || ms.LastError == "" || ms.Checkpoint.LastError == "" || ms.Halted != c.halted {
				t.Fatalf("stats after a failure: %+v", ms)
			}
			if err := db.eng.Poisoned(); err != nil {
				t.Fatalf("a background failure poisoned the database: %v", err)
			}
			if _, err := db.KV().Put(context.Background(), GlobalRun, "after", Int(1)); err != nil {
				t.Fatalf("commit after a background failure: %v", err)
			}
			efs.ClearRules()
			ev = h.tick(t, h.check)
			if c.halted {
				if ev.ran {
					t.Fatalf("halted maintenance ran: %+v", ev)
				}
				return
			}
			if !ev.ran || ev.err != nil {
				t.Fatalf("maintenance did not recover once the disk did: %+v", ev)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db2, err := Open("/db", &Options{FS: efs, Maintenance: AutoMaintenance{Disabled: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			if _, err := db2.KV().Get(context.Background(), GlobalRun, "after"); err != nil {
				t.Fatalf("commit lost: %v", err)
			}
		})
	}
}

// renameOnceFS fails the first rename of the MANIFEST once armed.
type renameOnceFS struct {
	vfs.FS
	armed atomic.Bool
}

func (r *renameOnceFS) Rename(oldname, newname string) error {
	if filepath.Base(newname) == "MANIFEST" && r.armed.Swap(false) {
		return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EIO}
	}
	return r.FS.Rename(oldname, newname)
}

// blockFS blocks the first write of a snapshot file until gate is closed.
type blockFS struct {
	vfs.FS
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (b *blockFS) Create(name string) (vfs.File, error) {
	f, err := b.FS.Create(name)
	if err != nil || !strings.Contains(name, "snap-") {
		return f, err
	}
	return &blockFile{File: f, b: b}, nil
}

type blockFile struct {
	vfs.File
	b *blockFS
}

func (f *blockFile) Write(p []byte) (int, error) {
	f.b.once.Do(func() {
		close(f.b.entered)
		<-f.b.gate
	})
	return f.File.Write(p)
}

// Close cancels a running background checkpoint: the checkpoint stops at
// its next cancellation point, publishes nothing, and Close returns.
func TestAutoMaintenanceCloseCancelsRunningTask(t *testing.T) {
	bfs := &blockFS{FS: vfs.NewMem(), entered: make(chan struct{}), gate: make(chan struct{})}
	h := newMaintHooks()
	db := openMaint(t, bfs, h, AutoMaintenance{CheckpointWALBytes: 1 << 10}, func(o *Options) { o.WALSegmentSize = 64 << 20 })
	// More than one snapshot section (1 MiB), so that the writer checks
	// its context after the blocked write.
	v := String(strings.Repeat("x", 1<<10))
	err := db.Update(context.Background(), GlobalRun, func(tx *Tx) error {
		for i := range 1500 {
			if err := tx.KV().Put(fmt.Sprintf("a%05d", i), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.check <- time.Time{}
	<-bfs.entered
	// A manual compaction does not overlap the background one.
	if _, err := db.Compact(context.Background(), WALOnly); !errors.Is(err, ErrCompactionRunning) {
		t.Fatalf("Compact while a background checkpoint runs: %v", err)
	}
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	<-h.stopping
	close(bfs.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if m := db.store.man.Get(); m.HasSnapshot {
		t.Fatalf("a cancelled checkpoint published snapshot %d", m.SnapshotID)
	}
	if s := db.Stats().Maintenance.Checkpoint; s.Failures != 0 || s.Runs != 0 {
		t.Fatalf("a cancelled checkpoint counted as a run: %+v", s)
	}
}

func TestAutoMaintenanceOffWhereNothingToDo(t *testing.T) {
	fsys := vfs.NewMem()
	db := openMaint(t, fsys, nil, AutoMaintenance{Disabled: true}, nil)
	if db.maint != nil || db.Stats().Maintenance.Enabled {
		t.Fatal("Disabled maintenance runs")
	}
	db.Close()
	db = openMaint(t, fsys, nil, AutoMaintenance{}, func(o *Options) { o.ReadOnly, o.Durability = true, InMemory })
	if db.maint != nil {
		t.Fatal("maintenance runs for a read-only database")
	}
	db.Close()
	db = openMaint(t, fsys, nil, AutoMaintenance{}, func(o *Options) { o.Durability = InMemory })
	if db.maint == nil || db.maint.walCheck {
		t.Fatal("an InMemory database with a directory: want interval retention only")
	}
	db.Close()
	db = openMaint(t, fsys, nil, AutoMaintenance{CheckpointWALBytes: -1, FullInterval: -1}, nil)
	if db.maint != nil {
		t.Fatal("both triggers off, yet maintenance runs")
	}
	db.Close()
}

func TestAutoMaintenanceOptionsValidate(t *testing.T) {
	bad := []AutoMaintenance{
		{CheckpointWALBytes: 10},
		{FullInterval: time.Millisecond},
		{CheckInterval: -1},
		{CheckInterval: time.Microsecond},
	}
	for _, m := range bad {
		o := Options{Maintenance: m}
		if err := o.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	good := []AutoMaintenance{{}, {Disabled: true}, {CheckpointWALBytes: -1, FullInterval: -1}, {CheckpointWALBytes: 1 << 10, FullInterval: time.Second, CheckInterval: time.Millisecond}}
	for _, m := range good {
		o := Options{Maintenance: m}
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
	d := DefaultOptions().Maintenance
	if d.Disabled || d.CheckpointWALBytes != 64<<20 || d.FullInterval != time.Hour || d.CheckInterval != time.Second {
		t.Errorf("defaults: %+v", d)
	}
}

func TestTrimFloorsListsRaisedFloors(t *testing.T) {
	db, err := Open("", &Options{Maintenance: AutoMaintenance{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if fl, err := db.TrimFloors(); err != nil || len(fl) != 0 {
		t.Fatalf("floors of a new database: %v %v", fl, err)
	}
	for i := range 3 {
		if _, err := db.KV().Put(ctx, GlobalRun, "k", Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SetRetentionPolicy(ctx, GlobalRun, KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, Full); err != nil {
		t.Fatal(err)
	}
	fl, err := db.TrimFloors()
	if err != nil || len(fl) == 0 {
		t.Fatalf("floors after a Full compaction: %v %v", fl, err)
	}
	var kv *TrimFloor
	for i := range fl {
		if fl[i].Run == GlobalRun && fl[i].Primitive == PrimitiveKV {
			kv = &fl[i]
		}
	}
	if kv == nil || kv.Floor.N < 2 {
		t.Fatalf("no KV floor of the global run: %+v", fl)
	}
	db.Close()
	if _, err := db.TrimFloors(); !errors.Is(err, ErrClosed) {
		t.Fatalf("TrimFloors after Close: %v", err)
	}
}
