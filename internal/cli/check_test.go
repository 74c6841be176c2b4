package cli

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
)

// eventsDB is a database whose run "agent" holds n events, one commit each.
func eventsDB(t *testing.T, n int) (dir string, run inmem.RunID) {
	t.Helper()
	return newDB(t, func(db *inmem.DB, run inmem.RunID) {
		for i := range n {
			must[inmem.Version](t)(db.Events().Append(ctx, run, "note", inmem.MustValue(map[string]any{"n": i, "text": "hello"})))
		}
	})
}

// walRecord is one record of a segment file.
type walRecord struct {
	off, size int
	commit    *core.Commit
	seal      format.RecordSeal // kept so a rewritten record still fits its segment
}

// readSegment returns the only WAL segment of dir and its records.
func readSegment(t *testing.T, dir string) (path string, data []byte, recs []walRecord) {
	t.Helper()
	l, err := wal.List(vfs.OS(), filepath.Join(dir, "WAL"))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Segments) != 1 {
		t.Fatalf("%d WAL segments, want 1", len(l.Segments))
	}
	path = l.Segments[0].Path
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := format.SegmentHeaderSize; off < len(data); {
		f, _, err := format.ParseRecordFrame(data[off:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, off, err)
		}
		c, err := format.DecodeRecord(f, codec.Identity{}, value.MaxDecodeDepth)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, walRecord{off: off, size: f.Size, commit: c, seal: f.Seal})
		off += f.Size
	}
	return path, data, recs
}

func TestCheckSound(t *testing.T) {
	dir, _ := eventsDB(t, 5)
	out, _ := mustRun(t, ExitOK, "check", dir)
	if !strings.Contains(out, "result") || !strings.Contains(out, "sound") {
		t.Errorf("check:\n%s", out)
	}
	out, _ = mustRun(t, ExitOK, "check", "-o", "json", dir)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Problems) != 0 || len(rep.Chains) != 1 || !rep.Chains[0].OK || rep.Chains[0].Events != 5 {
		t.Errorf("check report: %+v", rep)
	}
}

// TestCheckDamagedWALRecord flips one byte inside the middle record of the
// WAL: a checksum failure with valid records after it is corruption, not a
// torn tail.
func TestCheckDamagedWALRecord(t *testing.T) {
	dir, _ := eventsDB(t, 9)
	path, data, recs := readSegment(t, dir)
	mid := recs[len(recs)/2]
	data[mid.off+mid.size/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := mustRun(t, ExitIntegrity, "check", dir)
	if !strings.Contains(out, path) || !strings.Contains(out, fmt.Sprintf("offset %d", mid.off)) {
		t.Errorf("check does not name %s at offset %d:\n%s", path, mid.off, out)
	}
	out, _ = mustRun(t, ExitIntegrity, "check", "-o", "json", dir)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Problems) != 1 || rep.Problems[0].File != path || rep.Problems[0].Offset != int64(mid.off) {
		t.Errorf("check report problems %+v, want %s at %d", rep.Problems, path, mid.off)
	}
	// The read commands refuse the damaged database too, as an integrity failure.
	mustRun(t, ExitIntegrity, "events", "list", dir, "agent")
}

// TestCheckTamperedEvent rewrites an event's payload inside its WAL record
// and recomputes the record's checksum: every file is valid, but the
// event's hash no longer matches its content.
func TestCheckTamperedEvent(t *testing.T) {
	const seq = 3
	dir, run := eventsDB(t, 6)
	path, data, recs := readSegment(t, dir)
	key := make([]byte, 9)
	key[0] = 'e'
	binary.BigEndian.PutUint64(key[1:], seq)
	found := false
	for _, r := range recs {
		for i := range r.commit.Mutations {
			m := &r.commit.Mutations[i]
			if m.Space != core.Event || m.Key != string(key) {
				continue
			}
			typ, _ := m.Value.Index(0)
			hdr, _ := m.Value.Index(2)
			m.Value = value.Array(typ, value.Value(inmem.MustValue(map[string]any{"n": seq, "text": "HELLO"})), hdr)
			rec, _, err := format.AppendSealedRecord(nil, r.commit, codec.Identity{}, nil, r.seal)
			if err != nil {
				t.Fatal(err)
			}
			data = append(append(data[:r.off:r.off], rec...), data[r.off+r.size:]...)
			found = true
		}
	}
	if !found {
		t.Fatalf("no WAL record holds event %d", seq)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The WAL itself is valid.
	if _, _, recs2 := readSegment(t, dir); len(recs2) != len(recs) {
		t.Fatalf("%d records after the rewrite, %d before", len(recs2), len(recs))
	}

	out, _ := mustRun(t, ExitIntegrity, "check", dir)
	if !strings.Contains(out, "run "+run.String()) || !strings.Contains(out, fmt.Sprintf("sequence %d", seq)) {
		t.Errorf("check does not name run %s and sequence %d:\n%s", run, seq, out)
	}
	out, _ = mustRun(t, ExitIntegrity, "check", "-o", "json", dir)
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Chains) != 1 || rep.Chains[0].OK || rep.Chains[0].BrokenAt != seq || rep.Chains[0].Run != run.String() {
		t.Errorf("check report chains %+v, want run %s broken at %d", rep.Chains, run, seq)
	}
	out, stderr := mustRun(t, ExitIntegrity, "events", "verify", dir, "agent")
	if !strings.Contains(stderr, fmt.Sprintf("sequence %d", seq)) || !strings.Contains(out, fmt.Sprintf("sequence %d", seq)) {
		t.Errorf("events verify:\n%s\n%s", out, stderr)
	}
}
