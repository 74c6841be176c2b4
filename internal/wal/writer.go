package wal

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

// Mode is when a commit is acknowledged.
type Mode uint8

const (
	// Strict acknowledges a commit once an fsync covering its record has
	// completed.
	Strict Mode = iota
	// Buffered acknowledges a commit once its record is written to the
	// file; a background flusher fsyncs.
	Buffered
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case Strict:
		return "Strict"
	case Buffered:
		return "Buffered"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Options configure a Writer.
type Options struct {
	FS          vfs.FS
	Dir         string // the WAL directory
	UUID        format.UUID
	Codec       codec.Codec
	SegmentSize int64
	Mode        Mode
	// FlushInterval and FlushBytes drive Buffered mode's background fsync.
	FlushInterval time.Duration
	FlushBytes    int64
	// Poison is told about the first write, sync or rotation failure — at
	// once, also when no commit waits (Buffered mode's background fsync, a
	// Flush), so the database refuses commits and checkpoints from then on.
	Poison func(err *dberr.Error)
	// OnSegment is called once a new segment is durable (header synced,
	// directory synced) and before any record is written into it. The
	// database records the active segment in the MANIFEST there.
	OnSegment func(n uint64) error
	Logger    *slog.Logger
}

// Writer appends commits to the WAL. It is the engine's core.Log.
//
// Group commit: committers submit under the engine's commit lock (cheap:
// they join a queue) and then wait outside it, each on its own group. A
// batch goes through two stages, each led by one of its members: the write
// (one write call for the whole queue) and, in Strict mode, the fsync. A
// Strict batch is written only once the previous batch's fsync is done, so
// a batch's records are never made durable by an fsync that acknowledges
// an earlier batch alone (the power-cut tests rely on a batch's fate being
// decided by its own fsync), and fsyncs of one file never overlap (the
// kernel reports a writeback error to one fsync only). Buffered mode's
// background fsync runs without the file lock: batches keep being written,
// and acknowledged, while it runs. A finishing stage wakes one member of
// the group that may lead next, not every waiter. Groups are acknowledged
// strictly in order and never before the fsync that covers them (Strict);
// a lone committer leads both stages itself and pays no hand-off to
// another goroutine.
type Writer struct {
	opts Options

	mu      sync.Mutex
	queue   []*core.Commit
	spare   []*core.Commit
	qgroup  *group       // the group the queued commits belong to
	writing bool         // a member leads a write
	syncing bool         // a member leads an fsync (Strict)
	pending []*group     // written, waiting for an fsync (Strict), in order
	err     *dberr.Error // sticky: set by the first failure
	closed  bool
	started bool // Start created the first segment

	// syncMu keeps fsyncs of the WAL from overlapping: the Strict sync
	// leader's, the flusher's and Sync's.
	syncMu sync.Mutex

	// fileMu serializes file I/O: the leader's writes and rotations, and
	// the flusher's syncs.
	fileMu  sync.Mutex
	f       vfs.File
	seg     uint64
	segPath string
	size    int64 // bytes in the current segment, header included
	// curSeg and curSize mirror seg and size for readers that must not wait
	// for a write or fsync in progress (statistics, compaction).
	curSeg  atomic.Uint64
	curSize atomic.Int64
	alloc   int64 // bytes of the current segment preallocated
	// written and durable count record bytes over the writer's life, across
	// segments; segBase is written's value at byte 0 of the current
	// segment. An fsync's target is a value of written.
	written int64
	durable int64
	segBase int64
	// syncRefs counts fsyncs running on the current file without fileMu;
	// rotation and Close wait on fileCond for none before touching it.
	syncRefs int
	fileCond sync.Cond
	// synced is how many bytes of the current segment the last completed
	// fsync made durable, and tag the segment's tag: every record carries
	// both (its seal), so that recovery can tell damage a power cut may
	// cause (at or past the synced offset) from corruption (below it).
	synced  int64
	tag     uint32
	buf     []byte
	scratch []byte
	// segLast maps each segment this writer appended to to the newest
	// commit version written into it (compaction deletes a closed segment
	// once a durable snapshot covers that version).
	segMu   sync.Mutex
	segLast map[uint64]uint64

	// onAck, if set (by tests), is told the newest version of each batch
	// just before its ticket completes.
	onAck func(v uint64)
	// afterWrite, if set (by tests), runs after a batch is written, before
	// its leader looks at the writer's state again.
	afterWrite func()

	flushReq  chan struct{}
	stopFlush chan struct{}
	flushDone chan struct{}

	stats Stats
}

// Stats are cumulative counters.
type Stats struct {
	Records  atomic.Uint64
	Bytes    atomic.Uint64
	Fsyncs   atomic.Uint64
	Batches  atomic.Uint64
	MaxBatch atomic.Uint64
	Segments atomic.Uint64 // segments created
}

// groupState is where a group is in the pipeline.
type groupState uint8

const (
	queued   groupState = iota // accepting Submits or waiting for a writer
	inWrite                    // a member writes it
	written                    // written, waiting for its fsync (Strict)
	finished                   // acknowledged or failed
)

// group is one batch of commits that one leader writes; it is the ticket
// every member waits on.
type group struct {
	w     *Writer
	state groupState // under w.mu
	err   error      // set when state becomes finished
	end   int64      // w.written after the group's last record
	last  uint64     // newest version in the group
	// cond (on w.mu) wakes the group's members: all of them when it is
	// finished, one when a member may lead its next stage (kickGroup).
	// Each member looks at the state again under w.mu, so a signal that
	// finds no waiter is not lost: a member that comes later looks first.
	cond sync.Cond
}

// Wait blocks until the group's batch is acknowledged, leading its write
// or its fsync when no other goroutine does.
func (g *group) Wait() error {
	w := g.w
	w.mu.Lock()
	for {
		switch {
		case g.state == finished:
			w.mu.Unlock()
			return g.err
		case g.state == queued && !w.writing && !w.syncing:
			w.leadWrite()
		case g.state == written && !w.syncing:
			w.leadSync()
		default:
			g.cond.Wait()
		}
	}
}

// kickGroup asks one member of g to look at the pipeline again. The caller
// holds w.mu.
func kickGroup(g *group) { g.cond.Signal() }

// finish acknowledges (err nil) or fails g. The caller holds w.mu and
// finishes groups in order.
func (w *Writer) finish(g *group, err error) {
	if err == nil && w.onAck != nil {
		w.onAck(g.last)
	}
	g.state, g.err = finished, err
	g.cond.Broadcast()
}

type failed struct{ err error }

func (f failed) Wait() error { return f.err }

// New returns a writer that does no I/O until Start. The database hands
// it to the engine at construction, before recovery has replayed the log
// and so before the number of the first segment to write is known.
func New(opts Options) *Writer {
	w := &Writer{opts: opts, segLast: map[uint64]uint64{}}
	w.fileCond.L = &w.fileMu
	return w
}

// Start creates segment first (which must not exist) and starts appending
// to it. Commits submitted before Start fail.
func (w *Writer) Start(first uint64) error {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if w.f != nil {
		return dberr.New(dberr.Internal, "wal", "the WAL is started twice")
	}
	if err := w.newSegment(first); err != nil {
		return err
	}
	if w.opts.Mode == Buffered {
		w.flushReq = make(chan struct{}, 1)
		w.stopFlush = make(chan struct{})
		w.flushDone = make(chan struct{})
		go w.flusher()
	}
	w.mu.Lock()
	w.started = true
	w.mu.Unlock()
	return nil
}

// Segment returns the number of the segment being appended to.
func (w *Writer) Segment() uint64 { return w.curSeg.Load() }

// SegmentSize returns the bytes written into the current segment (its
// file may be longer: preallocated zeros), without waiting for a write or
// fsync in progress. Across a rotation the two values may briefly belong to
// different segments.
func (w *Writer) SegmentSize() (seg uint64, size int64) {
	return w.curSeg.Load(), w.curSize.Load()
}

// Stats returns the writer's counters.
func (w *Writer) Stats() *Stats { return &w.stats }

// Submit queues c for the next batch. It is called under the engine's
// commit lock, in version order.
func (w *Writer) Submit(c *core.Commit) core.Ticket {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return failed{w.err}
	}
	if w.closed {
		return failed{dberr.New(dberr.Closed, "wal", "the WAL is closed")}
	}
	if !w.started {
		return failed{dberr.New(dberr.Internal, "wal", "a commit reached the WAL before recovery started it")}
	}
	w.queue = append(w.queue, c)
	if w.qgroup == nil {
		w.qgroup = &group{w: w}
		w.qgroup.cond.L = &w.mu
	}
	w.qgroup.last = c.Version
	return w.qgroup
}

// leadWrite writes the queued batch. The caller holds w.mu; leadWrite
// releases it for the I/O and holds it again on return. In Buffered mode
// the batch is acknowledged once written; in Strict mode it joins the
// groups waiting for an fsync.
func (w *Writer) leadWrite() {
	w.writing = true
	batch, g := w.queue, w.qgroup
	w.queue, w.qgroup = w.spare[:0], nil
	g.state = inWrite
	w.mu.Unlock()

	end, err := w.writeBatch(batch)
	if w.afterWrite != nil {
		w.afterWrite()
	}

	w.mu.Lock()
	clear(batch)
	w.spare = batch[:0]
	w.writing = false
	if w.qgroup != nil {
		kickGroup(w.qgroup) // the next batch may be written now
	}
	switch {
	case err == nil && w.err != nil:
		// Poisoned while writing (a failed background fsync): nothing is
		// acknowledged after a failure.
		w.finish(g, w.err)
	case err != nil:
		w.finish(g, err)
	case w.opts.Mode == Buffered:
		w.finish(g, nil)
	default:
		g.state, g.end = written, end
		w.pending = append(w.pending, g)
	}
}

// leadSync fsyncs every written group and acknowledges them in order. The
// caller holds w.mu; leadSync releases it for the I/O and holds it again
// on return.
func (w *Writer) leadSync() {
	if w.err != nil {
		for _, p := range w.pending {
			w.finish(p, w.err)
		}
		clear(w.pending)
		w.pending = w.pending[:0]
		return
	}
	w.syncing = true
	n := len(w.pending)
	target := w.pending[n-1].end
	w.mu.Unlock()

	err := w.syncTo(target)

	w.mu.Lock()
	w.syncing = false
	if err == nil && w.err != nil {
		// Another fsync failed before or while this one ran: its error
		// may have been reported to that one only.
		err = w.err
	}
	for _, p := range w.pending[:n] {
		w.finish(p, err)
	}
	rest := copy(w.pending, w.pending[n:])
	clear(w.pending[rest:])
	w.pending = w.pending[:rest]
	if rest > 0 {
		kickGroup(w.pending[0]) // written during this fsync: the next one covers them
	}
	if w.qgroup != nil {
		kickGroup(w.qgroup) // queued during this fsync: it may be written now
	}
}

// fail records the first failure, poisons the database and returns the
// error every affected commit reports. The caller holds fileMu, not mu.
func (w *Writer) fail(op string, cause error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = dberr.Wrap(dberr.Poisoned, "wal", cause, "%s failed; the database refuses writes until it is reopened", op)
		if w.opts.Logger != nil {
			w.opts.Logger.Error("WAL failure: database poisoned", "op", op, "err", cause)
		}
		if w.opts.Poison != nil {
			w.opts.Poison(w.err)
		}
	}
	return w.err
}

func (w *Writer) poisoned() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return nil
}

// writeBatch appends the batch's records, rotating segments as needed,
// and returns the writer's written offset after them. Batches are written
// one after another, in version order.
func (w *Writer) writeBatch(batch []*core.Commit) (int64, error) {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if err := w.poisoned(); err != nil {
		return 0, err
	}
	buf := w.buf[:0]
	for _, c := range batch {
		start := len(buf)
		var err error
		buf, w.scratch, err = format.AppendSealedRecord(buf, c, w.opts.Codec, w.scratch, w.seal())
		if err != nil {
			// The version is assigned: skipping its record would leave a
			// hole in the log, so an unencodable commit poisons too.
			return 0, w.fail("encoding a WAL record", err)
		}
		// Records never span segments. A record larger than a segment
		// gets a segment of its own: rotate only if this segment already
		// holds something.
		if w.size+int64(len(buf)) > w.opts.SegmentSize && w.size+int64(start) > format.SegmentHeaderSize {
			if err := w.write(buf[:start]); err != nil {
				return 0, err
			}
			if err := w.rotate(); err != nil {
				return 0, err
			}
			buf = append(buf[:0], buf[start:]...)
			format.Reseal(buf, w.seal()) // it now belongs to the new segment
		}
		w.segMu.Lock()
		w.segLast[w.seg] = c.Version
		w.segMu.Unlock()
	}
	if err := w.write(buf); err != nil {
		return 0, err
	}
	if w.opts.Mode == Buffered && w.written-w.durable >= w.opts.FlushBytes {
		select {
		case w.flushReq <- struct{}{}:
		default:
		}
	}
	if cap(buf) <= 4<<20 {
		w.buf = buf[:0] // keep a modest buffer for the next batch
	} else {
		w.buf = nil
	}
	w.stats.Records.Add(uint64(len(batch)))
	w.stats.Batches.Add(1)
	for {
		m := w.stats.MaxBatch.Load()
		if uint64(len(batch)) <= m || w.stats.MaxBatch.CompareAndSwap(m, uint64(len(batch))) {
			break
		}
	}
	return w.written, nil
}

// seal is what the records written next into the current segment carry.
// The caller holds fileMu.
func (w *Writer) seal() format.RecordSeal {
	return format.RecordSeal{Tag: w.tag, Synced: uint64(w.synced)}
}

// preallocChunk is how far ahead of the writes a segment is preallocated:
// far enough that the file size rarely changes under an fdatasync, near
// enough that a small database does not reserve a whole segment per open.
const preallocChunk = 4 << 20

// write appends b to the current segment. The caller holds fileMu.
func (w *Writer) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if end := w.size + int64(len(b)); end > w.alloc {
		target := min(max(w.alloc+preallocChunk, end), max(w.opts.SegmentSize, end))
		if err := w.f.Preallocate(target); err != nil {
			return w.fail("preallocating "+w.segPath, err)
		}
		w.alloc = target
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	w.written += int64(n)
	w.curSize.Store(w.size)
	w.stats.Bytes.Add(uint64(n))
	if err != nil {
		return w.fail("writing "+w.segPath, err)
	}
	return nil
}

// syncTo makes the written offset target durable (the whole written log
// if target is negative). fdatasync is enough: it flushes the data and the
// file size needed to read it back; the modification time it skips is never
// relied on. The segment's directory entry was made durable when the
// segment was created. The fsync runs without fileMu, so the next batch is
// written meanwhile. A failed sync is never retried: the kernel may have
// dropped the dirty pages, so the database is poisoned instead. The caller
// holds neither mu nor fileMu.
func (w *Writer) syncTo(target int64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.fileMu.Lock()
	if err := w.poisoned(); err != nil {
		w.fileMu.Unlock()
		return err
	}
	if target < 0 {
		target = w.written
	}
	if w.durable >= target {
		w.fileMu.Unlock()
		return nil // a rotation or an earlier fsync covered it
	}
	f, seg, path := w.f, w.seg, w.segPath
	w.syncRefs++
	w.fileMu.Unlock()

	err := f.SyncData()

	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if w.syncRefs--; w.syncRefs == 0 {
		w.fileCond.Broadcast()
	}
	if err != nil {
		return w.fail("syncing "+path, err)
	}
	// Rotation waits for this fsync, so the segment is still current.
	if seg == w.seg {
		w.synced = max(w.synced, target-w.segBase)
	}
	w.durable = max(w.durable, target)
	w.stats.Fsyncs.Add(1)
	return nil
}

// waitSyncs waits until no fsync runs on the current file. The caller
// holds fileMu.
func (w *Writer) waitSyncs() {
	for w.syncRefs > 0 {
		w.fileCond.Wait()
	}
}

// rotate closes the current segment and starts the next. Protocol: cut the
// old segment's unused preallocated tail and fsync it; create the new one,
// write and fsync its header, fsync the directory, record it (MANIFEST);
// only then write into it. The old segment is never touched again. The
// caller holds fileMu.
func (w *Writer) rotate() error {
	if err := w.sealSegment(); err != nil {
		return err
	}
	old := w.f
	if err := w.newSegment(w.seg + 1); err != nil {
		return w.fail("creating WAL segment", err)
	}
	if err := old.Close(); err != nil && w.opts.Logger != nil {
		// The segment is synced; a failing close loses nothing.
		w.opts.Logger.Warn("closing a WAL segment failed", "err", err)
	}
	return nil
}

// Rotate closes the current segment, if it holds a record, and starts the
// next one, returning the newest version written into the closed segment
// (0 when nothing was rotated). A checkpoint calls it before it picks its
// watermark: once that snapshot is durable every record of the closed
// segment is covered and WAL-only compaction may delete it, where
// otherwise the active segment (up to SegmentSize bytes) would outlive
// every checkpoint.
//
// It follows the rotation protocol except that it does not call OnSegment:
// the checkpoint's own MANIFEST rewrite, which follows, names the new
// segment with the snapshot (see doc.go). Like a rotation for size it runs
// under the file lock, between two batches, after any running fsync. A
// failure that leaves the files as they were (the old segment's truncation,
// creating or writing the new one, which is then removed) is returned and
// appending goes on in the old segment; a failed fsync poisons the writer.
func (w *Writer) Rotate() (uint64, error) {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if err := w.poisoned(); err != nil {
		return 0, err
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return 0, dberr.New(dberr.Closed, "wal", "the WAL is closed")
	}
	if w.f == nil || w.size <= format.SegmentHeaderSize {
		return 0, nil // not started, or nothing to close
	}
	w.segMu.Lock()
	last := w.segLast[w.seg]
	w.segMu.Unlock()

	w.waitSyncs()
	if err := w.f.Truncate(w.size); err != nil {
		// The file may keep its preallocated tail: appending simply goes
		// on, and the next seal cuts it.
		return 0, dberr.Wrap(dberr.Internal, "wal", err, "truncating %s", w.segPath)
	}
	w.alloc = w.size // the next write preallocates again
	if err := w.f.Sync(); err != nil {
		return 0, w.fail("syncing "+w.segPath, err)
	}
	w.synced, w.durable = w.size, w.written
	w.stats.Fsyncs.Add(1)

	n := w.seg + 1
	path := filepath.Join(w.opts.Dir, SegmentName(n))
	f, err := w.opts.FS.Create(path)
	if err != nil {
		return 0, dberr.Wrap(dberr.Internal, "wal", err, "creating %s", path)
	}
	undo := func(err error) (uint64, error) {
		// Nothing names the half-written file and no record is in it:
		// remove it, so the next rotation can create it. Recovery treats
		// one a crash leaves (torn header, not the MANIFEST's active
		// segment) as a torn tail.
		f.Close()
		if rerr := w.opts.FS.Remove(path); rerr != nil {
			return 0, w.fail("removing "+path, rerr)
		}
		return 0, dberr.Wrap(dberr.Internal, "wal", err, "creating %s", path)
	}
	alloc := min(w.opts.SegmentSize, preallocChunk)
	if err := f.Preallocate(alloc); err != nil {
		return undo(err)
	}
	hdr := format.AppendSegmentHeader(nil, format.SegmentHeader{Number: n, UUID: w.opts.UUID})
	if _, err := f.Write(hdr); err != nil {
		return undo(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, w.fail("syncing "+path, err)
	}
	if err := w.opts.FS.SyncDir(w.opts.Dir); err != nil {
		f.Close()
		return 0, w.fail("syncing "+w.opts.Dir, err)
	}
	old := w.f
	w.install(f, n, path, int64(len(hdr)), alloc)
	if err := old.Close(); err != nil && w.opts.Logger != nil {
		w.opts.Logger.Warn("closing a WAL segment failed", "err", err)
	}
	return last, nil
}

// sealSegment cuts the current segment to the bytes written (dropping the
// unused preallocated zeros) and fsyncs it, data and size: a closed segment
// ends with its last record. The caller holds fileMu.
func (w *Writer) sealSegment() error {
	w.waitSyncs()
	if err := w.f.Truncate(w.size); err != nil {
		return w.fail("truncating "+w.segPath, err)
	}
	if err := w.f.Sync(); err != nil {
		return w.fail("syncing "+w.segPath, err)
	}
	w.synced, w.durable = w.size, w.written
	w.stats.Fsyncs.Add(1)
	return nil
}

// newSegment creates segment n and makes it current. The file is
// preallocated ahead of the writes (see preallocChunk), so appends rarely
// change its size and most fdatasyncs have no size to record; sealSegment
// cuts the unused rest.
func (w *Writer) newSegment(n uint64) error {
	path := filepath.Join(w.opts.Dir, SegmentName(n))
	f, err := w.opts.FS.Create(path)
	if err != nil {
		return err
	}
	alloc := min(w.opts.SegmentSize, preallocChunk)
	if err := f.Preallocate(alloc); err != nil {
		f.Close()
		return err
	}
	hdr := format.AppendSegmentHeader(nil, format.SegmentHeader{Number: n, UUID: w.opts.UUID})
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := w.opts.FS.SyncDir(w.opts.Dir); err != nil {
		f.Close()
		return err
	}
	if w.opts.OnSegment != nil {
		if err := w.opts.OnSegment(n); err != nil {
			f.Close()
			return err
		}
	}
	w.install(f, n, path, int64(len(hdr)), alloc)
	return nil
}

// install makes the new segment n, whose header (hdr bytes) is durable,
// current. The caller holds fileMu.
func (w *Writer) install(f vfs.File, n uint64, path string, hdr, alloc int64) {
	w.f, w.seg, w.segPath, w.size, w.alloc = f, n, path, hdr, alloc
	w.segBase = w.written - w.size
	// The header was synced above: records start in an unsynced region.
	w.synced, w.tag = w.size, format.SegmentTag(w.opts.UUID, n)
	w.curSeg.Store(n)
	w.curSize.Store(w.size)
	w.segMu.Lock()
	w.segLast[n] = 0
	w.segMu.Unlock()
	w.stats.Segments.Add(1)
}

// flusher is Buffered mode's background fsync: every FlushInterval, when
// FlushBytes are pending, and once more on Close.
func (w *Writer) flusher() {
	defer close(w.flushDone)
	t := time.NewTicker(w.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stopFlush:
			return
		case <-t.C:
		case <-w.flushReq:
		}
		w.Sync()
	}
}

// Sync makes every record written so far durable (Buffered mode's Flush;
// in Strict mode it only covers a batch whose own fsync has not run yet).
func (w *Writer) Sync() error { return w.syncTo(-1) }

// Close syncs what was written (unless poisoned: a failed sync is never
// retried) and closes the segment. The caller guarantees no commit is in
// flight.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	if w.stopFlush != nil {
		close(w.stopFlush)
		<-w.flushDone
	}
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if w.f == nil {
		return nil // never started
	}
	w.waitSyncs() // a Sync still running
	var err error
	if w.poisoned() == nil {
		err = w.sealSegment()
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// SegmentLast returns the newest commit version written into each segment
// this writer appended to.
func (w *Writer) SegmentLast() map[uint64]uint64 {
	w.segMu.Lock()
	defer w.segMu.Unlock()
	out := make(map[uint64]uint64, len(w.segLast))
	for k, v := range w.segLast {
		out[k] = v
	}
	return out
}

// Err returns the poisoning error, if any.
func (w *Writer) Err() error { return w.poisoned() }
