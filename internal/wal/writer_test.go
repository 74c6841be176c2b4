package wal

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

// gateFS lets a test run code just before a segment write executes.
type gateFS struct {
	vfs.FS
	mu          sync.Mutex
	beforeWrite func()
}

func (g *gateFS) Create(name string) (vfs.File, error) {
	f, err := g.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &gateFile{File: f, g: g}, nil
}

func (g *gateFS) setBeforeWrite(fn func()) {
	g.mu.Lock()
	g.beforeWrite = fn
	g.mu.Unlock()
}

type gateFile struct {
	vfs.File
	g *gateFS
}

func (f *gateFile) Write(b []byte) (int, error) {
	f.g.mu.Lock()
	fn := f.g.beforeWrite
	f.g.beforeWrite = nil
	f.g.mu.Unlock()
	if fn != nil {
		fn()
	}
	return f.File.Write(b)
}

// TestLeaderHandOff: commits submitted while a leader is inside its write
// form the next batch, which one of their own waiters leads once the
// leader is done: two batches, the second of two commits, published in
// order.
func TestLeaderHandOff(t *testing.T) {
	for _, mode := range []Mode{Strict, Buffered} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			e := newEnv(t)
			g := &gateFS{FS: e.mem}
			w := e.open(g, mode, 1<<20, 1)
			entered, release := make(chan struct{}), make(chan struct{})
			g.setBeforeWrite(func() {
				close(entered)
				<-release
			})
			errs := make(chan error, 3)
			t1 := w.Submit(mkCommit(1, 10))
			go func() { errs <- t1.Wait() }()
			<-entered // the leader holds batch {1} inside its write
			t2, t3 := w.Submit(mkCommit(2, 10)), w.Submit(mkCommit(3, 10))
			if t2 != t3 {
				t.Fatal("commits queued together got different tickets")
			}
			go func() { errs <- t2.Wait() }()
			go func() { errs <- t3.Wait() }()
			close(release)
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			st := w.Stats()
			if st.Batches.Load() != 2 || st.MaxBatch.Load() != 2 || st.Records.Load() != 3 {
				t.Fatalf("batches %d, max batch %d, records %d; want 2, 2, 3", st.Batches.Load(), st.MaxBatch.Load(), st.Records.Load())
			}
			if mode == Strict && st.Fsyncs.Load() != 2 {
				t.Fatalf("%d fsyncs, want one per batch", st.Fsyncs.Load())
			}
			if pub, _, _ := e.snapshot(); fmt.Sprint(pub) != "[1 3]" {
				t.Fatalf("published %v, want [1 3]", pub)
			}
		})
	}
}

// TestGroupCommitConcurrent drives the writer as the engine does: versions
// are assigned and submitted under one lock, and waited for outside it, by
// many goroutines. Every commit is acknowledged, acknowledgements only move
// forward and ends at the last version, and the log replays in order.
func TestGroupCommitConcurrent(t *testing.T) {
	const workers, each = 8, 40
	for _, mode := range []Mode{Strict, Buffered} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			e := newEnv(t)
			w := e.open(e.mem, mode, 4096, 1) // small segments: rotations under load
			var commitMu sync.Mutex
			next := uint64(0)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						commitMu.Lock()
						next++
						tk := w.Submit(mkCommit(next, 50))
						commitMu.Unlock()
						if err := tk.Wait(); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			pub, poisoned, _ := e.snapshot()
			if len(poisoned) != 0 {
				t.Fatalf("poisoned: %v", poisoned)
			}
			for i := 1; i < len(pub); i++ {
				if pub[i] <= pub[i-1] {
					t.Fatalf("published %d after %d", pub[i], pub[i-1])
				}
			}
			if len(pub) == 0 || pub[len(pub)-1] != workers*each {
				t.Fatalf("published up to %v, want %d", pub, workers*each)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r := replay(e.mem, false, w.Segment())
			if r.err != nil || r.versions(t) != workers*each {
				t.Fatalf("replay: %d commits, %v", len(r.commits), r.err)
			}
		})
	}
}

// recordSize is the encoded size of mkCommit(v, payload): the same for
// every v below 10 and every seal.
func recordSize(t *testing.T, payload int) int64 {
	t.Helper()
	rec, _, err := format.AppendRecord(nil, mkCommit(1, payload), codec.Identity{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(rec))
}

// TestRotationAtBoundary: a segment may grow to exactly SegmentSize; the
// record that would pass it opens the next segment, resealed for it, also
// in the middle of a batch. A record larger than a segment gets one of its
// own.
func TestRotationAtBoundary(t *testing.T) {
	r := recordSize(t, 100)
	cases := []struct {
		name    string
		segSize int64
		batched bool
		perSeg  []int // records in each segment
	}{
		{"two fit exactly", format.SegmentHeaderSize + 2*r, false, []int{2, 2, 1}},
		{"two fit exactly, one batch", format.SegmentHeaderSize + 2*r, true, []int{2, 2, 1}},
		{"one byte short", format.SegmentHeaderSize + 2*r - 1, false, []int{1, 1, 1, 1, 1}},
		{"one byte short, one batch", format.SegmentHeaderSize + 2*r - 1, true, []int{1, 1, 1, 1, 1}},
		{"one byte spare", format.SegmentHeaderSize + 2*r + 1, true, []int{2, 2, 1}},
		{"larger than a segment", format.SegmentHeaderSize + r/2, false, []int{1, 1, 1, 1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.open(e.mem, Strict, c.segSize, 1)
			if c.batched {
				var tk core.Ticket
				for v := uint64(1); v <= 5; v++ {
					tk = w.Submit(mkCommit(v, 100))
				}
				if err := tk.Wait(); err != nil {
					t.Fatal(err)
				}
			} else {
				for v := uint64(1); v <= 5; v++ {
					commitOne(t, w, mkCommit(v, 100))
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, _, segs := e.snapshot()
			if len(segs) != len(c.perSeg) {
				t.Fatalf("OnSegment calls %v, want %d segments", segs, len(c.perSeg))
			}
			for i, want := range c.perSeg {
				n := uint64(i + 1)
				if segs[i] != n {
					t.Fatalf("OnSegment calls %v", segs)
				}
				data := readFile(t, e.mem, segPath(n))
				if got := int64(len(data)); got != format.SegmentHeaderSize+int64(want)*r {
					t.Fatalf("segment %d is %d bytes, want header and %d records", n, got, want)
				}
				if i < len(c.perSeg)-1 && c.segSize >= format.SegmentHeaderSize+r && int64(len(data)) > c.segSize {
					t.Fatalf("segment %d passed the segment size", n)
				}
				h, _ := format.DecodeSegmentHeader(data)
				for off := format.SegmentHeaderSize; off < len(data); {
					f, _, err := format.ParseRecordFrame(data[off:])
					if err != nil {
						t.Fatal(err)
					}
					if err := format.CheckSeal(f, h, int64(off)); err != nil {
						t.Fatalf("segment %d offset %d: %v", n, off, err)
					}
					off += f.Size
				}
			}
			if got := replay(e.mem, false, 0); got.err != nil || got.versions(t) != 5 {
				t.Fatalf("replay: %d commits, %v", len(got.commits), got.err)
			}
		})
	}
}

// TestPoisonOnFirstFailedWrite: the first failed segment write fails the
// batch with Poisoned (wrapping the cause), calls Poison once, publishes
// nothing, and every later Submit fails without touching the disk.
func TestPoisonOnFirstFailedWrite(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial=%v", partial), func(t *testing.T) {
			e := newEnv(t)
			efs := vfs.NewErrorFS(e.mem)
			w := e.open(efs, Strict, 1<<20, 1)
			commitOne(t, w, mkCommit(1, 10))
			efs.AddRule(vfs.Rule{OpKinds: vfs.OpWrite, Path: "wal-*.seg", Index: efs.OpCount(), Err: vfs.ErrENOSPC, PartialWrite: partial})
			err := w.Submit(mkCommit(2, 10)).Wait()
			wantCode(t, err, dberr.Poisoned)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("%v does not wrap the cause", err)
			}
			checkPoisoned(t, e, w, efs, err, "[1]")
		})
	}
}

// TestPoisonOnFirstFailedSync: a failed fsync poisons (Strict: the commit
// fails; Buffered: the flush fails and so does every later commit), and is
// never retried — not by Sync, not by Close — even though the rule would
// let a second fsync succeed.
func TestPoisonOnFirstFailedSync(t *testing.T) {
	for _, mode := range []Mode{Strict, Buffered} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			e := newEnv(t)
			efs := vfs.NewErrorFS(e.mem)
			w := e.open(efs, mode, 1<<20, 1)
			commitOne(t, w, mkCommit(1, 10))
			if mode == Buffered {
				if err := w.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			// Fail exactly one fsync: a retry would succeed.
			var err error
			switch mode {
			case Strict:
				efs.AddRule(vfs.Rule{OpKinds: vfs.OpSync, Path: "wal-*.seg", Index: efs.OpCount() + 1}) // after the write
				err = w.Submit(mkCommit(2, 10)).Wait()
			case Buffered:
				commitOne(t, w, mkCommit(2, 10))
				efs.AddRule(vfs.Rule{OpKinds: vfs.OpSync, Path: "wal-*.seg", Index: efs.OpCount()})
				err = w.Sync()
			}
			wantCode(t, err, dberr.Poisoned)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("%v does not wrap the cause", err)
			}
			if efs.Injected() != 1 {
				t.Fatalf("%d errors injected, want 1", efs.Injected())
			}
			// Buffered acknowledged commit 2 when it was written.
			checkPoisoned(t, e, w, efs, err, map[Mode]string{Strict: "[1]", Buffered: "[1 2]"}[mode])
		})
	}
}

// checkPoisoned checks the state after the first failure err.
func checkPoisoned(t *testing.T, e *env, w *Writer, efs *vfs.ErrorFS, err error, wantPub string) {
	t.Helper()
	pub, poisoned, _ := e.snapshot()
	if len(poisoned) != 1 || poisoned[0] != err {
		t.Fatalf("Poison calls %v, want one with %v", poisoned, err)
	}
	if fmt.Sprint(pub) != wantPub {
		t.Fatalf("published %v, want %s", pub, wantPub)
	}
	ops := efs.OpCount()
	wantCode(t, w.Submit(mkCommit(3, 10)).Wait(), dberr.Poisoned)
	wantCode(t, w.Sync(), dberr.Poisoned)
	if err := w.Err(); err == nil {
		t.Fatal("Err is nil after poisoning")
	}
	if got := efs.OpCount(); got != ops {
		t.Fatalf("%d file operations after poisoning, want none", got-ops)
	}
	w.Close()
	if got := efs.OpCount(); got != ops+1 {
		t.Fatalf("Close after poisoning did %d operations, want only closing the file", got-ops)
	}
	if _, poisoned, _ := e.snapshot(); len(poisoned) != 1 {
		t.Fatalf("Poison called %d times", len(poisoned))
	}
	// What was acknowledged is still there.
	if r := replay(e.mem, false, 0); r.err != nil || len(r.commits) < 1 || r.commits[0].Version != 1 {
		t.Fatalf("replay after poisoning: %d commits, %v", len(r.commits), r.err)
	}
}
