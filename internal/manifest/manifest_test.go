package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

const dir = "/db"

var (
	oldM = format.Manifest{UUID: format.UUID{1, 2, 3}, CodecID: "identity", ActiveSegment: 3}
	newM = format.Manifest{UUID: format.UUID{1, 2, 3}, CodecID: "identity", ActiveSegment: 4,
		HasSnapshot: true, SnapshotID: 2, SnapshotWatermark: 99}
)

func newFS(t testing.TB) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	if err := m.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	return m
}

// putFile writes raw bytes as the MANIFEST, bypassing Write.
func putFile(t testing.TB, fsys vfs.FS, b []byte) {
	t.Helper()
	if err := fsys.Remove(filepath.Join(dir, Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	f, err := fsys.Create(filepath.Join(dir, Name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code dberr.Code) *dberr.Error {
	t.Helper()
	var de *dberr.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *dberr.Error", err, err)
	}
	if de.Code != code {
		t.Fatalf("error %v has code %s, want %s", err, de.Code, code)
	}
	return de
}

func TestRoundTrip(t *testing.T) {
	fsys := newFS(t)
	for _, m := range []format.Manifest{
		{UUID: format.UUID{0xff}, CodecID: "identity"},
		oldM,
		newM,
		{UUID: format.UUID{9}, CodecID: strings.Repeat("z", 64), ActiveSegment: ^uint64(0), HasSnapshot: true, SnapshotID: ^uint64(0), SnapshotWatermark: ^uint64(0)},
		{UUID: format.UUID{9}, CodecID: "c", HasSnapshot: true}, // a snapshot of the empty database
	} {
		if err := Write(fsys, dir, m); err != nil {
			t.Fatal(err)
		}
		got, err := Read(fsys, dir)
		if err != nil || got != m {
			t.Fatalf("Read = %+v, %v; want %+v", got, err, m)
		}
		if _, err := fsys.Stat(filepath.Join(dir, TempName)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s left behind: %v", TempName, err)
		}
	}
}

// A stale MANIFEST.tmp from an interrupted write does not stop the next one.
func TestWriteReplacesLeftoverTemp(t *testing.T) {
	fsys := newFS(t)
	f, _ := fsys.Create(filepath.Join(dir, TempName))
	f.Write([]byte("garbage from a crash"))
	f.Close()
	if err := Write(fsys, dir, newM); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(fsys, dir); err != nil || got != newM {
		t.Fatalf("Read = %+v, %v", got, err)
	}
}

func TestReadMissing(t *testing.T) {
	_, err := Read(newFS(t), dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing MANIFEST: %v, want fs.ErrNotExist", err)
	}
	wantCode(t, err, dberr.NotFound)
}

func TestReadEveryTruncation(t *testing.T) {
	good := format.AppendManifest(nil, newM)
	fsys := newFS(t)
	for n := 0; n < len(good); n++ {
		putFile(t, fsys, good[:n])
		_, err := Read(fsys, dir)
		de := wantCode(t, err, dberr.Corruption)
		if de.File != filepath.Join(dir, Name) {
			t.Fatalf("truncation to %d: error names file %q", n, de.File)
		}
	}
}

func TestReadEveryBitFlip(t *testing.T) {
	good := format.AppendManifest(nil, newM)
	fsys := newFS(t)
	for i := 0; i < len(good)*8; i++ {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		putFile(t, fsys, b)
		if m, err := Read(fsys, dir); !errors.Is(err, dberr.ErrCorruption) {
			t.Fatalf("bit %d flipped: Read = %+v, %v; want Corruption", i, m, err)
		}
	}
}

func TestReadRefusesExtraBytes(t *testing.T) {
	good := format.AppendManifest(nil, newM)
	fsys := newFS(t)
	for _, b := range [][]byte{
		append(bytes.Clone(good), 0),
		append(bytes.Clone(good), make([]byte, 1<<20)...),
	} {
		putFile(t, fsys, b)
		_, err := Read(fsys, dir)
		wantCode(t, err, dberr.Corruption)
	}
}

// statLiar reports every file as one byte long, through FS.Stat and
// File.Stat, as a MANIFEST that grew
// between Stat and the read would look.
type statLiar struct{ vfs.FS }

type smallInfo struct{ fs.FileInfo }

func (smallInfo) Size() int64 { return 1 }

func (s statLiar) Stat(name string) (fs.FileInfo, error) {
	st, err := s.FS.Stat(name)
	if err != nil {
		return nil, err
	}
	return smallInfo{st}, nil
}

func (s statLiar) Open(name string) (vfs.File, error) {
	f, err := s.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return fileStatLiar{f}, nil
}

type fileStatLiar struct{ vfs.File }

func (f fileStatLiar) Stat() (fs.FileInfo, error) {
	st, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return smallInfo{st}, nil
}

// The size bound holds for the bytes actually read, not for what a Stat
// said a moment before.
func TestReadBoundsTheBytesItReads(t *testing.T) {
	fsys := newFS(t)
	putFile(t, fsys, make([]byte, 4<<20))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Read(statLiar{fsys}, dir)
	runtime.ReadMemStats(&after)
	wantCode(t, err, dberr.Corruption)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("reading a 4 MiB MANIFEST allocated %d bytes", n)
	}
}

// An I/O error while reading is an I/O error, not Corruption: the file may
// be perfectly good.
func TestReadIOErrors(t *testing.T) {
	for _, kind := range []vfs.OpKind{vfs.OpStat, vfs.OpOpen, vfs.OpRead} {
		t.Run(kind.String(), func(t *testing.T) {
			mem := newFS(t)
			if err := Write(mem, dir, newM); err != nil {
				t.Fatal(err)
			}
			efs := vfs.NewErrorFS(mem, vfs.Rule{OpKinds: kind, Index: -1})
			_, err := Read(efs, dir)
			if efs.Injected() == 0 {
				t.Skipf("Read does no %s", kind)
			}
			wantCode(t, err, dberr.Internal)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("error %v does not wrap EIO", err)
			}
		})
	}
}

// countOps returns the mutating operations of one successful Write over
// an existing MANIFEST.
func countOps(t *testing.T) int {
	mem := newFS(t)
	if err := Write(mem, dir, oldM); err != nil {
		t.Fatal(err)
	}
	efs := vfs.NewErrorFS(mem)
	if err := Write(efs, dir, newM); err != nil {
		t.Fatal(err)
	}
	return efs.OpCount()
}

// An I/O error at any operation of Write returns a typed error wrapping the
// cause, leaves the old or the new MANIFEST whole, removes MANIFEST.tmp,
// and does not stop a later Write.
func TestWriteIOErrorAtEveryOp(t *testing.T) {
	n := countOps(t)
	if n < 5 {
		t.Fatalf("Write does only %d mutating operations", n)
	}
	for k := 0; k < n; k++ {
		for _, partial := range []bool{false, true} {
			t.Run(fmt.Sprintf("op%d/partial=%v", k, partial), func(t *testing.T) {
				mem := newFS(t)
				if err := Write(mem, dir, oldM); err != nil {
					t.Fatal(err)
				}
				efs := vfs.NewErrorFS(mem, vfs.Rule{Index: k, PartialWrite: partial, Err: vfs.ErrENOSPC})
				err := Write(efs, dir, newM)
				if efs.Injected() != 1 {
					t.Fatalf("%d errors injected", efs.Injected())
				}
				wantCode(t, err, dberr.Internal)
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("error %v does not wrap the cause", err)
				}
				got, rerr := Read(mem, dir)
				if rerr != nil || (got != oldM && got != newM) {
					t.Fatalf("after the failed Write, Read = %+v, %v", got, rerr)
				}
				if _, err := mem.Stat(filepath.Join(dir, TempName)); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s left behind: %v", TempName, err)
				}
				efs.ClearRules()
				if err := Write(efs, dir, newM); err != nil {
					t.Fatalf("Write after the error cleared: %v", err)
				}
				if got, err := Read(mem, dir); err != nil || got != newM {
					t.Fatalf("Read = %+v, %v", got, err)
				}
			})
		}
	}
}

// A crash before any operation of Write leaves the old MANIFEST or the new
// one, whole, whatever the disk kept of unsynced state.
func TestWriteCrashAtEveryOp(t *testing.T) {
	n := countOps(t)
	modes := []vfs.CrashOptions{{Mode: vfs.CrashDropUnsynced}, {Mode: vfs.CrashKeepAll}}
	for seed := uint64(1); seed <= 8; seed++ {
		modes = append(modes, vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: seed, RandomEntries: true, BlockSize: 16})
	}
	for _, first := range []bool{true, false} {
		for k := 0; k <= n; k++ {
			for _, opts := range modes {
				mem := newFS(t)
				if err := mem.SyncDir("/"); err != nil {
					t.Fatal(err)
				}
				if !first {
					if err := Write(mem, dir, oldM); err != nil {
						t.Fatal(err)
					}
				}
				mem.CrashAt(mem.OpCount()+k, opts)
				err := Write(mem, dir, newM)
				img := mem.CrashImage()
				if img == nil {
					if err != nil || k < n {
						t.Fatalf("crash point %d not reached: %v", k, err)
					}
					img = mem.Crash(opts)
				}
				got, rerr := Read(img, dir)
				switch {
				case first && errors.Is(rerr, fs.ErrNotExist):
				case rerr == nil && got == newM:
				case rerr == nil && !first && got == oldM:
				default:
					t.Fatalf("first=%v, crash at op %d, %v: Read = %+v, %v", first, k, opts.Mode, got, rerr)
				}
				if k == n && (rerr != nil || got != newM) {
					t.Fatalf("a completed Write was lost in a crash (%v): %+v, %v", opts.Mode, got, rerr)
				}
			}
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(format.AppendManifest(nil, oldM))
	f.Add(format.AppendManifest(nil, newM))
	f.Add([]byte{})
	f.Add([]byte(format.ManifestMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := newFS(t)
		putFile(t, fsys, b)
		m, err := Read(fsys, dir)
		if err != nil {
			wantCode(t, err, dberr.Corruption)
			return
		}
		// Only the canonical encoding of a MANIFEST is accepted.
		if enc := format.AppendManifest(nil, m); !bytes.Equal(enc, b) {
			t.Fatalf("accepted %x, which encodes back as %x", b, enc)
		}
	})
}

// A MANIFEST that no reader accepts is never written: replacing a good one
// with it would make the database unopenable.
func TestWriteRefusesAnUnreadableManifest(t *testing.T) {
	for _, id := range []string{"", strings.Repeat("c", 65), strings.Repeat("c", 256), "a b", "\x00"} {
		mem := newFS(t)
		if err := Write(mem, dir, oldM); err != nil {
			t.Fatal(err)
		}
		m := newM
		m.CodecID = id
		wantCode(t, Write(mem, dir, m), dberr.InvalidArgument)
		if got, err := Read(mem, dir); err != nil || got != oldM {
			t.Fatalf("codec ID %q: after the refused Write, Read = %+v, %v", id, got, err)
		}
	}
}
