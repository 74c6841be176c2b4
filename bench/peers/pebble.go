package peers

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/inmemdb/inmem/internal/benchkit"
)

type pebbleEngine struct {
	db   *pebble.DB
	opts *pebble.WriteOptions
}

func (e *pebbleEngine) Open(dir string, mode benchkit.Mode) error {
	o := &pebble.Options{Logger: quietLogger{}}
	e.opts = pebble.Sync
	switch mode {
	case benchkit.Buffered:
		// Handed to the OS per commit, fsynced in the background: a
		// process kill keeps it, a power cut may not.
		e.opts = pebble.NoSync
	case benchkit.Memory:
		// The closest Pebble has to an in-memory store: no WAL, an
		// in-memory file system, and a memtable large enough that the
		// workload never flushes.
		o.FS = vfs.NewMem()
		o.DisableWAL = true
		o.MemTableSize = 2 << 30
		e.opts = pebble.NoSync
	}
	db, err := pebble.Open(dir, o)
	if err != nil {
		return err
	}
	e.db = db
	return nil
}

func (e *pebbleEngine) Put(k, v []byte) error { return e.db.Set(k, v, e.opts) }

func (e *pebbleEngine) PutBatch(keys, values [][]byte) error {
	b := e.db.NewBatch()
	defer b.Close()
	for i := range keys {
		if err := b.Set(keys[i], values[i], nil); err != nil {
			return err
		}
	}
	return b.Commit(e.opts)
}

func (e *pebbleEngine) Get(k, dst []byte) ([]byte, bool, error) {
	v, closer, err := e.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	dst = append(dst, v...)
	return dst, true, closer.Close()
}

func (e *pebbleEngine) Count() (int, error) {
	it, err := e.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n, it.Close()
}

func (e *pebbleEngine) Close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	return err
}

// quietLogger keeps Pebble's informational lines out of the report's
// stderr; a real error still fails the run through a returned error.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
