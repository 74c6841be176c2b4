package inmem

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"time"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/keyref"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/wal"
)

// Change is one commit of the change feed (see DB.Watch).
type Change struct {
	Version Version   // the commit version
	Time    Timestamp // the commit timestamp
	Run     RunID     // the run the committing transaction was bound to
	// Mutations are the commit's writes that pass the filter, in the order
	// the commit holds them.
	Mutations []Mutation
}

// Mutation is one write of a commit.
type Mutation struct {
	Op Op
	// Ref is the entity the write belongs to, decoded from the stored key:
	// the entity itself, or the one an index record points at. It is nil for
	// records that belong to no single entity (log heads, counters).
	Ref *EntityRef
	// Kind says what the stored key holds: the primitive's name for the
	// entity itself, or the kind of record kept beside it.
	Kind      string
	Run       RunID
	Primitive PrimitiveType
	// Key is the stored key, as the engine holds it.
	Key string
	// Value is the stored value (Null for a delete).
	Value Value
}

// Op is what a Mutation does.
//
// It is an alias of the WAL's mutation op, so go doc does not list its
// methods by itself; they are:
//
//	func (o Op) String() string // "put", "delete" or "append"
//	func (o Op) Valid() bool
type Op = core.Op

// Mutation ops.
const (
	OpPut    = core.OpPut
	OpDelete = core.OpDelete
	OpAppend = core.OpAppend
)

// WatchFilter selects the mutations a Watch yields; the zero filter passes
// everything. A commit none of whose mutations pass is not yielded.
type WatchFilter struct {
	// Run, if set, keeps the mutations of that run.
	Run *RunID
	// Primitive, if set (non-zero), keeps the mutations of that primitive.
	Primitive PrimitiveType
	// KeyPrefix, if set, keeps the mutations whose entity key (Ref.Key, or
	// the stored key where Ref is nil) starts with it.
	KeyPrefix string
}

func (f WatchFilter) pass(m *Mutation) bool {
	if f.Run != nil && m.Run != *f.Run {
		return false
	}
	if f.Primitive != 0 && m.Primitive != f.Primitive {
		return false
	}
	if f.KeyPrefix != "" {
		k := m.Key
		if m.Ref != nil {
			k = m.Ref.Key
		}
		return strings.HasPrefix(k, f.KeyPrefix)
	}
	return true
}

// watchPoll is how often Watch on a read-only database looks for a
// writer's new records: another process gives no signal.
const watchPoll = 200 * time.Millisecond

// watchHub ends the watches of a database when it closes.
type watchHub struct {
	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func (h *watchHub) doneCh() (chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	return h.done, !h.closed
}

func (h *watchHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// errWatchStop ends a poll when the consumer stops the iteration.
var errWatchStop = errors.New("watch stopped")

// Watch is the change feed: it yields every commit after version from (a
// Txn version; Txn(0) is from the first commit), in version order, with its
// mutations — filtered by filter — and a decoded entity reference for each.
// A consumer resumes after a break or error by watching from the version of
// the last Change it handled.
//
// It reads the commits from the write-ahead log, so it can start from any
// version the WAL still holds; one older than the WAL reaches (its segments
// were compacted into a snapshot) is HistoryTrimmed. After catching up it
// follows new commits as they are published: in Strict mode once they are
// durable, in Buffered mode once written to the log file. A watcher reads
// the log files and holds no buffer the writers fill, so a slow consumer
// never delays a commit; one that falls so far behind that compaction
// deletes segments it has not read yet gets HistoryTrimmed, and can resume
// from a newer version (or read the current state and watch from there).
// It learns of the gap as soon as it reads past it, without waiting for a
// new commit: the MANIFEST's snapshot watermark bounds what compaction may
// have deleted, so a watcher that has read all the log holds and is still
// below it was trimmed, even when a checkpoint left the log with no record
// at all. A watcher that has read everything is never trimmed.
//
// On a read-only database Watch follows a writer in another process,
// looking for new records every 200ms. An InMemory database has no log:
// Watch yields an InvalidArgument error. The sequence ends with an error
// when ctx ends (Canceled or DeadlineExceeded) or the database closes
// (Closed).
func (db *DB) Watch(ctx context.Context, from Version, filter WatchFilter) iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		const op = "Watch"
		fail := func(err error) { yield(Change{}, err) }
		if err := db.checkOpen(op); err != nil {
			fail(err)
			return
		}
		if from.Kind != core.TxnVersion {
			fail(errorf(CodeInvalidArgument, op, "from must be a Txn version, got %s", from))
			return
		}
		s := db.store
		if s == nil || (s.wal == nil && s.follow == nil) {
			fail(errorf(CodeInvalidArgument, op, "the database has no write-ahead log to follow (InMemory durability)"))
			return
		}
		readOnly := s.follow != nil
		if !readOnly && from.N > db.eng.Visible() {
			fail(errorf(CodeInvalidArgument, op, "version %d is newer than the newest published commit %d", from.N, db.eng.Visible()))
			return
		}
		closed, open := db.watch.doneCh()
		if !open {
			fail(&Error{Code: dberr.Closed, Op: op, Msg: "database is closed", Offset: -1})
			return
		}
		// wctx ends with ctx or when the database closes.
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-closed:
				cancel()
			case <-wctx.Done():
			}
		}()
		done := wctx.Done()
		ended := func() error {
			if err := ctx.Err(); err != nil {
				return ctxError(op, err)
			}
			return &Error{Code: dberr.Closed, Op: op, Msg: "database is closed", Offset: -1}
		}

		f := wal.NewFollower(wal.FollowOptions{FS: s.fs, Dir: s.walDir(), UUID: s.man.Get().UUID, Codec: db.opts.Codec,
			Last: from.N, Exact: true, Floor: s.followFloor(readOnly)})
		next := from.N + 1
		deliver := func(c *core.Commit) error {
			if c.Version != next {
				// The follower checks continuity (Exact): this is a defence
				// against delivering a skipped version, not a path.
				return dberr.NewHistoryTrimmed(op, EntityRef{Primitive: core.Run}, core.Txn(next), core.Txn(c.Version))
			}
			if !readOnly && c.Version > db.eng.Visible() {
				// Written but not yet published (its fsync is under way).
				db.eng.WaitVisible(c.Version, done)
				if c.Version > db.eng.Visible() {
					if err := db.eng.Poisoned(); err != nil {
						return err
					}
					return ended()
				}
			}
			next = c.Version + 1
			ch := Change{Version: core.Txn(c.Version), Time: Timestamp(c.Time), Run: c.Run}
			for i := range c.Mutations {
				m := &c.Mutations[i]
				e := keyref.Describe(m.Run, m.Space, m.Key)
				mu := Mutation{Op: m.Op, Ref: e.Ref, Kind: e.Kind, Run: m.Run, Primitive: m.Space, Key: m.Key, Value: Value(m.Value)}
				if filter.pass(&mu) {
					ch.Mutations = append(ch.Mutations, mu)
				}
			}
			if len(ch.Mutations) == 0 {
				return nil
			}
			if !yield(ch, nil) {
				return errWatchStop
			}
			return nil
		}
		var tick *time.Ticker
		if readOnly {
			tick = time.NewTicker(watchPoll)
			defer tick.Stop()
		}
		for {
			if _, err := f.Poll(wctx, deliver); err != nil {
				if err == errWatchStop {
					return
				}
				if wctx.Err() != nil {
					err = ended()
				}
				fail(err)
				return
			}
			if readOnly {
				select {
				case <-done:
					fail(ended())
					return
				case <-tick.C:
				}
				continue
			}
			// Caught up with the log: wait for the next publication.
			db.eng.WaitVisible(next, done)
			select {
			case <-done:
				fail(ended())
				return
			default:
			}
		}
	}
}

// followFloor returns a WAL follower's floor (wal.FollowOptions.Floor): the
// MANIFEST's snapshot watermark, the newest version compaction may have
// deleted from the log. A writable database reads its own copy, which
// changes before its compaction deletes a segment; a read-only one reads
// the file, which the writer in another process replaces (atomically)
// before it deletes.
func (s *storage) followFloor(readOnly bool) func() (uint64, error) {
	if !readOnly {
		return func() (uint64, error) { return s.man.Get().SnapshotWatermark, nil }
	}
	return func() (uint64, error) {
		m, err := manifest.Read(s.fs, s.dir)
		if err != nil {
			return 0, err
		}
		return m.SnapshotWatermark, nil
	}
}
