package inmem_test

// Concurrency properties of the conformance suite, run in every durability
// mode by TestConformance/<mode>/Concurrency: concurrent appends to one
// event log serialize into one contiguous, verifiable chain, and of N
// concurrent CAS calls expecting the same version exactly one wins.

import (
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
)

// confConcurrentAppends: N goroutines append to one run's log; every append
// succeeds, the sequences are 0..total-1 without gap or duplicate, each
// goroutine's own appends are in increasing order, and the chain verifies.
func confConcurrentAppends(t *testing.T, env *confEnv) {
	db := env.db
	const workers, per = 8, 25
	got := make([][]uint64, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range per {
				seq, err := db.Events().Append(ctx, confRunA, "tick", inmem.MustValue([]any{w, i}))
				if err != nil {
					t.Errorf("worker %d append %d: %v", w, i, err)
					return
				}
				if seq.Kind != inmem.SequenceVersion {
					t.Errorf("Append returned %v, want a Sequence", seq)
				}
				got[w] = append(got[w], seq.N)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	var all []uint64
	for w, seqs := range got {
		if !slices.IsSorted(seqs) {
			t.Errorf("worker %d got sequences out of order: %v", w, seqs)
		}
		all = append(all, seqs...)
	}
	slices.Sort(all)
	for i, s := range all {
		if s != uint64(i) {
			t.Fatalf("sequences are not 0..%d: position %d holds %d", workers*per-1, i, s)
		}
	}
	n, err := db.Events().Len(ctx, confRunA)
	if err != nil || n != workers*per {
		t.Fatalf("Len = %d, %v; want %d", n, err, workers*per)
	}
	evs, err := db.Events().Range(ctx, confRunA, 0, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	// Each event holds what its appender wrote at the sequence it was told.
	for w, seqs := range got {
		for i, s := range seqs {
			if want := inmem.MustValue([]any{w, i}); !evs[s].Payload.Equal(want) {
				t.Fatalf("event %d holds %v, worker %d wrote %v there", s, evs[s].Payload, w, want)
			}
		}
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].PrevHash != evs[i-1].Hash || evs[i].Timestamp < evs[i-1].Timestamp {
			t.Fatalf("event %d does not follow event %d", i, i-1)
		}
	}
	rep, err := db.Events().VerifyChain(ctx, confRunA)
	if err != nil || !rep.OK || rep.Checked != workers*per {
		t.Fatalf("VerifyChain = %v, %v", rep, err)
	}
	// Another run's log is untouched.
	if n, err := db.Events().Len(ctx, confRunB); err != nil || n != 0 {
		t.Fatalf("run B's log has %d events, %v", n, err)
	}
}

// confCASRounds runs rounds of contenders concurrent CAS calls that all
// expect the version cas reads first; exactly one must win each round and
// the others must fail with Conflict.
func confCASRounds(t *testing.T, rounds, contenders int, current func() inmem.Version, cas func(expected inmem.Version, c int) (inmem.Version, error)) {
	t.Helper()
	for r := range rounds {
		expected := current()
		var wins, conflicts atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := range contenders {
			wg.Go(func() {
				<-start
				v, err := cas(expected, c)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(v)
				case errors.Is(err, inmem.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("round %d: CAS: %v", r, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != int32(contenders-1) {
			t.Fatalf("round %d: %d winners and %d conflicts of %d contenders", r, wins.Load(), conflicts.Load(), contenders)
		}
		now := current()
		if now != winner.Load().(inmem.Version) {
			t.Fatalf("round %d: the winner got %v, the cell is at %v", r, winner.Load(), now)
		}
		if c, err := now.Compare(expected); err != nil || c <= 0 {
			t.Fatalf("round %d: version %v after the round, %v before", r, now, expected)
		}
	}
}

// confConcurrentStateCAS: of N concurrent CAS on one state cell expecting
// the same counter, exactly one wins, round after round.
func confConcurrentStateCAS(t *testing.T, env *confEnv) {
	db := env.db
	if _, err := db.State().Init(ctx, confRunA, "leader", inmem.String("none")); err != nil {
		t.Fatal(err)
	}
	current := func() inmem.Version {
		v, err := db.State().Read(ctx, confRunA, "leader")
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	confCASRounds(t, 5, 8, current, func(expected inmem.Version, c int) (inmem.Version, error) {
		return db.State().CAS(ctx, confRunA, "leader", expected, inmem.Int(int64(c)))
	})
	if v := current(); v != inmem.Counter(6) {
		t.Fatalf("after 5 rounds the counter is %v, want Counter(6)", v)
	}
}

// confConcurrentKVCAS: the same for a KV key.
func confConcurrentKVCAS(t *testing.T, env *confEnv) {
	db := env.db
	if _, err := db.KV().Put(ctx, confRunA, "leader", inmem.String("none")); err != nil {
		t.Fatal(err)
	}
	current := func() inmem.Version {
		v, err := db.KV().Get(ctx, confRunA, "leader")
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	confCASRounds(t, 5, 8, current, func(expected inmem.Version, c int) (inmem.Version, error) {
		return db.KV().CAS(ctx, confRunA, "leader", expected, inmem.Int(int64(c)))
	})
}
