package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

func segPath(dir string, n uint64) string { return filepath.Join(WALDir(dir), wal.SegmentName(n)) }

func tornPath(dir string, n uint64, off int64) string {
	return filepath.Join(WALDir(dir), wal.TornSideName(n, off))
}

func TestCoveredSegments(t *testing.T) {
	l := wal.Listing{Segments: []wal.SegmentFile{{Number: 3}, {Number: 4}, {Number: 5}, {Number: 6}}}
	last := map[uint64]uint64{3: 10, 4: 20, 5: 30, 6: 40}
	for _, tc := range []struct {
		name      string
		watermark uint64
		active    uint64
		last      map[uint64]uint64
		want      []uint64
	}{
		{"nothing covered", 9, 6, last, nil},
		{"up to the watermark", 20, 6, last, []uint64{3, 4}},
		{"a record exactly at the watermark is covered", 30, 6, last, []uint64{3, 4, 5}},
		{"never the active segment", 100, 5, last, []uint64{3, 4}},
		{"nor one newer than the active segment", 100, 4, last, []uint64{3}},
		{"an unknown segment stops the run", 100, 7, map[uint64]uint64{3: 10, 5: 30, 6: 40}, []uint64{3}},
		{"an uncovered segment stops the run", 35, 7, map[uint64]uint64{3: 10, 4: 50, 5: 30, 6: 40}, []uint64{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			for _, seg := range CoveredSegments(l, tc.watermark, tc.active, tc.last) {
				got = append(got, seg.Number)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("covered %v, want %v", got, tc.want)
			}
		})
	}
}

// walDatabase lays out segments 1–4 (four bytes each) with side files of
// segments 1 and 3 and a foreign file.
func walDatabase(t *testing.T) *vfs.MemFS {
	t.Helper()
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "db"); err != nil {
		t.Fatal(err)
	}
	for n := uint64(1); n <= 4; n++ {
		writeFile(t, fsys, segPath("db", n), "segm")
	}
	writeFile(t, fsys, tornPath("db", 1, 7), "torn")
	writeFile(t, fsys, tornPath("db", 3, 9), "torn")
	writeFile(t, fsys, filepath.Join(WALDir("db"), "notes.txt"), "mine")
	return fsys
}

func TestCompactWAL(t *testing.T) {
	fsys := walDatabase(t)
	last := map[uint64]uint64{1: 5, 2: 9, 3: 12, 4: 13}
	removed, freed, err := CompactWAL(context.Background(), fsys, "db", 10, 4, last, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []uint64{1, 2}) || freed != 12 {
		t.Fatalf("removed %v, freed %d; want [1 2], 12 bytes", removed, freed)
	}
	want := []string{"notes.txt", wal.SegmentName(3), wal.TornSideName(3, 9), wal.SegmentName(4)}
	slices.Sort(want)
	if got := list(t, fsys.Crash(vfs.CrashOptions{}), WALDir("db")); !slices.Equal(got, want) {
		t.Fatalf("after a crash the WAL holds %v, want %v", got, want)
	}
}

func TestCompactWALCancelledRemovesNothing(t *testing.T) {
	fsys := walDatabase(t)
	before := list(t, fsys, WALDir("db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	removed, _, err := CompactWAL(ctx, fsys, "db", 100, 4, map[uint64]uint64{1: 1, 2: 2, 3: 3}, quiet)
	if err != context.Canceled || removed != nil {
		t.Fatalf("CompactWAL with a cancelled context = %v, %v; want context.Canceled as is", removed, err)
	}
	if got := list(t, fsys, WALDir("db")); !slices.Equal(got, before) {
		t.Fatalf("the WAL changed: %v", got)
	}
}

func TestCompactWALReportsFailures(t *testing.T) {
	fsys := walDatabase(t)
	efs := vfs.NewErrorFS(fsys, vfs.Rule{OpKinds: vfs.OpDirSync, Index: -1})
	removed, _, err := CompactWAL(context.Background(), efs, "db", 100, 4, map[uint64]uint64{1: 1, 2: 2, 3: 3}, quiet)
	if !errors.Is(err, dberr.ErrInternal) || !slices.Equal(removed, []uint64{1, 2, 3}) {
		t.Fatalf("CompactWAL with a failing directory sync = %v, %v; want the chosen segments and Internal", removed, err)
	}
	if _, _, err := CompactWAL(context.Background(), vfs.NewMem(), "missing", 1, 1, nil, quiet); !errors.Is(err, dberr.ErrInternal) {
		t.Fatalf("CompactWAL of a missing directory = %v, want Internal", err)
	}
}

func TestOrphanTorn(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "db"); err != nil {
		t.Fatal(err)
	}
	// Only side files of segment 1 and 2 are orphans: segment 4's header
	// may have been torn and the writer reuses its number.
	for _, p := range []string{tornPath("db", 1, 5), tornPath("db", 2, 5), tornPath("db", 3, 5), tornPath("db", 4, 5)} {
		writeFile(t, fsys, p, "torn")
	}
	if err := RemoveOrphanTorn(fsys, "db", quiet); err != nil {
		t.Fatal(err)
	}
	if got := list(t, fsys, WALDir("db")); len(got) != 4 {
		t.Fatalf("with no segment at all nothing is an orphan, yet the WAL holds %v", got)
	}
	writeFile(t, fsys, segPath("db", 3), "segm")
	if err := RemoveOrphanTorn(fsys, "db", quiet); err != nil {
		t.Fatal(err)
	}
	want := []string{wal.SegmentName(3), wal.TornSideName(3, 5), wal.TornSideName(4, 5)}
	slices.Sort(want)
	if got := list(t, fsys.Crash(vfs.CrashOptions{}), WALDir("db")); !slices.Equal(got, want) {
		t.Fatalf("after a crash the WAL holds %v, want %v", got, want)
	}
	if got := TornFilesOf("w", []string{wal.TornSideName(3, 5), wal.SegmentName(3), wal.TornSideName(4, 1)}, map[uint64]bool{3: true}); !slices.Equal(got, []string{filepath.Join("w", wal.TornSideName(3, 5))}) {
		t.Fatalf("TornFilesOf = %v", got)
	}
}

func TestUncertainFS(t *testing.T) {
	for _, tc := range []struct {
		kind      vfs.OpKind
		uncertain bool
	}{
		{vfs.OpCreate, false},
		{vfs.OpWrite, false},
		{vfs.OpClose, false},
		{vfs.OpRemove, false},
		{vfs.OpSync, true},
		{vfs.OpRename, true},
		{vfs.OpDirSync, true},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			writeFile(t, mem, "old", "x")
			u := NewUncertainFS(vfs.NewErrorFS(mem, vfs.Rule{OpKinds: tc.kind, Index: -1}))
			ops := func() error {
				f, err := u.Create("a")
				if err != nil {
					return err
				}
				if _, err := f.Write([]byte("data")); err != nil {
					return err
				}
				if err := f.SyncData(); err != nil {
					return err
				}
				if err := f.Sync(); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				if err := u.Remove("old"); err != nil {
					return err
				}
				if err := u.Rename("a", "b"); err != nil {
					return err
				}
				return u.SyncDir(".")
			}
			if err := ops(); err == nil {
				t.Fatal("no operation failed")
			}
			if u.Failed() != tc.uncertain {
				t.Fatalf("after a failed %v: Failed() = %v, want %v", tc.kind, u.Failed(), tc.uncertain)
			}
		})
	}
	// A file opened for writing is watched too.
	mem := vfs.NewMem()
	writeFile(t, mem, "f", "x")
	u := NewUncertainFS(vfs.NewErrorFS(mem, vfs.Rule{OpKinds: vfs.OpSync, Index: -1}))
	f, err := u.OpenReadWrite("f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err == nil || !u.Failed() {
		t.Fatalf("Sync = %v, Failed() = %v; want a noted failure", err, u.Failed())
	}
}

// entities is a snapshot.Source of n one-version KV entities.
type entities int

func (n entities) ForEachEntity(snap uint64, fn func(core.RunID, core.PrimitiveType, string, []core.VersionRec) error) error {
	for i := range int(n) {
		vs := []core.VersionRec{{Version: uint64(i + 1), Time: 1, Tombstone: true}}
		if vs[0].Version > snap {
			break
		}
		if err := fn(core.GlobalRun, core.KV, string(rune('a'+i)), vs); err != nil {
			return err
		}
	}
	return nil
}

var testUUID = format.UUID{1, 2, 3}

func checkpointDatabase(t *testing.T) (*vfs.MemFS, format.Manifest) {
	t.Helper()
	fsys := vfs.NewMem()
	m := format.Manifest{UUID: testUUID, CodecID: codec.IdentityID, HasSnapshot: true, SnapshotID: 2, SnapshotWatermark: 1, ActiveSegment: 3}
	newDatabase(t, fsys, "db", m)
	man := NewManifest("db", m)
	if _, _, err := Checkpoint(context.Background(), fsys, man, checkpointOptions(1), entities(1)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsys, segPath("db", 3), "segm")
	return fsys, man.Get()
}

func checkpointOptions(w uint64) CheckpointOptions {
	return CheckpointOptions{Watermark: w, Codec: codec.Identity{}, Created: 7, Logger: quiet}
}

// readSnapshot reads the snapshot m names and returns how many entities it
// holds.
func readSnapshot(t *testing.T, fsys vfs.FS, dir string, m format.Manifest) int {
	t.Helper()
	n := 0
	_, err := snapshot.Read(snapshot.ReadOptions{
		FS: fsys, Path: filepath.Join(SnapDir(dir), snapshot.FileName(m.SnapshotID)), UUID: m.UUID,
		Codec: codec.Identity{}, ID: m.SnapshotID, Watermark: m.SnapshotWatermark,
	}, func(*format.SnapshotEntity) error { n++; return nil })
	if err != nil {
		t.Fatalf("reading snapshot %d: %v", m.SnapshotID, err)
	}
	return n
}

func TestCheckpoint(t *testing.T) {
	fsys, m := checkpointDatabase(t)
	if m.SnapshotID != 3 || m.SnapshotWatermark != 1 || m.ActiveSegment != 3 {
		t.Fatalf("after the first checkpoint the MANIFEST is %+v", m)
	}
	// A file a crash left behind is never reused; the stale one and an
	// orphaned side file go.
	writeFile(t, fsys, filepath.Join(SnapDir("db"), snapshot.FileName(7)), "junk")
	writeFile(t, fsys, tornPath("db", 1, 4), "torn")
	man := NewManifest("db", m)
	id, info, err := Checkpoint(context.Background(), fsys, man, checkpointOptions(3), entities(5))
	if err != nil {
		t.Fatal(err)
	}
	if id != 8 || info.Entities != 3 {
		t.Fatalf("Checkpoint = id %d, %d entities; want 8, 3", id, info.Entities)
	}
	img := fsys.Crash(vfs.CrashOptions{})
	got, err := manifest.Read(img, "db")
	if err != nil {
		t.Fatal(err)
	}
	if got != man.Get() || got.SnapshotID != 8 || got.SnapshotWatermark != 3 {
		t.Fatalf("durable MANIFEST %+v, in memory %+v", got, man.Get())
	}
	if n := readSnapshot(t, img, "db", got); n != 3 {
		t.Fatalf("the snapshot holds %d entities, want 3", n)
	}
	if names := list(t, img, SnapDir("db")); !slices.Equal(names, []string{snapshot.FileName(8)}) {
		t.Fatalf("SNAPSHOTS holds %v", names)
	}
	if names := list(t, img, WALDir("db")); !slices.Equal(names, []string{wal.SegmentName(3)}) {
		t.Fatalf("WAL holds %v", names)
	}
}

func TestCheckpointCancelled(t *testing.T) {
	fsys, m := checkpointDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	man := NewManifest("db", m)
	if _, _, err := Checkpoint(ctx, fsys, man, checkpointOptions(3), entities(3)); err != context.Canceled {
		t.Fatalf("Checkpoint with a cancelled context = %v, want context.Canceled as is", err)
	}
	if man.Get() != m {
		t.Fatal("a cancelled checkpoint changed the MANIFEST")
	}
}

// TestCheckpointFailsAtEveryOperation fails each file operation of a
// checkpoint in turn. Whatever fails, a crash right after leaves a MANIFEST
// naming a readable snapshot; a failure UncertainFS does not note leaves the
// in-memory MANIFEST equal to the durable one.
func TestCheckpointFailsAtEveryOperation(t *testing.T) {
	base, m := checkpointDatabase(t)
	probe := vfs.NewErrorFS(base.Crash(vfs.CrashOptions{}))
	if _, _, err := Checkpoint(context.Background(), probe, NewManifest("db", m), checkpointOptions(3), entities(3)); err != nil {
		t.Fatal(err)
	}
	failures, uncertain := 0, 0
	for i := range probe.OpCount() {
		for _, partial := range []bool{false, true} {
			mem := base.Crash(vfs.CrashOptions{})
			u := NewUncertainFS(vfs.NewErrorFS(mem, vfs.Rule{Index: i, PartialWrite: partial}))
			man := NewManifest("db", m)
			_, _, err := Checkpoint(context.Background(), u, man, checkpointOptions(3), entities(3))
			if err != nil {
				failures++
				if !errors.Is(err, dberr.ErrInternal) {
					t.Fatalf("op %d: %v, want Internal", i, err)
				}
			}
			if u.Failed() {
				uncertain++
			} else {
				durable, err := manifest.Read(mem, "db")
				if err != nil || durable != man.Get() {
					t.Fatalf("op %d: durable MANIFEST %+v (%v), in memory %+v", i, durable, err, man.Get())
				}
			}
			img := mem.Crash(vfs.CrashOptions{})
			durable, err := manifest.Read(img, "db")
			if err != nil {
				t.Fatalf("op %d: after a crash: %v", i, err)
			}
			want := 1
			if durable.SnapshotID != m.SnapshotID {
				want = 3
			}
			if n := readSnapshot(t, img, "db", durable); n != want {
				t.Fatalf("op %d: the snapshot after a crash holds %d entities, want %d", i, n, want)
			}
		}
	}
	if failures == 0 || uncertain == 0 {
		t.Fatalf("%d failures, %d uncertain: the injection did not reach the protocol", failures, uncertain)
	}
}

func TestCheckDestination(t *testing.T) {
	fsys := vfs.NewMem()
	newDatabase(t, fsys, "src", format.Manifest{CodecID: codec.IdentityID})
	newDatabase(t, fsys, "other", format.Manifest{CodecID: codec.IdentityID})
	for _, d := range []string{"empty", "full"} {
		if err := fsys.MkdirAll(d); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, fsys, "full/x", "x")
	for _, tc := range []struct {
		dst  string
		want error
	}{
		{"fresh", nil},
		{"empty", nil},
		{"src", dberr.ErrInvalidArgument},
		{"src/inside", dberr.ErrInvalidArgument},
		{"other", dberr.ErrAlreadyExists},
		{"full", dberr.ErrInvalidArgument},
	} {
		if err := CheckDestination(fsys, "src", tc.dst); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckDestination(%s) = %v, want %v", tc.dst, err, tc.want)
		}
	}
	efs := vfs.NewErrorFS(fsys, vfs.Rule{OpKinds: vfs.OpList, Index: -1})
	if err := CheckDestination(efs, "src", "empty"); !errors.Is(err, dberr.ErrInvalidArgument) {
		t.Errorf("CheckDestination with a failing listing = %v, want InvalidArgument", err)
	}
}

func TestLockNamesTheOperation(t *testing.T) {
	fsys := vfs.NewMem()
	newDatabase(t, fsys, "db", format.Manifest{CodecID: codec.IdentityID})
	l, err := Lock(fsys, "db", "Open")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var e *dberr.Error
	if _, err := Lock(fsys, "db", "Import"); !errors.As(err, &e) || e.Code != dberr.Locked || e.Op != "Import" {
		t.Fatalf("Lock of a held LOCK = %v, want Locked from Import", err)
	}
}

func TestFingerprint(t *testing.T) {
	fsys, _ := checkpointDatabase(t)
	before, err := Fingerprint(fsys, "db")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.OpenReadWrite(segPath("db", 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("appended")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if same, _ := Fingerprint(fsys, "db"); !bytes.Equal(before, same) {
		t.Fatal("an append to the active segment changed the fingerprint")
	}
	man, err := manifest.Read(fsys, "db")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Checkpoint(context.Background(), fsys, NewManifest("db", man), checkpointOptions(1), entities(1)); err != nil {
		t.Fatal(err)
	}
	if after, _ := Fingerprint(fsys, "db"); bytes.Equal(before, after) {
		t.Fatal("a checkpoint left the fingerprint unchanged")
	}
	if _, _, err := CompactWAL(context.Background(), fsys, "db", 1, 4, map[uint64]uint64{3: 1}, quiet); err != nil {
		t.Fatal(err)
	}
	mid, _ := Fingerprint(fsys, "db")
	writeFile(t, fsys, segPath("db", 9), "segm")
	if after, _ := Fingerprint(fsys, "db"); bytes.Equal(mid, after) {
		t.Fatal("a new segment left the fingerprint unchanged")
	}
	efs := vfs.NewErrorFS(fsys, vfs.Rule{OpKinds: vfs.OpList, Index: -1})
	if _, err := Fingerprint(efs, "db"); !errors.Is(err, dberr.ErrInternal) {
		t.Fatalf("Fingerprint with a failing listing = %v, want Internal", err)
	}
}
