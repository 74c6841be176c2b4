package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/vfs"
)

const dir = "/db/SNAPSHOTS"

var testUUID = format.UUID{0xde, 0xad, 0xbe, 0xef}

// testEngine returns an engine holding commits 1..n over two runs, several
// spaces, overwrites, deletes and values of every kind.
func testEngine(t testing.TB, n int) *engine.Engine {
	t.Helper()
	eng := newEngine()
	runs := []core.RunID{core.GlobalRun, {1, 2, 3}}
	vals := []value.Value{
		value.Null(), value.Bool(true), value.Int(-7), value.Float(2.5), value.String("héllo"),
		value.Bytes([]byte{0, 1, 2}), value.Array(value.Int(1), value.String("x")),
		value.ObjectOf(value.Field{Key: "a", Value: value.Int(1)}, value.Field{Key: "b", Value: value.Null()}),
	}
	for v := 1; v <= n; v++ {
		run := runs[v%2]
		m := core.Mutation{
			Op: core.OpPut, Run: run, Space: core.Primitives[v%len(core.Primitives)],
			Key: fmt.Sprintf("key-%d", v%5), Value: vals[v%len(vals)], Version: uint64(v),
		}
		if v%7 == 0 {
			m.Op, m.Value = core.OpDelete, value.Value{}
		}
		if err := eng.Apply(&core.Commit{Version: uint64(v), Run: run, Time: int64(1000 + v), Mutations: []core.Mutation{m}}); err != nil {
			t.Fatal(err)
		}
	}
	return eng
}

func newFS(t testing.TB) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	if err := m.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeOpts(fsys vfs.FS, id, w uint64) WriteOptions {
	return WriteOptions{FS: fsys, Dir: dir, ID: id, Watermark: w, UUID: testUUID, Codec: codec.Identity{}, Created: 42, SectionBytes: 256}
}

// write is the one place the tests call Write.
func writeSnap(ctx context.Context, o WriteOptions, eng *engine.Engine) (Info, error) {
	return Write(ctx, o, eng)
}

func readOpts(fsys vfs.FS, id, w uint64) ReadOptions {
	return ReadOptions{FS: fsys, Path: filepath.Join(dir, FileName(id)), UUID: testUUID, Codec: codec.Identity{}, ID: id, Watermark: w}
}

// image is the canonical encoding of every entity, in order.
func engineImage(t testing.TB, eng *engine.Engine, w uint64) []byte {
	var out []byte
	err := eng.ForEachEntity(w, func(run core.RunID, space core.PrimitiveType, key string, vs []core.VersionRec) error {
		e := format.SnapshotEntity{Run: run, Space: space, Key: key}
		for _, v := range vs {
			e.Versions = append(e.Versions, format.SnapshotVersionRec(v))
		}
		out = format.AppendEntity(out, &e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readImage(o ReadOptions) ([]byte, Result, error) {
	var out []byte
	res, err := Read(o, func(e *format.SnapshotEntity) error {
		out = format.AppendEntity(out, e)
		return nil
	})
	return out, res, err
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

func fileBytes(t testing.TB, fsys vfs.FS, id uint64) []byte {
	t.Helper()
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, FileName(id)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putFile(t testing.TB, fsys vfs.FS, id uint64, b []byte) {
	t.Helper()
	p := filepath.Join(dir, FileName(id))
	if err := fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	f, err := fsys.Create(p)
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

func names(t testing.TB, fsys vfs.FS) []string {
	t.Helper()
	l, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFileName(t *testing.T) {
	if got := FileName(7); got != "snap-0000000007.chk" {
		t.Fatalf("FileName(7) = %s", got)
	}
	for _, id := range []uint64{1, 7, 1e10, ^uint64(0)} {
		if got, ok := ParseFileName(FileName(id)); !ok || got != id {
			t.Fatalf("ParseFileName(FileName(%d)) = %d, %v", id, got, ok)
		}
	}
	for _, n := range []string{"snap-7.chk", "snap-00000000000000000007.chk"} {
		if got, ok := ParseFileName(n); !ok || got != 7 {
			t.Fatalf("ParseFileName(%q) = %d, %v", n, got, ok)
		}
	}
	for _, n := range []string{"snap-0.chk", "snap-.chk", "snap-1.chk.tmp", "snap-x.chk", "wal-1.seg", "snap-1.chk.torn-3"} {
		if _, ok := ParseFileName(n); ok {
			t.Fatalf("ParseFileName(%q) accepted", n)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	eng := testEngine(t, 60)
	for _, tc := range []struct {
		name     string
		w        uint64
		sections int
	}{
		{"all", 60, 256},
		{"older watermark", 31, 256},
		{"empty image", 0, 256},
		{"one section", 60, 1 << 20},
		{"one entity per section", 60, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := newFS(t)
			o := writeOpts(fsys, 3, tc.w)
			o.SectionBytes = tc.sections
			var progress []uint64
			o.Progress = func(n uint64) { progress = append(progress, n) }
			info, err := writeSnap(context.Background(), o, eng)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(t, fsys); len(got) != 1 || got[0] != FileName(3) {
				t.Fatalf("directory holds %v", got)
			}
			img, res, err := readImage(readOpts(fsys, 3, tc.w))
			if err != nil {
				t.Fatal(err)
			}
			if want := engineImage(t, eng, tc.w); !bytes.Equal(img, want) {
				t.Fatalf("read back %d bytes of entities, want %d", len(img), len(want))
			}
			wantHdr := format.SnapshotHeader{ID: 3, Watermark: tc.w, Created: 42, UUID: testUUID, CodecID: codec.IdentityID}
			if res.Header != wantHdr {
				t.Fatalf("header %+v, want %+v", res.Header, wantHdr)
			}
			if res.Bytes != info.Bytes || res.Footer.Entities != info.Entities || res.Footer.Versions != info.Versions || res.Footer.LastTime != info.LastTime {
				t.Fatalf("Write said %+v, Read found %+v", info, res)
			}
			if info.Path != filepath.Join(dir, FileName(3)) {
				t.Fatalf("Info.Path = %s", info.Path)
			}
			if tc.w == 60 && info.LastTime != 1060 {
				t.Fatalf("LastTime = %d", info.LastTime)
			}
			if int(res.Footer.Sections) != len(progress) {
				t.Fatalf("%d sections, %d progress calls", res.Footer.Sections, len(progress))
			}
			if len(progress) > 0 && progress[len(progress)-1] != info.Entities {
				t.Fatalf("progress %v ends short of %d entities", progress, info.Entities)
			}
			if tc.sections == 1 && uint64(res.Footer.Sections) != info.Entities {
				t.Fatalf("%d sections for %d entities", res.Footer.Sections, info.Entities)
			}
		})
	}
}

// The same state gives the same bytes.
func TestWriteIsDeterministic(t *testing.T) {
	a, b := newFS(t), newFS(t)
	if _, err := writeSnap(context.Background(), writeOpts(a, 1, 40), testEngine(t, 50)); err != nil {
		t.Fatal(err)
	}
	if _, err := writeSnap(context.Background(), writeOpts(b, 1, 40), testEngine(t, 40)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fileBytes(t, a, 1), fileBytes(t, b, 1)) {
		t.Fatal("two snapshots of the same state differ")
	}
}

func TestWriteReplacesLeftoverTemp(t *testing.T) {
	fsys := newFS(t)
	f, err := fsys.Create(filepath.Join(dir, FileName(2)+".tmp"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("left by a crash"))
	f.Close()
	if _, err := writeSnap(context.Background(), writeOpts(fsys, 2, 10), testEngine(t, 10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readImage(readOpts(fsys, 2, 10)); err != nil {
		t.Fatal(err)
	}
	if got := names(t, fsys); len(got) != 1 {
		t.Fatalf("directory holds %v", got)
	}
}

func TestReadRefusesAnotherSnapshot(t *testing.T) {
	fsys := newFS(t)
	if _, err := writeSnap(context.Background(), writeOpts(fsys, 5, 20), testEngine(t, 20)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(o *ReadOptions)
		code dberr.Code
	}{
		{"missing", func(o *ReadOptions) { o.Path = filepath.Join(dir, FileName(6)) }, dberr.Corruption},
		{"other database", func(o *ReadOptions) { o.UUID[0]++ }, dberr.Corruption},
		{"other codec", func(o *ReadOptions) { o.Codec = otherCodec{} }, dberr.CodecMismatch},
		{"other id", func(o *ReadOptions) { o.ID = 4 }, dberr.Corruption},
		{"other watermark", func(o *ReadOptions) { o.Watermark = 19 }, dberr.Corruption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := readOpts(fsys, 5, 20)
			tc.edit(&o)
			_, _, err := readImage(o)
			wantCode(t, err, tc.code)
		})
	}
	// ID 0 skips the MANIFEST cross-check (the CLI's check reads any file).
	o := readOpts(fsys, 5, 20)
	o.ID, o.Watermark = 0, 0
	if _, _, err := readImage(o); err != nil {
		t.Fatal(err)
	}
}

type otherCodec struct{ codec.Identity }

func (otherCodec) ID() string { return "other" }

func smallSnapshot(t testing.TB) []byte {
	fsys := newFS(t)
	o := writeOpts(fsys, 1, 12)
	o.SectionBytes = 64
	if _, err := writeSnap(context.Background(), o, testEngine(t, 12)); err != nil {
		t.Fatal(err)
	}
	return fileBytes(t, fsys, 1)
}

func TestReadEveryTruncation(t *testing.T) {
	good := smallSnapshot(t)
	fsys := newFS(t)
	for n := 0; n < len(good); n++ {
		putFile(t, fsys, 1, good[:n])
		_, _, err := readImage(readOpts(fsys, 1, 12))
		de := wantCode(t, err, dberr.Corruption)
		if de.File != filepath.Join(dir, FileName(1)) {
			t.Fatalf("truncated to %d: error names %q", n, de.File)
		}
	}
}

func TestReadEveryBitFlip(t *testing.T) {
	good := smallSnapshot(t)
	fsys := newFS(t)
	for i := 0; i < len(good)*8; i++ {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		putFile(t, fsys, 1, b)
		if _, _, err := readImage(readOpts(fsys, 1, 12)); !errors.Is(err, dberr.ErrCorruption) {
			t.Fatalf("bit %d of %d flipped: %v, want Corruption", i, len(good)*8, err)
		}
	}
}

func TestReadRefusesTrailingBytes(t *testing.T) {
	fsys := newFS(t)
	putFile(t, fsys, 1, append(smallSnapshot(t), 0))
	_, _, err := readImage(readOpts(fsys, 1, 12))
	wantCode(t, err, dberr.Corruption)
}

// A section header claiming a huge body is refused before anything of that
// size is allocated, whether the body would pass the file's end or the
// format's maximum.
func TestReadBoundsSectionLengths(t *testing.T) {
	hdr := format.AppendSnapshotHeader(nil, format.SnapshotHeader{ID: 1, Watermark: 12, Created: 42, UUID: testUUID, CodecID: codec.IdentityID})
	fsys := newFS(t)
	for _, n := range []uint32{format.MaxSectionBody, format.MaxSectionBody + 1, ^uint32(0)} {
		b := append(bytes.Clone(hdr), format.SectionEntities, 1, 0, 0, 0, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
		b = append(b, make([]byte, 64)...)
		putFile(t, fsys, 1, b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, _, err := readImage(readOpts(fsys, 1, 12))
		runtime.ReadMemStats(&after)
		wantCode(t, err, dberr.Corruption)
		if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
			t.Fatalf("body length %d: Read allocated %d bytes", n, got)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(smallSnapshot(f))
	fsys := newFS(f)
	if _, err := writeSnap(context.Background(), writeOpts(fsys, 1, 12), newEngine()); err != nil {
		f.Fatal(err)
	}
	f.Add(fileBytes(f, fsys, 1))
	f.Add([]byte(format.SnapshotMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := newFS(t)
		putFile(t, fsys, 1, b)
		o := readOpts(fsys, 1, 12)
		o.ID, o.Watermark = 0, 0 // let the fuzzer reach past the header
		_, _, err := readImage(o)
		if err != nil && !errors.Is(err, dberr.ErrCorruption) && !errors.Is(err, dberr.ErrCodecMismatch) {
			t.Fatalf("Read: %v, want Corruption or CodecMismatch", err)
		}
	})
}

// countOps returns the mutating operations of one successful Write.
func countOps(t *testing.T, eng *engine.Engine) int {
	efs := vfs.NewErrorFS(newFS(t))
	if _, err := writeSnap(context.Background(), writeOpts(efs, 1, 30), eng); err != nil {
		t.Fatal(err)
	}
	return efs.OpCount()
}

// A crash before any operation of Write leaves no file under the final
// name or a whole, valid snapshot.
func TestWriteCrashAtEveryOp(t *testing.T) {
	eng := testEngine(t, 30)
	n := countOps(t, eng)
	modes := []vfs.CrashOptions{{Mode: vfs.CrashDropUnsynced}, {Mode: vfs.CrashKeepAll}}
	for seed := uint64(1); seed <= 6; seed++ {
		modes = append(modes, vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: seed, RandomEntries: true, BlockSize: 64})
	}
	for k := 0; k <= n; k++ {
		for _, opts := range modes {
			mem := newFS(t)
			for _, d := range []string{"/", "/db"} {
				if err := mem.SyncDir(d); err != nil {
					t.Fatal(err)
				}
			}
			mem.CrashAt(mem.OpCount()+k, opts)
			_, err := writeSnap(context.Background(), writeOpts(mem, 1, 30), eng)
			img := mem.CrashImage()
			if img == nil {
				if err != nil || k < n {
					t.Fatalf("crash point %d not reached: %v", k, err)
				}
				img = mem.Crash(opts)
			}
			_, statErr := img.Stat(filepath.Join(dir, FileName(1)))
			if errors.Is(statErr, fs.ErrNotExist) {
				if k == n {
					t.Fatalf("a completed Write was lost in a crash (%v)", opts.Mode)
				}
				continue
			}
			if _, _, err := readImage(readOpts(img, 1, 30)); err != nil {
				t.Fatalf("crash at op %d (%v): the final name holds a bad snapshot: %v", k, opts.Mode, err)
			}
		}
	}
}

// An I/O error while reading is an I/O error, not Corruption: the file may
// be intact, and calling it corrupt would send an operator to restore a
// backup for a loose cable.
func TestReadIOErrors(t *testing.T) {
	for _, kind := range []vfs.OpKind{vfs.OpStat, vfs.OpOpen, vfs.OpRead} {
		t.Run(kind.String(), func(t *testing.T) {
			mem := newFS(t)
			if _, err := writeSnap(context.Background(), writeOpts(mem, 1, 30), testEngine(t, 30)); err != nil {
				t.Fatal(err)
			}
			efs := vfs.NewErrorFS(mem, vfs.Rule{OpKinds: kind, Index: -1})
			_, _, err := readImage(readOpts(efs, 1, 30))
			if efs.Injected() == 0 {
				t.Fatalf("Read does no %s", kind)
			}
			wantCode(t, err, dberr.Internal)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("error %v does not wrap EIO", err)
			}
		})
	}
}

// An error from apply is the caller's, returned as it is, not reported as
// damage to the file.
func TestReadReturnsApplyError(t *testing.T) {
	fsys := newFS(t)
	if _, err := writeSnap(context.Background(), writeOpts(fsys, 1, 30), testEngine(t, 30)); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	_, err := Read(readOpts(fsys, 1, 30), func(*format.SnapshotEntity) error { return stop })
	if !errors.Is(err, stop) || errors.Is(err, dberr.ErrCorruption) {
		t.Fatalf("Read = %v, want the apply error", err)
	}
	typed := dberr.New(dberr.Closed, "test", "closed")
	_, err = Read(readOpts(fsys, 1, 30), func(*format.SnapshotEntity) error { return typed })
	if err != typed {
		t.Fatalf("Read = %v, want %v", err, typed)
	}
}

// An I/O error at any operation of Write returns a typed error wrapping the
// cause and leaves nothing in the directory: no temporary file and no file
// under the final name, which only a successful Write publishes. A later
// Write succeeds.
func TestWriteIOErrorAtEveryOp(t *testing.T) {
	eng := testEngine(t, 30)
	n := countOps(t, eng)
	if n < 6 {
		t.Fatalf("Write does only %d mutating operations", n)
	}
	for k := 0; k < n; k++ {
		for _, partial := range []bool{false, true} {
			t.Run(fmt.Sprintf("op%d/partial=%v", k, partial), func(t *testing.T) {
				mem := newFS(t)
				efs := vfs.NewErrorFS(mem, vfs.Rule{Index: k, PartialWrite: partial, Err: vfs.ErrENOSPC})
				_, err := writeSnap(context.Background(), writeOpts(efs, 1, 30), eng)
				if efs.Injected() != 1 {
					t.Fatalf("%d errors injected", efs.Injected())
				}
				wantCode(t, err, dberr.Internal)
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("error %v does not wrap the cause", err)
				}
				if got := names(t, mem); len(got) != 0 {
					t.Fatalf("a failed Write left %v", got)
				}
				efs.ClearRules()
				if _, err := writeSnap(context.Background(), writeOpts(efs, 1, 30), eng); err != nil {
					t.Fatalf("Write after the error cleared: %v", err)
				}
				if _, _, err := readImage(readOpts(mem, 1, 30)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestWriteCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fsys := newFS(t)
	o := writeOpts(fsys, 1, 30)
	o.SectionBytes = 1
	_, err := writeSnap(ctx, o, testEngine(t, 30))
	wantCode(t, err, dberr.Canceled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	if got := names(t, fsys); len(got) != 0 {
		t.Fatalf("a canceled Write left %v", got)
	}
}

func newEngine() *engine.Engine {
	return engine.New(engine.Env{Now: func() int64 { return 1 }})
}

// Reading a small snapshot costs memory in proportion to the file, not a
// fixed megabyte of buffer: Open reads one on every start.
func TestReadSmallFileAllocatesLittle(t *testing.T) {
	good := smallSnapshot(t)
	fsys := newFS(t)
	putFile(t, fsys, 1, good)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Read(readOpts(fsys, 1, 12), func(*format.SnapshotEntity) error { return nil })
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Fatalf("reading a %d-byte snapshot allocated %d bytes", len(good), got)
	}
}

// frame wraps an entities body into a file whose every checksum is right,
// so that the fuzzer reaches the decoding of entities instead of stopping
// at a checksum.
func frame(typ byte, count uint32, body []byte, foot format.SnapshotFooter) []byte {
	b := format.AppendSnapshotHeader(nil, format.SnapshotHeader{ID: 1, Watermark: 12, Created: 42, UUID: testUUID, CodecID: codec.IdentityID})
	b, err := format.AppendSection(b, typ, int(count), body, codec.Identity{})
	if err != nil {
		panic(err)
	}
	b = format.AppendFooterBody(b, foot)
	crc := format.Checksum(b)
	return append(b, byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24))
}

func FuzzReadSection(f *testing.F) {
	var body []byte
	for i, v := range []format.SnapshotVersionRec{{Version: 3, Time: 9, Value: value.String("v")}, {Version: 12, Time: -1, Tombstone: true}} {
		e := format.SnapshotEntity{Run: core.RunID{byte(i)}, Space: core.KV, Key: "k", Versions: []format.SnapshotVersionRec{v}}
		body = format.AppendEntity(body, &e)
	}
	f.Add(byte(format.SectionEntities), uint32(2), body, uint32(1), uint64(2), uint64(2), int64(9))
	f.Add(byte(format.SectionEntities), uint32(1), body, uint32(1), uint64(1), uint64(1), int64(9))
	f.Add(byte(format.SectionTrimFloors), uint32(0), []byte{}, uint32(1), uint64(0), uint64(0), int64(0))
	f.Add(byte(format.SectionEntities), ^uint32(0), body[:20], uint32(1), uint64(0), uint64(0), int64(0))
	f.Fuzz(func(t *testing.T, typ byte, count uint32, body []byte, sections uint32, entities, versions uint64, last int64) {
		fsys := newFS(t)
		foot := format.SnapshotFooter{Sections: sections, Entities: entities, Versions: versions, LastTime: last}
		putFile(t, fsys, 1, frame(typ, count, body, foot))
		var n uint64
		res, err := Read(readOpts(fsys, 1, 12), func(e *format.SnapshotEntity) error {
			n++
			if len(e.Versions) == 0 || !e.Space.Valid() {
				t.Fatalf("applied a malformed entity %+v", e)
			}
			for _, v := range e.Versions {
				if v.Version == 0 || v.Version > 12 {
					t.Fatalf("applied version %d above the watermark", v.Version)
				}
			}
			return nil
		})
		if err != nil {
			wantCode(t, err, dberr.Corruption)
			return
		}
		if res.Footer != foot || n != entities {
			t.Fatalf("accepted footer %+v after applying %d entities", res.Footer, n)
		}
	})
}

// Options that would produce a file no reader accepts (or one no cleanup
// recognises) are refused before anything is written.
func TestWriteRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(o *WriteOptions)
	}{
		{"id 0", func(o *WriteOptions) { o.ID = 0 }},
		{"empty codec ID", func(o *WriteOptions) { o.Codec = namedCodec("") }},
		{"long codec ID", func(o *WriteOptions) { o.Codec = namedCodec(strings.Repeat("c", 65)) }},
		{"codec ID with a space", func(o *WriteOptions) { o.Codec = namedCodec("a b") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := newFS(t)
			o := writeOpts(fsys, 1, 10)
			tc.edit(&o)
			_, err := writeSnap(context.Background(), o, testEngine(t, 10))
			wantCode(t, err, dberr.InvalidArgument)
			if got := names(t, fsys); len(got) != 0 {
				t.Fatalf("a refused Write left %v", got)
			}
		})
	}
}

type namedCodec string

func (c namedCodec) ID() string { return string(c) }

func (namedCodec) Encode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }

func (namedCodec) Decode(dst, src []byte, maxOut int) ([]byte, error) {
	return codec.Identity{}.Decode(dst, src, maxOut)
}
