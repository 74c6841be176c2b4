package format

import (
	"encoding/binary"
	"fmt"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// WAL segment header, at offset 0 of every segment file:
//
//	0   8  magic "INMEMWAL"
//	8   4  format version (1 or 2)
//	12  8  segment number
//	20  16 database UUID
//	36  4  CRC-32C of bytes 0..36
//
// The segment's format version fixes the version of every record in it:
// version 1 segments hold version 1 records, version 2 segments version 2
// records. Writers produce version 2; version 1 is still read.
const (
	SegmentMagic      = "INMEMWAL"
	SegmentVersion    = 2
	SegmentVersionV1  = 1
	SegmentHeaderSize = 40
)

// SegmentHeader identifies a WAL segment file.
type SegmentHeader struct {
	Number uint64
	UUID   UUID
	// Version is the segment format version; zero means SegmentVersion
	// when encoding.
	Version uint32
}

// RecordVersion returns the version of the records a segment of this
// header's version holds.
func (h SegmentHeader) RecordVersion() uint8 {
	if h.Version == SegmentVersionV1 {
		return RecordVersionV1
	}
	return RecordVersion
}

// Tag returns the segment tag every version 2 record of this segment
// carries (see SegmentTag).
func (h SegmentHeader) Tag() uint32 { return SegmentTag(h.UUID, h.Number) }

// SegmentTag binds a record to the segment it was written into: CRC-32C of
// the database UUID followed by the segment number (8 bytes, little
// endian). Bytes a file system exposes from another segment or another
// database (stale blocks after a power cut, a recycled extent) then fail
// the tag check even when their own checksum holds, so recovery never
// mistakes them for records of this segment.
func SegmentTag(id UUID, n uint64) uint32 {
	var b [24]byte
	copy(b[:16], id[:])
	le.PutUint64(b[16:], n)
	return Checksum(b[:])
}

// AppendSegmentHeader appends the encoded header to dst.
func AppendSegmentHeader(dst []byte, h SegmentHeader) []byte {
	v := h.Version
	if v == 0 {
		v = SegmentVersion
	}
	start := len(dst)
	dst = append(dst, SegmentMagic...)
	dst = le.AppendUint32(dst, v)
	dst = le.AppendUint64(dst, h.Number)
	dst = append(dst, h.UUID[:]...)
	return le.AppendUint32(dst, Checksum(dst[start:]))
}

// DecodeSegmentHeader decodes the header at the front of b.
func DecodeSegmentHeader(b []byte) (SegmentHeader, error) {
	if len(b) < SegmentHeaderSize {
		return SegmentHeader{}, corrupt("segment header is %d bytes, want %d", len(b), SegmentHeaderSize)
	}
	if got, want := le.Uint32(b[36:]), Checksum(b[:36]); got != want {
		return SegmentHeader{}, corrupt("segment header checksum %08x, want %08x", got, want)
	}
	if string(b[:8]) != SegmentMagic {
		return SegmentHeader{}, corrupt("bad segment magic %q", b[:8])
	}
	v := le.Uint32(b[8:])
	if v != SegmentVersion && v != SegmentVersionV1 {
		return SegmentHeader{}, corrupt("unsupported segment format version %d", v)
	}
	h := SegmentHeader{Version: v}
	h.Number = le.Uint64(b[12:])
	copy(h.UUID[:], b[20:36])
	return h, nil
}

// WAL record, self-delimiting:
//
//	0   4  length L: bytes after this field (header, body and checksum)
//	4   1  record format version (2; 1 in version 1 segments)
//	5   1  flags (0; reserved)
//	6   8  commit version
//	14  16 run id
//	30  8  commit timestamp (µs since the Unix epoch, signed)
//	38  4  segment tag (version 2 only; see SegmentTag)
//	42  8  synced offset (version 2 only): how many bytes of this segment
//	       the last completed fsync before this record's write had made
//	       durable (at least the header size, at most the record's offset)
//	50  B  body: the writeset, passed through the codec (B = L - 50; in
//	       version 1, the body starts at 38 and B = L - 38)
//	..  4  CRC-32C of bytes 4 .. 4+L-4 (everything after the length, before
//	       the checksum)
//
// The length is checked against the bytes remaining and MaxRecordSize
// before anything is allocated, and the checksum is verified before any
// other field is trusted.
//
// The synced offset lets recovery tell a power cut from corruption: a power
// cut may lose any unsynced page and keep a later one (page writeback is
// unordered), so damage followed by valid records is expected at or past
// the last synced offset, and impossible below it.
const (
	RecordVersion      = 2
	RecordVersionV1    = 1
	recordHeaderSizeV1 = 4 + 1 + 1 + 8 + 16 + 8 // through the timestamp
	recordHeaderSize   = recordHeaderSizeV1 + 4 + 8
	recordCRCSize      = 4
	// MinRecordSize is the smallest possible record of any version (a
	// version 1 record with an empty body).
	MinRecordSize = recordHeaderSizeV1 + recordCRCSize
	// MinRecordSizeV2 is the smallest possible version 2 record.
	MinRecordSizeV2 = recordHeaderSize + recordCRCSize
	// MaxRecordSize bounds one record (length field included). Values are
	// at most 1 GiB each by configuration; one commit is bounded here.
	MaxRecordSize = 1 << 30
	// maxWritesetBody bounds a decoded writeset body.
	maxWritesetBody = MaxRecordSize
)

// RecordSeal is what a version 2 record says about where it was written:
// the tag of its segment and the segment's synced offset at the time.
type RecordSeal struct {
	Tag    uint32
	Synced uint64
}

// Writeset body (before the codec):
//
//	uvarint  mutation count
//	per mutation:
//	  1      op (1 put, 2 delete, 3 append)
//	  1      space (primitive tag)
//	  1      flags: bit 0 = the mutation's run differs from the record's run
//	  [16]   run id, if flag bit 0
//	  uvarint key length, key bytes
//	  uvarint version (always the commit version)
//	  value  canonical value encoding, for put and append only
const mutFlagOtherRun = 1

// AppendWriteset appends the (pre-codec) body of c to dst.
func AppendWriteset(dst []byte, c *core.Commit) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c.Mutations)))
	for i := range c.Mutations {
		m := &c.Mutations[i]
		var flags byte
		if m.Run != c.Run {
			flags |= mutFlagOtherRun
		}
		dst = append(dst, byte(m.Op), byte(m.Space), flags)
		if flags&mutFlagOtherRun != 0 {
			dst = append(dst, m.Run[:]...)
		}
		dst = binary.AppendUvarint(dst, uint64(len(m.Key)))
		dst = append(dst, m.Key...)
		dst = binary.AppendUvarint(dst, m.Version)
		if m.Op != core.OpDelete {
			dst = value.AppendBinary(dst, m.Value)
		}
	}
	return dst
}

// AppendRecord appends the version 2 record of c to dst with a zero seal,
// which CheckSeal refuses in any segment: it frames a record for tools and
// tests that work on records alone. A segment's writer uses
// AppendSealedRecord.
func AppendRecord(dst []byte, c *core.Commit, cd codec.Codec, scratch []byte) (out, scratchOut []byte, err error) {
	return AppendSealedRecord(dst, c, cd, scratch, RecordSeal{})
}

// AppendSealedRecord appends the complete version 2 record of c to dst,
// sealed with seal, passing the writeset through cd. scratch is reused for
// the pre-codec body and returned for the next call.
func AppendSealedRecord(dst []byte, c *core.Commit, cd codec.Codec, scratch []byte, seal RecordSeal) (out, scratchOut []byte, err error) {
	scratch = AppendWriteset(scratch[:0], c)
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // length, patched below
	dst = append(dst, RecordVersion, 0)
	dst = le.AppendUint64(dst, c.Version)
	dst = append(dst, c.Run[:]...)
	dst = le.AppendUint64(dst, uint64(c.Time))
	dst = le.AppendUint32(dst, seal.Tag)
	dst = le.AppendUint64(dst, seal.Synced)
	dst, err = cd.Encode(dst, scratch)
	if err != nil {
		return dst[:start], scratch, fmt.Errorf("codec %s: encode: %w", cd.ID(), err)
	}
	n := len(dst) - start - 4 + recordCRCSize
	if n+4 > MaxRecordSize {
		return dst[:start], scratch, fmt.Errorf("record of %d bytes exceeds the maximum %d", n+4, MaxRecordSize)
	}
	le.PutUint32(dst[start:], uint32(n))
	dst = le.AppendUint32(dst, Checksum(dst[start+4:]))
	return dst, scratch, nil
}

// Reseal rewrites the seal of the version 2 record rec (as
// AppendSealedRecord produced it, exactly one record) and its checksum. A writer that
// decides to rotate after encoding a record moves it to the new segment
// this way.
func Reseal(rec []byte, seal RecordSeal) {
	le.PutUint32(rec[recordHeaderSizeV1:], seal.Tag)
	le.PutUint64(rec[recordHeaderSizeV1+4:], seal.Synced)
	le.PutUint32(rec[len(rec)-recordCRCSize:], Checksum(rec[4:len(rec)-recordCRCSize]))
}

// RecordProblem classifies why no record could be read at an offset.
type RecordProblem uint8

const (
	// RecordOK: a valid record.
	RecordOK RecordProblem = iota
	// RecordIncomplete: fewer bytes remain than the record needs (or than
	// a length field).
	RecordIncomplete
	// RecordInvalid: the bytes are not a valid record (bad length, bad
	// checksum, unknown version or flags).
	RecordInvalid
)

// RecordFrame is a record whose framing and checksum are valid; its body is
// still codec-encoded.
type RecordFrame struct {
	Format  uint8 // record format version
	Version uint64
	Run     core.RunID
	Time    int64
	// Seal is the segment tag and synced offset (zero in version 1).
	Seal RecordSeal
	Body []byte // aliases the input
	Size int    // bytes the record occupies, length field included
}

// ParseRecordFrame checks the framing and checksum of the record at the
// front of b without decoding its body. It accepts both record versions;
// whether the version and the seal fit the segment is the caller's check
// (CheckSeal).
func ParseRecordFrame(b []byte) (RecordFrame, RecordProblem, error) {
	if len(b) < 4 {
		return RecordFrame{}, RecordIncomplete, corrupt("%d bytes left, a record needs at least %d", len(b), MinRecordSize)
	}
	n := int64(le.Uint32(b))
	if n+4 < MinRecordSize || n+4 > MaxRecordSize {
		return RecordFrame{}, RecordInvalid, corrupt("record length %d out of range", n)
	}
	if n > int64(len(b)-4) {
		return RecordFrame{}, RecordIncomplete, corrupt("record length %d exceeds the %d bytes left", n, len(b)-4)
	}
	rec := b[:4+n]
	if got, want := le.Uint32(rec[len(rec)-4:]), Checksum(rec[4:len(rec)-4]); got != want {
		return RecordFrame{}, RecordInvalid, corrupt("record checksum %08x, want %08x", got, want)
	}
	hdrSize := recordHeaderSizeV1
	switch rec[4] {
	case RecordVersionV1:
	case RecordVersion:
		if len(rec) < MinRecordSizeV2 {
			return RecordFrame{}, RecordInvalid, corrupt("record length %d out of range", n)
		}
		hdrSize = recordHeaderSize
	default:
		return RecordFrame{}, RecordInvalid, corrupt("unsupported record format version %d", rec[4])
	}
	if rec[5] != 0 {
		return RecordFrame{}, RecordInvalid, corrupt("unknown record flags %#x", rec[5])
	}
	f := RecordFrame{
		Format:  rec[4],
		Version: le.Uint64(rec[6:]),
		Time:    int64(le.Uint64(rec[30:])),
		Body:    rec[hdrSize : len(rec)-4],
		Size:    len(rec),
	}
	if f.Format == RecordVersion {
		f.Seal = RecordSeal{Tag: le.Uint32(rec[38:]), Synced: le.Uint64(rec[42:])}
	}
	copy(f.Run[:], rec[14:30])
	if f.Version == 0 {
		return RecordFrame{}, RecordInvalid, corrupt("record with commit version 0")
	}
	return f, RecordOK, nil
}

// PeekRecordTag returns the segment tag field of a version 2 record at the
// front of b without verifying anything, and false if b is too short. A
// scanner can reject a candidate position with it before paying for the
// checksum.
func PeekRecordTag(b []byte) (uint32, bool) {
	if len(b) < MinRecordSizeV2 {
		return 0, false
	}
	return le.Uint32(b[recordHeaderSizeV1:]), true
}

// CheckSeal verifies that the record f, found at offset off of the
// segment with header h, belongs there: its format version is the
// segment's, and (version 2) its tag is the segment's and its synced
// offset lies between the header's end and off — a writer can only have
// synced bytes it wrote before this record.
func CheckSeal(f RecordFrame, h SegmentHeader, off int64) error {
	if want := h.RecordVersion(); f.Format != want {
		return corrupt("record format version %d in a version %d segment", f.Format, h.Version)
	}
	if f.Format == RecordVersionV1 {
		return nil
	}
	if want := h.Tag(); f.Seal.Tag != want {
		return corrupt("record tag %08x, want %08x: the record belongs to another segment", f.Seal.Tag, want)
	}
	if f.Seal.Synced < SegmentHeaderSize || f.Seal.Synced > uint64(off) {
		return corrupt("record at offset %d claims synced offset %d", off, f.Seal.Synced)
	}
	return nil
}

// DecodeRecord decodes a framed record's body through cd into a commit. The
// commit's keys and values share memory with the frame's body (or, for a
// codec other than identity, with the freshly decoded body): the caller must
// never modify the bytes the frame was parsed from afterwards.
func DecodeRecord(f RecordFrame, cd codec.Codec, maxDepth int) (*core.Commit, error) {
	body := f.Body
	if cd.ID() != codec.IdentityID {
		var err error
		if body, err = cd.Decode(nil, f.Body, maxWritesetBody); err != nil {
			return nil, corrupt("codec %s: decode: %v", cd.ID(), err)
		}
	}
	c := &core.Commit{Version: f.Version, Run: f.Run, Time: f.Time}
	muts, err := decodeWriteset(body, c, maxDepth)
	if err != nil {
		return nil, err
	}
	c.Mutations = muts
	return c, nil
}

func decodeWriteset(b []byte, c *core.Commit, maxDepth int) ([]core.Mutation, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, corrupt("writeset: bad mutation count")
	}
	off := n
	// Each mutation takes at least 5 bytes (op, space, flags, key length,
	// version), so a count larger than that allows is a lie.
	if count == 0 || count > uint64(len(b)-off)/5 {
		return nil, corrupt("writeset: %d mutations cannot fit in %d bytes", count, len(b)-off)
	}
	muts := make([]core.Mutation, count)
	for i := range muts {
		m := &muts[i]
		if len(b)-off < 3 {
			return nil, corrupt("writeset: mutation %d truncated", i)
		}
		m.Op, m.Space = core.Op(b[off]), core.PrimitiveType(b[off+1])
		flags := b[off+2]
		off += 3
		if !m.Op.Valid() {
			return nil, corrupt("writeset: mutation %d has unknown op %d", i, m.Op)
		}
		if !m.Space.Valid() {
			return nil, corrupt("writeset: mutation %d has unknown space %d", i, m.Space)
		}
		if flags&^mutFlagOtherRun != 0 {
			return nil, corrupt("writeset: mutation %d has unknown flags %#x", i, flags)
		}
		m.Run = c.Run
		if flags&mutFlagOtherRun != 0 {
			if len(b)-off < 16 {
				return nil, corrupt("writeset: mutation %d run truncated", i)
			}
			copy(m.Run[:], b[off:off+16])
			off += 16
		}
		klen, n := binary.Uvarint(b[off:])
		if n <= 0 || klen > uint64(len(b)-off-n) {
			return nil, corrupt("writeset: mutation %d key length invalid", i)
		}
		off += n
		m.Key = value.AliasString(b[off : off+int(klen)])
		off += int(klen)
		ver, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return nil, corrupt("writeset: mutation %d version invalid", i)
		}
		off += n
		if ver != c.Version {
			return nil, corrupt("writeset: mutation %d has version %d in a commit of version %d", i, ver, c.Version)
		}
		m.Version = ver
		if m.Op != core.OpDelete {
			v, n, err := value.DecodeAliasing(b[off:], maxDepth)
			if err != nil {
				return nil, corrupt("writeset: mutation %d value: %v", i, err)
			}
			m.Value = v
			off += n
		}
	}
	if off != len(b) {
		return nil, corrupt("writeset: %d trailing bytes", len(b)-off)
	}
	return muts, nil
}
