package format

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

var testUUID = UUID{1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16}

func sampleCommit() *core.Commit {
	run, other := core.NewRunID(), core.NewRunID()
	return &core.Commit{Version: 42, Run: run, Time: -5, Mutations: []core.Mutation{
		{Op: core.OpPut, Run: run, Space: core.KV, Key: "k", Value: value.Object(map[string]value.Value{"a": value.Float(math.NaN())}), Version: 42},
		{Op: core.OpDelete, Run: run, Space: core.State, Key: "", Version: 42},
		{Op: core.OpAppend, Run: other, Space: core.Event, Key: "e\x00\x01", Value: value.Bytes([]byte{0, 1, 2}), Version: 42},
	}}
}

func commitsEqual(t *testing.T, got, want *core.Commit) {
	t.Helper()
	if got.Version != want.Version || got.Run != want.Run || got.Time != want.Time || len(got.Mutations) != len(want.Mutations) {
		t.Fatalf("commit header: got %+v, want %+v", got, want)
	}
	for i := range want.Mutations {
		g, w := got.Mutations[i], want.Mutations[i]
		if g.Op != w.Op || g.Run != w.Run || g.Space != w.Space || g.Key != w.Key || g.Version != w.Version || !g.Value.Identical(w.Value) {
			t.Fatalf("mutation %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	c := sampleCommit()
	rec, _, err := AppendRecord([]byte("prefix"), c, codec.Identity{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec = rec[len("prefix"):]
	f, problem, err := ParseRecordFrame(append(rec, "trailing garbage"...))
	if err != nil || problem != RecordOK || f.Size != len(rec) {
		t.Fatalf("ParseRecordFrame = %+v, %v, %v", f, problem, err)
	}
	got, err := DecodeRecord(f, codec.Identity{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	commitsEqual(t, got, c)
}

// Every truncation of a record is incomplete and every single-bit flip is
// detected.
func TestRecordDamageDetected(t *testing.T) {
	rec, _, _ := AppendRecord(nil, sampleCommit(), codec.Identity{}, nil)
	for n := 0; n < len(rec); n++ {
		if _, problem, err := ParseRecordFrame(rec[:n]); problem == RecordOK || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: problem %v err %v", n, problem, err)
		}
	}
	for i := 0; i < len(rec)*8; i++ {
		b := bytes.Clone(rec)
		b[i/8] ^= 1 << (i % 8)
		f, problem, err := ParseRecordFrame(b)
		if problem == RecordOK {
			// A flip in the length field can still frame a valid prefix
			// only if the checksum matches by chance: it must not.
			t.Fatalf("bit %d flipped: parsed %+v", i, f)
		}
		if err == nil {
			t.Fatalf("bit %d flipped: no error", i)
		}
	}
}

func TestWritesetRejectsBadFields(t *testing.T) {
	c := sampleCommit()
	body := AppendWriteset(nil, c)
	if _, err := decodeWriteset(body, c, 0); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"zero count":   {0},
		"huge count":   {0xff, 0xff, 0xff, 0xff, 0x0f, 1, 1, 0},
		"unknown op":   append([]byte{1, 9, 1, 0, 0}, 42),
		"unknown spc":  append([]byte{1, 1, 99, 0, 0}, 42),
		"wrong vers":   append([]byte{1, 2, 1, 0, 0}, 41),
		"trailing":     append(append([]byte{1, 2, 1, 0, 0}, 42), 0),
		"key too long": {1, 1, 1, 0, 0xff, 0x7f},
		"bad flags":    append([]byte{1, 2, 1, 4, 0}, 42),
	}
	for name, b := range bad {
		if _, err := decodeWriteset(b, c, 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// xorCodec transforms every byte, so a payload that skipped the codec (or
// went through it twice) does not decode.
type xorCodec struct{}

func (xorCodec) ID() string { return "xor-test" }
func (xorCodec) Encode(dst, src []byte) ([]byte, error) {
	for _, b := range src {
		dst = append(dst, b^0x5a)
	}
	return dst, nil
}
func (xorCodec) Decode(dst, src []byte, max int) ([]byte, error) { return xorCodec{}.Encode(dst, src) }

func TestRecordBodyPassesThroughCodec(t *testing.T) {
	c := sampleCommit()
	plain, _, _ := AppendRecord(nil, c, codec.Identity{}, nil)
	enc, _, _ := AppendRecord(nil, c, xorCodec{}, nil)
	if bytes.Equal(plain, enc) {
		t.Fatal("codec did not transform the record")
	}
	f, _, err := ParseRecordFrame(enc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecord(f, xorCodec{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	commitsEqual(t, got, c)
	if _, err := DecodeRecord(f, codec.Identity{}, 0); err == nil {
		t.Fatal("an encoded body decoded without its codec")
	}
}

func TestSegmentHeader(t *testing.T) {
	h := SegmentHeader{Number: 7, UUID: testUUID, Version: SegmentVersion}
	b := AppendSegmentHeader(nil, h)
	if len(b) != SegmentHeaderSize {
		t.Fatalf("header is %d bytes", len(b))
	}
	got, err := DecodeSegmentHeader(b)
	if err != nil || got != h {
		t.Fatalf("got %+v, %v", got, err)
	}
	for i := 0; i < len(b)*8; i++ {
		d := bytes.Clone(b)
		d[i/8] ^= 1 << (i % 8)
		if _, err := DecodeSegmentHeader(d); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
	if _, err := DecodeSegmentHeader(b[:39]); !errors.Is(err, ErrCorrupt) {
		t.Fatal("short header accepted")
	}
}

// TestSegmentHeaderV1 checks that version 1 headers still decode, and
// say their records are version 1.
func TestSegmentHeaderV1(t *testing.T) {
	h := SegmentHeader{Number: 3, UUID: testUUID, Version: SegmentVersionV1}
	got, err := DecodeSegmentHeader(AppendSegmentHeader(nil, h))
	if err != nil || got != h || got.RecordVersion() != RecordVersionV1 {
		t.Fatalf("got %+v, %v", got, err)
	}
	h.Version = 3
	if _, err := DecodeSegmentHeader(AppendSegmentHeader(nil, h)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 3 header: %v", err)
	}
}

// TestRecordSeal checks that a version 2 record carries its segment's tag
// and synced offset, that Reseal moves it to another segment, and that
// CheckSeal refuses a record in the wrong segment or with an impossible
// synced offset.
func TestRecordSeal(t *testing.T) {
	h := SegmentHeader{Number: 4, UUID: testUUID, Version: SegmentVersion}
	seal := RecordSeal{Tag: h.Tag(), Synced: 100}
	rec, _, err := AppendSealedRecord(nil, sampleCommit(), codec.Identity{}, nil, seal)
	if err != nil {
		t.Fatal(err)
	}
	f, problem, err := ParseRecordFrame(rec)
	if problem != RecordOK || f.Format != RecordVersion || f.Seal != seal {
		t.Fatalf("ParseRecordFrame = %+v, %v, %v", f, problem, err)
	}
	if err := CheckSeal(f, h, 100); err != nil {
		t.Fatalf("record at its synced offset: %v", err)
	}
	if err := CheckSeal(f, h, 99); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("synced offset past the record's own: %v", err)
	}
	other := SegmentHeader{Number: 5, UUID: testUUID, Version: SegmentVersion}
	if err := CheckSeal(f, other, 1000); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("record of segment 4 in segment 5: %v", err)
	}
	v1 := SegmentHeader{Number: 4, UUID: testUUID, Version: SegmentVersionV1}
	if err := CheckSeal(f, v1, 1000); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 2 record in a version 1 segment: %v", err)
	}
	Reseal(rec, RecordSeal{Tag: other.Tag(), Synced: SegmentHeaderSize})
	f, problem, err = ParseRecordFrame(rec)
	if problem != RecordOK || CheckSeal(f, other, SegmentHeaderSize) != nil {
		t.Fatalf("resealed record: %+v, %v, %v", f, problem, err)
	}
	if err := CheckSeal(f, other, SegmentHeaderSize); err != nil {
		t.Fatal(err)
	}
	if SegmentTag(testUUID, 4) == SegmentTag(testUUID, 5) {
		t.Fatal("two segments share a tag")
	}
}

func TestManifest(t *testing.T) {
	for _, m := range []Manifest{
		{UUID: testUUID, CodecID: "identity", ActiveSegment: 3},
		{UUID: testUUID, CodecID: "x", ActiveSegment: 9, HasSnapshot: true, SnapshotID: 2, SnapshotWatermark: 0},
	} {
		b := AppendManifest(nil, m)
		got, err := DecodeManifest(b)
		if err != nil || got != m {
			t.Fatalf("got %+v, %v; want %+v", got, err, m)
		}
		for i := 0; i < len(b)*8; i++ {
			d := bytes.Clone(b)
			d[i/8] ^= 1 << (i % 8)
			if _, err := DecodeManifest(d); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("bit %d flipped: %v", i, err)
			}
		}
		for n := range len(b) {
			if _, err := DecodeManifest(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d: %v", n, err)
			}
		}
	}
}

func FuzzRecord(f *testing.F) {
	rec, _, _ := AppendRecord(nil, sampleCommit(), codec.Identity{}, nil)
	f.Add(rec)
	f.Add(rec[:10])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, problem, err := ParseRecordFrame(b)
		if problem != RecordOK {
			if err == nil {
				t.Fatal("no error for a bad record")
			}
			return
		}
		c, err := DecodeRecord(fr, codec.Identity{}, 0)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes into a record that decodes the same.
		again, _, err := AppendRecord(nil, c, codec.Identity{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f2, _, err := ParseRecordFrame(again)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := DecodeRecord(f2, codec.Identity{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		commitsEqual(t, c2, c)
	})
}

func FuzzWriteset(f *testing.F) {
	c := sampleCommit()
	f.Add(AppendWriteset(nil, c))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeWriteset(b, c, 0) // must not panic or over-allocate
	})
}

func FuzzSegmentHeader(f *testing.F) {
	f.Add(AppendSegmentHeader(nil, SegmentHeader{Number: 1, UUID: testUUID}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeSegmentHeader(b)
		if err == nil && !bytes.Equal(AppendSegmentHeader(nil, h), b[:SegmentHeaderSize]) {
			t.Fatal("decoded header does not re-encode to its bytes")
		}
	})
}

func FuzzManifest(f *testing.F) {
	f.Add(AppendManifest(nil, Manifest{UUID: testUUID, CodecID: "identity", ActiveSegment: 1, HasSnapshot: true, SnapshotID: 1, SnapshotWatermark: 10}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err == nil && !bytes.Equal(AppendManifest(nil, m), b) {
			t.Fatal("decoded MANIFEST does not re-encode to its bytes")
		}
	})
}
