/*
Package snapshot writes and reads snapshots: logical images of the whole
database at a watermark W, holding every retained version of every entity
at or below W (tombstones included) and nothing above it. A snapshot lets
recovery skip the WAL up to W and lets WAL-only compaction delete it.

# Naming

Snapshots live in <dir>/SNAPSHOTS as snap-<id>.chk, id >= 1 written
zero-padded to ten digits and parsed at any width (ParseFileName). A
snapshot is written as snap-<id>.chk.tmp first; a .tmp file found at Open
is garbage from an interrupted checkpoint. Ids only grow: a checkpoint takes
one more than any snapshot file present, so a name is never reused, even
for a file left behind by a failed checkpoint.

# Framing

Integers are little-endian and every checksum is CRC-32C (Castagnoli). A
file is a header, sections, and a footer.

The header names the snapshot and the database it belongs to:

	0   8  magic "INMEMSNP"
	8   4  format version (1)
	12  8  snapshot id
	20  8  watermark W
	28  8  creation time (µs since the Unix epoch)
	36  16 database UUID
	52  1  codec ID length n (1..64)
	53  n  codec ID
	..  4  CRC-32C of the header bytes before it

Each section frames one body that went through the codec:

	1  type: 1 entities, 2 trim floors (reserved); others are refused
	4  item count
	4  encoded body length B (at most 256 MiB, and within the file)
	B  body, after the codec
	4  CRC-32C of the type, count, length and body

Before the codec, an entities body is count entities: run id (16 bytes),
space (1 byte, a primitive tag), uvarint key length and key, uvarint
version count (>= 1), then per version, oldest first: uvarint commit
version (strictly increasing, <= W), varint timestamp, a flags byte (bit 0:
tombstone) and, unless a tombstone, the value in its canonical encoding.
Entities come in a deterministic order (runs by id, spaces by tag, keys
ascending), so one logical state always gives the same bytes. A writer
closes a section once its body reaches WriteOptions.SectionBytes (1 MiB by
default).

The footer closes the file and lets a reader tell a whole file from a
truncated one:

	8  magic "INMEMEND"
	4  section count
	8  entity count
	8  version count
	8  newest commit timestamp in the image (µs)
	4  CRC-32C of every byte of the file before this field

The file ends right after the footer. docs/FORMAT.md has the same layout;
internal/format encodes and decodes it.

# Checksums and hostile input

Read trusts no byte of the file. It verifies the header's checksum before
using any of its fields, a section's checksum before handing its body to the
codec, and at the end the whole-file checksum and the footer's counts
against what it decoded. Every length read from the file is checked against
a fixed maximum and against the bytes left in the file before anything of
that size is allocated, so a damaged or crafted file costs memory in
proportion to its own size, never to a length it claims. The codec's output
is bounded too (codec.Codec).

# Publication

Write publishes a snapshot in four steps:

 1. remove a leftover snap-<id>.chk.tmp;
 2. create snap-<id>.chk.tmp, write header, sections and footer, fsync,
    close;
 3. rename it to snap-<id>.chk;
 4. fsync the SNAPSHOTS directory, so that the name is durable.

Only after step 4 may the MANIFEST name the snapshot (internal/manifest).
A crash at any step leaves the old MANIFEST naming the old snapshot; the new
file, under either name, is garbage the next Open removes. A file under the
final name is always whole, because its bytes were fsynced before the
rename.

# Errors

Every error is a *dberr.Error. A missing file (the MANIFEST names it) and
damage — a bad checksum, magic, length, count, order, a truncation, trailing
bytes, a foreign database UUID, an id or watermark other than the MANIFEST's
— is Corruption naming the file and the offset of the damaged structure. A
snapshot written with another codec is CodecMismatch. An I/O error is
Internal wrapping the cause, never Corruption: the file may be intact. Write
refuses id 0 and an invalid codec ID with InvalidArgument before writing
anything; its other errors are Internal, or Canceled/DeadlineExceeded when
its context ends; after any of them nothing is published: the temporary file
is removed, and so is the final one if the directory fsync after the rename
failed (that fsync is not retried).
*/
package snapshot
