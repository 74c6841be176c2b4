package wal

import (
	"fmt"
	"sync"
	"testing"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/vfs"
)

// syncGateFS runs hooks before a segment's fsync and truncate.
type syncGateFS struct {
	vfs.FS
	mu             sync.Mutex
	beforeSync     func()
	beforeTruncate func()
}

func (g *syncGateFS) Create(name string) (vfs.File, error) {
	f, err := g.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &syncGateFile{File: f, g: g}, nil
}

func (g *syncGateFS) hooks() (sync, truncate func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.beforeSync, g.beforeTruncate
}

func (g *syncGateFS) set(sync, truncate func()) {
	g.mu.Lock()
	g.beforeSync, g.beforeTruncate = sync, truncate
	g.mu.Unlock()
}

type syncGateFile struct {
	vfs.File
	g *syncGateFS
}

func (f *syncGateFile) SyncData() error {
	if fn, _ := f.g.hooks(); fn != nil {
		fn()
	}
	return f.File.SyncData()
}

func (f *syncGateFile) Truncate(n int64) error {
	if _, fn := f.g.hooks(); fn != nil {
		fn()
	}
	return f.File.Truncate(n)
}

// TestBufferedWritesDuringFlush: Buffered mode's fsync runs without the
// file lock, so a commit is written and acknowledged while a flush is
// inside its fsync (before, it waited for the fsync: Buffered's p99 was an
// fsync). The flush covers only what was written before it began, and the
// log replays whole.
func TestBufferedWritesDuringFlush(t *testing.T) {
	e := newEnv(t)
	g := &syncGateFS{FS: e.mem}
	w := e.open(g, Buffered, 1<<20, 1)
	commitOne(t, w, mkCommit(1, 10))
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	g.set(func() { once.Do(func() { close(entered); <-release }) }, nil)
	synced := make(chan error, 1)
	go func() { synced <- w.Sync() }()
	<-entered
	// Without the change this commit waits for the held fsync forever.
	commitOne(t, w, mkCommit(2, 10))
	if pub, _, _ := e.snapshot(); fmt.Sprint(pub) != "[1 2]" {
		t.Fatalf("published %v during the flush, want [1 2]", pub)
	}
	g.set(nil, nil)
	close(release)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	w.fileMu.Lock()
	covered := w.durable >= w.written
	w.fileMu.Unlock()
	if covered {
		t.Fatal("the flush claims commit 2, written after it began")
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	commitOne(t, w, mkCommit(3, 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r := replay(e.mem, false, 0); r.err != nil || r.versions(t) != 3 {
		t.Fatalf("replay: %d commits, %v", len(r.commits), r.err)
	}
}

// TestNoAckAfterFlushFailureDuringWrite: a batch whose write ends after a
// background fsync failed is not acknowledged, though its own write
// succeeded: nothing is acknowledged once the writer is poisoned.
func TestNoAckAfterFlushFailureDuringWrite(t *testing.T) {
	e := newEnv(t)
	efs := vfs.NewErrorFS(e.mem)
	w := e.open(efs, Buffered, 1<<20, 1)
	commitOne(t, w, mkCommit(1, 10))
	var syncErr error
	w.afterWrite = func() {
		w.afterWrite = nil
		efs.AddRule(vfs.Rule{OpKinds: vfs.OpSync, Path: "wal-*.seg", Index: efs.OpCount()})
		syncErr = w.Sync() // the flusher's fsync, failing between the write and the acknowledgement
	}
	err := w.Submit(mkCommit(2, 10)).Wait()
	wantCode(t, syncErr, dberr.Poisoned)
	wantCode(t, err, dberr.Poisoned)
	if pub, _, _ := e.snapshot(); fmt.Sprint(pub) != "[1]" {
		t.Fatalf("published %v after the failed fsync, want [1]", pub)
	}
	wantCode(t, w.Submit(mkCommit(3, 10)).Wait(), dberr.Poisoned)
}

// TestRotationWaitsForRunningFsync: a rotation (which truncates, fsyncs and
// closes the old segment) never touches the file while a flush's fsync,
// run without the file lock, is still on it.
func TestRotationWaitsForRunningFsync(t *testing.T) {
	e := newEnv(t)
	g := &syncGateFS{FS: e.mem}
	r := recordSize(t, 100)
	w := e.open(g, Buffered, 40+2*r, 1) // two records fill a segment
	commitOne(t, w, mkCommit(1, 100))
	commitOne(t, w, mkCommit(2, 100))
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	inSync := false
	var once sync.Once
	g.set(func() {
		once.Do(func() {
			mu.Lock()
			inSync = true
			mu.Unlock()
			close(entered)
			<-release
			mu.Lock()
			inSync = false
			mu.Unlock()
		})
	}, func() {
		mu.Lock()
		defer mu.Unlock()
		if inSync {
			t.Error("the segment was truncated for rotation during a running fsync")
		}
	})
	synced := make(chan error, 1)
	go func() { synced <- w.Sync() }()
	<-entered
	done := make(chan error, 1)
	go func() { done <- w.Submit(mkCommit(3, 100)).Wait() }() // rotates
	close(release)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := w.Segment(); got != 2 {
		t.Fatalf("segment %d, want 2", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r := replay(e.mem, false, 0); r.err != nil || r.versions(t) != 3 {
		t.Fatalf("replay: %d commits, %v", len(r.commits), r.err)
	}
}
