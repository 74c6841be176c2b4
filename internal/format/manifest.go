package format

import "github.com/inmemdb/inmem/internal/codec"

// MANIFEST — physical metadata only:
//
//	0   8  magic "INMEMMAN"
//	8   4  format version (1)
//	12  16 database UUID
//	28  1  codec ID length n (1..64)
//	29  n  codec ID (printable ASCII)
//	..  8  active WAL segment number (0: none yet)
//	..  1  snapshot present (0 or 1)
//	..  8  snapshot id (0 when absent)
//	..  8  snapshot watermark (0 when absent)
//	..  4  CRC-32C of every preceding byte
//
// The file is exactly that long; anything else is corruption.
const (
	ManifestMagic   = "INMEMMAN"
	ManifestVersion = 1
	// MaxManifestSize bounds the file (a longer one is corrupt).
	MaxManifestSize = 8 + 4 + 16 + 1 + 64 + 8 + 1 + 8 + 8 + 4
)

// Manifest is the decoded MANIFEST.
type Manifest struct {
	UUID          UUID
	CodecID       string
	ActiveSegment uint64
	// HasSnapshot tells whether SnapshotID and SnapshotWatermark are set
	// (a watermark of 0 is a valid snapshot of an empty database).
	HasSnapshot       bool
	SnapshotID        uint64
	SnapshotWatermark uint64
}

// AppendManifest appends the encoding of m to dst.
func AppendManifest(dst []byte, m Manifest) []byte {
	start := len(dst)
	dst = append(dst, ManifestMagic...)
	dst = le.AppendUint32(dst, ManifestVersion)
	dst = append(dst, m.UUID[:]...)
	dst = append(dst, byte(len(m.CodecID)))
	dst = append(dst, m.CodecID...)
	dst = le.AppendUint64(dst, m.ActiveSegment)
	if m.HasSnapshot {
		dst = append(dst, 1)
		dst = le.AppendUint64(dst, m.SnapshotID)
		dst = le.AppendUint64(dst, m.SnapshotWatermark)
	} else {
		dst = append(dst, 0)
		dst = le.AppendUint64(dst, 0)
		dst = le.AppendUint64(dst, 0)
	}
	return le.AppendUint32(dst, Checksum(dst[start:]))
}

// DecodeManifest decodes a whole MANIFEST file.
func DecodeManifest(b []byte) (Manifest, error) {
	var m Manifest
	const fixed = 8 + 4 + 16 + 1 + 8 + 1 + 8 + 8 + 4
	if len(b) < fixed || len(b) > MaxManifestSize {
		return m, corrupt("MANIFEST is %d bytes", len(b))
	}
	body := b[:len(b)-4]
	if got, want := le.Uint32(b[len(b)-4:]), Checksum(body); got != want {
		return m, corrupt("MANIFEST checksum %08x, want %08x", got, want)
	}
	if string(b[:8]) != ManifestMagic {
		return m, corrupt("bad MANIFEST magic %q", b[:8])
	}
	if v := le.Uint32(b[8:]); v != ManifestVersion {
		return m, corrupt("unsupported MANIFEST format version %d", v)
	}
	copy(m.UUID[:], b[12:28])
	n := int(b[28])
	if len(b) != fixed+n {
		return m, corrupt("MANIFEST is %d bytes, its codec ID length says %d", len(b), fixed+n)
	}
	m.CodecID = string(b[29 : 29+n])
	if !codec.ValidID(m.CodecID) {
		return m, corrupt("MANIFEST codec ID %q is invalid", m.CodecID)
	}
	p := 29 + n
	m.ActiveSegment = le.Uint64(b[p:])
	switch b[p+8] {
	case 0:
	case 1:
		m.HasSnapshot = true
	default:
		return m, corrupt("MANIFEST snapshot presence flag is %d", b[p+8])
	}
	m.SnapshotID = le.Uint64(b[p+9:])
	m.SnapshotWatermark = le.Uint64(b[p+17:])
	if !m.HasSnapshot && (m.SnapshotID != 0 || m.SnapshotWatermark != 0) {
		return m, corrupt("MANIFEST has no snapshot but a snapshot id or watermark")
	}
	return m, nil
}
