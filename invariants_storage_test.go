package inmem_test

// The storage invariants S1–S9 of the spec (§8), in order; docs/INVARIANTS.md
// maps each to its statement.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

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

// TestStorageInvariant_S4_SnapshotIsOnePointInTime checkpoints while writers
// run and checks the snapshot holds exactly the state at its watermark: every
// version up to it, none after.
func TestStorageInvariant_S4_SnapshotIsOnePointInTime(t *testing.T) {
	for round := range 3 {
		fsys := vfs.NewMem()
		db := mustOpenFS(t, fsys, inmem.Strict, 1<<20)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run := inmem.NewRunID()
				for i := 0; !stop.Load(); i++ {
					key := fmt.Sprintf("k%d", i%50)
					var err error
					if i%7 == 3 {
						_, err = db.KV().Delete(ctx, run, key)
					} else {
						_, err = db.KV().Put(ctx, run, key, inmem.Int(int64(i*10+w)))
					}
					if err != nil && !errors.Is(err, inmem.ErrNotFound) {
						t.Error(err)
						return
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		info, err := db.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if inmem.Visible(db) <= info.Watermark.N {
			t.Fatalf("round %d: no commit happened after the checkpoint; the test proves nothing", round)
		}
		live := inmem.DumpState(db, info.Watermark.N)
		snap := snapshotDump(t, fsys)
		db.Close()
		if live != snap {
			t.Fatalf("round %d: snapshot at %v differs from the live state at that version", round, info.Watermark)
		}
	}
}

// TestStorageInvariant_S5_SnapshotIsLogical checks that a snapshot depends
// only on the logical state: the same commits through WALs of different
// segment sizes, with or without a reopen in between, give identical images.
func TestStorageInvariant_S5_SnapshotIsLogical(t *testing.T) {
	var dumps []string
	for _, segSize := range []int64{1024, 1 << 20} {
		for _, reopen := range []bool{false, true} {
			fsys := vfs.NewMem()
			clock := &stepClock{}
			open := func() *inmem.DB {
				db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, WALSegmentSize: segSize, Clock: clock})
				if err != nil {
					t.Fatal(err)
				}
				return db
			}
			db := open()
			run := inmem.MustParseRunID("00000000-0000-4000-8000-000000000001")
			for i := range 60 {
				if i == 30 && reopen {
					db.Close()
					db = open()
				}
				if _, err := db.KV().Put(ctx, run, fmt.Sprint("k", i%9), inmem.Int(int64(i))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			db.Close()
			dumps = append(dumps, snapshotDump(t, fsys))
		}
	}
	for i := range dumps {
		if dumps[i] != dumps[0] {
			t.Fatalf("image %d differs from image 0:\n%s\nvs\n%s", i, dumps[i], dumps[0])
		}
	}
}

// TestStorageInvariant_S6_WatermarkBelowReplayedRecords checks that after a
// checkpoint taken under concurrent writers, recovery replays exactly the
// records above the watermark, starting right after it.
func TestStorageInvariant_S6_WatermarkBelowReplayedRecords(t *testing.T) {
	fsys := vfs.NewMem()
	db := mustOpenFS(t, fsys, inmem.Strict, 2048)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := inmem.NewRunID()
			for i := 0; !stop.Load(); i++ {
				db.KV().Put(ctx, run, fmt.Sprint("k", i%20), padding)
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	info, err := db.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	db.Close()
	w := info.Watermark.N
	var applied []uint64
	_, err = wal.Replay(wal.ReplayOptions{FS: fsys, Dir: filepath.Join(dbDir, "WAL"), UUID: dbUUID(t, fsys), Codec: codec.Identity{},
		Watermark: w, HasSnapshot: true}, wal.EachCommit(func(c *core.Commit) error {
		applied = append(applied, c.Version)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != w+1 {
		t.Fatalf("replay after watermark %d starts at %v", w, applied[:min(len(applied), 3)])
	}
	for i, v := range applied {
		if v <= w || (i > 0 && v != applied[i-1]+1) {
			t.Fatalf("replayed version %d (watermark %d)", v, w)
		}
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
