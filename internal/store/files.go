package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// RemoveTemp deletes the temporary files a crash left behind in dir and
// its WAL and snapshot directories: they were never published, so they
// hold nothing anyone relies on.
func RemoveTemp(fsys vfs.FS, dir string, log *slog.Logger) error {
	for _, d := range []string{dir, WALDir(dir), SnapDir(dir)} {
		names, err := fsys.List(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return dberr.Wrap(dberr.Internal, "Open", err, "listing %s", d)
		}
		removed := false
		for _, n := range names {
			if !strings.HasSuffix(n, TempExtension) {
				continue
			}
			if err := fsys.Remove(filepath.Join(d, n)); err != nil {
				return dberr.Wrap(dberr.Internal, "Open", err, "removing stale %s", n)
			}
			log.Info("removed a stale temporary file", "file", filepath.Join(d, n))
			removed = true
		}
		if removed {
			if err := fsys.SyncDir(d); err != nil {
				return dberr.Wrap(dberr.Internal, "Open", err, "syncing %s", d)
			}
		}
	}
	return nil
}

// RemoveFiles removes files of one directory, then syncs it once. It
// returns the bytes freed. Files already gone are not an error.
func RemoveFiles(fsys vfs.FS, dir string, paths []string, log *slog.Logger) (int64, error) {
	var freed int64
	for _, p := range paths {
		if st, err := fsys.Stat(p); err == nil {
			freed += st.Size()
		}
		if err := fsys.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return freed, dberr.Wrap(dberr.Internal, "compact", err, "removing %s", p)
		}
		log.Info("removed", "file", p)
	}
	if len(paths) > 0 {
		if err := fsys.SyncDir(dir); err != nil {
			return freed, dberr.Wrap(dberr.Internal, "compact", err, "syncing %s", dir)
		}
	}
	return freed, nil
}

// StaleSnapshots returns the snapshot files of dir that keep does not name.
func StaleSnapshots(fsys vfs.FS, dir string, keep format.Manifest) ([]string, error) {
	names, err := fsys.List(SnapDir(dir))
	if err != nil {
		return nil, dberr.Wrap(dberr.Internal, "Open", err, "listing %s", SnapDir(dir))
	}
	var stale []string
	for _, n := range names {
		if id, ok := snapshot.ParseFileName(n); ok && (!keep.HasSnapshot || id != keep.SnapshotID) {
			stale = append(stale, filepath.Join(SnapDir(dir), n))
		}
	}
	return stale, nil
}

// CopyFileDurable copies src to dst through a temporary name: write, fsync,
// rename, fsync the directory.
func CopyFileDurable(fsys vfs.FS, src, dst string) error {
	in, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + TempExtension
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	out, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, dst); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(dst))
}

// WriteExport lays out a database directory at dst holding the snapshot
// file src and a MANIFEST m that names it (with no active segment). The
// MANIFEST is written last: until it exists the directory is an
// interrupted creation, not a database.
func WriteExport(fsys vfs.FS, src, dst string, m format.Manifest) error {
	if err := CreateLayout(fsys, dst); err != nil {
		return err
	}
	if err := CopyFileDurable(fsys, src, filepath.Join(SnapDir(dst), filepath.Base(src))); err != nil {
		return err
	}
	m.ActiveSegment = 0
	return manifest.Write(fsys, dst, m)
}

// CopyDatabase copies the MANIFEST of src, the snapshot it names and every
// WAL segment into dst, a fresh layout (MANIFEST last). It returns ctx's
// error as is if ctx is cancelled between segments.
func CopyDatabase(ctx context.Context, fsys vfs.FS, src, dst string) error {
	m, err := manifest.Read(fsys, src)
	if err != nil {
		return err
	}
	if err := CreateLayout(fsys, dst); err != nil {
		return err
	}
	if m.HasSnapshot {
		name := snapshot.FileName(m.SnapshotID)
		if err := CopyFileDurable(fsys, filepath.Join(SnapDir(src), name), filepath.Join(SnapDir(dst), name)); err != nil {
			return err
		}
	}
	l, err := wal.List(fsys, WALDir(src))
	if err != nil {
		return err
	}
	for _, seg := range l.Segments {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := CopyFileDurable(fsys, seg.Path, filepath.Join(WALDir(dst), seg.Name)); err != nil {
			return err
		}
	}
	return manifest.Write(fsys, dst, m)
}

// RemoveStaleSnapshots removes the snapshot files of dir that keep does not
// name. The caller makes sure keep is the durable MANIFEST first.
func RemoveStaleSnapshots(fsys vfs.FS, dir string, keep format.Manifest, log *slog.Logger) error {
	stale, err := StaleSnapshots(fsys, dir, keep)
	if err != nil {
		return err
	}
	_, err = RemoveFiles(fsys, SnapDir(dir), stale, log)
	return err
}
