package inmem_test

// Power cuts with unordered writeback (issue 9, item 5): the disk may keep a
// later unsynced page of the WAL and lose an earlier one. Nothing synced is
// damaged, so the database must open, with a prefix of the commits.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

const pcDir = "/powercut"

var pcRun = inmem.MustParseRunID("7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5")

// pcFS is a MemFS seen through a wrapper that remembers at which offset of
// each file every write started and lets a test act just before a sync of
// a WAL segment executes.
type pcFS struct {
	*vfs.MemFS
	mu      sync.Mutex
	written map[string]int64   // bytes written through each handle's name
	starts  map[string][]int64 // offset where each write started
	preSync func(name string)  // called before a segment's SyncData, if set
}

func newPCFS() *pcFS {
	return &pcFS{MemFS: vfs.NewMem(), written: map[string]int64{}, starts: map[string][]int64{}}
}

func (p *pcFS) Create(name string) (vfs.File, error) {
	f, err := p.MemFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &pcFile{File: f, fs: p, name: filepath.Clean(name)}, nil
}

func (p *pcFS) setPreSync(fn func(name string)) {
	p.mu.Lock()
	p.preSync = fn
	p.mu.Unlock()
}

// lastWrite returns where the newest write to name started.
func (p *pcFS) lastWrite(name string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.starts[name]
	return s[len(s)-1]
}

type pcFile struct {
	vfs.File
	fs   *pcFS
	name string
}

func (f *pcFile) Write(b []byte) (int, error) {
	f.fs.mu.Lock()
	f.fs.starts[f.name] = append(f.fs.starts[f.name], f.fs.written[f.name])
	f.fs.mu.Unlock()
	n, err := f.File.Write(b)
	f.fs.mu.Lock()
	f.fs.written[f.name] += int64(n)
	f.fs.mu.Unlock()
	return n, err
}

func (f *pcFile) SyncData() error {
	f.fs.mu.Lock()
	hook := f.fs.preSync
	f.fs.mu.Unlock()
	if hook != nil && strings.HasSuffix(f.name, ".seg") {
		hook(f.name)
	}
	return f.File.SyncData()
}

func pcOpen(t *testing.T, fsys vfs.FS, mode inmem.Durability) (*inmem.DB, error) {
	t.Helper()
	// Buffered mode's flusher never fires on its own: the test decides
	// what is synced.
	return inmem.Open(pcDir, &inmem.Options{
		FS: fsys, Durability: mode, WALSegmentSize: 1 << 20,
		BufferedFlushInterval: time.Hour, BufferedFlushBytes: 1 << 40,
	})
}

// pcValue is longer than a 4 KiB block, so that two records never start in
// the same block.
func pcValue(i int) inmem.Value { return inmem.String(strings.Repeat(fmt.Sprint(i%10), 5000)) }

func pcPut(db *inmem.DB, i int) error {
	_, err := db.KV().Put(context.Background(), pcRun, fmt.Sprintf("k%d", i), pcValue(i))
	return err
}

// pcCrash returns the image a power cut leaves when the block holding
// offset off of segment seg is lost (reverts to what was synced) and every
// other unsynced block reaches the disk.
func pcCrash(m *vfs.MemFS, seg string, off int64) *vfs.MemFS {
	return m.Crash(vfs.CrashOptions{Mode: vfs.CrashRandom, Fate: func(path string, block int) vfs.BlockFate {
		if path == seg && int64(block) == off/vfs.DefaultBlockSize {
			return vfs.BlockDrop
		}
		return vfs.BlockKeep
	}})
}

// pcCheck reopens img and checks that keys 1..want are present and the
// later keys up to upTo are not.
func pcCheck(t *testing.T, img vfs.FS, mode inmem.Durability, want, upTo int) {
	t.Helper()
	db, err := pcOpen(t, img, mode)
	if err != nil {
		t.Fatalf("reopen after the power cut: %v", err)
	}
	defer db.Close()
	for i := 1; i <= upTo; i++ {
		got, err := db.KV().Get(context.Background(), pcRun, fmt.Sprintf("k%d", i))
		switch {
		case i <= want && (err != nil || !got.Value.Equal(pcValue(i))):
			t.Fatalf("k%d: %v, %v; want it recovered", i, got.Value, err)
		case i > want && !errors.Is(err, inmem.ErrNotFound):
			t.Fatalf("k%d: %v, %v; want it cut with the torn tail", i, got.Value, err)
		}
	}
	// The database accepts writes again.
	if err := pcPut(db, upTo+1); err != nil {
		t.Fatal(err)
	}
}

func pcSegment(t *testing.T, fsys vfs.FS) string {
	t.Helper()
	names, err := fsys.List(filepath.Join(pcDir, "WAL"))
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, n := range names {
		if strings.HasSuffix(n, ".seg") {
			last = n
		}
	}
	return filepath.Join(pcDir, "WAL", last)
}

// TestPowerCutUnorderedWriteback_Buffered: k1 is flushed, k2..k4 wait for
// the flusher; the power cut loses k2's first block and keeps k3 and k4.
func TestPowerCutUnorderedWriteback_Buffered(t *testing.T) {
	fsys := newPCFS()
	db, err := pcOpen(t, fsys, inmem.Buffered)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pcPut(db, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	seg := pcSegment(t, fsys)
	var off int64
	for i := 2; i <= 4; i++ {
		if err := pcPut(db, i); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			off = fsys.lastWrite(seg)
		}
	}
	pcCheck(t, pcCrash(fsys.MemFS, seg, off), inmem.Buffered, 1, 4)
}

// TestPowerCutUnorderedWriteback_Strict: k3 and k4 are one group-commit
// batch (they queue while k2's leader is inside its fsync); the power goes
// before that batch's fsync, and the disk lost the block where the batch
// starts but kept the block of its second record. k1 and k2 were
// acknowledged and must be there; neither record of the batch may be.
func TestPowerCutUnorderedWriteback_Strict(t *testing.T) {
	fsys := newPCFS()
	db, err := pcOpen(t, fsys, inmem.Strict)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pcPut(db, 1); err != nil {
		t.Fatal(err)
	}
	seg := pcSegment(t, fsys)
	base := db.Stats().Commits

	// Hold k2's leader inside its fsync.
	entered, release := make(chan struct{}), make(chan struct{})
	fsys.setPreSync(func(string) {
		fsys.setPreSync(nil)
		close(entered)
		<-release
	})
	errs := make(chan error, 3)
	go func() { errs <- pcPut(db, 2) }()
	<-entered
	go func() { errs <- pcPut(db, 3) }()
	go func() { errs <- pcPut(db, 4) }()
	// Commits are counted under the commit lock in the step that submits
	// them to the WAL: once both are counted, both are queued and the next
	// leader writes them as one batch.
	for db.Stats().Commits < base+3 {
		runtime.Gosched()
	}
	var img *vfs.MemFS
	var batchOff int64
	var cur []byte
	fsys.setPreSync(func(name string) {
		fsys.setPreSync(nil)
		batchOff = fsys.lastWrite(name)
		img = pcCrash(fsys.MemFS, name, batchOff)
		cur, _ = vfs.ReadFile(fsys.MemFS, name)
	})
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if img == nil {
		t.Fatal("no fsync after k2's")
	}
	// The batch's first record is damaged in the image.
	data, err := vfs.ReadFile(img, seg)
	if err != nil {
		t.Fatal(err)
	}
	if f, _, err := format.ParseRecordFrame(data[batchOff:]); err == nil {
		t.Fatalf("the batch's first record survived the lost block (%d bytes)", f.Size)
	}
	// ... and its second record is intact after the damage.
	first, _, err := format.ParseRecordFrame(cur[batchOff:])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := format.ParseRecordFrame(data[batchOff+int64(first.Size):]); err != nil {
		t.Fatalf("the batch's second record did not survive: %v", err)
	}
	if st := db.Stats().WAL; st.MaxBatch < 2 {
		t.Fatalf("k3 and k4 were not one batch: %+v", st)
	}
	pcCheck(t, img, inmem.Strict, 2, 4)
}
