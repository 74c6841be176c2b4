package wal

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/vfs"
)

// followFixture lays out segments by hand, as a writer in another process
// would leave them at each moment.
type followFixture struct {
	t    *testing.T
	fs   *vfs.MemFS
	uuid format.UUID
}

func (x *followFixture) record(v uint64, val string) []byte {
	c := &core.Commit{Version: v, Time: int64(v), Mutations: []core.Mutation{
		{Op: core.OpPut, Space: core.KV, Key: "k", Value: value.String(val), Version: v}}}
	b, _, err := format.AppendRecord(nil, c, codec.Identity{}, nil)
	if err != nil {
		x.t.Fatal(err)
	}
	return b
}

// write replaces segment n with its header followed by parts.
func (x *followFixture) write(n uint64, parts ...[]byte) {
	x.t.Helper()
	h := format.SegmentHeader{Number: n, UUID: x.uuid}
	b := format.AppendSegmentHeader(nil, h)
	for _, p := range parts {
		// Whole records get the seal a writer gives them in this segment;
		// partial or damaged ones stay as they are.
		if _, problem, _ := format.ParseRecordFrame(p); problem == format.RecordOK {
			p = append([]byte(nil), p...)
			format.Reseal(p, format.RecordSeal{Tag: h.Tag(), Synced: format.SegmentHeaderSize})
		}
		b = append(b, p...)
	}
	x.writeRaw(n, b)
}

func (x *followFixture) writeRaw(n uint64, b []byte) {
	x.t.Helper()
	x.fs.Remove(filepath.Join("wal", SegmentName(n)))
	f, err := x.fs.Create(filepath.Join("wal", SegmentName(n)))
	if err != nil {
		x.t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		x.t.Fatal(err)
	}
	f.Close()
}

func (x *followFixture) poll(f *Follower) []uint64 {
	x.t.Helper()
	var got []uint64
	if _, err := f.Poll(context.Background(), func(c *core.Commit) error {
		got = append(got, c.Version)
		return nil
	}); err != nil {
		x.t.Fatal(err)
	}
	return got
}

func versions(from, to uint64) []uint64 {
	var vs []uint64
	for v := from; v <= to; v++ {
		vs = append(vs, v)
	}
	return vs
}

func sameVersions(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFollower(t *testing.T) {
	x := &followFixture{t: t, fs: vfs.NewMem(), uuid: format.UUID{1, 2, 3}}
	if err := x.fs.MkdirAll("wal"); err != nil {
		t.Fatal(err)
	}
	f := NewFollower(FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{}})
	if got := x.poll(f); len(got) != 0 {
		t.Fatalf("empty directory: %v", got)
	}
	r := make([][]byte, 12)
	for v := 1; v < len(r); v++ {
		r[v] = x.record(uint64(v), "v")
	}
	// A segment whose header is still being written.
	x.writeRaw(1, format.AppendSegmentHeader(nil, format.SegmentHeader{Number: 1, UUID: x.uuid})[:5])
	if got := x.poll(f); len(got) != 0 {
		t.Fatalf("half a header: %v", got)
	}
	zeros := make([]byte, 300) // a preallocated tail
	x.write(1, r[1], r[2], r[3][:len(r[3])/2], zeros)
	if got := x.poll(f); !sameVersions(got, versions(1, 2)) {
		t.Fatalf("up to a half-written record: %v", got)
	}
	x.write(1, r[1], r[2], r[3], zeros)
	if got := x.poll(f); !sameVersions(got, versions(3, 3)) {
		t.Fatalf("the record completed: %v", got)
	}
	// Rotation: the writer seals segment 1 (cutting its zeros) and goes on
	// in 2.
	x.write(1, r[1], r[2], r[3], r[4])
	x.write(2, r[5], zeros)
	if got := x.poll(f); !sameVersions(got, versions(4, 5)) {
		t.Fatalf("across a rotation: %v", got)
	}
	x.write(2, r[5], r[6])
	x.write(3, r[7], zeros)
	if got := x.poll(f); !sameVersions(got, versions(6, 7)) {
		t.Fatalf("across a second rotation: %v", got)
	}
	// Compaction deletes segments whose records were all read, the one the
	// follower is in included.
	x.write(3, r[7])
	x.write(4, r[8])
	for n := range uint64(3) {
		x.fs.Remove(filepath.Join("wal", SegmentName(n+1)))
	}
	if got := x.poll(f); !sameVersions(got, versions(8, 8)) {
		t.Fatalf("with read segments deleted: %v", got)
	}
	// A record larger than the read window.
	big := x.record(9, strings.Repeat("x", 3*followWindow))
	x.write(4, r[8], big)
	if got := x.poll(f); !sameVersions(got, versions(9, 9)) {
		t.Fatalf("a big record: %v", got)
	}
	// Compaction removed records this follower never read: it must say so,
	// never skip them silently.
	x.write(4, r[8], big, r[10])
	x.fs.Remove(filepath.Join("wal", SegmentName(4)))
	x.write(5, r[11])
	_, err := f.Poll(context.Background(), func(*core.Commit) error { return nil })
	if dberr.CodeOf(err) != dberr.HistoryTrimmed {
		t.Fatalf("records lost to compaction: %v, want HistoryTrimmed", err)
	}
}

// TestFollowerSealedDamage: damage in a segment the writer has finished is
// Corruption, not a frontier to wait at forever.
func TestFollowerSealedDamage(t *testing.T) {
	x := &followFixture{t: t, fs: vfs.NewMem(), uuid: format.UUID{1}}
	x.fs.MkdirAll("wal")
	r1, r2 := x.record(1, "a"), x.record(2, "b")
	bad := append([]byte(nil), r2...)
	bad[len(bad)-1] ^= 0xff
	x.write(1, r1, bad)
	x.write(2)
	f := NewFollower(FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{}})
	_, err := f.Poll(context.Background(), func(*core.Commit) error { return nil })
	if dberr.CodeOf(err) != dberr.Corruption {
		t.Fatalf("damage in a sealed segment: %v, want Corruption", err)
	}
	// In the active segment the same bytes are a record not yet complete.
	x.fs.Remove(filepath.Join("wal", SegmentName(2)))
	f = NewFollower(FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{}})
	if got := x.poll(f); !sameVersions(got, versions(1, 1)) {
		t.Fatalf("active segment: %v", got)
	}
}

// TestFollowerRefusesForeignSeal: a complete record whose seal belongs to
// another segment (stale bytes, a copied file) is never delivered.
func TestFollowerRefusesForeignSeal(t *testing.T) {
	x := &followFixture{t: t, fs: vfs.NewMem(), uuid: format.UUID{1}}
	x.fs.MkdirAll("wal")
	r1, r2 := x.record(1, "a"), x.record(2, "b")
	foreign := append([]byte(nil), r2...)
	other := format.SegmentHeader{Number: 7, UUID: x.uuid}
	format.Reseal(foreign, format.RecordSeal{Tag: other.Tag(), Synced: format.SegmentHeaderSize})
	x.write(1, r1)
	// Append the foreign record after the sealed r1 by hand: write() would
	// reseal it.
	seg, err := x.fs.Open(filepath.Join("wal", SegmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := seg.Stat()
	img := make([]byte, st.Size())
	seg.ReadAt(img, 0)
	seg.Close()
	x.writeRaw(1, append(img, foreign...))

	f := NewFollower(FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{}})
	if got := x.poll(f); !sameVersions(got, versions(1, 1)) {
		t.Fatalf("active segment with a foreign record: delivered %v, want [1]", got)
	}
	x.write(2)
	f = NewFollower(FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{}})
	_, err = f.Poll(context.Background(), func(*core.Commit) error { return nil })
	if dberr.CodeOf(err) != dberr.Corruption {
		t.Fatalf("foreign record in a sealed segment: %v, want Corruption", err)
	}
}

// pollErr polls once and returns what was delivered and the error.
func (x *followFixture) pollErr(f *Follower) ([]uint64, error) {
	x.t.Helper()
	var got []uint64
	_, err := f.Poll(context.Background(), func(c *core.Commit) error {
		got = append(got, c.Version)
		return nil
	})
	return got, err
}

func (x *followFixture) remove(n uint64) {
	x.t.Helper()
	if err := x.fs.Remove(filepath.Join("wal", SegmentName(n))); err != nil {
		x.t.Fatal(err)
	}
}

// TestFollowerFloorGapWithoutRecord: a checkpoint rotates to a new, empty
// segment and compaction deletes the records a follower had not read. No
// record follows the gap, yet the follower must say HistoryTrimmed at once
// rather than wait (an idle database writes no more records).
func TestFollowerFloorGapWithoutRecord(t *testing.T) {
	x := &followFixture{t: t, fs: vfs.NewMem(), uuid: format.UUID{4}}
	x.fs.MkdirAll("wal")
	var floor uint64
	opts := FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{},
		Floor: func() (uint64, error) { return floor, nil }}
	r := make([][]byte, 6)
	for v := 1; v < len(r); v++ {
		r[v] = x.record(uint64(v), "v")
	}
	x.write(1, r[1])
	f := NewFollower(opts)
	if got := x.poll(f); !sameVersions(got, versions(1, 1)) {
		t.Fatalf("first poll: %v", got)
	}
	// Commits 2..5 the follower does not read yet, a checkpoint at 5
	// (rotation to the empty segment 3), then compaction.
	x.write(1, r[1], r[2], r[3])
	x.write(2, r[4], r[5])
	x.write(3)
	floor = 5
	x.remove(1)
	x.remove(2)
	got, err := x.pollErr(f)
	var e *dberr.Error
	if !errors.As(err, &e) || e.Code != dberr.HistoryTrimmed {
		t.Fatalf("gap with no record after it: delivered %v, %v; want HistoryTrimmed", got, err)
	}
	if e.Requested != core.Txn(2) || e.EarliestRetained != core.Txn(6) {
		t.Fatalf("HistoryTrimmed requested %v, earliest %v; want 2 and 6", e.Requested, e.EarliestRetained)
	}
	// The follower's own segment deleted too, with none left but the new
	// one: same answer.
	f = NewFollower(FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{}, Segment: 1, Last: 1,
		Floor: opts.Floor})
	if _, err := x.pollErr(f); dberr.CodeOf(err) != dberr.HistoryTrimmed {
		t.Fatalf("positioned in a deleted segment: %v, want HistoryTrimmed", err)
	}
	// Exact makes Last 0 binding: version 1 is gone.
	exact := opts
	exact.Exact = true
	if _, err := x.pollErr(NewFollower(exact)); dberr.CodeOf(err) != dberr.HistoryTrimmed {
		t.Fatalf("Exact from 0: %v, want HistoryTrimmed", err)
	}
	// Without Exact, Last 0 takes whatever comes: nothing yet, no error.
	if got, err := x.pollErr(NewFollower(opts)); err != nil || len(got) != 0 {
		t.Fatalf("from whatever comes first: %v, %v", got, err)
	}
	// A floor that cannot be read is the Poll's error.
	bad := opts
	boom := dberr.New(dberr.Internal, "test", "no MANIFEST")
	bad.Floor = func() (uint64, error) { return 0, boom }
	if _, err := x.pollErr(NewFollower(bad)); !errors.Is(err, boom) {
		t.Fatalf("failing floor: %v", err)
	}
}

// TestFollowerFloorNoFalsePositive: a follower that has read everything is
// never told HistoryTrimmed by the floor — across rotation to an empty
// segment, compaction of everything it read, empty segments left by
// reopens and skipped segment numbers — and goes on delivering new
// records.
func TestFollowerFloorNoFalsePositive(t *testing.T) {
	x := &followFixture{t: t, fs: vfs.NewMem(), uuid: format.UUID{5}}
	x.fs.MkdirAll("wal")
	var floor uint64
	f := NewFollower(FollowOptions{FS: x.fs, Dir: "wal", UUID: x.uuid, Codec: codec.Identity{}, Exact: true,
		Floor: func() (uint64, error) { return floor, nil }})
	if got, err := x.pollErr(f); err != nil || len(got) != 0 {
		t.Fatalf("empty directory: %v, %v", got, err)
	}
	x.write(1)
	if got, err := x.pollErr(f); err != nil || len(got) != 0 {
		t.Fatalf("an empty first segment: %v, %v", got, err)
	}
	r := make([][]byte, 8)
	for v := 1; v < len(r); v++ {
		r[v] = x.record(uint64(v), "v")
	}
	x.write(1, r[1], r[2], r[3])
	if got, err := x.pollErr(f); err != nil || !sameVersions(got, versions(1, 3)) {
		t.Fatalf("first records: %v, %v", got, err)
	}
	// Checkpoint at 3: rotation to an empty segment 2, then compaction.
	x.write(2)
	floor = 3
	x.remove(1)
	if got, err := x.pollErr(f); err != nil || len(got) != 0 {
		t.Fatalf("caught up, after rotation and compaction: %v, %v", got, err)
	}
	// Reopens leave empty segments; a removed torn header skips a number.
	x.write(3)
	x.write(5, r[4], r[5])
	if got, err := x.pollErr(f); err != nil || !sameVersions(got, versions(4, 5)) {
		t.Fatalf("after empty segments and a skipped number: %v, %v", got, err)
	}
	// Another checkpoint at 5, compaction of every segment before the new
	// empty one.
	x.write(6)
	floor = 5
	for _, n := range []uint64{2, 3, 5} {
		x.remove(n)
	}
	if got, err := x.pollErr(f); err != nil || len(got) != 0 {
		t.Fatalf("caught up, after a second compaction: %v, %v", got, err)
	}
	x.write(6, r[6], r[7])
	if got, err := x.pollErr(f); err != nil || !sameVersions(got, versions(6, 7)) {
		t.Fatalf("new commits after compaction: %v, %v", got, err)
	}
}
