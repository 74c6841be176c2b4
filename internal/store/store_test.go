package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func writeFile(t *testing.T, fsys vfs.FS, path, data string) {
	t.Helper()
	f, err := fsys.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fsys vfs.FS, path string) string {
	t.Helper()
	f, err := fsys.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func list(t *testing.T, fsys vfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestCreateLayout(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "a/b/db"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, fsys, "a/b/db"); !slices.Equal(got, []string{DataDirName, SnapDirName, WALDirName}) {
		t.Fatalf("layout %v", got)
	}
	// Creating it again over an interrupted creation is fine.
	if err := CreateLayout(fsys, "a/b/db"); err != nil {
		t.Fatal(err)
	}
}

// Every directory entry CreateLayout makes is durable: a crash right after
// it returns loses nothing.
func TestCreateLayoutIsDurable(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "x/db"); err != nil {
		t.Fatal(err)
	}
	img := fsys.Crash(vfs.CrashOptions{})
	if got := list(t, img, "x/db"); !slices.Equal(got, []string{DataDirName, SnapDirName, WALDirName}) {
		t.Fatalf("after a crash the layout is %v", got)
	}
}

func TestCreateLayoutReportsFailures(t *testing.T) {
	for _, kind := range []vfs.OpKind{vfs.OpMkdir, vfs.OpDirSync} {
		fsys := vfs.NewErrorFS(vfs.NewMem(), vfs.Rule{OpKinds: kind, Index: -1})
		if err := CreateLayout(fsys, "db"); err == nil {
			t.Fatalf("CreateLayout with failing %v succeeded", kind)
		}
	}
}

func TestCheckDirectory(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CheckDirectory(fsys, "new"); err != nil {
		t.Fatalf("a missing directory: %v", err)
	}
	if err := CreateLayout(fsys, "interrupted"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsys, filepath.Join("interrupted", ManifestTemp), "half")
	if err := CheckDirectory(fsys, "interrupted"); err != nil {
		t.Fatalf("an interrupted creation: %v", err)
	}
	if err := fsys.MkdirAll("foreign"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsys, "foreign/notes.txt", "mine")
	if err := CheckDirectory(fsys, "foreign"); !errors.Is(err, dberr.ErrInvalidArgument) {
		t.Fatalf("a foreign directory: %v, want InvalidArgument", err)
	}
}

func TestCheckNoFiles(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "db"); err != nil {
		t.Fatal(err)
	}
	if err := CheckNoFiles(fsys, "db"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsys, filepath.Join(WALDir("db"), wal.SegmentName(1)), "x")
	if err := CheckNoFiles(fsys, "db"); !errors.Is(err, dberr.ErrCorruption) {
		t.Fatalf("segments without a MANIFEST: %v, want Corruption", err)
	}
}

func TestLock(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "db"); err != nil {
		t.Fatal(err)
	}
	l, err := Lock(fsys, "db", "Open")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(fsys, "db", "Open"); !errors.Is(err, dberr.ErrLocked) {
		t.Fatalf("second Lock = %v, want Locked", err)
	}
	l.Close()
	l, err = Lock(fsys, "db", "Open")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	l.Close()
}

func TestRemoveTemp(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "db"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsys, filepath.Join("db", ManifestTemp), "t")
	writeFile(t, fsys, filepath.Join(SnapDir("db"), snapshot.FileName(3)+TempExtension), "t")
	writeFile(t, fsys, filepath.Join(SnapDir("db"), snapshot.FileName(2)), "keep")
	if err := RemoveTemp(fsys, "db", quiet); err != nil {
		t.Fatal(err)
	}
	img := fsys.Crash(vfs.CrashOptions{})
	if got := list(t, img, SnapDir("db")); !slices.Equal(got, []string{snapshot.FileName(2)}) {
		t.Fatalf("snapshots after RemoveTemp and a crash: %v", got)
	}
	if got := list(t, img, "db"); slices.Contains(got, ManifestTemp) {
		t.Fatalf("MANIFEST.tmp survived: %v", got)
	}
}

func TestStaleSnapshotsAndRemoveFiles(t *testing.T) {
	fsys := vfs.NewMem()
	if err := CreateLayout(fsys, "db"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2, 3} {
		writeFile(t, fsys, filepath.Join(SnapDir("db"), snapshot.FileName(id)), "snap")
	}
	stale, err := StaleSnapshots(fsys, "db", format.Manifest{HasSnapshot: true, SnapshotID: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(SnapDir("db"), snapshot.FileName(1)), filepath.Join(SnapDir("db"), snapshot.FileName(3))}
	if !slices.Equal(stale, want) {
		t.Fatalf("stale %v, want %v", stale, want)
	}
	freed, err := RemoveFiles(fsys, SnapDir("db"), append(stale, filepath.Join(SnapDir("db"), "gone")), quiet)
	if err != nil || freed != 8 {
		t.Fatalf("RemoveFiles = %d, %v; want 8 bytes", freed, err)
	}
	if got := list(t, fsys.Crash(vfs.CrashOptions{}), SnapDir("db")); !slices.Equal(got, []string{snapshot.FileName(2)}) {
		t.Fatalf("after a crash: %v", got)
	}
	efs := vfs.NewErrorFS(fsys, vfs.Rule{OpKinds: vfs.OpDirSync, Index: -1})
	writeFile(t, fsys, filepath.Join(SnapDir("db"), snapshot.FileName(4)), "snap")
	if _, err := RemoveFiles(efs, SnapDir("db"), []string{filepath.Join(SnapDir("db"), snapshot.FileName(4))}, quiet); !errors.Is(err, dberr.ErrInternal) {
		t.Fatalf("RemoveFiles with a failing directory sync = %v, want Internal", err)
	}
}

func TestCopyFileDurable(t *testing.T) {
	fsys := vfs.NewMem()
	writeFile(t, fsys, "src", "payload")
	if err := MkdirAllDurable(fsys, "out"); err != nil {
		t.Fatal(err)
	}
	if err := CopyFileDurable(fsys, "src", "out/dst"); err != nil {
		t.Fatal(err)
	}
	img := fsys.Crash(vfs.CrashOptions{})
	if got := readFile(t, img, "out/dst"); got != "payload" {
		t.Fatalf("copy after a crash = %q", got)
	}
	if got := list(t, img, "out"); !slices.Equal(got, []string{"dst"}) {
		t.Fatalf("out holds %v", got)
	}
	// A failing fsync publishes nothing under the final name.
	efs := vfs.NewErrorFS(fsys, vfs.Rule{OpKinds: vfs.OpSync, Index: -1})
	if err := CopyFileDurable(efs, "src", "out/second"); err == nil {
		t.Fatal("copy with a failing fsync succeeded")
	}
	if _, err := fsys.Stat("out/second"); err == nil {
		t.Fatal("a copy whose fsync failed was published")
	}
}

func newDatabase(t *testing.T, fsys vfs.FS, dir string, m format.Manifest) {
	t.Helper()
	if err := CreateLayout(fsys, dir); err != nil {
		t.Fatal(err)
	}
	if err := manifest.Write(fsys, dir, m); err != nil {
		t.Fatal(err)
	}
}

func TestCopyDatabase(t *testing.T) {
	fsys := vfs.NewMem()
	m := format.Manifest{CodecID: "identity", HasSnapshot: true, SnapshotID: 5, SnapshotWatermark: 9, ActiveSegment: 2}
	newDatabase(t, fsys, "src", m)
	writeFile(t, fsys, filepath.Join(SnapDir("src"), snapshot.FileName(5)), "snapshot")
	writeFile(t, fsys, filepath.Join(SnapDir("src"), snapshot.FileName(4)), "superseded")
	writeFile(t, fsys, filepath.Join(WALDir("src"), wal.SegmentName(1)), "one")
	writeFile(t, fsys, filepath.Join(WALDir("src"), wal.SegmentName(2)), "two")
	if err := CopyDatabase(context.Background(), fsys, "src", "dst"); err != nil {
		t.Fatal(err)
	}
	img := fsys.Crash(vfs.CrashOptions{})
	got, err := manifest.Read(img, "dst")
	if err != nil || got != m {
		t.Fatalf("copied MANIFEST %+v, %v; want %+v", got, err, m)
	}
	if s := list(t, img, SnapDir("dst")); !slices.Equal(s, []string{snapshot.FileName(5)}) {
		t.Fatalf("copied snapshots %v", s)
	}
	if s := list(t, img, WALDir("dst")); !slices.Equal(s, []string{wal.SegmentName(1), wal.SegmentName(2)}) {
		t.Fatalf("copied segments %v", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := CopyDatabase(ctx, fsys, "src", "dst2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled copy = %v", err)
	}
	if _, err := fsys.Stat(filepath.Join("dst2", ManifestName)); err == nil {
		t.Fatal("a cancelled copy wrote a MANIFEST")
	}
}

// The MANIFEST is written last: a copy that fails at any operation either
// leaves no MANIFEST (an interrupted creation) or one whose files are all
// there.
func TestCopyDatabaseFailsAtEveryOperation(t *testing.T) {
	mem := vfs.NewMem()
	newDatabase(t, mem, "src", format.Manifest{CodecID: "identity", ActiveSegment: 1})
	writeFile(t, mem, filepath.Join(WALDir("src"), wal.SegmentName(1)), "one")
	probe := vfs.NewErrorFS(mem)
	if err := CopyDatabase(context.Background(), probe, "src", "probe"); err != nil {
		t.Fatal(err)
	}
	for i := range probe.OpCount() {
		dst := filepath.Join("fail", strconv.Itoa(i))
		efs := vfs.NewErrorFS(mem, vfs.Rule{Index: i})
		// A failing Close of a file only read is ignored, so a copy may
		// succeed; then it must be whole.
		err := CopyDatabase(context.Background(), efs, "src", dst)
		if _, serr := mem.Stat(filepath.Join(dst, ManifestName)); serr != nil {
			if err == nil {
				t.Fatalf("op %d: the copy succeeded without a MANIFEST", i)
			}
			continue
		}
		if got := readFile(t, mem, filepath.Join(WALDir(dst), wal.SegmentName(1))); got != "one" {
			t.Fatalf("op %d: a MANIFEST exists but the segment holds %q", i, got)
		}
	}
}

func TestWriteExport(t *testing.T) {
	fsys := vfs.NewMem()
	writeFile(t, fsys, snapshot.FileName(7), "snapshot")
	m := format.Manifest{CodecID: "identity", HasSnapshot: true, SnapshotID: 7, ActiveSegment: 4}
	if err := WriteExport(fsys, snapshot.FileName(7), "exp", m); err != nil {
		t.Fatal(err)
	}
	img := fsys.Crash(vfs.CrashOptions{})
	got, err := manifest.Read(img, "exp")
	m.ActiveSegment = 0
	if err != nil || got != m {
		t.Fatalf("exported MANIFEST %+v, %v; want %+v", got, err, m)
	}
	if got := readFile(t, img, filepath.Join(SnapDir("exp"), snapshot.FileName(7))); got != "snapshot" {
		t.Fatalf("exported snapshot %q", got)
	}
}

func TestManifestUpdate(t *testing.T) {
	fsys := vfs.NewMem()
	m := format.Manifest{CodecID: "identity", ActiveSegment: 1}
	newDatabase(t, fsys, "db", m)
	x := NewManifest("db", m)
	if err := x.Update(fsys, func(m *format.Manifest) { m.ActiveSegment = 2 }); err != nil {
		t.Fatal(err)
	}
	if x.Get().ActiveSegment != 2 {
		t.Fatalf("copy %+v", x.Get())
	}
	if got, err := manifest.Read(fsys.Crash(vfs.CrashOptions{}), "db"); err != nil || got.ActiveSegment != 2 {
		t.Fatalf("durable MANIFEST %+v, %v", got, err)
	}
	// A failed write leaves the copy as it was.
	efs := vfs.NewErrorFS(fsys, vfs.Rule{OpKinds: vfs.OpRename, Index: -1})
	if err := x.Update(efs, func(m *format.Manifest) { m.ActiveSegment = 3 }); err == nil {
		t.Fatal("Update with a failing rename succeeded")
	}
	if x.Get().ActiveSegment != 2 {
		t.Fatalf("copy ran ahead of the disk: %+v", x.Get())
	}
}
