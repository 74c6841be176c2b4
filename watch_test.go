package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
)

// collect reads w until it yields a change of version last, and returns
// the versions and keys seen.
func watchUntil(t *testing.T, seq func(func(inmem.Change, error) bool), last uint64) []inmem.Change {
	t.Helper()
	var out []inmem.Change
	for c, err := range seq {
		if err != nil {
			t.Fatalf("after %d changes: %v", len(out), err)
		}
		out = append(out, c)
		if c.Version.N >= last {
			break
		}
	}
	return out
}

// TestWatch_EightWritersStrict checks that a watcher sees every commit of 8
// concurrent writers in Strict mode exactly once, in version order, with
// decoded entity references.
func TestWatch_EightWritersStrict(t *testing.T) {
	ctx := context.Background()
	db, err := inmem.Open(t.TempDir(), &inmem.Options{Durability: inmem.Strict, WALSegmentSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	const writers, each = 8, 40
	type result struct {
		changes []inmem.Change
	}
	res := make(chan result)
	started := make(chan struct{})
	go func() {
		var out []inmem.Change
		first := true
		for c, err := range db.Watch(ctx, inmem.Txn(0), inmem.WatchFilter{}) {
			if first {
				first = false
			}
			if err != nil {
				t.Errorf("watch: %v", err)
				break
			}
			out = append(out, c)
			if len(out) == 1 {
				close(started)
			}
			if len(out) == writers*each+1 {
				break
			}
		}
		res <- result{out}
	}()
	// One commit before the writers so the watcher is known to be live.
	if _, err := db.KV().Put(ctx, run, "start", inmem.Int(0)); err != nil {
		t.Fatal(err)
	}
	<-started
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := db.KV().Put(ctx, run, fmt.Sprintf("w%d/%03d", w, i), inmem.Int(int64(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := (<-res).changes
	if len(got) != writers*each+1 {
		t.Fatalf("%d changes, want %d", len(got), writers*each+1)
	}
	seen := map[string]bool{}
	for i, c := range got {
		if c.Version != inmem.Txn(uint64(i+1)) {
			t.Fatalf("change %d has version %v", i, c.Version)
		}
		if len(c.Mutations) != 1 {
			t.Fatalf("change %v: %d mutations", c.Version, len(c.Mutations))
		}
		m := c.Mutations[0]
		if m.Ref == nil || m.Ref.Primitive != inmem.PrimitiveKV || m.Ref.Run != run || m.Op != inmem.OpPut {
			t.Fatalf("change %v: mutation %+v", c.Version, m)
		}
		if seen[m.Ref.Key] {
			t.Fatalf("key %s seen twice", m.Ref.Key)
		}
		seen[m.Ref.Key] = true
	}
}

// TestWatch_SlowConsumerNeverBlocksCommits parks a consumer inside its loop
// while writers commit, then has compaction delete the log it had not read:
// the commits all complete, and the consumer is told HistoryTrimmed and can
// resume from a version the log still holds.
func TestWatch_SlowConsumerNeverBlocksCommits(t *testing.T) {
	ctx := context.Background()
	db, err := inmem.Open(t.TempDir(), &inmem.Options{Durability: inmem.Strict, WALSegmentSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	if _, err := db.KV().Put(ctx, run, "k", inmem.Int(0)); err != nil {
		t.Fatal(err)
	}
	parked, release := make(chan struct{}), make(chan struct{})
	type end struct {
		last inmem.Version
		err  error
	}
	ended := make(chan end)
	go func() {
		var last inmem.Version
		for c, err := range db.Watch(ctx, inmem.Txn(0), inmem.WatchFilter{}) {
			if err != nil {
				ended <- end{last, err}
				return
			}
			if c.Version.N == 1 {
				close(parked)
				<-release
			}
			last = c.Version
		}
	}()
	<-parked
	// The consumer is stuck in its loop body; these commits must not wait
	// for it (the test would hang).
	for i := range 300 {
		if _, err := db.KV().Put(ctx, run, "k", inmem.Int(int64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := db.Compact(ctx, inmem.WALOnly); err != nil || info.SegmentsRemoved == 0 {
		t.Fatalf("Compact = %+v, %v", info, err)
	}
	// No commit follows: the checkpoint left the log with one empty
	// segment, and the watcher must learn of the gap without a record
	// after it.
	close(release)
	e := <-ended
	if !errors.Is(e.err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("slow consumer ended with %v after %v, want HistoryTrimmed", e.err, e.last)
	}
	// Resuming where it stopped, or from the first commit, is still
	// trimmed, on a database that still commits nothing; resuming from the
	// current version (after reading the state) follows new commits.
	for _, from := range []inmem.Version{e.last, inmem.Txn(0)} {
		for _, err := range db.Watch(ctx, from, inmem.WatchFilter{}) {
			if !errors.Is(err, inmem.ErrHistoryTrimmed) {
				t.Fatalf("resume at %v: %v, want HistoryTrimmed", from, err)
			}
			break
		}
	}
	now := inmem.Txn(db.Stats().CommitVersion)
	v, err := db.KV().Put(ctx, run, "k", inmem.Int(-1))
	if err != nil {
		t.Fatal(err)
	}
	got := watchUntil(t, db.Watch(ctx, now, inmem.WatchFilter{}), v.N)
	if len(got) != 1 || got[0].Version != v {
		t.Fatalf("resumed watch = %+v, want the one commit %v", got, v)
	}
}

// TestWatch_CaughtUpSurvivesCompaction: a watcher that has read every
// commit is not trimmed by a checkpoint and compaction (which leave the log
// with one empty segment), and goes on with the next commits.
func TestWatch_CaughtUpSurvivesCompaction(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := inmem.Open(t.TempDir(), &inmem.Options{Durability: inmem.Strict, WALSegmentSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	put := func(i int) inmem.Version {
		t.Helper()
		v, err := db.KV().Put(ctx, run, "k", inmem.Int(int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	type item struct {
		c   inmem.Change
		err error
	}
	feed := make(chan item)
	go func() {
		for c, err := range db.Watch(ctx, inmem.Txn(0), inmem.WatchFilter{}) {
			select {
			case feed <- item{c, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	expect := func(v inmem.Version) {
		t.Helper()
		for {
			it := <-feed
			if it.err != nil {
				t.Fatalf("watching for %v: %v", v, it.err)
			}
			if it.c.Version == v {
				return
			}
			if it.c.Version.N > v.N {
				t.Fatalf("got %v, want %v", it.c.Version, v)
			}
		}
	}
	for round := range 3 {
		var v inmem.Version
		for i := range 20 {
			v = put(round*100 + i)
		}
		expect(v)
		if _, err := db.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if info, err := db.Compact(ctx, inmem.WALOnly); err != nil || info.SegmentsRemoved == 0 {
			t.Fatalf("Compact = %+v, %v", info, err)
		}
	}
	expect(put(-1))
}

func TestWatch_FiltersAndResume(t *testing.T) {
	ctx := context.Background()
	db, err := inmem.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := inmem.NewRunID(), inmem.NewRunID()
	mustV := func(v inmem.Version, err error) inmem.Version {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	mustV(db.KV().Put(ctx, a, "user/1", inmem.Int(1)))
	mustV(db.KV().Put(ctx, b, "user/2", inmem.Int(2)))
	mustV(db.KV().Put(ctx, a, "other", inmem.Int(3)))
	mustV(db.Events().Append(ctx, a, "step", inmem.Int(4)))
	mustV(db.State().Set(ctx, a, "user/x", inmem.Int(5)))
	// A last commit every filter below passes, to end each watch on.
	last := mustV(db.KV().Put(ctx, a, "user/z", inmem.Int(6)))
	keys := func(f inmem.WatchFilter, from uint64) []string {
		var out []string
		for c, err := range db.Watch(ctx, inmem.Txn(from), f) {
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.Mutations {
				if m.Ref != nil && m.Ref.Key != "" {
					out = append(out, fmt.Sprintf("%d:%s:%s", c.Version.N, m.Primitive, m.Ref.Key))
				}
			}
			if c.Version.N >= last.N {
				break
			}
		}
		return out
	}
	if got := fmt.Sprint(keys(inmem.WatchFilter{Run: &a, Primitive: inmem.PrimitiveKV}, 0)); got != "[1:kv:user/1 3:kv:other 6:kv:user/z]" {
		t.Errorf("run a, kv: %s", got)
	}
	if got := fmt.Sprint(keys(inmem.WatchFilter{KeyPrefix: "user/"}, 0)); got != "[1:kv:user/1 2:kv:user/2 5:state:user/x 6:kv:user/z]" {
		t.Errorf("prefix user/: %s", got)
	}
	if got := fmt.Sprint(keys(inmem.WatchFilter{KeyPrefix: "user/"}, 2)); got != "[5:state:user/x 6:kv:user/z]" {
		t.Errorf("prefix user/ after 2: %s", got)
	}
	for _, err := range db.Watch(ctx, inmem.Txn(last.N+1), inmem.WatchFilter{}) {
		if !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("future from: %v", err)
		}
		break
	}
	// Close ends a watcher waiting for the next commit.
	done := make(chan error)
	go func() {
		for _, err := range db.Watch(ctx, last, inmem.WatchFilter{}) {
			done <- err
			return
		}
		done <- nil
	}()
	db.Close()
	if err := <-done; !errors.Is(err, inmem.ErrClosed) {
		t.Errorf("watch after Close: %v", err)
	}
}

func TestWatch_InMemoryRefused(t *testing.T) {
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, err := range db.Watch(context.Background(), inmem.Txn(0), inmem.WatchFilter{}) {
		if !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("InMemory watch: %v", err)
		}
	}
}
