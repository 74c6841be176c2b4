package wal

import (
	"errors"
	"testing"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/vfs"
)

func newTestWriter(t *testing.T) (*Writer, *vfs.MemFS) {
	t.Helper()
	fs := vfs.NewMem()
	if err := fs.MkdirAll("wal"); err != nil {
		t.Fatal(err)
	}
	w := New(Options{FS: fs, Dir: "wal", Codec: codec.Identity{}, SegmentSize: 1 << 20, Mode: Strict})
	t.Cleanup(func() { w.Close() })
	return w, fs
}

func testCommit(v uint64) *core.Commit {
	return &core.Commit{Version: v, Time: int64(v), Mutations: []core.Mutation{
		{Op: core.OpPut, Space: core.KV, Key: "k", Value: value.Int(int64(v)), Version: v}}}
}

// The writer is handed to the engine before recovery: until Start it
// touches no file, and a commit reaching it fails instead of writing into a
// segment recovery has not chosen yet.
func TestWriterDoesNothingBeforeStart(t *testing.T) {
	w, fs := newTestWriter(t)
	if names, _ := fs.List("wal"); len(names) != 0 {
		t.Fatalf("New created %v", names)
	}
	err := w.Submit(testCommit(1)).Wait()
	if !errors.Is(err, dberr.ErrInternal) {
		t.Fatalf("Submit before Start = %v, want Internal", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close of a writer never started = %v", err)
	}
}

func TestWriterStartThenCommit(t *testing.T) {
	w, fs := newTestWriter(t)
	if err := w.Start(7); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(8); err == nil {
		t.Fatal("a second Start succeeded")
	}
	if err := w.Submit(testCommit(1)).Wait(); err != nil {
		t.Fatal(err)
	}
	if w.Segment() != 7 || w.SegmentLast()[7] != 1 {
		t.Fatalf("segment %d, last %v", w.Segment(), w.SegmentLast())
	}
	if names, _ := fs.List("wal"); len(names) != 1 || names[0] != SegmentName(7) {
		t.Fatalf("files %v", names)
	}
}
