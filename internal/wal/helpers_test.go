package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/vfs"
)

const walDir = "/db/WAL"

var testUUID = format.UUID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// env is a WAL directory on a MemFS with stub callbacks that record what
// the writer tells the database.
type env struct {
	t   *testing.T
	mem *vfs.MemFS

	mu        sync.Mutex
	published []uint64
	poisoned  []*dberr.Error
	segments  []uint64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, mem: vfs.NewMem()}
	if err := e.mem.MkdirAll(walDir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/", "/db", walDir} {
		if err := e.mem.SyncDir(d); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// options returns writer options over fsys. Buffered mode's flusher never
// fires by itself (an hour, an exabyte): tests sync explicitly, so what is
// synced never depends on timing.
func (e *env) options(fsys vfs.FS, mode Mode, segSize int64) Options {
	return Options{
		FS: fsys, Dir: walDir, UUID: testUUID, Codec: codec.Identity{},
		SegmentSize: segSize, Mode: mode,
		FlushInterval: time.Hour, FlushBytes: 1 << 60,
		Poison: func(err *dberr.Error) {
			e.mu.Lock()
			e.poisoned = append(e.poisoned, err)
			e.mu.Unlock()
		},
		OnSegment: func(n uint64) error {
			e.mu.Lock()
			e.segments = append(e.segments, n)
			e.mu.Unlock()
			return nil
		},
	}
}

func (e *env) open(fsys vfs.FS, mode Mode, segSize int64, first uint64) *Writer {
	e.t.Helper()
	w, err := e.start(e.options(fsys, mode, segSize), first)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { w.Close() })
	return w
}

// start is New and Start, recording every batch acknowledgement (the
// newest version of the batch) as "published": the engine publishes when a
// ticket completes.
func (e *env) start(opts Options, first uint64) (*Writer, error) {
	w := New(opts)
	w.onAck = func(v uint64) {
		e.mu.Lock()
		e.published = append(e.published, v)
		e.mu.Unlock()
	}
	return w, w.Start(first)
}

func (e *env) snapshot() (published []uint64, poisoned []*dberr.Error, segments []uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]uint64(nil), e.published...), append([]*dberr.Error(nil), e.poisoned...), append([]uint64(nil), e.segments...)
}

var testRun = core.RunID{0x11, 0x22}

// mkCommit returns commit v: one KV put whose value is a string of size
// bytes.
func mkCommit(v uint64, size int) *core.Commit {
	return &core.Commit{Version: v, Run: testRun, Time: int64(v) * 1000, Mutations: []core.Mutation{{
		Op: core.OpPut, Run: testRun, Space: core.KV, Key: fmt.Sprintf("k%d", v), Version: v,
		Value: valueOfSize(v, size),
	}}}
}

func valueOfSize(v uint64, size int) value.Value {
	return value.String(strings.Repeat(string(rune('a'+v%26)), size))
}

// commitOne submits c alone and waits for it.
func commitOne(t *testing.T, w *Writer, c *core.Commit) {
	t.Helper()
	if err := w.Submit(c).Wait(); err != nil {
		t.Fatalf("commit %d: %v", c.Version, err)
	}
}

// replayed is what one Replay delivered.
type replayed struct {
	res     ReplayResult
	commits []*core.Commit
	err     error
}

func replay(fsys vfs.FS, repair bool, active uint64) replayed {
	var r replayed
	r.res, r.err = Replay(ReplayOptions{
		FS: fsys, Dir: walDir, UUID: testUUID, Codec: codec.Identity{},
		ActiveSegment: active, Repair: repair,
	}, EachCommit(func(c *core.Commit) error {
		r.commits = append(r.commits, c)
		return nil
	}))
	return r
}

// versions returns the versions replayed, checking they are 1..n with the
// payload mkCommit gave them.
func (r replayed) versions(t *testing.T) int {
	t.Helper()
	for i, c := range r.commits {
		if c.Version != uint64(i+1) || len(c.Mutations) != 1 || c.Mutations[0].Key != fmt.Sprintf("k%d", i+1) {
			t.Fatalf("replayed commit %d is %+v", i, c)
		}
	}
	return len(r.commits)
}

func segPath(n uint64) string { return filepath.Join(walDir, SegmentName(n)) }

func readFile(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	b, err := vfs.ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile replaces name with b, durably.
func writeFile(t *testing.T, fsys vfs.FS, name string, b []byte) {
	t.Helper()
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir(filepath.Dir(name)); err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err is a *dberr.Error with code c.
func wantCode(t *testing.T, err error, c dberr.Code) *dberr.Error {
	t.Helper()
	var de *dberr.Error
	if !errors.As(err, &de) || de.Code != c {
		t.Fatalf("error %v, want code %v", err, c)
	}
	return de
}

// appendRecordV1 encodes c as a version 1 record, the format segments of
// version 1 hold (no seal): kept here, byte by byte, so that the test does
// not depend on the writer still knowing how.
func appendRecordV1(dst []byte, c *core.Commit) []byte {
	body := format.AppendWriteset(nil, c)
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(1+1+8+16+8+len(body)+4))
	dst = append(dst, format.RecordVersionV1, 0)
	dst = binary.LittleEndian.AppendUint64(dst, c.Version)
	dst = append(dst, c.Run[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(c.Time))
	dst = append(dst, body...)
	return binary.LittleEndian.AppendUint32(dst, format.Checksum(dst[start+4:]))
}

// segmentV1 returns a version 1 segment n holding commits.
func segmentV1(n uint64, commits ...*core.Commit) (data []byte, ends []int) {
	data = format.AppendSegmentHeader(nil, format.SegmentHeader{Number: n, UUID: testUUID, Version: format.SegmentVersionV1})
	for _, c := range commits {
		data = appendRecordV1(data, c)
		ends = append(ends, len(data))
	}
	return data, ends
}

// recordEnds returns where each valid record of a segment image ends.
func recordEnds(data []byte) []int {
	var ends []int
	for off := format.SegmentHeaderSize; off < len(data); {
		f, problem, _ := format.ParseRecordFrame(data[off:])
		if problem != format.RecordOK {
			break
		}
		off += f.Size
		ends = append(ends, off)
	}
	return ends
}

func mustContain(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), sub) {
		t.Fatalf("error %v does not mention %q", err, sub)
	}
}
