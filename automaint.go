package inmem

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/wal"
)

// Automatic maintenance: one goroutine per writable database that
// checkpoints when the WAL grows and applies retention on an interval, so
// that nobody has to call Checkpoint or Compact by hand in production.
//
// It takes the same locks as a manual Compact (compMu with TryLock, then
// snapMu), so it never overlaps one: when a manual compaction runs, the
// background task is skipped and tried again at its next tick, and a
// manual Compact that finds the background one running gets
// ErrCompactionRunning, as with any concurrent compaction.
//
// Its failures never poison the database. A manual Checkpoint or Compact
// poisons it when a failed fsync or rename leaves the files in an unknown
// state; the background task instead settles that state itself: it
// publishes the in-memory MANIFEST again (which names only files that
// exist, since nothing is deleted before the MANIFEST naming its successor
// is durable). Once that is durable, what is on disk is known again and
// commits, which only append to the WAL, were never at risk. If even that
// fails, automatic maintenance halts until the database is reopened, and
// commits still go on.

// AutoMaintenance configures the background maintenance of a database. The
// zero value turns it on with the defaults. See docs/DURABILITY.md.
type AutoMaintenance struct {
	// Disabled turns all automatic maintenance off: only explicit
	// Checkpoint and Compact calls then write snapshots or reclaim space.
	Disabled bool
	// CheckpointWALBytes: once the WAL written since the newest snapshot
	// passes this many bytes, a background Checkpoint followed by
	// Compact(WALOnly) runs. It bounds recovery time and the WAL on disk
	// (default 64 MiB, minimum 1 KiB; negative turns this trigger off).
	CheckpointWALBytes int64
	// FullInterval is how often a background Compact(Full) runs while any
	// retention policy other than KeepAll is set (default 1h, minimum 1s;
	// negative turns this trigger off).
	FullInterval time.Duration
	// CheckInterval is how often the WAL size is compared with
	// CheckpointWALBytes (default 1s, minimum 1ms).
	CheckInterval time.Duration
}

const (
	defaultCheckpointWALBytes = 64 << 20
	minCheckpointWALBytes     = 1 << 10
	defaultFullInterval       = time.Hour
	minFullInterval           = time.Second
	defaultCheckInterval      = time.Second
	minCheckInterval          = time.Millisecond
)

func (m *AutoMaintenance) fill() {
	if m.CheckpointWALBytes == 0 {
		m.CheckpointWALBytes = defaultCheckpointWALBytes
	}
	if m.FullInterval == 0 {
		m.FullInterval = defaultFullInterval
	}
	if m.CheckInterval == 0 {
		m.CheckInterval = defaultCheckInterval
	}
}

func (m *AutoMaintenance) validate() error {
	bad := func(format string, args ...any) error {
		return errorf(CodeInvalidArgument, "Options.Validate", format, args...)
	}
	switch {
	case m.CheckpointWALBytes > 0 && m.CheckpointWALBytes < minCheckpointWALBytes:
		return bad("Maintenance.CheckpointWALBytes %d is below the minimum %d", m.CheckpointWALBytes, minCheckpointWALBytes)
	case m.FullInterval > 0 && m.FullInterval < minFullInterval:
		return bad("Maintenance.FullInterval %v is below the minimum %v", m.FullInterval, minFullInterval)
	case m.CheckInterval < 0:
		return bad("Maintenance.CheckInterval %v is negative", m.CheckInterval)
	case m.CheckInterval > 0 && m.CheckInterval < minCheckInterval:
		return bad("Maintenance.CheckInterval %v is below the minimum %v", m.CheckInterval, minCheckInterval)
	}
	return nil
}

// MaintenanceStats describes automatic maintenance (Stats().Maintenance).
type MaintenanceStats struct {
	// Enabled reports whether background maintenance runs for this
	// database (never for a read-only one; see docs/DURABILITY.md).
	Enabled bool
	// Halted reports that maintenance stopped after a failure it could
	// not settle (or because the database is poisoned); it stays off until
	// the database is reopened. Commits are unaffected.
	Halted bool
	// WALSinceSnapshot estimates the WAL bytes written since the newest
	// snapshot, compared with CheckpointWALBytes.
	WALSinceSnapshot   int64
	CheckpointWALBytes int64         // the trigger (<= 0: off)
	FullInterval       time.Duration // the interval (<= 0: off)
	// Checkpoint is the WAL-size-triggered checkpoint and WAL-only
	// compaction; Full the interval Full compaction.
	Checkpoint MaintenanceTaskStats
	Full       MaintenanceTaskStats
	// LastError is the newest failure of either task ("" if none) and
	// LastErrorAt when it happened (by Options.Clock).
	LastError   string
	LastErrorAt time.Time
}

// MaintenanceTaskStats counts the runs of one background task.
type MaintenanceTaskStats struct {
	Runs     uint64 // runs that succeeded
	Failures uint64 // runs that failed
	// Skipped counts runs that were due while another compaction ran;
	// the task runs at its next tick instead.
	Skipped      uint64
	LastRun      time.Time     // start of the newest run (Options.Clock)
	LastDuration time.Duration // of the newest run
	// TotalDuration sums every run's duration.
	TotalDuration       time.Duration
	LastVersionsRemoved uint64
	VersionsRemoved     uint64 // over all runs
	LastBytesReclaimed  int64
	BytesReclaimed      int64 // over all runs
	SegmentsRemoved     uint64
	LastError           string // of the newest run ("" if it succeeded)
}

// maintHooks lets this package's tests drive maintenance without timing:
// ticks come from their channels, and every handled tick is reported.
type maintHooks struct {
	check chan time.Time // replaces the CheckInterval ticker
	full  chan time.Time // replaces the FullInterval ticker
	done  chan maintEvent
	// stopping, if set, is closed once Close has cancelled maintenance.
	stopping chan struct{}
}

// maintEvent reports one handled tick to a test.
type maintEvent struct {
	task string // "checkpoint" or "full"
	ran  bool   // false: not due, skipped or halted
	err  error
}

type maintTask uint8

const (
	taskCheckpoint maintTask = iota
	taskFull
)

func (t maintTask) String() string {
	if t == taskFull {
		return "full"
	}
	return "checkpoint"
}

// maintainer is the maintenance goroutine of one database.
type maintainer struct {
	db     *DB
	cfg    AutoMaintenance
	hooks  *maintHooks
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}

	// walCheck: the database has a WAL to watch.
	walCheck bool

	mu    sync.Mutex
	stats MaintenanceStats
	// WAL accounting: bytes the writer had written when the newest
	// snapshot we know of (at watermark lastWM) was taken, plus the bytes
	// recovery replayed above the snapshot at Open.
	base      uint64
	recovered int64
	lastWM    uint64
	halted    bool
}

// startMaintenance starts the maintenance goroutine if this database has
// anything to maintain. Read-only databases never write; a database
// without a directory, or in InMemory mode, has no WAL, so only its
// interval retention runs (in memory: it writes no file).
func (db *DB) startMaintenance() {
	cfg := db.opts.Maintenance
	if cfg.Disabled || db.opts.ReadOnly {
		return
	}
	m := &maintainer{db: db, cfg: cfg, hooks: db.opts.maintHooks, done: make(chan struct{})}
	m.walCheck = cfg.CheckpointWALBytes > 0 && db.store != nil && db.store.wal != nil
	full := cfg.FullInterval > 0
	if !m.walCheck && !full {
		return
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.stats = MaintenanceStats{Enabled: true, CheckpointWALBytes: cfg.CheckpointWALBytes, FullInterval: cfg.FullInterval}
	if m.walCheck {
		m.initWAL()
	}
	var checkC, fullC <-chan time.Time
	var tickers []*time.Ticker
	switch {
	case m.hooks != nil:
		checkC, fullC = m.hooks.check, m.hooks.full
	default:
		if m.walCheck {
			t := time.NewTicker(cfg.CheckInterval)
			checkC, tickers = t.C, append(tickers, t)
		}
		if full {
			t := time.NewTicker(cfg.FullInterval)
			fullC, tickers = t.C, append(tickers, t)
		}
	}
	if !m.walCheck {
		checkC = nil
	}
	if !full {
		fullC = nil
	}
	db.maint = m
	go m.loop(checkC, fullC, tickers)
}

// initWAL counts the WAL that recovery replayed above the snapshot: the
// closed segments holding a record newer than its watermark (the writer
// appends to a fresh segment).
func (m *maintainer) initWAL() {
	s := m.db.store
	man := s.man.Get()
	m.lastWM = man.SnapshotWatermark
	m.base = s.wal.Stats().Bytes.Load()
	l, err := wal.List(s.fs, s.walDir())
	if err != nil {
		return
	}
	active := s.wal.Segment()
	for _, seg := range l.Segments {
		if seg.Number == active {
			continue
		}
		if last, ok := s.segLast[seg.Number]; ok && man.HasSnapshot && last <= man.SnapshotWatermark {
			continue
		}
		if st, err := s.fs.Stat(seg.Path); err == nil {
			m.recovered += st.Size()
		}
	}
}

// stopMaintenance cancels a running task and waits for the goroutine to
// end. Close calls it before taking db.life, which a task holds for
// reading. A task stops at its next cancellation point (between snapshot
// sections, WAL segments); it does not wait for the rest of its work.
func (db *DB) stopMaintenance() {
	m := db.maint
	if m == nil {
		return
	}
	m.once.Do(func() {
		m.cancel()
		if m.hooks != nil && m.hooks.stopping != nil {
			close(m.hooks.stopping)
		}
	})
	<-m.done
}

func (m *maintainer) loop(checkC, fullC <-chan time.Time, tickers []*time.Ticker) {
	defer close(m.done)
	defer func() {
		for _, t := range tickers {
			t.Stop()
		}
	}()
	for {
		var ev maintEvent
		select {
		case <-m.ctx.Done():
			return
		case <-checkC:
			ev = maintEvent{task: taskCheckpoint.String()}
			if m.walSince() >= m.cfg.CheckpointWALBytes {
				ev = m.run(taskCheckpoint)
			}
		case <-fullC:
			ev = maintEvent{task: taskFull.String()}
			if m.retentionSet() {
				ev = m.run(taskFull)
			}
		}
		if m.hooks != nil && m.hooks.done != nil {
			select {
			case m.hooks.done <- ev:
			case <-m.ctx.Done():
				return
			}
		}
	}
}

// walSince estimates the WAL bytes written since the newest snapshot. A
// snapshot taken by someone else (a manual Checkpoint or Compact) is
// noticed by its watermark and counted from the moment it is seen.
func (m *maintainer) walSince() int64 {
	s := m.db.store
	written := s.wal.Stats().Bytes.Load()
	wm := s.man.Get().SnapshotWatermark
	m.mu.Lock()
	defer m.mu.Unlock()
	if wm != m.lastWM {
		m.lastWM, m.base, m.recovered = wm, written, 0
	}
	n := m.recovered + int64(written-m.base)
	m.stats.WALSinceSnapshot = n
	return n
}

// retentionSet reports whether any policy other than KeepAll is set.
func (m *maintainer) retentionSet() bool {
	db := m.db
	db.life.RLock()
	defer db.life.RUnlock()
	if db.closed.Load() {
		return false
	}
	_, any := db.retentionRules(db.eng.Visible())
	return any
}

// run runs one task and records its outcome.
func (m *maintainer) run(t maintTask) maintEvent {
	ev := maintEvent{task: t.String()}
	db := m.db
	db.life.RLock()
	defer db.life.RUnlock()
	m.mu.Lock()
	halted := m.halted
	m.mu.Unlock()
	if halted || db.closed.Load() || m.ctx.Err() != nil {
		return ev
	}
	if err := db.eng.Poisoned(); err != nil {
		m.halt(t, err)
		return ev
	}
	startAt := db.opts.Clock.Now()
	start := time.Now()
	var written uint64
	if m.walCheck {
		written = db.store.wal.Stats().Bytes.Load()
	}
	info, ran, err := m.do(t)
	d := time.Since(start)
	if !ran {
		m.mu.Lock()
		m.task(t).Skipped++
		m.mu.Unlock()
		db.opts.Logger.Debug("maintenance skipped: another compaction is running", "task", t.String())
		return ev
	}
	ev.ran, ev.err = true, err
	if err != nil && m.ctx.Err() != nil {
		// Close cancelled it: not a failure, and nothing was published.
		db.opts.Logger.Info("maintenance cancelled by Close", "task", t.String())
		return ev
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.task(t)
	ts.LastRun, ts.LastDuration = startAt, d
	ts.TotalDuration += d
	if err != nil {
		ts.Failures++
		ts.LastError = err.Error()
		m.stats.LastError, m.stats.LastErrorAt = err.Error(), startAt
		db.opts.Logger.Error("maintenance failed", "task", t.String(), "duration", d, "err", err)
		return ev
	}
	ts.Runs++
	ts.LastError = ""
	ts.LastVersionsRemoved, ts.LastBytesReclaimed = info.VersionsRemoved, info.ReclaimedBytes
	ts.VersionsRemoved += info.VersionsRemoved
	ts.BytesReclaimed += info.ReclaimedBytes
	ts.SegmentsRemoved += uint64(info.SegmentsRemoved)
	if m.walCheck {
		// The snapshot holds everything written before the task began.
		m.lastWM, m.base, m.recovered = db.store.man.Get().SnapshotWatermark, written, 0
	}
	db.opts.Logger.Info("maintenance", "task", t.String(), "duration", d, "versions_removed", info.VersionsRemoved,
		"bytes_reclaimed", info.ReclaimedBytes, "segments_removed", info.SegmentsRemoved, "watermark", info.SnapshotWatermark)
	return ev
}

func (m *maintainer) task(t maintTask) *MaintenanceTaskStats {
	if t == taskFull {
		return &m.stats.Full
	}
	return &m.stats.Checkpoint
}

// halt stops maintenance until the database is reopened.
func (m *maintainer) halt(t maintTask, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.halted {
		return
	}
	m.halted, m.stats.Halted = true, true
	m.stats.LastError, m.stats.LastErrorAt = err.Error(), m.db.opts.Clock.Now()
	m.task(t).LastError = err.Error()
	m.db.opts.Logger.Error("automatic maintenance halted until the database is reopened", "task", t.String(), "err", err)
}

// do runs task t under the compaction locks. ran is false when another
// compaction held them. The caller holds db.life for reading.
func (m *maintainer) do(t maintTask) (info CompactInfo, ran bool, err error) {
	db := m.db
	ctx := m.ctx
	if db.store == nil {
		info, err = db.compactMemory(ctx)
		if errors.Is(err, ErrCompactionRunning) {
			return info, false, nil
		}
		return info, true, err
	}
	s := db.store
	if !s.compMu.TryLock() {
		return CompactInfo{}, false, nil
	}
	defer s.compMu.Unlock()
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if s.wal == nil {
		// InMemory with a directory: nothing is written but explicit
		// checkpoints, so the background task only trims memory.
		info, err = db.trimNow(ctx)
		return info, true, err
	}
	u := s.maintenanceFS()
	switch t {
	case taskFull:
		info, err = s.compactFull(ctx, u)
	default:
		var cp CheckpointInfo
		cp, err = s.checkpoint(ctx, u, nil)
		if err == nil {
			info, err = s.compactWAL(ctx, u, WALOnly)
			info.SnapshotWatermark = cp.Watermark
		}
	}
	if err != nil && u.Failed() {
		err = m.settle(t, err)
	}
	return info, true, err
}

// settle makes the durable state known again after a failed fsync or
// rename, instead of poisoning the database: it publishes the in-memory
// MANIFEST, which changes only once a MANIFEST is durable and so names the
// snapshot and segments that exist. The caller holds snapMu.
func (m *maintainer) settle(t maintTask, cause error) error {
	s := m.db.store
	u := s.maintenanceFS()
	if err := s.man.Update(u, func(*format.Manifest) {}); err != nil {
		werr := dberr.Wrap(dberr.Internal, "maintenance", cause, "publishing the MANIFEST again also failed (%v)", err)
		m.halt(t, werr)
		return werr
	}
	return cause
}

// maintenanceStats returns the maintenance part of Stats.
func (db *DB) maintenanceStats() MaintenanceStats {
	m := db.maint
	if m == nil {
		return MaintenanceStats{}
	}
	if m.walCheck && !db.closed.Load() {
		m.walSince()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}
