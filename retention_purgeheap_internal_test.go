package inmem

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/inmemdb/inmem/vfs"
)

// After every entity is purged, reads of the purged history answer
// HistoryTrimmed — by time (ViewAt AtTime), by version (ViewAt AtVersion)
// and per key (GetAt) — never NotFound and never another version, before
// and after a reopen; the commit-time index keeps O(1) entries instead of
// one per commit, and the engine gives back what it held for speed.
func TestPurgeAllReadsTrimmedAndShrinks(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	clock := &stepClock{}
	clock.us.Store(1_000_000)
	opts := &Options{FS: fsys, Durability: Buffered, Clock: clock, Maintenance: AutoMaintenance{Disabled: true}}
	db, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	run := NewRunID()
	if _, err := db.SetRetentionPolicy(ctx, run, KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	const n = 600
	var putAt time.Time
	var putV uint64
	for i := range n { // one key per commit: the time index grows per commit
		clock.us.Add(1000)
		if _, err := db.KV().Put(ctx, run, fmt.Sprint("k", i), Int(int64(i))); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			putAt, putV = clock.Now(), db.eng.Visible()
		}
	}
	for i := range n {
		clock.us.Add(1000)
		if _, err := db.KV().Delete(ctx, run, fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.us.Add(1000)
	full := db.eng.TimeIndexBytes()
	info, err := db.Compact(ctx, Full)
	if err != nil {
		t.Fatal(err)
	}
	if info.VersionsRemoved != 2*n {
		t.Fatalf("removed %d versions, want %d", info.VersionsRemoved, 2*n)
	}
	if b := db.eng.IdleBytes(); b != 0 {
		t.Fatalf("engine keeps %d idle bytes after Full compaction", b)
	}
	check := func(db *DB, when string) {
		t.Helper()
		if b := db.eng.TimeIndexBytes(); b > 128 {
			t.Fatalf("%s: time index %d bytes (%d before the purge), want O(1)", when, b, full)
		}
		err := db.ViewAt(ctx, run, AtTime(putAt), func(tx *Tx) error { return nil })
		if !errors.Is(err, ErrHistoryTrimmed) {
			t.Fatalf("%s: ViewAt(time of a purged put) = %v, want HistoryTrimmed", when, err)
		}
		err = db.ViewAt(ctx, run, AtVersion(Txn(putV)), func(tx *Tx) error { return nil })
		if !errors.Is(err, ErrHistoryTrimmed) {
			t.Fatalf("%s: ViewAt(version of a purged put) = %v, want HistoryTrimmed", when, err)
		}
		_, err = db.KV().GetAt(ctx, run, fmt.Sprint("k", n/2), Txn(putV))
		if !errors.Is(err, ErrHistoryTrimmed) {
			t.Fatalf("%s: GetAt(purged key, its put version) = %v, want HistoryTrimmed", when, err)
		}
		// The present reads as empty, by time as by version.
		err = db.ViewAt(ctx, run, AtTime(clock.Now()), func(tx *Tx) error {
			_, err := tx.KV().Get(fmt.Sprint("k", n/2))
			if !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("Get(purged key) now = %v, want NotFound", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: ViewAt(now): %v", when, err)
		}
	}
	check(db, "after Full compaction")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open("/db", opts); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db, "after reopen")
}
