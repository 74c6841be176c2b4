package inmem_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

const dbDir = "/db"

// crashRun is the run every crash workload writes into.
var crashRun = inmem.MustParseRunID("0f0e0d0c-0b0a-4908-8706-050403020100")

func openFS(t testing.TB, fsys vfs.FS, mode inmem.Durability, segSize int64) (*inmem.DB, error) {
	t.Helper()
	return inmem.Open(dbDir, &inmem.Options{FS: fsys, Durability: mode, WALSegmentSize: segSize})
}

func mustOpenFS(t testing.TB, fsys vfs.FS, mode inmem.Durability, segSize int64) *inmem.DB {
	t.Helper()
	db, err := openFS(t, fsys, mode, segSize)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

// padding makes records a few hundred bytes, so small segments rotate often.
var padding = inmem.String(strings.Repeat("p", 200))

// commitStep is commit i of the crash workload: it writes k<i> = i, a padded
// value, and last = i, all in one transaction.
func commitStep(db *inmem.DB, i int) error {
	return db.Update(ctx, crashRun, func(tx *inmem.Tx) error {
		kv := tx.KV()
		if err := kv.Put(fmt.Sprintf("k%05d", i), inmem.Int(int64(i))); err != nil {
			return err
		}
		if err := kv.Put(fmt.Sprintf("pad%05d", i), padding); err != nil {
			return err
		}
		err := kv.Put("last", inmem.Int(int64(i)))
		return err
	})
}

// runSteps commits steps 1..n in order and returns how many were
// acknowledged before the first failure.
func runSteps(db *inmem.DB, n int) (acked int, firstErr error) {
	for i := 1; i <= n; i++ {
		if err := commitStep(db, i); err != nil {
			return acked, err
		}
		acked = i
	}
	return acked, nil
}

// checkPrefix verifies that db holds exactly steps 1..m for some m >= atLeast
// (a prefix of the commit order, no hole, no partial transaction) and
// returns m.
func checkPrefix(t testing.TB, db *inmem.DB, atLeast int) int {
	t.Helper()
	m := 0
	if v, err := db.KV().Get(ctx, crashRun, "last"); err == nil {
		n, _ := v.Value.AsInt()
		m = int(n)
	} else if !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Get(last): %v", err)
	}
	if m < atLeast {
		t.Fatalf("recovered up to step %d, but step %d was acknowledged", m, atLeast)
	}
	keys, err := db.KV().List(ctx, crashRun, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != m {
		t.Fatalf("recovered %d step keys with last = %d: a hole or a partial transaction", len(keys), m)
	}
	for i, k := range keys {
		if k != fmt.Sprintf("k%05d", i+1) {
			t.Fatalf("step key %d is %q", i+1, k)
		}
		pad, err := db.KV().Get(ctx, crashRun, fmt.Sprintf("pad%05d", i+1))
		if err != nil || !pad.Value.Equal(padding) {
			t.Fatalf("step %d is partial: pad = %v, %v", i+1, pad.Value, err)
		}
	}
	return m
}

func segmentFiles(t testing.TB, fsys vfs.FS) []string {
	t.Helper()
	l, err := wal.List(fsys, filepath.Join(dbDir, "WAL"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range l.Segments {
		out = append(out, s.Path)
	}
	return out
}

// usedBytes returns the part of a segment that holds its header and records:
// an open segment is preallocated, and its unused tail is zeros.
func usedBytes(data []byte) []byte {
	off := format.SegmentHeaderSize
	for off < len(data) {
		f, problem, _ := format.ParseRecordFrame(data[off:])
		if problem != format.RecordOK {
			break
		}
		off += f.Size
	}
	return data[:min(off, len(data))]
}

func readAll(t testing.TB, fsys vfs.FS, name string) []byte {
	t.Helper()
	b, err := vfs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xorCodec transforms every byte and counts its calls: payloads that skip
// it, or pass through it twice, do not decode.
type xorCodec struct {
	mu               sync.Mutex
	encodes, decodes int
}

func (*xorCodec) ID() string { return "xor-test" }

func (c *xorCodec) Encode(dst, src []byte) ([]byte, error) {
	c.mu.Lock()
	c.encodes++
	c.mu.Unlock()
	for _, b := range src {
		dst = append(dst, b^0xa5)
	}
	return dst, nil
}

func (c *xorCodec) Decode(dst, src []byte, max int) ([]byte, error) {
	c.mu.Lock()
	c.decodes++
	c.mu.Unlock()
	for _, b := range src {
		dst = append(dst, b^0xa5)
	}
	return dst, nil
}

func boundaryBefore(ends []int, cut int) int {
	b := format.SegmentHeaderSize
	for _, e := range ends {
		if e <= cut {
			b = e
		}
	}
	return b
}

func truncate(t testing.TB, fsys vfs.FS, name string, size int64) {
	t.Helper()
	f, err := fsys.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Sync()
}

func appendBytes(t testing.TB, fsys vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fsys.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Sync()
}

func flipByte(t testing.TB, fsys vfs.FS, name string, off int) {
	t.Helper()
	data := readAll(t, fsys, name)
	data[off] ^= 0x40
	if err := fsys.Remove(name); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(data)
	f.Sync()
}

// TestRecovery_CorruptionCases checks the damage that is never a torn tail:
// a middle segment, a missing segment, a foreign UUID, a bad MANIFEST.
func TestRecovery_CorruptionCases(t *testing.T) {
	base := vfs.NewMem()
	db := mustOpenFS(t, base, inmem.Strict, 2048)
	if _, err := runSteps(db, 30); err != nil {
		t.Fatal(err)
	}
	db.Close()
	segs := segmentFiles(t, base)
	if len(segs) < 4 {
		t.Fatalf("only %d segments", len(segs))
	}
	cases := map[string]func(fsys *vfs.MemFS){
		"middle segment tail": func(fsys *vfs.MemFS) { truncate(t, fsys, segs[1], int64(len(readAll(t, fsys, segs[1]))-3)) },
		"middle segment bit":  func(fsys *vfs.MemFS) { flipByte(t, fsys, segs[1], format.SegmentHeaderSize+8) },
		"missing segment":     func(fsys *vfs.MemFS) { fsys.Remove(segs[1]) },
		"missing first":       func(fsys *vfs.MemFS) { fsys.Remove(segs[0]) },
		"segment header":      func(fsys *vfs.MemFS) { flipByte(t, fsys, segs[0], 3) },
		"foreign uuid": func(fsys *vfs.MemFS) {
			data := readAll(t, fsys, segs[1])
			h, _ := format.DecodeSegmentHeader(data)
			h.UUID[0] ^= 1
			copy(data, format.AppendSegmentHeader(nil, h))
			fsys.Remove(segs[1])
			f, _ := fsys.Create(segs[1])
			f.Write(data)
			f.Close()
		},
		"manifest bit":     func(fsys *vfs.MemFS) { flipByte(t, fsys, filepath.Join(dbDir, "MANIFEST"), 5) },
		"manifest missing": func(fsys *vfs.MemFS) { fsys.Remove(filepath.Join(dbDir, "MANIFEST")) },
	}
	for name, damage := range cases {
		fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		damage(fsys)
		snapshot := dumpFS(t, fsys)
		_, err := openFS(t, fsys, inmem.Strict, 2048)
		if !errors.Is(err, inmem.ErrCorruption) {
			t.Errorf("%s: Open = %v, want Corruption", name, err)
			continue
		}
		var e *inmem.Error
		errors.As(err, &e)
		if e.File == "" {
			t.Errorf("%s: corruption error names no file: %v", name, err)
		}
		if after := dumpFS(t, fsys); after != snapshot {
			t.Errorf("%s: recovery modified files of a corrupt database", name)
		}
	}
}

// dumpFS summarizes every file's name and content hash.
func dumpFS(t testing.TB, fsys vfs.FS) string {
	t.Helper()
	var b strings.Builder
	var walk func(dir string)
	walk = func(dir string) {
		names, _ := fsys.List(dir)
		for _, n := range names {
			p := filepath.Join(dir, n)
			st, err := fsys.Stat(p)
			if err != nil {
				continue
			}
			if st.IsDir() {
				walk(p)
				continue
			}
			data, _ := vfs.ReadFile(fsys, p)
			fmt.Fprintf(&b, "%s %x\n", p, sha256.Sum256(data))
		}
	}
	walk(dbDir)
	return b.String()
}

type inmemCommit = core.Commit

func dbUUID(t testing.TB, fsys vfs.FS) format.UUID {
	t.Helper()
	m, err := manifest.Read(fsys, dbDir)
	if err != nil {
		t.Fatal(err)
	}
	return m.UUID
}

// TestRecovery_TornHeaderSegmentNumberReused: a process killed while
// creating a segment leaves an empty or header-less newest file; recovery
// removes it and reuses its number, so the numbering stays contiguous across
// later reopens.
func TestRecovery_TornHeaderSegmentNumberReused(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	runSteps(db, 3)
	db.Close()
	segs := segmentFiles(t, fsys)
	last := segs[len(segs)-1]
	n, _ := wal.ParseSegmentName(filepath.Base(last))
	for _, content := range [][]byte{nil, []byte("INMEMW")} {
		torn := filepath.Join(dbDir, "WAL", wal.SegmentName(n+1))
		f, err := fsys.Create(torn)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(content)
		f.Close()
		for range 3 {
			db, err := openFS(t, fsys, inmem.Strict, 1<<20)
			if err != nil {
				t.Fatalf("reopen with a torn newest header %q: %v", content, err)
			}
			checkPrefix(t, db, 3)
			db.Close()
		}
		n = uint64(len(segmentFiles(t, fsys)))
	}
}

// TestRecovery_EmptySegmentAfterWatermarkKept: segments a snapshot covers
// are deleted only as a prefix of the log, so an empty segment that follows
// records newer than the snapshot is kept and the numbering never gaps.
func TestRecovery_EmptySegmentAfterWatermarkKept(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	runSteps(db, 3)
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	commitStep(db, 4) // newer than the snapshot, in the same segment
	db.Close()
	for i := range 4 { // each open adds a fresh, empty segment
		db = mustOpenFS(t, fsys, inmem.Strict, 1<<20)
		if i == 2 {
			if _, err := db.Compact(ctx, inmem.WALOnly); err != nil {
				t.Fatal(err)
			}
		}
		checkPrefix(t, db, 4)
		db.Close()
	}
}

// TestRecovery_EmptyFirstSegmentWithoutSnapshotKept: without a snapshot no
// segment is covered, not even an empty one, so a database opened and
// closed without writes reopens forever.
func TestRecovery_EmptyFirstSegmentWithoutSnapshotKept(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	db.Close() // segment 1 stays empty
	for i := range 4 {
		db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
		if err := commitStep(db, i+1); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	db = mustOpenFS(t, fsys, inmem.Strict, 1<<20)
	checkPrefix(t, db, 4)
	db.Close()
}
