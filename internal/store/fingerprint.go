package store

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/vfs"
)

// Fingerprint captures what a checkpoint or compaction of the database in
// dir changes: the MANIFEST's bytes and the names in the WAL and snapshot
// directories. Appends to the active segment change none of it, so a reader
// beside a live writer that sees the same fingerprint before and after
// reading knows no file it read was replaced or deleted meanwhile.
func Fingerprint(fsys vfs.FS, dir string) ([]byte, error) {
	var b bytes.Buffer
	data, err := fsys.Open(filepath.Join(dir, ManifestName))
	if err == nil {
		st, serr := data.Stat()
		if serr == nil {
			buf := make([]byte, min(st.Size(), 1<<20))
			n, _ := data.ReadAt(buf, 0)
			b.Write(buf[:n])
		}
		data.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, dberr.Wrap(dberr.Internal, "Open", err, "reading the MANIFEST of %s", dir)
	}
	for _, sub := range []string{WALDirName, SnapDirName} {
		names, err := fsys.List(filepath.Join(dir, sub))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, dberr.Wrap(dberr.Internal, "Open", err, "listing %s", sub)
		}
		slices.Sort(names)
		b.WriteByte(0)
		for _, n := range names {
			b.WriteString(n)
			b.WriteByte(0)
		}
	}
	return b.Bytes(), nil
}
