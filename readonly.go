package inmem

import (
	"bytes"
	"context"
	"errors"
	"io/fs"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/store"
	"github.com/inmemdb/inmem/internal/wal"
)

// readOnlyAttempts bounds how often a read-only open starts over because a
// live writer changed the directory while it was being read. Each attempt
// races only a checkpoint or compaction, so a few suffice unless the
// writer does nothing else.
const readOnlyAttempts = 8

// openReadOnly opens a database directory for reading beside a live writer
// in another process. It takes no lock and changes nothing: it reads the
// MANIFEST, the snapshot it names and the WAL up to the last complete
// record. A writer that checkpoints and compacts meanwhile may delete the
// snapshot or the segments this read relies on; every such change alters the
// MANIFEST or a directory listing, so a failed attempt whose directory
// changed is started over on a fresh engine, and only an attempt that fails
// on a directory that did not change reports its error.
func openReadOnly(db *DB) (*storage, error) {
	s := &storage{db: db, fs: db.opts.FS, dir: db.dir}
	st, err := s.fs.Stat(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, dberr.New(dberr.NotFound, "Open", "%s does not exist", s.dir)
	}
	if err != nil {
		return nil, dberr.Wrap(dberr.InvalidArgument, "Open", err, "cannot read %s", s.dir)
	}
	if !st.IsDir() {
		return nil, dberr.New(dberr.InvalidArgument, "Open", "%s is not a directory", s.dir)
	}
	var lastErr error
	for range readOnlyAttempts {
		before, ferr := store.Fingerprint(s.fs, s.dir)
		if ferr != nil {
			return nil, ferr
		}
		db.newEngine(nil) // a fresh one for every attempt
		err := s.recoverReadOnly()
		if err == nil {
			s.follow = wal.NewFollower(wal.FollowOptions{
				FS: s.fs, Dir: s.walDir(), UUID: s.man.Get().UUID, Codec: db.opts.Codec,
				Segment: lastSegment(s.segLast), Last: db.eng.Visible(), Exact: true, Floor: s.followFloor(true),
			})
			return s, nil
		}
		after, ferr := store.Fingerprint(s.fs, s.dir)
		if ferr != nil || !bytes.Equal(before, after) {
			lastErr = err
			continue
		}
		return nil, err
	}
	// Not wrapped: the last attempt's error may be a Corruption that only the
	// race caused, and must not classify this one.
	return nil, dberr.New(dberr.Conflict, "Open", "%s kept changing while it was read (%d attempts; last: %v); try again", s.dir, readOnlyAttempts, lastErr)
}

// recoverReadOnly is one attempt of openReadOnly.
func (s *storage) recoverReadOnly() error {
	m, err := manifest.Read(s.fs, s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := store.CheckNoFiles(s.fs, s.dir); err != nil {
			return err
		}
		return dberr.New(dberr.InvalidArgument, "Open", "%s is not an in-mem database (no MANIFEST)", s.dir)
	}
	if err != nil {
		return err
	}
	if m.CodecID != s.db.opts.Codec.ID() {
		return dberr.New(dberr.CodecMismatch, "Open", "%s was written with codec %q, opened with codec %q", s.dir, m.CodecID, s.db.opts.Codec.ID())
	}
	s.man = store.NewManifest(s.dir, m)
	return s.recover()
}

func lastSegment(m map[uint64]uint64) uint64 {
	var n uint64
	for k := range m {
		n = max(n, k)
	}
	return n
}

// Refresh catches a read-only database up with the commits a writer in
// another process made since it was opened or last refreshed: it reads the
// WAL's complete records past the ones already applied and makes them
// visible to new reads. Transactions already running keep their snapshot.
// It returns InvalidArgument on a database that is not read-only (it is
// always current), and HistoryTrimmed if the writer compacted away records
// this handle had not read yet: reopen it then.
func (db *DB) Refresh(ctx context.Context) error {
	db.life.RLock()
	defer db.life.RUnlock()
	if err := db.checkOpen("Refresh"); err != nil {
		return err
	}
	if db.store == nil || db.store.follow == nil {
		return errorf(CodeInvalidArgument, "Refresh", "only a read-only database with a directory can be refreshed")
	}
	s := db.store
	s.followMu.Lock()
	defer s.followMu.Unlock()
	_, err := s.follow.Poll(ctx, func(c *core.Commit) error { return db.eng.Apply(c) })
	return err
}
