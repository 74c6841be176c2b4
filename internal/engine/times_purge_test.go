package engine

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
)

// When every entity is purged no run holds data, and nothing but a read by
// time still needs the commit-time index: the trim keeps only its newest
// commit instead of 8 bytes per commit. A time before that commit answers
// HistoryTrimmed (never another version, never the empty database), one at
// or after it and every later commit resolve exactly.
func TestTimeIndexAfterPurgeKeepsNewestOnly(t *testing.T) {
	var clock atomic.Int64
	e := New(Env{Now: func() int64 { return clock.Add(1000) }})
	r := core.NewRunID()
	commit := func(f func(tx *Txn)) uint64 {
		tx := e.Begin(r, true)
		f(tx)
		v, err := tx.Commit()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const keys = 3000 // one commit each: the index spans a chunk boundary
	for i := range keys {
		commit(func(tx *Txn) { tx.Put(r, core.KV, fmt.Sprint("k", i), FloorValue(1)) })
	}
	last := commit(func(tx *Txn) {
		for i := range keys {
			tx.Delete(r, core.KV, fmt.Sprint("k", i))
		}
	})
	full := e.TimeIndexBytes()
	res := e.Trim(func(core.RunID, core.PrimitiveType) Keep { return Keep{Last: 1} }, clock.Load())
	if res.EntitiesPurged != keys {
		t.Fatalf("purged %d entities, want %d", res.EntitiesPurged, keys)
	}
	e.commitMu.Lock()
	first, newest := e.times.first(), e.times.last
	e.commitMu.Unlock()
	if first != last || newest != last {
		t.Fatalf("time index holds versions %d..%d after the purge, want only %d", first, newest, last)
	}
	if b := e.TimeIndexBytes(); b > 64 {
		t.Fatalf("time index holds %d bytes after the purge (%d before), want O(1)", b, full)
	}
	lastTS, _ := e.CommitTime(last)
	for _, ts := range []int64{0, 1000, lastTS - 1} {
		v, err := e.VersionAt(ts)
		var de *dberr.Error
		if !errors.As(err, &de) || de.Code != dberr.HistoryTrimmed {
			t.Fatalf("VersionAt(%d) before the kept commit = %d, %v; want HistoryTrimmed", ts, v, err)
		}
	}
	if v, err := e.VersionAt(lastTS); err != nil || v != last {
		t.Fatalf("VersionAt(time of the kept commit) = %d, %v; want %d", v, err, last)
	}
	next := commit(func(tx *Txn) { tx.Put(r, core.KV, "again", FloorValue(1)) })
	nextTS, _ := e.CommitTime(next)
	if v, err := e.VersionAt(nextTS); err != nil || v != next {
		t.Fatalf("VersionAt(time of a later commit) = %d, %v; want %d", v, err, next)
	}
}

// A database that never trimmed keeps its whole index even when it holds
// no data: without a floor nothing says that old reads may fail.
func TestTimeIndexUntrimmedWithoutFloors(t *testing.T) {
	var clock atomic.Int64
	e := New(Env{Now: func() int64 { return clock.Add(1000) }})
	r := core.NewRunID()
	for range 10 {
		tx := e.Begin(r, true)
		tx.Put(r, core.System, "policy", FloorValue(1))
		if _, err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if f := e.TimeFloor(); f != 0 {
		t.Fatalf("TimeFloor = %d without any trim floor, want 0", f)
	}
	e.Trim(func(core.RunID, core.PrimitiveType) Keep { return Keep{Last: 1} }, clock.Load())
	if v, err := e.VersionAt(1000); err != nil || v != 1 {
		t.Fatalf("VersionAt(time of the first commit) = %d, %v; want 1", v, err)
	}
}

// ReleaseIdle drops the unused rest of the version slab and the snapshot
// registry's empty maps, which a purge would otherwise keep for good; both
// come back on demand.
func TestReleaseIdle(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	for i := range 3 {
		tx := e.Begin(r, true)
		tx.Put(r, core.KV, "k", FloorValue(uint64(i)))
		if _, err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	held := func() (slab, maps int) {
		e.commitMu.Lock()
		slab = len(e.versionSlab)
		e.commitMu.Unlock()
		for i := range e.snaps.shards {
			sh := &e.snaps.shards[i]
			sh.mu.Lock()
			if sh.snaps != nil {
				maps++
			}
			sh.mu.Unlock()
		}
		return
	}
	if slab, maps := held(); slab == 0 || maps == 0 {
		t.Fatalf("before: slab %d, maps %d; the test needs both in use", slab, maps)
	}
	open := e.Begin(r, false) // a registered snapshot keeps its map
	e.ReleaseIdle()
	slab, maps := held()
	if slab != 0 || maps != 1 {
		t.Fatalf("after ReleaseIdle: slab %d versions, %d maps; want 0 and the open one", slab, maps)
	}
	if e.OldestSnapshot() != open.snap {
		t.Fatalf("oldest snapshot %d, want the open one at %d", e.OldestSnapshot(), open.snap)
	}
	open.Rollback()
	tx := e.Begin(r, true)
	tx.Put(r, core.KV, "k", FloorValue(9))
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Begin(r, false).Get(r, core.KV, "k"); !got.Value.Equal(FloorValue(9)) {
		t.Fatalf("read %v after ReleaseIdle, want 9", got.Value)
	}
}

// A space whose every key was purged is dropped with its hash table and
// tree, not kept at its minimum size; a later write makes a new one, and
// the run keeps its floors.
func TestPurgeDropsEmptySpace(t *testing.T) {
	e := New(Env{Now: func() int64 { return 1 }})
	r := core.NewRunID()
	for _, del := range []bool{false, true} {
		tx := e.Begin(r, true)
		for i := range 100 {
			if del {
				tx.Delete(r, core.KV, fmt.Sprint("k", i))
			} else {
				tx.Put(r, core.KV, fmt.Sprint("k", i), FloorValue(1))
			}
		}
		if _, err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	e.Trim(func(core.RunID, core.PrimitiveType) Keep { return Keep{Last: 1} }, 2)
	if s := e.runFor(r, false).spaces[core.KV].Load(); s != nil {
		t.Fatalf("the purged space is still held (%d index entries)", s.index.n)
	}
	if e.Floor(r, core.KV) == 0 {
		t.Fatal("the run lost its trim floor")
	}
	if _, tr := e.Trimmed(r, core.KV, "k1", 1); !tr {
		t.Fatal("a purged key's old version is not trimmed")
	}
	tx := e.Begin(r, true)
	tx.Put(r, core.KV, "k1", FloorValue(7))
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, ok := e.Begin(r, false).Get(r, core.KV, "k1"); !ok || !got.Value.Equal(FloorValue(7)) {
		t.Fatalf("k1 after the space was dropped: %v %v", got.Value, ok)
	}
}
