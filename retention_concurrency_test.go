package inmem_test

// Full compaction runs online: these tests race it against writers and
// against policy changes. Run them under -race.

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// lastOp is a writer's last acknowledged operation on a key.
type lastOp struct {
	val     int64
	deleted bool
}

// TestRetention_ConcurrentWritersDuringFullCompaction races writers that
// put, delete and re-put their own keys against back-to-back Full
// compactions with KeepLast(1), which purge the deleted keys while the
// writers bring them back. Every acknowledged operation must be what Get
// and List answer afterwards, and again after a checkpoint and reopen (a
// write that landed on a purged entity's orphaned chain would be readable
// nowhere, or missing from listings and snapshots).
func TestRetention_ConcurrentWritersDuringFullCompaction(t *testing.T) {
	// Without a directory a Full compaction is only the trim, so many of
	// them race the writers; with one, each also checkpoints, and the
	// reopen checks what the snapshots hold.
	t.Run("memory", func(t *testing.T) { raceWritersWithCompaction(t, nil, 3000) })
	t.Run("dir", func(t *testing.T) { raceWritersWithCompaction(t, vfs.NewMem(), 300) })
}

func raceWritersWithCompaction(t *testing.T, fsys *vfs.MemFS, rounds int) {
	dir := ""
	var opts *inmem.Options
	if fsys != nil {
		dir, opts = dbDir, &inmem.Options{FS: fsys, Durability: inmem.Buffered, Maintenance: noMaint}
	}
	db, err := inmem.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, inmem.GlobalRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	const writers, keysPer = 4, 8
	results := make([]map[string]lastOp, writers)
	var wg sync.WaitGroup
	var done atomic.Int32
	for w := range writers {
		results[w] = map[string]lastOp{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			last := results[w]
			for i := range rounds {
				key := fmt.Sprintf("w%d/%d", w, i%keysPer)
				if i%3 == 1 {
					if _, err := db.KV().Delete(ctx, retRun, key); err == nil {
						last[key] = lastOp{deleted: true}
					} else if !errors.Is(err, inmem.ErrNotFound) {
						t.Errorf("Delete(%s): %v", key, err)
						return
					}
					continue
				}
				if _, err := db.KV().Put(ctx, retRun, key, inmem.Int(int64(i))); err != nil {
					t.Errorf("Put(%s): %v", key, err)
					return
				}
				last[key] = lastOp{val: int64(i)}
				// Read your own write, whatever the compactor is doing.
				got, err := db.KV().Get(ctx, retRun, key)
				if n, _ := got.Value.AsInt(); err != nil || n != int64(i) {
					t.Errorf("Get(%s) right after Put = %v, %v; want %d", key, got.Value, err, i)
					return
				}
			}
		}()
	}
	compactions := 0
	for done.Load() < writers {
		if _, err := db.Compact(ctx, inmem.Full); err != nil {
			t.Fatalf("Compact(Full) during writes: %v", err)
		}
		compactions++
	}
	wg.Wait()
	t.Logf("%d Full compactions raced the writers", compactions)
	check := func(db *inmem.DB, when string) {
		t.Helper()
		var want []string
		for _, last := range results {
			for key, op := range last {
				got, err := db.KV().Get(ctx, retRun, key)
				if op.deleted {
					if !errors.Is(err, inmem.ErrNotFound) {
						t.Fatalf("%s: Get(%s) = %v, %v; want NotFound (deleted)", when, key, got.Value, err)
					}
					continue
				}
				want = append(want, key)
				if n, _ := got.Value.AsInt(); err != nil || n != op.val {
					t.Fatalf("%s: Get(%s) = %v, %v; want %d", when, key, got.Value, err, op.val)
				}
			}
		}
		slices.Sort(want)
		keys, err := db.KV().List(ctx, retRun, "w")
		if err != nil || !slices.Equal(keys, want) {
			t.Fatalf("%s: List = %v, %v\nwant %v", when, keys, err, want)
		}
	}
	check(db, "after the race")
	mustCompactFull(t, db)
	check(db, "after a final compaction")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if fsys == nil {
		return
	}
	db, err = inmem.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db, "after reopening")
}

// TestRetention_PolicyCommittedBeforeCompactionGoverns commits a policy
// change while a compaction holds its locks but has not read the policies:
// the compaction applies the committed policy, not the one in force when
// Compact was called.
func TestRetention_PolicyCommittedBeforeCompactionGoverns(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after inmem.RetentionPolicy
		removed       uint64
	}{
		{"KeepLast1ToKeepAll", inmem.KeepLast(1), inmem.KeepAll(), 0},
		{"KeepAllToKeepLast1", inmem.KeepAll(), inmem.KeepLast(1), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openRet(t, vfs.NewMem(), &testClock{})
			defer db.Close()
			for i := range 5 {
				mustPut(t, db, retRun, "k", inmem.Int(int64(i)))
			}
			if _, err := db.SetRetentionPolicy(ctx, retRun, tc.before); err != nil {
				t.Fatal(err)
			}
			var hookErr error
			inmem.SetCompactingHook(func() {
				_, hookErr = db.SetRetentionPolicy(ctx, retRun, tc.after)
			})
			defer inmem.SetCompactingHook(nil)
			info := mustCompactFull(t, db)
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			if info.VersionsRemoved != tc.removed {
				t.Fatalf("removed %d versions, want %d under the policy committed before the trim", info.VersionsRemoved, tc.removed)
			}
			if n := mustGetInt(t, db, retRun, "k"); n != 4 {
				t.Fatalf("newest = %d, want 4", n)
			}
		})
	}
}

// TestRetention_PolicyChangeRacesCompaction toggles a run's policy between
// KeepAll and KeepLast(1) while a writer overwrites keys and Full
// compactions run back to back. No write is lost, and a version is trimmed
// only if KeepLast(1) was the committed policy at some point while a
// compaction that could trim it ran: versions superseded only while
// KeepAll was in force and no compaction saw KeepLast(1) afterwards stay.
func TestRetention_PolicyChangeRacesCompaction(t *testing.T) {
	fsys := vfs.NewMem()
	db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys, Durability: inmem.Buffered, Maintenance: noMaint})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Each compaction lets the toggler and the writer do a few commits,
	// which then race the next compaction; the work stays bounded however
	// the scheduler treats the goroutines.
	const compactions, perTick = 40, 6
	var wg sync.WaitGroup
	tickPol, tickPut := make(chan struct{}, 1), make(chan struct{}, 1)
	// The toggler and the writer each record what they committed.
	type pol struct {
		v    uint64
		last bool // KeepLast(1) from v on
	}
	var pols []pol
	wg.Add(2)
	go func() {
		defer wg.Done()
		i := 0
		for range tickPol {
			i++
			p := inmem.KeepAll()
			if i%2 == 0 {
				p = inmem.KeepLast(1)
			}
			v, err := db.SetRetentionPolicy(ctx, retRun, p)
			if err != nil {
				t.Errorf("SetRetentionPolicy: %v", err)
				return
			}
			pols = append(pols, pol{v: v.N, last: i%2 == 0})
		}
	}()
	written := map[string][]uint64{}
	go func() {
		defer wg.Done()
		i := 0
		for range tickPut {
			for range perTick {
				i++
				key := fmt.Sprintf("k%d", i%5)
				v, err := db.KV().Put(ctx, retRun, key, inmem.Int(int64(i)))
				if err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				written[key] = append(written[key], v.N)
			}
		}
	}()
	// Each compaction's window [lo, hi] of published versions: it read the
	// policies at some version in it, and trimmed only versions whose
	// successor is at or below hi.
	type window struct{ lo, hi uint64 }
	var windows []window
	for range compactions {
		for _, c := range []chan struct{}{tickPol, tickPut} {
			select {
			case c <- struct{}{}:
			default: // still busy with the last tick
			}
		}
		lo := inmem.Visible(db)
		if _, err := db.Compact(ctx, inmem.Full); err != nil {
			t.Fatalf("Compact(Full): %v", err)
		}
		windows = append(windows, window{lo, inmem.Visible(db)})
	}
	close(tickPol)
	close(tickPut)
	wg.Wait()
	// lastAt reports whether KeepLast(1) was the committed policy at
	// some version in [lo, hi].
	lastAt := func(lo, hi uint64) bool {
		cur := false
		for _, p := range pols {
			if p.v <= lo {
				cur = p.last
				continue
			}
			if cur {
				return true
			}
			if p.v > hi {
				return false
			}
			cur = p.last
		}
		return cur
	}
	trimmed, kept := 0, 0
	for key, vs := range written {
		h, err := db.KV().History(ctx, retRun, key)
		if err != nil && !errors.Is(err, inmem.ErrHistoryTrimmed) {
			t.Fatalf("History(%s): %v", key, err)
		}
		if len(h) == 0 || h[0].Version.N != vs[len(vs)-1] {
			t.Fatalf("History(%s) lost the newest write %d: %v", key, vs[len(vs)-1], h)
		}
		present := map[uint64]bool{}
		for _, e := range h {
			present[e.Version.N] = true
		}
		for i, v := range vs[:len(vs)-1] {
			if present[v] {
				kept++
				continue
			}
			trimmed++
			succ := vs[i+1]
			allowed := false
			for _, w := range windows {
				if succ <= w.hi && lastAt(w.lo, w.hi) {
					allowed = true
					break
				}
			}
			if !allowed {
				t.Fatalf("%s@%d was trimmed, but no compaction ran under KeepLast(1) after its successor %d", key, v, succ)
			}
		}
	}
	t.Logf("%d compactions, %d versions trimmed, %d superseded versions kept", len(windows), trimmed, kept)
}

// TestRetention_WriteBufferedBeforePurgeIsKept: a transaction buffers a
// write to a deleted key, a Full compaction purges the key (its tombstone
// is older than the transaction's snapshot, so nothing bounds the purge),
// and then the transaction commits. The write must land in the live index:
// readable, listed, and in the next snapshot.
func TestRetention_WriteBufferedBeforePurgeIsKept(t *testing.T) {
	fsys := vfs.NewMem()
	db := openRet(t, fsys, &testClock{})
	defer func() { db.Close() }()
	mustPut(t, db, retRun, "k", inmem.Int(1))
	if _, err := db.KV().Delete(ctx, retRun, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx, retRun, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.KV().Put("k", inmem.Int(2)); err != nil {
		t.Fatal(err)
	}
	if info := mustCompactFull(t, db); info.VersionsRemoved != 2 {
		t.Fatalf("VersionsRemoved = %d, want the value and its tombstone", info.VersionsRemoved)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	check := func(when string) {
		t.Helper()
		if n, err := db.KV().Get(ctx, retRun, "k"); err != nil {
			t.Fatalf("%s: Get = %v, %v; want the committed 2", when, n, err)
		}
		if keys, err := db.KV().List(ctx, retRun, ""); err != nil || !slices.Equal(keys, []string{"k"}) {
			t.Fatalf("%s: List = %v, %v", when, keys, err)
		}
	}
	check("after commit")
	mustCompactFull(t, db)
	check("after a second compaction")
	db.Close()
	db = openRet(t, fsys, &testClock{})
	check("after reopening")
}

// noMaint turns background maintenance off where a test calls Compact
// itself: a background compaction would make the test's call fail with
// ErrCompactionRunning, move the model's clock of what was trimmed, or
// change the file-system operation counts a crash test replays.
var noMaint = inmem.AutoMaintenance{Disabled: true}
