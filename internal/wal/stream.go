package wal

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/inmemdb/inmem/vfs"
)

// streamChunk is how much the background reader reads per call.
const streamChunk = 1 << 20

// streamFile reads a whole file into one buffer in the background, so that
// recovery can verify and decode the front of a segment while its rest is
// still being read: reading and decoding run on two cores. The buffer is
// never modified once filled, so decoded values may share its memory.
type streamFile struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	filled int
	done   bool
	err    error
}

// openStream starts reading path.
func openStream(fsys vfs.FS, path string) (*streamFile, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &streamFile{buf: make([]byte, st.Size())}
	s.cond.L = &s.mu
	go s.fill(f)
	return s, nil
}

func (s *streamFile) fill(f vfs.File) {
	defer f.Close()
	off := 0
	for {
		end := min(off+streamChunk, len(s.buf))
		n, err := io.ReadFull(f, s.buf[off:end])
		off += n
		s.mu.Lock()
		s.filled = off
		if err != nil || off == len(s.buf) {
			// The file cannot grow while the database is locked; a file that
			// shrank since its size was read just ends early.
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				s.err = err
			}
			s.done = true
		}
		s.cond.Broadcast()
		done := s.done
		s.mu.Unlock()
		if done {
			return
		}
	}
}

// upTo returns the file's bytes once at least n are read or the whole file
// is (whichever comes first).
func (s *streamFile) upTo(n int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.filled < n && !s.done {
		s.cond.Wait()
	}
	return s.buf[:s.filled], s.err
}

// all returns the whole file.
func (s *streamFile) all() ([]byte, error) { return s.upTo(len(s.buf) + 1) }

// record returns the file's bytes far enough to hold the record that starts
// at off, if its length field is plausible.
func (s *streamFile) record(off int) ([]byte, error) {
	data, err := s.upTo(off + 4)
	if err != nil || len(data) < off+4 {
		return data, err
	}
	n := int(binary.LittleEndian.Uint32(data[off:]))
	return s.upTo(off + 4 + min(n, len(s.buf)))
}
