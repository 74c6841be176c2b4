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

// TestUpdate_RetryWaitsForConflictingFsync: in Strict mode, an Update (or a
// retrying single-operation call such as EventLog.Append) that conflicts
// with a commit still waiting for its fsync must wait for that commit to be
// published before it retries — every retry from an older snapshot would
// conflict again and the retry budget would run out while the fsync runs.
// A slow fsync makes the window certain.
func TestUpdate_RetryWaitsForConflictingFsync(t *testing.T) {
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
					err = tx.KV().Put("n", inmem.Int(n+1))
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

// TestUpdate_ClosureErrorsNotRetried: an error the closure returns — a CAS
// mismatch (code Conflict) included — is returned at once; Update retries
// only conflicts found when committing. Re-running a closure with a stale
// expected version could never succeed.
func TestUpdate_ClosureErrorsNotRetried(t *testing.T) {
	db := openMem(t)
	if _, err := db.State().Init(ctx, confRunA, "c", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	_, err := db.State().CAS(ctx, confRunA, "c", inmem.Counter(7), inmem.Null())
	var e *inmem.Error
	if !errors.As(err, &e) || e.Code != inmem.CodeConflict || e.Expected == nil || e.Actual == nil {
		t.Fatalf("stale CAS = %v, want Conflict with both counters", err)
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
