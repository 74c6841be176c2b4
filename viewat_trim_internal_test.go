package inmem

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem/vfs"
)

type stepClock struct{ us atomic.Int64 }

func (c *stepClock) Now() time.Time { return time.UnixMicro(c.us.Load()) }

// Full compaction trims the commit-time index below the oldest version a
// retention floor still lets a run read: memory for one key per commit no
// longer grows without bound. A read by time of a trimmed commit answers
// HistoryTrimmed, one of a kept commit its exact version, and a run that
// kept its whole history (KeepAll) still reads every time exactly; the
// same after reopening, where recovery rebuilds the index.
func TestViewAtTimeIndexTrimmed(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	clock := &stepClock{}
	clock.us.Store(1_000_000)
	opts := &Options{FS: fsys, Durability: Buffered, Clock: clock, Maintenance: AutoMaintenance{Disabled: true}}
	db, err := Open("/db", opts)
	if err != nil {
		t.Fatal(err)
	}
	hot, keepAll := NewRunID(), NewRunID()
	if _, err := db.SetRetentionPolicy(ctx, GlobalRun, KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRetentionPolicy(ctx, keepAll, KeepAll()); err != nil {
		t.Fatal(err)
	}
	type commit struct {
		at time.Time
		v  uint64
	}
	var hotCommits []commit
	put := func(run RunID, key string, i int) commit {
		clock.us.Add(1000)
		if err := db.Update(ctx, run, func(tx *Tx) error { return tx.KV().Put(key, Int(int64(i))) }); err != nil {
			t.Fatal(err)
		}
		return commit{clock.Now(), db.eng.Visible()}
	}
	// 5000 commits of one key in hot: all but the last trimmed.
	for i := range 5000 {
		hotCommits = append(hotCommits, put(hot, "k", i))
	}
	clock.us.Add(1000) // the compaction's own commit is later
	full := db.eng.TimeIndexBytes()
	if _, err := db.Compact(ctx, Full); err != nil {
		t.Fatal(err)
	}
	trimmed := db.eng.TimeIndexBytes()
	if trimmed*10 > full {
		t.Fatalf("time index %d bytes after Full compaction, %d before: not trimmed", trimmed, full)
	}
	last := hotCommits[len(hotCommits)-1]
	check := func(db *DB, when string) {
		t.Helper()
		for _, c := range []commit{hotCommits[0], hotCommits[2500], hotCommits[len(hotCommits)-2]} {
			err := db.ViewAt(ctx, hot, AtTime(c.at), func(tx *Tx) error { return nil })
			if !errors.Is(err, ErrHistoryTrimmed) {
				t.Fatalf("%s: ViewAt(hot, time of trimmed version %d) = %v, want HistoryTrimmed", when, c.v, err)
			}
		}
		var got Version
		var val int64
		err := db.ViewAt(ctx, hot, AtTime(last.at), func(tx *Tx) error {
			got = tx.ReadVersion()
			e, err := tx.KV().Get("k")
			val, _ = e.Value.AsInt()
			return err
		})
		if err != nil || got != Txn(last.v) || val != 4999 {
			t.Fatalf("%s: ViewAt(hot, time of kept version %d) = %v at %v, k = %d", when, last.v, err, got, val)
		}
	}
	check(db, "after Full compaction")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open("/db", opts); err != nil {
		t.Fatal(err)
	}
	check(db, "after reopen")
	if b := db.eng.TimeIndexBytes(); b > trimmed {
		t.Fatalf("time index %d bytes after reopen, %d before", b, trimmed)
	}

	// A run that keeps all its history pins the index: its old states
	// stay readable by time.
	first := put(keepAll, "a", 1)
	put(keepAll, "a", 2)
	for i := range 2000 {
		put(hot, "k", 5000+i)
	}
	clock.us.Add(1000)
	if _, err := db.Compact(ctx, Full); err != nil {
		t.Fatal(err)
	}
	var a int64
	err = db.ViewAt(ctx, keepAll, AtTime(first.at), func(tx *Tx) error {
		if tx.ReadVersion() != Txn(first.v) {
			return fmt.Errorf("read version %v, want %d", tx.ReadVersion(), first.v)
		}
		e, err := tx.KV().Get("a")
		a, _ = e.Value.AsInt()
		return err
	})
	if err != nil || a != 1 {
		t.Fatalf("ViewAt(KeepAll run, time of its first version) = %v, a = %d", err, a)
	}
	db.Close()
}
