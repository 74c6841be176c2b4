package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// checkAttempts bounds how often check starts over because a live writer
// checkpointed or compacted while it read.
const checkAttempts = 8

// checkSettled runs check, and runs it again when it failed while the
// directory changed underneath: a checkpoint or compaction of a live writer
// can delete a snapshot or segment between check reading the MANIFEST and
// reading the file, which is no damage. A failure on a directory that did
// not change stands.
func (a *app) checkSettled(dir string) (*checkReport, error) {
	for attempt := 1; ; attempt++ {
		before := dirFingerprint(dir)
		rep, err := a.check(dir)
		if (err == nil && rep.OK) || attempt == checkAttempts || bytes.Equal(before, dirFingerprint(dir)) {
			return rep, err
		}
	}
}

// dirFingerprint captures what checkpoints and compactions change: the
// MANIFEST's bytes and the names in WAL/ and SNAPSHOTS/.
func dirFingerprint(dir string) []byte {
	var b bytes.Buffer
	m, _ := os.ReadFile(filepath.Join(dir, "MANIFEST"))
	b.Write(m)
	for _, sub := range []string{"WAL", "SNAPSHOTS"} {
		entries, _ := os.ReadDir(filepath.Join(dir, sub))
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		b.WriteByte(0)
		for _, n := range names {
			b.WriteString(n)
			b.WriteByte(0)
		}
	}
	return b.Bytes()
}

// orphanedFiles reports a directory whose MANIFEST is missing although its
// WAL or snapshot directory holds files: a database that lost its MANIFEST,
// which is damage, not "no database here".
func orphanedFiles(dir string) (problem, bool) {
	for _, sub := range []string{"WAL", "SNAPSHOTS"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err == nil && len(entries) > 0 {
			return problem{File: filepath.Join(dir, "MANIFEST"), Offset: -1,
				Reason: fmt.Sprintf("the MANIFEST is missing but %s holds %d files", sub, len(entries))}, true
		}
	}
	return problem{}, false
}
