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
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// confConcurrentAppends: N goroutines append to one run's log; every append
// succeeds, the sequences are 0..total-1 without gap or duplicate, each
// goroutine's own appends are in increasing order, and the chain verifies.
func confConcurrentAppends(t *testing.T, env *confEnv) {
	db := env.db
	const workers, per = 8, 25
	got := make([][]uint64, workers)
	var extraRetries atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range per {
				seq, err := db.Events().Append(ctx, confRunA, "tick", inmem.MustValue([]any{w, i}))
				// Workaround for the bug TestConformanceBug_StrictRetriesSpentDuringFsync
				// pins: in Strict mode on a real disk an append can run out
				// of retries while the winner waits for its fsync. Remove
				// once that test passes.
				for try := 0; errors.Is(err, inmem.ErrConflict) && env.opts.Durability == inmem.Strict && try < 100; try++ {
					extraRetries.Add(1)
					seq, err = db.Events().Append(ctx, confRunA, "tick", inmem.MustValue([]any{w, i}))
				}
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
	if n := extraRetries.Load(); n > 0 {
		t.Logf("%d appends failed with Conflict and were tried again by the test (known bug)", n)
	}
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

// ---- Known bugs -------------------------------------------------------------

// confSlowFS delays every File.Sync and File.SyncData by a settable time: a
// slow disk.
type confSlowFS struct {
	vfs.FS
	delay atomic.Int64 // nanoseconds
}

type confSlowFile struct {
	vfs.File
	fs *confSlowFS
}

func (f *confSlowFS) Create(name string) (vfs.File, error) {
	file, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return confSlowFile{file, f}, nil
}

func (f *confSlowFS) OpenReadWrite(name string) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return confSlowFile{file, f}, nil
}

func (f confSlowFile) Sync() error {
	time.Sleep(time.Duration(f.fs.delay.Load()))
	return f.File.Sync()
}

func (f confSlowFile) SyncData() error {
	time.Sleep(time.Duration(f.fs.delay.Load()))
	return f.File.SyncData()
}

// TestConformanceBug_StrictRetriesSpentDuringFsync: in Strict mode, an
// Update (or a retrying single-operation call such as EventLog.Append) that
// conflicts with a commit still waiting for its fsync spends its whole retry
// budget while that fsync runs, and fails with Conflict. Each retry begins
// at the published snapshot, which cannot include the conflicting commit
// until it is durable, so every retry conflicts again; the 32 retries with
// their backoff last about 40-90 ms. The same operations succeed in InMemory
// and Buffered mode (rule 1), and EventLog.Append documents that
// "concurrent appends to one run all succeed". On this machine's disk the
// conformance test Concurrency/EventAppends hit it in about one run of 30 in
// strict-osdir; here a slow fsync makes it certain.
func TestConformanceBug_StrictRetriesSpentDuringFsync(t *testing.T) {
	t.Skip("BUG: Strict-mode retries run out while a conflicting commit waits for its fsync")
	for _, name := range []string{"KVReadModifyWrite", "EventAppend"} {
		t.Run(name, func(t *testing.T) {
			fsys := &confSlowFS{FS: vfs.NewMem()}
			db, err := inmem.Open("/db", &inmem.Options{FS: fsys, Durability: inmem.Strict})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.KV().Put(ctx, confRunA, "n", inmem.Int(0)); err != nil {
				t.Fatal(err)
			}
			fsys.delay.Store(int64(300 * time.Millisecond))
			commits := db.Stats().Commits
			first := make(chan error, 1)
			go func() {
				var err error
				if name == "EventAppend" {
					_, err = db.Events().Append(ctx, confRunA, "first", inmem.Null())
				} else {
					_, err = db.KV().Put(ctx, confRunA, "n", inmem.Int(10))
				}
				first <- err
			}()
			// Wait until the first commit is ordered (installed) and waits
			// for its fsync.
			for db.Stats().Commits == commits {
				time.Sleep(50 * time.Microsecond)
			}
			if name == "EventAppend" {
				_, err = db.Events().Append(ctx, confRunA, "second", inmem.Null())
			} else {
				err = db.Update(ctx, confRunA, func(tx *inmem.Tx) error {
					v, err := tx.KV().Get("n")
					if err != nil {
						return err
					}
					n, _ := v.Value.AsInt()
					_, err = tx.KV().Put("n", inmem.Int(n+1))
					return err
				})
			}
			if err2 := <-first; err2 != nil {
				t.Fatal(err2)
			}
			if err != nil {
				t.Fatalf("second writer during the first one's fsync: %v (%d conflicts)", err, db.Stats().Conflicts)
			}
		})
	}
}

// TestConformanceBug_StateCASMismatchRetried: StateCells.CAS with a stale
// counter is retried like an OCC abort (it goes through the Update retry
// loop, and a mismatch has code Conflict), so the caller gets the Conflict
// only after MaxConflictRetries attempts and their backoff: about 70 ms,
// where KVStore.CAS answers in microseconds. Counters only grow, so a retry
// can never turn a mismatch into a success. The same holds for any Conflict
// a closure returns to Update itself (a KVTx.CAS or StateTx.CAS mismatch):
// it re-runs the closure 32 times.
func TestConformanceBug_StateCASMismatchRetried(t *testing.T) {
	t.Skip("BUG: a CAS mismatch is retried MaxConflictRetries times before it is reported")
	db := openMem(t)
	if _, err := db.State().Init(ctx, confRunA, "c", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := db.State().CAS(ctx, confRunA, "c", inmem.Counter(7), inmem.Null())
	if !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("stale CAS = %v, want Conflict", err)
	}
	if d := time.Since(start); d > 5*time.Millisecond {
		t.Fatalf("a stale CAS took %v to fail: it was retried", d)
	}
	runs := 0
	err = db.Update(ctx, confRunA, func(tx *inmem.Tx) error {
		runs++
		_, err := tx.State().CAS("c", inmem.Counter(7), inmem.Null())
		return err
	})
	if !errors.Is(err, inmem.ErrConflict) || runs != 1 {
		t.Fatalf("Update with a stale CAS: %v after %d runs of the closure, want Conflict after 1", err, runs)
	}
}
