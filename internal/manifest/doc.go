/*
Package manifest reads and atomically replaces a database's MANIFEST, the
one file that says which other files make up the database.

# Naming

The MANIFEST is <dir>/MANIFEST. While a new one is written it is called
<dir>/MANIFEST.tmp; a MANIFEST.tmp found at Open is garbage from a write a
crash interrupted, and recovery removes it.

# Content

The file holds physical metadata only, never options or policies:

	off  size  field
	0    8     magic "INMEMMAN"
	8    4     format version (1)
	12   16    database UUID
	28   1     codec ID length n (1..64)
	29   n     codec ID (printable ASCII)
	29+n 8     active WAL segment number (0: none yet)
	37+n 1     snapshot present: 0 or 1
	38+n 8     snapshot id (0 when absent)
	46+n 8     snapshot watermark (0 when absent; 0 is also the watermark
	           of a snapshot of the empty database, hence the flag)
	54+n 4     CRC-32C (Castagnoli) of bytes 0 .. 54+n

Integers are little-endian. The file is exactly 58+n bytes: anything
shorter, longer, with another magic or version, a codec ID that is not
printable ASCII, a presence flag other than 0 or 1, an absent snapshot with
a non-zero id or watermark, or a checksum that does not match is a
Corruption error. There is one encoding per MANIFEST, so a file that decodes
encodes back to the same bytes. Read never reads more than one byte past
the largest valid size, whatever the file's size.

# Publication

Write replaces the MANIFEST in four steps:

 1. remove a leftover MANIFEST.tmp;
 2. create MANIFEST.tmp, write the new content, fsync it, close it;
 3. rename MANIFEST.tmp over MANIFEST;
 4. fsync the directory, so that the rename is durable.

rename is atomic, so a crash at any step leaves either the old MANIFEST or
the new one, never a mix; after step 4 it is the new one. Because the new
content is fsynced before the rename, the name never points at bytes that a
crash could lose.

Callers keep one rule: the MANIFEST never names a file that is not durable.
The WAL segment or snapshot it names was fsynced, and its directory entry
fsynced, before Write is called.

# Errors

Every error is a *dberr.Error. A missing MANIFEST is NotFound (and
errors.Is(err, fs.ErrNotExist) holds); damaged content is Corruption naming
the file; an I/O error is Internal, wrapping the cause. Write refuses with
InvalidArgument, before touching any file, a MANIFEST it could not read back
(a codec ID that is not 1..64 printable ASCII bytes). An I/O error is never
reported as Corruption: the file may be intact.

When Write fails, the MANIFEST is the old or the new one, whole (new only if
the failure came after the rename, at the directory fsync, whose outcome is
then unknown), and MANIFEST.tmp has been removed. A failed fsync is never
retried: after one, the kernel may have dropped the dirty pages, and a
second fsync would report success for data that is gone.
*/
package manifest
