package inmem

import (
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/internal/store"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// storage is the persistent half of a database with a directory: the lock,
// the MANIFEST and the WAL writer (nil in InMemory mode).
type storage struct {
	db   *DB
	fs   vfs.FS
	dir  string
	lock io.Closer

	man *store.Manifest

	wal *wal.Writer

	// snapMu serializes snapshot writers (Checkpoint, Export, Compact);
	// compMu makes a second concurrent Compact fail instead of queueing.
	snapMu sync.Mutex
	compMu sync.Mutex
	// segLast maps segments that recovery read to their newest record
	// version (segments the writer appended to are tracked by it).
	segLast map[uint64]uint64

	// follow reads a live writer's new records for Refresh (read-only
	// databases only); followMu serializes refreshes.
	followMu sync.Mutex
	follow   *wal.Follower
}

func (s *storage) walDir() string  { return store.WALDir(s.dir) }
func (s *storage) snapDir() string { return store.SnapDir(s.dir) }

// openStorage opens or creates the directory of db and recovers it into
// db.eng: take the lock, remove stale temporary files, read and verify the
// MANIFEST, replay the WAL with the versions stored in it, and only then
// start appending, to a fresh segment. A read-only open takes none of
// these steps that write (see openReadOnly).
func openStorage(db *DB) (st *storage, err error) {
	if db.opts.ReadOnly {
		return openReadOnly(db)
	}
	s := &storage{db: db, fs: db.opts.FS, dir: db.dir}
	if err := store.CheckDirectory(s.fs, s.dir); err != nil {
		return nil, err
	}
	lock, err := store.Lock(s.fs, s.dir, "Open")
	if err != nil {
		return nil, err
	}
	s.lock = lock
	defer func() {
		if err != nil {
			if s.wal != nil {
				s.wal.Close()
			}
			lock.Close()
		}
	}()
	if err := store.RemoveTemp(s.fs, s.dir, db.opts.Logger); err != nil {
		return nil, err
	}
	m, err := manifest.Read(s.fs, s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		m, err = s.initialize()
	}
	if err != nil {
		return nil, err
	}
	if m.CodecID != db.opts.Codec.ID() {
		return nil, dberr.New(dberr.CodecMismatch, "Open", "%s was written with codec %q, opened with codec %q", s.dir, m.CodecID, db.opts.Codec.ID())
	}
	s.man = store.NewManifest(s.dir, m)
	// The engine gets its log at construction, so the writer exists
	// before recovery but writes nothing until recover starts it.
	var log core.Log
	if db.opts.Durability != InMemory {
		s.wal = wal.New(s.walOptions())
		log = s.wal
	}
	db.newEngine(log)
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *storage) walOptions() wal.Options {
	db := s.db
	mode := wal.Strict
	if db.opts.Durability == Buffered {
		mode = wal.Buffered
	}
	return wal.Options{
		FS: s.fs, Dir: s.walDir(), UUID: s.man.Get().UUID, Codec: db.opts.Codec,
		SegmentSize: db.opts.WALSegmentSize, Mode: mode,
		FlushInterval: db.opts.BufferedFlushInterval, FlushBytes: db.opts.BufferedFlushBytes,
		Poison:    func(err *dberr.Error) { db.eng.Poison(err) },
		OnSegment: s.setActiveSegment,
		Logger:    db.opts.Logger,
	}
}

// initialize creates a new database in an empty (or interrupted) directory:
// the subdirectories, then the MANIFEST with a fresh UUID. Until the
// MANIFEST exists the directory holds nothing of value, so a crash anywhere
// here leaves a directory the next Open initializes again.
func (s *storage) initialize() (format.Manifest, error) {
	if err := store.CheckNoFiles(s.fs, s.dir); err != nil {
		return format.Manifest{}, err
	}
	if err := store.CreateLayout(s.fs, s.dir); err != nil {
		return format.Manifest{}, dberr.Wrap(dberr.Internal, "Open", err, "creating the layout of %s", s.dir)
	}
	m := format.Manifest{UUID: newUUID(), CodecID: s.db.opts.Codec.ID()}
	if err := manifest.Write(s.fs, s.dir, m); err != nil {
		return format.Manifest{}, dberr.Wrap(dberr.Internal, "Open", err, "writing the MANIFEST")
	}
	s.db.opts.Logger.Info("created a new database", "dir", s.dir, "uuid", m.UUID.String())
	return m, nil
}

func newUUID() format.UUID {
	var u format.UUID
	rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

// recover loads the snapshot the MANIFEST names, replays the WAL past its
// watermark into the engine and opens the writer on a fresh segment.
func (s *storage) recover() error {
	db := s.db
	writable := !db.opts.ReadOnly
	m := s.man.Get()
	var watermark uint64
	if m.HasSnapshot {
		res, err := s.loadSnapshot()
		if err != nil {
			return err
		}
		watermark = res.Header.Watermark
		db.eng.Restore(watermark, res.Footer.LastTime)
	}
	res, err := wal.Replay(wal.ReplayOptions{
		FS: s.fs, Dir: s.walDir(), UUID: s.man.Get().UUID, Codec: db.opts.Codec,
		Watermark: watermark, HasSnapshot: m.HasSnapshot,
		ActiveSegment: m.ActiveSegment, Repair: writable && db.opts.Durability != InMemory, Logger: db.opts.Logger,
	}, func(batch []*core.Commit) error { return db.eng.Apply(batch...) })
	if err != nil {
		return err
	}
	s.segLast = res.SegmentLast
	db.opts.Logger.Info("recovered", "dir", s.dir, "snapshot_watermark", watermark, "segments", len(res.Segments),
		"records", res.Records, "skipped", res.Skipped, "version", res.LastVersion)
	if !writable {
		return nil
	}
	// Segments a snapshot covers that reappear (their deletion was not yet
	// durable) are deleted again, and so are snapshots the MANIFEST does not
	// name (superseded ones, or one whose publication a crash interrupted).
	if len(res.Covered) > 0 {
		var paths []string
		for _, seg := range res.Covered {
			paths = append(paths, seg.Path)
		}
		if _, err := store.RemoveFiles(s.fs, s.walDir(), paths, db.opts.Logger); err != nil {
			return err
		}
	}
	if err := store.RemoveStaleSnapshots(s.fs, s.dir, s.man.Get(), db.opts.Logger); err != nil {
		return err
	}
	if db.opts.Durability == InMemory {
		return nil
	}
	if err := store.RemoveOrphanTorn(s.fs, s.dir, db.opts.Logger); err != nil {
		return err
	}
	if err := s.wal.Start(res.NextSegment); err != nil {
		return dberr.Wrap(dberr.Internal, "Open", err, "starting WAL segment %d", res.NextSegment)
	}
	return nil
}

// loadSnapshot reads the snapshot the MANIFEST names into the engine.
func (s *storage) loadSnapshot() (snapshot.Result, error) {
	m := s.man.Get()
	path := filepath.Join(s.snapDir(), snapshot.FileName(m.SnapshotID))
	var vs []core.VersionRec
	return snapshot.Read(snapshot.ReadOptions{
		FS: s.fs, Path: path, UUID: m.UUID, Codec: s.db.opts.Codec, ID: m.SnapshotID, Watermark: m.SnapshotWatermark,
	}, func(e *format.SnapshotEntity) error {
		vs = vs[:0]
		for _, v := range e.Versions {
			vs = append(vs, core.VersionRec(v))
		}
		s.db.eng.Load(e.Run, e.Space, e.Key, vs)
		return nil
	})
}

// setActiveSegment records a new, durable segment in the MANIFEST.
func (s *storage) setActiveSegment(n uint64) error {
	return s.man.Update(s.fs, func(m *format.Manifest) { m.ActiveSegment = n })
}

func (s *storage) close() error {
	s.snapMu.Lock() // let a running checkpoint finish
	defer s.snapMu.Unlock()
	var err error
	if s.wal != nil {
		err = s.wal.Close()
	}
	if s.lock == nil {
		return err // read-only: no lock taken
	}
	if cerr := s.lock.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

func (s *storage) flush() error {
	if s.wal == nil {
		return nil
	}
	return s.wal.Sync()
}

func (s *storage) stats() WALStats {
	var ws WALStats
	var active uint64
	var activeSize int64
	if s.wal != nil {
		active, activeSize = s.wal.SegmentSize()
	}
	if l, err := wal.List(s.fs, s.walDir()); err == nil {
		ws.Segments = len(l.Segments)
		for _, seg := range l.Segments {
			if seg.Number == active {
				ws.Bytes += activeSize // its file holds preallocated zeros beyond
			} else if st, err := s.fs.Stat(seg.Path); err == nil {
				ws.Bytes += st.Size()
			}
		}
	}
	if s.wal != nil {
		st := s.wal.Stats()
		ws.Records = st.Records.Load()
		ws.Fsyncs = st.Fsyncs.Load()
		ws.GroupCommits = st.Batches.Load()
		ws.MaxBatch = int(st.MaxBatch.Load())
		if ws.GroupCommits > 0 {
			ws.MeanBatch = float64(ws.Records) / float64(ws.GroupCommits)
		}
	}
	m := s.man.Get()
	if m.HasSnapshot {
		if st, err := s.fs.Stat(filepath.Join(s.snapDir(), snapshot.FileName(m.SnapshotID))); err == nil {
			ws.SnapshotBytes = st.Size()
		}
	}
	return ws
}
