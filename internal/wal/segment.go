package wal

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

// SegmentName returns the file name of segment n: wal-<n>.seg with n
// zero-padded to ten digits (readers accept any width).
func SegmentName(n uint64) string { return fmt.Sprintf("wal-%010d.seg", n) }

// ParseSegmentName returns the segment number of a file name, and false if
// the name is not a segment's.
func ParseSegmentName(name string) (uint64, bool) {
	return format.ParseNumberedName(name, "wal-", ".seg")
}

// SegmentFile is one segment found in the WAL directory.
type SegmentFile struct {
	Number uint64
	Name   string // base name
	Path   string
}

// Listing is what a WAL directory holds.
type Listing struct {
	Segments []SegmentFile // ascending by number
	Temp     []string      // *.tmp files (stale; safe to remove)
	Other    []string      // anything else (torn-tail side files, foreign files)
}

// List reads a WAL directory. Two files naming the same segment number (say
// wal-1.seg and wal-0000000001.seg) are an error.
func List(fsys vfs.FS, dir string) (Listing, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return Listing{}, err
	}
	var l Listing
	seen := map[uint64]string{}
	for _, name := range names {
		if n, ok := ParseSegmentName(name); ok {
			if prev, dup := seen[n]; dup {
				return Listing{}, fmt.Errorf("two files for WAL segment %d: %s and %s", n, prev, name)
			}
			seen[n] = name
			l.Segments = append(l.Segments, SegmentFile{Number: n, Name: name, Path: filepath.Join(dir, name)})
			continue
		}
		if strings.HasSuffix(name, ".tmp") {
			l.Temp = append(l.Temp, name)
			continue
		}
		l.Other = append(l.Other, name)
	}
	sort.Slice(l.Segments, func(i, j int) bool { return l.Segments[i].Number < l.Segments[j].Number })
	return l, nil
}
