package cli

import (
	"path/filepath"

	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// tornView describes a torn-tail side file: bytes recovery cut off the end
// of a segment, kept for inspection until the segment is deleted.
type tornView struct {
	File    string `json:"file"`
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
	Bytes   int64  `json:"bytes"`
}

// tornSideFiles lists the torn-tail side files of a database directory.
func tornSideFiles(dir string) []tornView {
	walDir := filepath.Join(dir, "WAL")
	l, err := wal.List(vfs.OS(), walDir)
	if err != nil {
		return nil // info reports the WAL through the database itself
	}
	out := []tornView{}
	for _, n := range l.Other {
		seg, off, ok := wal.ParseTornSideName(n)
		if !ok {
			continue
		}
		v := tornView{File: filepath.Join(walDir, n), Segment: seg, Offset: off, Bytes: -1}
		if st, err := vfs.OS().Stat(v.File); err == nil {
			v.Bytes = st.Size()
		}
		out = append(out, v)
	}
	return out
}
