package engine

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

// TrimTimes reads TimeFloor without the commit lock. Once everything is
// purged TimeFloor is unbounded; a run that commits after it looked (it
// held no data then) must keep the times of those commits: the trim never
// goes above the last version from before it looked.
func TestTrimTimes_KeepsCommitsThatLandDuringIt(t *testing.T) {
	var clock int64
	e := New(Env{Now: func() int64 { clock += 1000; return clock }})
	r := core.NewRunID()
	for i := range 10 {
		commitOne(t, e, r, core.KV, fmt.Sprint("k", i), value.Int(1))
	}
	tx := e.Begin(r, true)
	for i := range 10 {
		tx.Delete(r, core.KV, fmt.Sprint("k", i))
	}
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	e.Trim(keepLast1, clock)

	// TrimTimes, interleaved by hand: the last version and TimeFloor are
	// read, then a fresh run commits, then the index is trimmed.
	e.commitMu.Lock()
	last := e.last
	e.commitMu.Unlock()
	floor := e.TimeFloor()
	if floor != math.MaxUint64 {
		t.Fatalf("TimeFloor = %d with no data held, want unbounded", floor)
	}
	r2 := core.NewRunID()
	v := commitOne(t, e, r2, core.KV, "x", value.Int(1))
	at, ok := e.CommitTime(v)
	if !ok {
		t.Fatal("no time for the new commit")
	}
	commitOne(t, e, r2, core.KV, "y", value.Int(1))
	e.trimTimes(floor, last)

	got, err := e.VersionAt(at)
	var de *dberr.Error
	if errors.As(err, &de) && de.Code == dberr.HistoryTrimmed {
		t.Fatalf("VersionAt(r2's first commit) = %v; r2 holds data and was never trimmed", err)
	}
	if err != nil || got != v {
		t.Fatalf("VersionAt = %d, %v; want %d", got, err, v)
	}
}
