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
// they join a queue) and then wait outside it. The first waiter that finds
// no write in progress becomes the leader: it takes the whole queue, writes
// it with one write call, fsyncs once (Strict), completes the batch's
// ticket and wakes its members, which publish their commits themselves.
// Commits that arrive while a leader writes form the next batch, whose
// first waiter leads once the current leader is done. A lone committer
// leads its own batch, so it pays no hand-off to another goroutine;
// concurrent committers share fsyncs. Nothing is acknowledged before the
// fsync that covers it.
type Writer struct {
	opts Options

	mu      sync.Mutex
	cond    sync.Cond // signalled when a batch completes
	queue   []*core.Commit
	spare   []*core.Commit
	qgroup  *group // the group the queued commits belong to
	leading bool
	err     *dberr.Error // sticky: set by the first failure
	closed  bool
	started bool // Start created the first segment

	// fileMu serializes file I/O: the leader's writes and rotations, and
	// the flusher's syncs.
	fileMu  sync.Mutex
	f       vfs.File
	seg     uint64
	segPath string
	size    int64 // bytes in the current segment, header included
	// curSeg and curSize mirror seg and size for readers that must not wait
	// for a write or fsync in progress (statistics, compaction).
	curSeg   atomic.Uint64
	curSize  atomic.Int64
	alloc    int64 // bytes of the current segment preallocated
	unsynced int64 // bytes written since the last sync
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

// group is one batch of commits that one leader writes; it is the ticket
// every member waits on.
type group struct {
	w    *Writer
	done bool // under w.mu
	err  error
	n    int
}

// Wait blocks until the group's batch is acknowledged, leading the write if
// no other committer is.
func (g *group) Wait() error {
	w := g.w
	w.mu.Lock()
	for !g.done {
		if !w.leading {
			w.lead()
			continue
		}
		w.cond.Wait()
	}
	err := g.err
	w.mu.Unlock()
	return err
}

type failed struct{ err error }

func (f failed) Wait() error { return f.err }

// New returns a writer that does no I/O until Start. The database hands
// it to the engine at construction, before recovery has replayed the log
// and so before the number of the first segment to write is known.
func New(opts Options) *Writer {
	w := &Writer{opts: opts, segLast: map[uint64]uint64{}}
	w.cond.L = &w.mu
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
	}
	w.qgroup.n++
	return w.qgroup
}

// lead writes the queued batch. The caller holds w.mu; lead releases it for
// the I/O and holds it again on return.
func (w *Writer) lead() {
	w.leading = true
	batch, g := w.queue, w.qgroup
	w.queue, w.qgroup = w.spare[:0], nil
	w.mu.Unlock()

	err := w.writeBatch(batch)

	w.mu.Lock()
	clear(batch)
	w.spare = batch[:0]
	g.done, g.err = true, err
	w.leading = false
	w.cond.Broadcast()
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
// and makes them as durable as the mode requires. Batches complete one
// after another, in version order, which is what the engine's publication
// relies on (core.Ticket).
func (w *Writer) writeBatch(batch []*core.Commit) error {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if err := w.poisoned(); err != nil {
		return err
	}
	buf := w.buf[:0]
	for _, c := range batch {
		start := len(buf)
		var err error
		buf, w.scratch, err = format.AppendSealedRecord(buf, c, w.opts.Codec, w.scratch, w.seal())
		if err != nil {
			// The version is assigned: skipping its record would leave a
			// hole in the log, so an unencodable commit poisons too.
			return w.fail("encoding a WAL record", err)
		}
		// Records never span segments. A record larger than a segment
		// gets a segment of its own: rotate only if this segment already
		// holds something.
		if w.size+int64(len(buf)) > w.opts.SegmentSize && w.size+int64(start) > format.SegmentHeaderSize {
			if err := w.write(buf[:start]); err != nil {
				return err
			}
			if err := w.rotate(); err != nil {
				return err
			}
			buf = append(buf[:0], buf[start:]...)
			format.Reseal(buf, w.seal()) // it now belongs to the new segment
		}
		w.segMu.Lock()
		w.segLast[w.seg] = c.Version
		w.segMu.Unlock()
	}
	if err := w.write(buf); err != nil {
		return err
	}
	if w.opts.Mode == Strict {
		if err := w.syncLocked(); err != nil {
			return err
		}
	} else if w.unsynced >= w.opts.FlushBytes {
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
	if w.onAck != nil {
		w.onAck(batch[len(batch)-1].Version)
	}
	return nil
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
	w.curSize.Store(w.size)
	w.unsynced += int64(n)
	w.stats.Bytes.Add(uint64(n))
	if err != nil {
		return w.fail("writing "+w.segPath, err)
	}
	return nil
}

// syncLocked makes the current segment's written bytes durable. fdatasync is
// enough: it flushes the data and the file size needed to read it back;
// the modification time it skips is never relied on. The segment's
// directory entry was made durable when the segment was created. A failed
// sync is never retried: the kernel may have dropped the dirty pages, so
// the database is poisoned instead. The caller holds fileMu.
func (w *Writer) syncLocked() error {
	if w.unsynced == 0 {
		return nil
	}
	if err := w.f.SyncData(); err != nil {
		return w.fail("syncing "+w.segPath, err)
	}
	w.unsynced, w.synced = 0, w.size
	w.stats.Fsyncs.Add(1)
	return nil
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

// sealSegment cuts the current segment to the bytes written (dropping the
// unused preallocated zeros) and fsyncs it, data and size: a closed segment
// ends with its last record. The caller holds fileMu.
func (w *Writer) sealSegment() error {
	if err := w.f.Truncate(w.size); err != nil {
		return w.fail("truncating "+w.segPath, err)
	}
	if err := w.f.Sync(); err != nil {
		return w.fail("syncing "+w.segPath, err)
	}
	w.unsynced, w.synced = 0, w.size
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
	w.f, w.seg, w.segPath, w.size, w.alloc, w.unsynced = f, n, path, int64(len(hdr)), alloc, 0
	// The header was synced above: records start in an unsynced region.
	w.synced, w.tag = w.size, format.SegmentTag(w.opts.UUID, n)
	w.curSeg.Store(n)
	w.curSize.Store(w.size)
	w.segMu.Lock()
	w.segLast[n] = 0
	w.segMu.Unlock()
	w.stats.Segments.Add(1)
	return nil
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
// a no-op in Strict mode, where written records are synced already).
func (w *Writer) Sync() error {
	w.fileMu.Lock()
	defer w.fileMu.Unlock()
	if err := w.poisoned(); err != nil {
		return err
	}
	return w.syncLocked()
}

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
