package format

import (
	"encoding/binary"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// Snapshot file (SNAPSHOTS/snap-<id>.chk): a logical image of the whole
// database at watermark W.
//
// Header:
//
//	0   8  magic "INMEMSNP"
//	8   4  format version (1)
//	12  8  snapshot id
//	20  8  watermark W (every commit <= W is in the image, none after)
//	28  8  creation time (µs)
//	36  16 database UUID
//	52  1  codec ID length n
//	53  n  codec ID
//	..  4  CRC-32C of the header bytes before it
//
// Then sections, each:
//
//	1  section type (1 = entities; 2 = trim floors, reserved; readers
//	   refuse unknown types)
//	4  item count (entities in the section)
//	4  encoded body length B
//	B  body, passed through the codec
//	4  CRC-32C of the type, count, length and body bytes
//
// Then the footer:
//
//	8  magic "INMEMEND"
//	4  section count
//	8  entity count
//	8  version count
//	8  newest commit timestamp in the image (µs; the time of W)
//	4  CRC-32C of every byte of the file before this field
//
// An entities body (before the codec) is a sequence of entities, each:
//
//	16       run id
//	1        space (primitive tag)
//	uvarint  key length, key bytes
//	uvarint  version count (>= 1)
//	per version, oldest first:
//	  uvarint  commit version (strictly increasing within the entity, <= W)
//	  varint   commit timestamp (µs)
//	  1        flags: bit 0 = tombstone
//	  value    canonical value encoding, unless a tombstone
const (
	SnapshotMagic   = "INMEMSNP"
	SnapshotVersion = 1
	FooterMagic     = "INMEMEND"
	// SectionEntities holds entities and their retained versions.
	SectionEntities = 1
	// SectionTrimFloors is reserved for retention trim floors.
	SectionTrimFloors = 2
	// FooterSize is the size of the footer.
	FooterSize = 8 + 4 + 8 + 8 + 8 + 4
	// SectionHeaderSize is the framing before a section's body.
	SectionHeaderSize = 1 + 4 + 4
	// MaxSectionBody bounds one encoded section body.
	MaxSectionBody = 256 << 20
	// MaxSnapshotHeader bounds the header.
	MaxSnapshotHeader = 53 + 64 + 4
)

// SnapshotHeader describes a snapshot.
type SnapshotHeader struct {
	ID        uint64
	Watermark uint64
	Created   int64
	UUID      UUID
	CodecID   string
}

// AppendSnapshotHeader appends the encoded header.
func AppendSnapshotHeader(dst []byte, h SnapshotHeader) []byte {
	start := len(dst)
	dst = append(dst, SnapshotMagic...)
	dst = le.AppendUint32(dst, SnapshotVersion)
	dst = le.AppendUint64(dst, h.ID)
	dst = le.AppendUint64(dst, h.Watermark)
	dst = le.AppendUint64(dst, uint64(h.Created))
	dst = append(dst, h.UUID[:]...)
	dst = append(dst, byte(len(h.CodecID)))
	dst = append(dst, h.CodecID...)
	return le.AppendUint32(dst, Checksum(dst[start:]))
}

// DecodeSnapshotHeader decodes the header at the front of b and returns it
// with its size.
func DecodeSnapshotHeader(b []byte) (SnapshotHeader, int, error) {
	var h SnapshotHeader
	if len(b) < 53 {
		return h, 0, corrupt("snapshot header truncated (%d bytes)", len(b))
	}
	n := int(b[52])
	size := 53 + n + 4
	if n == 0 || n > 64 || len(b) < size {
		return h, 0, corrupt("snapshot header truncated or codec ID length %d invalid", n)
	}
	if got, want := le.Uint32(b[size-4:]), Checksum(b[:size-4]); got != want {
		return h, 0, corrupt("snapshot header checksum %08x, want %08x", got, want)
	}
	if string(b[:8]) != SnapshotMagic {
		return h, 0, corrupt("bad snapshot magic %q", b[:8])
	}
	if v := le.Uint32(b[8:]); v != SnapshotVersion {
		return h, 0, corrupt("unsupported snapshot format version %d", v)
	}
	h.ID = le.Uint64(b[12:])
	h.Watermark = le.Uint64(b[20:])
	h.Created = int64(le.Uint64(b[28:]))
	copy(h.UUID[:], b[36:52])
	h.CodecID = string(b[53 : 53+n])
	if !codec.ValidID(h.CodecID) {
		return h, 0, corrupt("snapshot codec ID %q invalid", h.CodecID)
	}
	return h, size, nil
}

// SnapshotVersionRec is one retained version of an entity.
type SnapshotVersionRec struct {
	Version   uint64
	Time      int64
	Tombstone bool
	Value     value.Value
}

// SnapshotEntity is one entity with its retained versions, oldest first.
type SnapshotEntity struct {
	Run      core.RunID
	Space    core.PrimitiveType
	Key      string
	Versions []SnapshotVersionRec
}

// AppendEntity appends the pre-codec encoding of one entity.
func AppendEntity(dst []byte, e *SnapshotEntity) []byte {
	dst = append(dst, e.Run[:]...)
	dst = append(dst, byte(e.Space))
	dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
	dst = append(dst, e.Key...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Versions)))
	for i := range e.Versions {
		v := &e.Versions[i]
		dst = binary.AppendUvarint(dst, v.Version)
		dst = binary.AppendVarint(dst, v.Time)
		if v.Tombstone {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
			dst = value.AppendBinary(dst, v.Value)
		}
	}
	return dst
}

// AppendSection appends a framed section: its body is passed through cd.
func AppendSection(dst []byte, typ byte, count int, body []byte, cd codec.Codec) ([]byte, error) {
	start := len(dst)
	dst = append(dst, typ)
	dst = le.AppendUint32(dst, uint32(count))
	dst = append(dst, 0, 0, 0, 0) // body length, patched below
	bodyStart := len(dst)
	dst, err := cd.Encode(dst, body)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - bodyStart
	if n > MaxSectionBody {
		return dst[:start], corrupt("section body of %d bytes exceeds %d", n, MaxSectionBody)
	}
	le.PutUint32(dst[start+5:], uint32(n))
	return le.AppendUint32(dst, Checksum(dst[start:])), nil
}

// SectionFrame is a section header read from disk.
type SectionFrame struct {
	Type    byte
	Count   uint32
	BodyLen uint32
}

// DecodeSectionHeader decodes the framing before a section body, checking
// the body length against the bytes remaining.
func DecodeSectionHeader(b []byte, remaining int64) (SectionFrame, error) {
	if len(b) < SectionHeaderSize {
		return SectionFrame{}, corrupt("section header truncated")
	}
	f := SectionFrame{Type: b[0], Count: le.Uint32(b[1:]), BodyLen: le.Uint32(b[5:])}
	if f.Type != SectionEntities && f.Type != SectionTrimFloors {
		return f, corrupt("unknown section type %d", f.Type)
	}
	if f.BodyLen > MaxSectionBody || int64(f.BodyLen)+4 > remaining {
		return f, corrupt("section body length %d exceeds the bytes remaining or the maximum", f.BodyLen)
	}
	return f, nil
}

// VerifySection checks a section's checksum: hdr is its framing, body its
// encoded body, crc the stored checksum.
func VerifySection(hdr, body []byte, crc uint32) error {
	if got := UpdateChecksum(Checksum(hdr), body); got != crc {
		return corrupt("section checksum %08x, want %08x", got, crc)
	}
	return nil
}

// DecodeEntities decodes an entities body (after the codec), calling fn for
// each entity. It checks versions are strictly increasing and <= watermark.
// Keys and values share memory with b: the caller must never modify b
// afterwards.
func DecodeEntities(b []byte, count uint32, watermark uint64, fn func(e *SnapshotEntity) error) error {
	off := 0
	var e SnapshotEntity
	for i := uint32(0); i < count; i++ {
		if len(b)-off < 16+1+1+1 {
			return corrupt("entity %d truncated", i)
		}
		copy(e.Run[:], b[off:off+16])
		e.Space = core.PrimitiveType(b[off+16])
		off += 17
		if !e.Space.Valid() {
			return corrupt("entity %d has unknown space %d", i, e.Space)
		}
		klen, n := binary.Uvarint(b[off:])
		if n <= 0 || klen > uint64(len(b)-off-n) {
			return corrupt("entity %d key length invalid", i)
		}
		off += n
		e.Key = value.AliasString(b[off : off+int(klen)])
		off += int(klen)
		vcount, n := binary.Uvarint(b[off:])
		// Each version takes at least 3 bytes.
		if n <= 0 || vcount == 0 || vcount > uint64(len(b)-off-n)/3 {
			return corrupt("entity %d version count invalid", i)
		}
		off += n
		e.Versions = make([]SnapshotVersionRec, vcount)
		prev := uint64(0)
		for j := range e.Versions {
			v := &e.Versions[j]
			ver, n := binary.Uvarint(b[off:])
			if n <= 0 {
				return corrupt("entity %d version %d invalid", i, j)
			}
			off += n
			if ver <= prev || ver > watermark {
				return corrupt("entity %d version %d is %d (previous %d, watermark %d)", i, j, ver, prev, watermark)
			}
			prev, v.Version = ver, ver
			ts, n := binary.Varint(b[off:])
			if n <= 0 || off+n >= len(b) {
				return corrupt("entity %d version %d timestamp invalid", i, j)
			}
			off += n
			v.Time = ts
			flags := b[off]
			off++
			switch flags {
			case 1:
				v.Tombstone = true
			case 0:
				val, n, err := value.DecodeAliasing(b[off:], value.MaxDecodeDepth)
				if err != nil {
					return corrupt("entity %d version %d value: %v", i, j, err)
				}
				v.Value = val
				off += n
			default:
				return corrupt("entity %d version %d flags %#x", i, j, flags)
			}
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if off != len(b) {
		return corrupt("%d trailing bytes after %d entities", len(b)-off, count)
	}
	return nil
}

// SnapshotFooter closes a snapshot.
type SnapshotFooter struct {
	Sections uint32
	Entities uint64
	Versions uint64
	LastTime int64 // newest commit timestamp in the image
}

// AppendFooterBody appends the footer without its checksum field, which is
// the checksum of every byte of the file before it (the caller computes it
// while writing).
func AppendFooterBody(dst []byte, f SnapshotFooter) []byte {
	dst = append(dst, FooterMagic...)
	dst = le.AppendUint32(dst, f.Sections)
	dst = le.AppendUint64(dst, f.Entities)
	dst = le.AppendUint64(dst, f.Versions)
	return le.AppendUint64(dst, uint64(f.LastTime))
}

// DecodeFooterBody decodes the footer without its checksum field.
func DecodeFooterBody(b []byte) (SnapshotFooter, error) {
	if len(b) != FooterSize-4 || string(b[:8]) != FooterMagic {
		return SnapshotFooter{}, corrupt("bad snapshot footer")
	}
	return SnapshotFooter{Sections: le.Uint32(b[8:]), Entities: le.Uint64(b[12:]), Versions: le.Uint64(b[20:]), LastTime: int64(le.Uint64(b[28:]))}, nil
}
