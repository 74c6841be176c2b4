package inmem_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
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
		if _, err := kv.Put(fmt.Sprintf("k%05d", i), inmem.Int(int64(i))); err != nil {
			return err
		}
		if _, err := kv.Put(fmt.Sprintf("pad%05d", i), padding); err != nil {
			return err
		}
		_, err := kv.Put("last", inmem.Int(int64(i)))
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

// TestStorageInvariant_S1_AppendOnly checks that every commit only appends:
// each segment's earlier bytes never change.
func TestStorageInvariant_S1_AppendOnly(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 4096)
	defer db.Close()
	prev := map[string][]byte{}
	for i := 1; i <= 60; i++ {
		if err := commitStep(db, i); err != nil {
			t.Fatal(err)
		}
		for _, seg := range segmentFiles(t, fsys) {
			cur := usedBytes(readAll(t, fsys, seg))
			if old, ok := prev[seg]; ok && !bytes.HasPrefix(cur, old) {
				t.Fatalf("after step %d, %s changed before its end", i, seg)
			}
			prev[seg] = cur
		}
	}
	if len(prev) < 3 {
		t.Fatalf("the workload rotated into only %d segments", len(prev))
	}
}

// TestStorageInvariant_S2_ClosedSegmentsImmutable checks that closed segments
// stay byte-identical through later commits, rotations, a close, recovery
// and more commits.
func TestStorageInvariant_S2_ClosedSegmentsImmutable(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 4096)
	if _, err := runSteps(db, 40); err != nil {
		t.Fatal(err)
	}
	segs := segmentFiles(t, fsys)
	closed := map[string][32]byte{}
	for _, s := range segs[:len(segs)-1] {
		closed[s] = sha256.Sum256(readAll(t, fsys, s))
	}
	if len(closed) < 2 {
		t.Fatalf("only %d closed segments", len(closed))
	}
	for i := 41; i <= 80; i++ {
		if err := commitStep(db, i); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 4096)
	for i := 81; i <= 90; i++ {
		if err := commitStep(db, i); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	for s, sum := range closed {
		if sha256.Sum256(readAll(t, fsys, s)) != sum {
			t.Fatalf("closed segment %s changed", s)
		}
	}
}

// TestStorageInvariant_S3_RecordsSelfDelimiting walks every segment using
// only each record's own length and decodes every record from an isolated
// copy of its bytes.
func TestStorageInvariant_S3_RecordsSelfDelimiting(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 4096)
	if _, err := runSteps(db, 30); err != nil {
		t.Fatal(err)
	}
	db.Close()
	records := 0
	for _, seg := range segmentFiles(t, fsys) {
		data := usedBytes(readAll(t, fsys, seg))
		for off := format.SegmentHeaderSize; off < len(data); {
			n := int(uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16 | uint32(data[off+3])<<24)
			isolated := bytes.Clone(data[off : off+4+n])
			f, problem, err := format.ParseRecordFrame(isolated)
			if problem != format.RecordOK || f.Size != len(isolated) {
				t.Fatalf("%s@%d: %v", seg, off, err)
			}
			if _, err := format.DecodeRecord(f, codec.Identity{}, 0); err != nil {
				t.Fatalf("%s@%d: %v", seg, off, err)
			}
			records++
			off += 4 + n
		}
	}
	if records != 30 {
		t.Fatalf("found %d records, want 30", records)
	}
}

// TestStorageInvariant_S9_WALVersionsEqualEngine checks that the versions in
// the WAL are exactly the ones the engine assigned and returned.
func TestStorageInvariant_S9_WALVersionsEqualEngine(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 4096)
	var want []uint64
	run := inmem.NewRunID()
	for i := range 25 {
		v, err := db.KV().Put(ctx, run, fmt.Sprint("k", i%7), inmem.Int(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, v.N)
	}
	db.Close()
	var got []uint64
	_, err := wal.Replay(wal.ReplayOptions{FS: fsys, Dir: filepath.Join(dbDir, "WAL"), UUID: dbUUID(t, fsys), Codec: codec.Identity{}},
		wal.EachCommit(func(c *inmemCommit) error {
			for _, m := range c.Mutations {
				if m.Version != c.Version {
					t.Fatalf("mutation version %d in commit %d", m.Version, c.Version)
				}
			}
			got = append(got, c.Version)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("WAL versions %v, engine versions %v", got, want)
	}
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

// TestStorageInvariant_S8_CodecPassThrough proves every record body passes
// through the codec exactly once, and that a database written with one codec
// refuses to open with another.
func TestStorageInvariant_S8_CodecPassThrough(t *testing.T) {
	fsys := vfs.NewMem()
	xc := &xorCodec{}
	db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, Codec: xc, WALSegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	run := inmem.NewRunID()
	const secret = "plaintext-marker-0123456789"
	for i := range 20 {
		if _, err := db.KV().Put(ctx, run, fmt.Sprint("k", i), inmem.String(secret)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if xc.encodes != 20 {
		t.Fatalf("codec encoded %d payloads for 20 commits", xc.encodes)
	}
	for _, seg := range segmentFiles(t, fsys) {
		if bytes.Contains(readAll(t, fsys, seg), []byte(secret)) {
			t.Fatalf("%s holds a payload that did not pass through the codec", seg)
		}
	}
	if _, err := inmem.Open(dbDir, &inmem.Options{FS: fsys}); !errors.Is(err, inmem.ErrCodecMismatch) {
		t.Fatalf("open with the identity codec = %v, want CodecMismatch", err)
	}
	xc2 := &xorCodec{}
	db, err = inmem.Open(dbDir, &inmem.Options{FS: fsys, Codec: xc2, WALSegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if xc2.decodes != 20 {
		t.Fatalf("recovery decoded %d payloads, want 20", xc2.decodes)
	}
	got, err := db.KV().Get(ctx, run, "k7")
	if err != nil || !got.Value.Equal(inmem.String(secret)) {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
}

// TestStorageInvariant_S7_ManifestAtomic crashes at every file-system
// operation of a MANIFEST replacement (here: the one a rotation performs)
// and checks that the crash image always holds a valid MANIFEST that opens.
func TestStorageInvariant_S7_ManifestAtomic(t *testing.T) {
	base := vfs.NewMem()
	db := mustOpenFS(t, base, inmem.Strict, 4096)
	db.Close()
	before := readAll(t, base, filepath.Join(dbDir, "MANIFEST"))
	// Count the operations of one Open (which writes the MANIFEST for its
	// fresh segment), then crash at each of them.
	probe := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	start := probe.OpCount()
	db = mustOpenFS(t, probe, inmem.Strict, 4096)
	db.Close()
	total := probe.OpCount() - start
	for k := 0; k < total; k++ {
		for _, mode := range []vfs.CrashMode{vfs.CrashDropUnsynced, vfs.CrashRandom} {
			fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
			fsys.CrashAt(fsys.OpCount()+k, vfs.CrashOptions{Mode: mode, Seed: uint64(k)})
			if db, err := openFS(t, fsys, inmem.Strict, 4096); err == nil {
				db.Close()
			}
			img := fsys.CrashImage()
			if img == nil {
				t.Fatalf("crash point %d not reached", k)
			}
			m := readAll(t, img, filepath.Join(dbDir, "MANIFEST"))
			if _, err := format.DecodeManifest(m); err != nil {
				t.Fatalf("crash at op %d (%v): MANIFEST invalid: %v", k, mode, err)
			}
			if !bytes.Equal(m, before) {
				mm, _ := format.DecodeManifest(m)
				mb, _ := format.DecodeManifest(before)
				if mm.UUID != mb.UUID || mm.ActiveSegment <= mb.ActiveSegment {
					t.Fatalf("crash at op %d: MANIFEST is neither the old nor a newer one: %+v", k, mm)
				}
			}
			db, err := openFS(t, img, inmem.Strict, 4096)
			if err != nil {
				t.Fatalf("crash at op %d (%v): reopen: %v", k, mode, err)
			}
			db.Close()
		}
	}
}

// TestRecoveryInvariant_R1_NoAcknowledgedCommitLost crashes a Strict
// workload with frequent rotations at every file-system operation index and
// checks that the recovered state holds every acknowledged commit, as a
// prefix of the commit order.
func TestRecoveryInvariant_R1_NoAcknowledgedCommitLost(t *testing.T) {
	const steps = 24
	probe := vfs.NewMem()
	db := mustOpenFS(t, probe, inmem.Strict, 2048)
	if _, err := runSteps(db, steps); err != nil {
		t.Fatal(err)
	}
	db.Close()
	total := probe.OpCount()
	modes := []vfs.CrashMode{vfs.CrashDropUnsynced, vfs.CrashRandom}
	images, partial := 0, 0
	defer func() {
		t.Logf("%d operations, %d crash images recovered, %d of them short of the full workload", total, images, partial)
		if images < total || partial == 0 {
			t.Errorf("the crash points did not exercise recovery (%d images, %d partial)", images, partial)
		}
	}()
	for k := 0; k < total; k++ {
		for _, mode := range modes {
			fsys := vfs.NewMem()
			fsys.CrashAt(k, vfs.CrashOptions{Mode: mode, Seed: uint64(k) * 7919})
			acked := 0
			if db, err := openFS(t, fsys, inmem.Strict, 2048); err == nil {
				acked, _ = runSteps(db, steps)
				db.Close()
			}
			img := fsys.CrashImage()
			if img == nil {
				continue // the workload finished before op k
			}
			db, err := openFS(t, img, inmem.Strict, 2048)
			if err != nil {
				t.Fatalf("crash at op %d (%v): recovery failed: %v", k, mode, err)
			}
			images++
			if checkPrefix(t, db, acked) < steps {
				partial++
			}
			// The recovered database keeps working and survives again.
			if err := commitStep(db, 1000); err != nil {
				t.Fatalf("crash at op %d: commit after recovery: %v", k, err)
			}
			db.Close()
		}
	}
}

// TestRecoveryInvariant_R1_GroupCommit crashes concurrent Strict writers
// (sharing fsyncs) and checks every acknowledged commit survives.
func TestRecoveryInvariant_R1_GroupCommit(t *testing.T) {
	for seed := range 12 {
		fsys := vfs.NewMem()
		db := mustOpenFS(t, fsys, inmem.Strict, 4096)
		fsys.CrashAt(fsys.OpCount()+20+seed*7, vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: uint64(seed)})
		var mu sync.Mutex
		acked := map[string]int64{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := inmem.NewRunID()
				for i := 0; ; i++ {
					key := fmt.Sprintf("w%d/%d", w, i)
					if _, err := db.KV().Put(ctx, crashRun, key, inmem.Int(int64(i))); err != nil {
						return
					}
					_ = run
					mu.Lock()
					acked[key] = int64(i)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		db.Close()
		img := fsys.CrashImage()
		if img == nil {
			t.Fatal("crash point not reached")
		}
		rdb := mustOpenFS(t, img, inmem.Strict, 4096)
		for key, want := range acked {
			got, err := rdb.KV().Get(ctx, crashRun, key)
			if err != nil {
				t.Fatalf("seed %d: acknowledged %s lost: %v", seed, key, err)
			}
			if n, _ := got.Value.AsInt(); n != want {
				t.Fatalf("seed %d: %s = %d, want %d", seed, key, n, want)
			}
		}
		if st := rdb.Stats(); len(acked) > 0 && st.CommitVersion < uint64(len(acked)) {
			t.Fatalf("seed %d: recovered version %d < %d acknowledged commits", seed, st.CommitVersion, len(acked))
		}
		rdb.Close()
	}
}

// TestRecoveryInvariant_R2_OrderPreserved checks that recovery reproduces
// the commit order: versions, history order and timestamps.
func TestRecoveryInvariant_R2_OrderPreserved(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 2048)
	run := inmem.NewRunID()
	var versions []inmem.Version
	for i := range 40 {
		v, err := db.KV().Put(ctx, run, fmt.Sprint("k", i%3), inmem.Int(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	hist := map[string][]inmem.Versioned[inmem.Value]{}
	for _, k := range []string{"k0", "k1", "k2"} {
		hist[k], _ = db.KV().History(ctx, run, k)
	}
	db.Close()
	db = mustOpenFS(t, fsys, inmem.Strict, 2048)
	defer db.Close()
	for k, want := range hist {
		got, _ := db.KV().History(ctx, run, k)
		if len(got) != len(want) {
			t.Fatalf("%s: %d versions after recovery, %d before", k, len(got), len(want))
		}
		for i := range want {
			if got[i].Version != want[i].Version || got[i].Timestamp != want[i].Timestamp || !got[i].Value.Identical(want[i].Value) {
				t.Fatalf("%s[%d]: %+v after recovery, %+v before", k, i, got[i], want[i])
			}
		}
	}
	v, err := db.KV().Put(ctx, run, "next", inmem.Null())
	if err != nil || v.N != versions[len(versions)-1].N+1 {
		t.Fatalf("first commit after recovery got %v, %v; want version %d", v, err, versions[len(versions)-1].N+1)
	}
}

// TestRecoveryInvariant_R3_Idempotent checks that recovering twice gives the
// same state as once, and that a crash at any point during recovery (which
// may be cutting a torn tail) followed by another recovery gives it too.
func TestRecoveryInvariant_R3_Idempotent(t *testing.T) {
	base := vfs.NewMem()
	db := mustOpenFS(t, base, inmem.Buffered, 2048)
	if _, err := runSteps(db, 30); err != nil {
		t.Fatal(err)
	}
	// A power cut with Buffered data unsynced leaves a torn tail for
	// recovery to cut.
	torn := base.Crash(vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: 3})
	db.Close()

	reference := func(fsys vfs.FS) int {
		db := mustOpenFS(t, fsys, inmem.Strict, 2048)
		defer db.Close()
		return checkPrefix(t, db, 0)
	}
	want := reference(torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll}))
	again := torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	reference(again)
	if got := reference(again); got != want {
		t.Fatalf("second recovery gives step %d, first %d", got, want)
	}

	probe := torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	start := probe.OpCount()
	reference(probe)
	total := probe.OpCount() - start
	for k := 0; k < total; k++ {
		fsys := torn.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		fsys.CrashAt(fsys.OpCount()+k, vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: uint64(k)})
		if db, err := openFS(t, fsys, inmem.Strict, 2048); err == nil {
			db.Close()
		}
		img := fsys.CrashImage()
		if img == nil {
			t.Fatalf("crash point %d not reached", k)
		}
		if got := reference(img); got != want {
			t.Fatalf("crash at recovery op %d: recovered step %d, want %d", k, got, want)
		}
	}
}

// TestRecoveryInvariant_R5_TornTail cuts the last segment at every byte and
// checks that recovery keeps exactly the complete records before the cut,
// saves the cut bytes, and that damage anywhere else is Corruption.
func TestRecoveryInvariant_R5_TornTail(t *testing.T) {
	base := vfs.NewMem()
	db := mustOpenFS(t, base, inmem.Strict, 1<<20)
	if _, err := runSteps(db, 12); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The database was never reopened, so the newest segment holds the
	// records.
	segs := segmentFiles(t, base)
	last := segs[len(segs)-1]
	data := readAll(t, base, last)
	if len(usedBytes(data)) != len(data) {
		t.Fatal("a cleanly closed segment still has its preallocated tail")
	}
	// Record boundaries, to know how many steps survive each cut.
	var ends []int
	for off := format.SegmentHeaderSize; off < len(data); {
		f, _, err := format.ParseRecordFrame(data[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += f.Size
		ends = append(ends, off)
	}
	for cut := format.SegmentHeaderSize; cut < len(data); cut++ {
		fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		truncate(t, fsys, last, int64(cut))
		db, err := openFS(t, fsys, inmem.Strict, 1<<20)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		want := 0
		for _, e := range ends {
			if e <= cut {
				want++
			}
		}
		if got := checkPrefix(t, db, want); got != want {
			t.Fatalf("cut at %d: recovered %d steps, want %d", cut, got, want)
		}
		db.Close()
		if got, want := len(readAll(t, fsys, last)), boundaryBefore(ends, cut); got != want {
			t.Fatalf("cut at %d: segment is %d bytes after recovery, want %d", cut, got, want)
		}
		if cut != boundaryBefore(ends, cut) {
			side := fmt.Sprintf("%s.torn-%d", last, boundaryBefore(ends, cut))
			if b, err := vfs.ReadFile(fsys, side); err != nil || !bytes.Equal(b, data[boundaryBefore(ends, cut):cut]) {
				t.Fatalf("cut at %d: side file %s: %v", cut, side, err)
			}
		}
	}
	// A zero-filled or garbage region at the end is a torn tail too.
	for _, fill := range []byte{0, 0xee} {
		fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		appendBytes(t, fsys, last, bytes.Repeat([]byte{fill}, 5000))
		db, err := openFS(t, fsys, inmem.Strict, 1<<20)
		if err != nil {
			t.Fatalf("tail filled with %#x: %v", fill, err)
		}
		checkPrefix(t, db, 12)
		db.Close()
	}
	// A damaged record followed by a valid one is corruption, and the
	// files are left untouched.
	fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
	flipByte(t, fsys, last, ends[3]+10)
	beforeBytes := readAll(t, fsys, last)
	_, err := openFS(t, fsys, inmem.Strict, 1<<20)
	var e *inmem.Error
	if !errors.As(err, &e) || e.Code != inmem.CodeCorruption || e.File != last || e.Offset != int64(ends[3]) {
		t.Fatalf("damage before valid records = %v, want Corruption at %s:%d", err, last, ends[3])
	}
	if !bytes.Equal(readAll(t, fsys, last), beforeBytes) {
		t.Fatal("recovery modified a corrupt segment")
	}
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
