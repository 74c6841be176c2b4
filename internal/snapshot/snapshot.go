package snapshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/vfs"
)

// FileName returns the file name of snapshot id.
func FileName(id uint64) string { return fmt.Sprintf("snap-%010d.chk", id) }

// ParseFileName returns the id of a snapshot file name.
func ParseFileName(name string) (uint64, bool) {
	return format.ParseNumberedName(name, "snap-", ".chk")
}

// WriteOptions configure Write.
type WriteOptions struct {
	FS        vfs.FS
	Dir       string // the SNAPSHOTS directory
	ID        uint64
	Watermark uint64
	UUID      format.UUID
	Codec     codec.Codec
	Created   int64
	// SectionBytes is the target size of a section body before the codec
	// (default 1 MiB).
	SectionBytes int
	// Progress, if set, is called after each section with the entities
	// written so far.
	Progress func(entities uint64)
}

// Info describes a written snapshot.
type Info struct {
	Path     string
	Bytes    int64
	Entities uint64
	Versions uint64
	LastTime int64
}

// crcWriter checksums everything written through it.
type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	return n, err
}

// Source is what a snapshot is written from: the engine, or a test's
// stand-in.
type Source interface {
	// ForEachEntity calls fn for every entity that has a version at or
	// below snap, with those versions oldest first, runs by id, spaces by
	// tag, keys ascending. It stops at fn's first error and returns it.
	// vs is valid only during the call.
	ForEachEntity(snap uint64, fn func(run core.RunID, space core.PrimitiveType, key string, vs []core.VersionRec) error) error
}

// Write writes the snapshot of src at o.Watermark and publishes the file.
// It returns once snap-<id>.chk and its directory entry are durable. On
// error nothing is published: the temporary file and, if the rename was
// done, the final one are removed (best effort: recovery removes what is
// left). A canceled ctx gives a Canceled or DeadlineExceeded error, any
// other failure an Internal error wrapping its cause.
func Write(ctx context.Context, o WriteOptions, src Source) (Info, error) {
	// Either would give a file nothing accepts: ParseFileName refuses id
	// 0, so cleanup would never remove it, and a reader refuses the header.
	if o.ID == 0 {
		return Info{}, dberr.New(dberr.InvalidArgument, "snapshot.Write", "snapshot id 0")
	}
	if !codec.ValidID(o.Codec.ID()) {
		return Info{}, dberr.New(dberr.InvalidArgument, "snapshot.Write", "codec ID %q is not 1 to 64 printable ASCII bytes", o.Codec.ID())
	}
	if o.SectionBytes <= 0 {
		o.SectionBytes = 1 << 20
	}
	final := filepath.Join(o.Dir, FileName(o.ID))
	tmp := final + ".tmp"
	renamed := false
	info, err := func() (Info, error) {
		if err := o.FS.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Info{}, err
		}
		f, err := o.FS.Create(tmp)
		if err != nil {
			return Info{}, err
		}
		info, err := write(ctx, o, src, f)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Info{}, err
		}
		if err := o.FS.Rename(tmp, final); err != nil {
			return Info{}, err
		}
		renamed = true
		// Until the directory is synced, the rename may not survive a
		// crash: the file is not published yet.
		return info, o.FS.SyncDir(o.Dir)
	}()
	if err != nil {
		o.FS.Remove(tmp)
		if renamed {
			// The directory sync failed: whether the name is durable is
			// unknown, and the sync is not retried. Take the name back so
			// that an error always means nothing was published; the
			// MANIFEST does not name the file either way.
			o.FS.Remove(final)
		}
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return Info{}, dberr.FromContext("snapshot.Write", ctxErr)
		}
		return Info{}, dberr.Wrap(dberr.Internal, "snapshot.Write", err, "writing %s", final)
	}
	info.Path = final
	return info, nil
}

func write(ctx context.Context, o WriteOptions, src Source, f vfs.File) (Info, error) {
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := &crcWriter{w: bw}
	var info Info
	var footer format.SnapshotFooter
	if _, err := cw.Write(format.AppendSnapshotHeader(nil, format.SnapshotHeader{
		ID: o.ID, Watermark: o.Watermark, Created: o.Created, UUID: o.UUID, CodecID: o.Codec.ID(),
	})); err != nil {
		return info, err
	}
	var body, section []byte
	count := 0
	flush := func() error {
		if count == 0 {
			return nil
		}
		var err error
		section, err = format.AppendSection(section[:0], format.SectionEntities, count, body, o.Codec)
		if err != nil {
			return err
		}
		if _, err := cw.Write(section); err != nil {
			return err
		}
		footer.Sections++
		body, count = body[:0], 0
		if o.Progress != nil {
			o.Progress(footer.Entities)
		}
		return ctx.Err()
	}
	var ent format.SnapshotEntity
	err := src.ForEachEntity(o.Watermark, func(run core.RunID, space core.PrimitiveType, key string, vs []core.VersionRec) error {
		ent.Run, ent.Space, ent.Key = run, space, key
		ent.Versions = ent.Versions[:0]
		for _, v := range vs {
			ent.Versions = append(ent.Versions, format.SnapshotVersionRec(v))
			footer.LastTime = max(footer.LastTime, v.Time)
		}
		body = format.AppendEntity(body, &ent)
		count++
		footer.Entities++
		footer.Versions += uint64(len(vs))
		if len(body) >= o.SectionBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return info, err
	}
	if _, err := cw.Write(format.AppendFooterBody(nil, footer)); err != nil {
		return info, err
	}
	var crc [4]byte
	le32(crc[:], cw.crc)
	if _, err := cw.Write(crc[:]); err != nil {
		return info, err
	}
	if err := bw.Flush(); err != nil {
		return info, err
	}
	info.Bytes, info.Entities, info.Versions, info.LastTime = cw.n, footer.Entities, footer.Versions, footer.LastTime
	return info, nil
}

func le32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }

// ReadOptions configure Read.
type ReadOptions struct {
	FS    vfs.FS
	Path  string
	UUID  format.UUID
	Codec codec.Codec
	// ID and Watermark, when not zero, must match the header (the MANIFEST's
	// record of the snapshot).
	ID, Watermark uint64
}

// Result describes a snapshot that was read.
type Result struct {
	Header format.SnapshotHeader
	Footer format.SnapshotFooter
	Bytes  int64
}

// crcReader checksums everything read through it.
type crcReader struct {
	r   io.Reader
	crc uint32
	n   int64
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	return n, err
}

// Read verifies the snapshot at o.Path and calls apply for every entity.
// Any damage is a Corruption error naming the file and offset; an I/O error
// is an Internal error wrapping it; an error from apply is returned as it
// is. apply may be called for entities of a snapshot that later fails
// verification; the caller discards what it built then.
func Read(o ReadOptions, apply func(e *format.SnapshotEntity) error) (Result, error) {
	var res Result
	st, err := o.FS.Stat(o.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return res, dberr.NewCorruption(o.Path, -1, "the snapshot named by the MANIFEST is missing")
		}
		return res, dberr.Wrap(dberr.Internal, "snapshot", err, "stat %s", o.Path)
	}
	size := st.Size()
	f, err := o.FS.Open(o.Path)
	if err != nil {
		return res, dberr.Wrap(dberr.Internal, "snapshot", err, "open %s", o.Path)
	}
	defer f.Close()
	// A buffer no larger than the file: opening a small database should not
	// cost a megabyte.
	cr := &crcReader{r: bufio.NewReaderSize(f, int(min(size, 1<<20)))}
	// ioErr is set when a read fails for another reason than the file's
	// end: that is an I/O error, not damage, and ends the read as such.
	var ioErr error
	readFull := func(b []byte) error {
		_, err := io.ReadFull(cr, b)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			ioErr = dberr.Wrap(dberr.Internal, "snapshot.Read", err, "reading %s", o.Path)
			return ioErr
		}
		return err
	}
	bad := func(off int64, err error) error {
		if ioErr != nil {
			return ioErr
		}
		return dberr.NewCorruption(o.Path, off, "%v", err)
	}
	// Header: its fixed part tells the codec ID length.
	hb := make([]byte, 53)
	if err := readFull(hb); err != nil {
		return res, bad(0, fmt.Errorf("header: %w", err))
	}
	n := int(hb[52])
	if n == 0 || n > 64 {
		return res, bad(52, fmt.Errorf("codec ID length %d", n))
	}
	rest := make([]byte, n+4)
	if err := readFull(rest); err != nil {
		return res, bad(53, fmt.Errorf("header: %w", err))
	}
	hdr, _, err := format.DecodeSnapshotHeader(append(hb, rest...))
	if err != nil {
		return res, bad(0, err)
	}
	res.Header = hdr
	switch {
	case hdr.UUID != o.UUID:
		return res, bad(36, fmt.Errorf("snapshot belongs to database %s, not %s", hdr.UUID, o.UUID))
	case hdr.CodecID != o.Codec.ID():
		return res, dberr.New(dberr.CodecMismatch, "snapshot", "%s was written with codec %q, opened with %q", o.Path, hdr.CodecID, o.Codec.ID())
	case o.ID != 0 && hdr.ID != o.ID:
		return res, bad(12, fmt.Errorf("snapshot id %d, the MANIFEST expects %d", hdr.ID, o.ID))
	case o.ID != 0 && hdr.Watermark != o.Watermark:
		return res, bad(20, fmt.Errorf("snapshot watermark %d, the MANIFEST expects %d", hdr.Watermark, o.Watermark))
	}
	var got format.SnapshotFooter
	var body []byte
	frame := make([]byte, format.SectionHeaderSize)
	for {
		off := cr.n
		if err := readFull(frame[:1]); err != nil {
			return res, bad(off, fmt.Errorf("truncated before the footer: %w", err))
		}
		if frame[0] == format.FooterMagic[0] {
			break
		}
		if err := readFull(frame[1:]); err != nil {
			return res, bad(off, fmt.Errorf("section header: %w", err))
		}
		sf, err := format.DecodeSectionHeader(frame, size-cr.n)
		if err != nil {
			return res, bad(off, err)
		}
		if cap(body) < int(sf.BodyLen)+4 {
			body = make([]byte, sf.BodyLen+4)
		}
		body = body[:sf.BodyLen+4]
		if err := readFull(body); err != nil {
			return res, bad(off, fmt.Errorf("section body: %w", err))
		}
		crc := uint32(body[sf.BodyLen]) | uint32(body[sf.BodyLen+1])<<8 | uint32(body[sf.BodyLen+2])<<16 | uint32(body[sf.BodyLen+3])<<24
		if err := format.VerifySection(frame, body[:sf.BodyLen], crc); err != nil {
			return res, bad(off, err)
		}
		// A fresh buffer per section: the decoded values share its memory.
		plain, err := o.Codec.Decode(nil, body[:sf.BodyLen], format.MaxSectionBody)
		if err != nil {
			return res, bad(off, fmt.Errorf("codec %s: %v", o.Codec.ID(), err))
		}
		got.Sections++
		if sf.Type != format.SectionEntities {
			continue // trim floors: reserved, nothing to apply yet
		}
		var applyErr error
		err = format.DecodeEntities(plain, sf.Count, hdr.Watermark, func(e *format.SnapshotEntity) error {
			got.Entities++
			got.Versions += uint64(len(e.Versions))
			for _, v := range e.Versions {
				got.LastTime = max(got.LastTime, v.Time)
			}
			applyErr = apply(e)
			return applyErr
		})
		if applyErr != nil {
			return res, applyErr // the caller's, not damage to the file
		}
		if err != nil {
			return res, bad(off, err)
		}
	}
	footOff := cr.n - 1
	fb := make([]byte, format.FooterSize)
	fb[0] = format.FooterMagic[0]
	if err := readFull(fb[1 : format.FooterSize-4]); err != nil {
		return res, bad(footOff, fmt.Errorf("footer: %w", err))
	}
	wantCRC := cr.crc
	if err := readFull(fb[format.FooterSize-4:]); err != nil {
		return res, bad(footOff, fmt.Errorf("footer: %w", err))
	}
	foot, err := format.DecodeFooterBody(fb[:format.FooterSize-4])
	if err != nil {
		return res, bad(footOff, err)
	}
	stored := uint32(fb[format.FooterSize-4]) | uint32(fb[format.FooterSize-3])<<8 | uint32(fb[format.FooterSize-2])<<16 | uint32(fb[format.FooterSize-1])<<24
	if stored != wantCRC {
		return res, bad(footOff, fmt.Errorf("file checksum %08x, want %08x", wantCRC, stored))
	}
	if foot != got {
		return res, bad(footOff, fmt.Errorf("footer says %+v, the file holds %+v", foot, got))
	}
	if cr.n != size {
		return res, bad(cr.n, fmt.Errorf("%d bytes after the footer", size-cr.n))
	}
	res.Footer, res.Bytes = foot, size
	return res, nil
}
