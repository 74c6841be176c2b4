package benchkit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Baselines returns the floors every table is read against: a Go map
// behind a mutex (memory), and a raw log file that is appended and
// fdatasynced per commit, alone (raw append) or with one fdatasync per
// batch of concurrent writers (ideal group commit).
func Baselines() []Spec {
	return []Spec{
		{Name: "go map+mutex", Kind: KindBaseline, Modes: map[Mode]string{Memory: ""}, New: func() Engine { return &mapEngine{} }},
		{Name: "raw append+fdatasync", Kind: KindBaseline, Modes: map[Mode]string{Durable: ""}, New: func() Engine { return &rawEngine{} }},
		{Name: "raw ideal group commit", Kind: KindBaseline, Modes: map[Mode]string{Durable: ""}, New: func() Engine { return &rawEngine{group: true} }, NoRecovery: true},
	}
}

// mapEngine is the in-memory floor: what a store costs when it does
// nothing but keep the bytes.
type mapEngine struct {
	mu sync.RWMutex
	m  map[string]string
}

func (e *mapEngine) Open(string, Mode) error {
	e.m = make(map[string]string)
	return nil
}

func (e *mapEngine) Put(key, value []byte) error {
	// A store must own its bytes: the caller may reuse both buffers.
	k, v := string(key), string(value)
	e.mu.Lock()
	e.m[k] = v
	e.mu.Unlock()
	return nil
}

func (e *mapEngine) PutBatch(keys, values [][]byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range keys {
		e.m[string(keys[i])] = string(values[i])
	}
	return nil
}

func (e *mapEngine) Get(key, dst []byte) ([]byte, bool, error) {
	e.mu.RLock()
	v, ok := e.m[string(key)]
	e.mu.RUnlock()
	return append(dst, v...), ok, nil
}

func (e *mapEngine) Count() (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.m), nil
}

func (e *mapEngine) Close() error {
	e.m = nil
	return nil
}

// rawEngine appends length- and CRC-framed records to one file and
// fdatasyncs before acknowledging. It has no index, so Get is refused;
// Count and Open read the whole log back, which makes Open the raw
// recovery baseline (sequential read plus checksum).
type rawEngine struct {
	group bool

	mu       sync.Mutex
	cond     sync.Cond
	f        *os.File
	path     string
	pending  []byte
	spare    []byte
	off      int64  // end of the records
	alloc    int64  // bytes preallocated
	appended uint64 // records handed to Put
	synced   uint64 // records known durable
	syncing  bool
	fsyncs   uint64
	err      error
}

const rawHeader = 8

func (e *rawEngine) Open(dir string, mode Mode) error {
	if mode != Durable {
		return fmt.Errorf("raw log: mode %s not supported", mode)
	}
	e.path = filepath.Join(dir, "raw.log")
	_, end, err := e.scan()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(e.path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	e.off, e.alloc = end, st.Size()
	// The file's directory entry must be durable too, as any store's.
	if err := syncDir(dir); err != nil {
		f.Close()
		return err
	}
	e.f = f
	e.cond.L = &e.mu
	e.pending, e.spare = nil, nil
	e.appended, e.synced, e.syncing, e.fsyncs, e.err = 0, 0, false, 0, nil
	return nil
}

func appendRecord(b, key, value []byte) []byte {
	var h [rawHeader]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(key))<<16|uint32(len(value)))
	crc := crc32.Update(crc32.ChecksumIEEE(key), crc32.IEEETable, value)
	binary.LittleEndian.PutUint32(h[4:], crc)
	b = append(b, h[:]...)
	b = append(b, key...)
	return append(b, value...)
}

// scan reads the log and returns its record count and end, checking
// every CRC. A zero header is the preallocated, unwritten tail.
func (e *rawEngine) scan() (n int, end int64, err error) {
	f, err := os.Open(e.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	all, err := io.ReadAll(f)
	if err != nil {
		return 0, 0, err
	}
	data := all
	for len(data) > 0 {
		if len(data) < rawHeader {
			return n, 0, fmt.Errorf("raw log: torn header at record %d", n)
		}
		l := binary.LittleEndian.Uint32(data)
		if l == 0 {
			break
		}
		kl, vl := int(l>>16), int(l&0xffff)
		if len(data) < rawHeader+kl+vl {
			return n, 0, fmt.Errorf("raw log: torn record %d", n)
		}
		body := data[rawHeader : rawHeader+kl+vl]
		if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[4:]) {
			return n, 0, fmt.Errorf("raw log: checksum mismatch at record %d", n)
		}
		data = data[rawHeader+kl+vl:]
		n++
	}
	return n, int64(len(all) - len(data)), nil
}

// rawPrealloc is how far ahead the log is preallocated, as in-mem's WAL
// does, so that an fdatasync rarely has a file size to commit: without it
// the "raw" floor would pay a journal commit per sync that no real log
// pays, and stop being a floor.
const rawPrealloc = 4 << 20

// write puts b at the end of the records. The caller serializes writes.
func (e *rawEngine) write(b []byte) error {
	if end := e.off + int64(len(b)); end > e.alloc {
		target := max(e.alloc+rawPrealloc, end)
		if err := preallocate(e.f, target); err != nil {
			return err
		}
		e.alloc = target
	}
	n, err := e.f.WriteAt(b, e.off)
	e.off += int64(n)
	return err
}

func (e *rawEngine) Put(key, value []byte) error {
	return e.commit(func(b []byte) []byte { return appendRecord(b, key, value) })
}

func (e *rawEngine) PutBatch(keys, values [][]byte) error {
	return e.commit(func(b []byte) []byte {
		for i := range keys {
			b = appendRecord(b, keys[i], values[i])
		}
		return b
	})
}

func (e *rawEngine) commit(add func([]byte) []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.group {
		// One write and one fdatasync per commit, commits one at a time.
		e.pending = add(e.pending[:0])
		if err := e.write(e.pending); err != nil {
			return err
		}
		e.fsyncs++
		return datasync(e.f)
	}
	e.pending = add(e.pending)
	e.appended++
	mine := e.appended
	for e.synced < mine {
		if e.err != nil {
			return e.err
		}
		if e.syncing {
			e.cond.Wait()
			continue
		}
		// Lead one batch: everything appended so far goes out in one
		// write and one fdatasync, with the lock released meanwhile so
		// the next batch gathers.
		e.syncing = true
		buf, upto := e.pending, e.appended
		e.pending = e.spare[:0]
		e.mu.Unlock()
		err := e.write(buf)
		if err == nil {
			err = datasync(e.f)
		}
		e.mu.Lock()
		e.spare = buf[:0]
		e.syncing = false
		e.fsyncs++
		if err != nil {
			// Never retry a failed fsync: the batch and all after it fail.
			e.err = err
		} else {
			e.synced = upto
		}
		e.cond.Broadcast()
	}
	return e.err
}

func (e *rawEngine) Get([]byte, []byte) ([]byte, bool, error) {
	return nil, false, errors.New("raw log: no index, Get not supported")
}

func (e *rawEngine) Count() (int, error) {
	n, _, err := e.scan()
	return n, err
}

func (e *rawEngine) Fsyncs() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fsyncs
}

func (e *rawEngine) Close() error {
	if e.f == nil {
		return nil
	}
	err := e.f.Close()
	e.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
