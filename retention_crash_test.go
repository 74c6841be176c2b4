package inmem_test

import (
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// fullCompactionWorkload writes keys with several versions (some deleted,
// so purgeable), checkpoints once (so the compaction supersedes a
// snapshot), sets KeepLast(2) and runs Compact(Full), then commits once
// more. It returns the model of what it committed before the compaction,
// the file-system operation count when the compaction started, and
// whether the final commit was acknowledged. Everything before the
// compaction must succeed.
func fullCompactionWorkload(t *testing.T, fsys *vfs.MemFS, crashFrom int) (ents map[string]mchain, compactAt int, postAcked bool) {
	t.Helper()
	c := &testClock{}
	c.set(1_000_000)
	db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, Durability: inmem.Strict, Clock: c, WALSegmentSize: 2048, Maintenance: noMaint})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	ents = map[string]mchain{}
	put := func(key string, i int) {
		v, err := db.KV().Put(ctx, crashRun, key, inmem.String(fmt.Sprint(i, padding)))
		if err != nil {
			t.Fatalf("Put(%s) before the compaction: %v", key, err)
		}
		ents[key] = append(ents[key], &mver{v: v.N, val: int64(i)})
	}
	for i := range 40 {
		put(fmt.Sprintf("k%d", i%8), i)
		if i == 20 {
			if _, err := db.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, key := range []string{"k0", "k1"} {
		v, err := db.KV().Delete(ctx, crashRun, key)
		if err != nil {
			t.Fatal(err)
		}
		ents[key] = append(ents[key], &mver{v: v.N, tomb: true})
	}
	if _, err := db.SetRetentionPolicy(ctx, crashRun, inmem.KeepLast(2)); err != nil {
		t.Fatal(err)
	}
	for _, ch := range ents {
		ch.markDrop(keepRule{last: 2}, 0)
	}
	compactAt = fsys.OpCount()
	if crashFrom >= 0 && crashFrom < compactAt {
		t.Fatalf("crash point %d is before the compaction (op %d): the workload is not deterministic", crashFrom, compactAt)
	}
	info, err := db.Compact(ctx, inmem.Full) // may fail at the crash
	if crashFrom < 0 && (err != nil || info.VersionsRemoved == 0) {
		t.Fatalf("the uncrashed compaction: %+v, %v; want versions removed", info, err)
	}
	_, err = db.KV().Put(ctx, crashRun, "post", inmem.Int(1))
	return ents, compactAt, err == nil
}

// checkRetained checks a recovered database against the model: every
// acknowledged commit's newest version is there, every version KeepLast(2)
// retains reads exactly, and a version it let go reads exactly or is
// HistoryTrimmed.
func checkRetained(t *testing.T, db *inmem.DB, ents map[string]mchain, postAcked bool) (trimmed bool) {
	t.Helper()
	valIs := func(v inmem.Value, n int64) bool { return v.Equal(inmem.String(fmt.Sprint(n, padding))) }
	for key, c := range ents {
		for _, x := range c {
			got, err := db.KV().GetAt(ctx, crashRun, key, inmem.Txn(x.v))
			checkPoint(t, fmt.Sprintf("%s at %d", key, x.v), c, x, err, func() bool { return got.Version.N == x.v && valIs(got.Value, x.val) })
		}
		newest := c[len(c)-1]
		got, err := db.KV().Get(ctx, crashRun, key)
		checkPoint(t, key+" (Get)", c, newest, err, func() bool { return got.Version.N == newest.v && valIs(got.Value, newest.val) })
		h, err := db.KV().History(ctx, crashRun, key)
		checkHistory(t, key+" History", c, h, err, true, valIs)
		trimmed = trimmed || isTrimmed(err)
	}
	if postAcked {
		if n := mustGetInt(t, db, crashRun, "post"); n != 1 {
			t.Fatalf("post = %d", n)
		}
	}
	return trimmed
}

// TestCrash_FullCompaction crashes at every file-system operation of a
// Full compaction (and of the commit after it), in both crash modes:
// recovery finds every acknowledged commit and every version the policy
// retains, and the recovered database compacts again and keeps working.
func TestCrash_FullCompaction(t *testing.T) {
	probe := vfs.NewMem()
	_, from, _ := fullCompactionWorkload(t, probe, -1)
	total := probe.OpCount()
	images, trimmed := 0, 0
	for k := from; k < total; k++ {
		for _, mode := range []vfs.CrashMode{vfs.CrashDropUnsynced, vfs.CrashRandom} {
			fsys := vfs.NewMem()
			fsys.CrashAt(k, vfs.CrashOptions{Mode: mode, Seed: uint64(k) * 7919})
			ents, _, postAcked := fullCompactionWorkload(t, fsys, k)
			img := fsys.CrashImage()
			if img == nil {
				continue
			}
			images++
			db, err := inmem.Open(dbDir, &inmem.Options{FS: img, Durability: inmem.Strict, WALSegmentSize: 2048, Maintenance: noMaint})
			if err != nil {
				t.Fatalf("crash at op %d (%v): recovery failed: %v", k, mode, err)
			}
			if checkRetained(t, db, ents, postAcked) {
				trimmed++
			}
			if _, err := db.Compact(ctx, inmem.Full); err != nil {
				t.Fatalf("crash at op %d (%v): Compact(Full) after recovery: %v", k, mode, err)
			}
			checkRetained(t, db, ents, postAcked)
			if err := commitStep(db, 1); err != nil {
				t.Fatalf("crash at op %d: commit after recovery: %v", k, err)
			}
			db.Close()
		}
	}
	t.Logf("ops %d..%d, %d crash images recovered, %d of them with a trim floor recovered", from, total, images, trimmed)
	if images < total-from || trimmed == 0 || trimmed == images {
		t.Fatalf("only %d crash images for %d operations", images, total-from)
	}
}
