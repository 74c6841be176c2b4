package wal

import (
	"fmt"
	"strconv"
	"strings"
)

// tornInfix separates a segment's name from the offset in the name of the
// side file that keeps the bytes recovery cut off its torn tail.
const tornInfix = ".torn-"

// TornSideName returns the name of the side file that keeps the torn tail
// of segment n cut at offset off: wal-<n>.seg.torn-<off>.
func TornSideName(n uint64, off int64) string {
	return fmt.Sprintf("%s%s%d", SegmentName(n), tornInfix, off)
}

// ParseTornSideName returns the segment number and offset of a torn-tail
// side file's name, and false if name is not one. A side file lives as long
// as its segment: whoever deletes segment n deletes its side files too.
func ParseTornSideName(name string) (segment uint64, offset int64, ok bool) {
	seg, off, found := strings.Cut(name, tornInfix)
	if !found || off == "" || off[0] < '0' || off[0] > '9' {
		return 0, 0, false
	}
	n, ok := ParseSegmentName(seg)
	if !ok {
		return 0, 0, false
	}
	o, err := strconv.ParseInt(off, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return n, o, true
}
