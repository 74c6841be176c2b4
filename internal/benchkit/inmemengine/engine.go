package inmemengine

import (
	"context"
	"errors"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/benchkit"
)

// Spec returns in-mem in all three modes: Strict (durable), Buffered and
// InMemory.
func Spec() benchkit.Spec {
	return benchkit.Spec{
		Name: "in-mem",
		Kind: benchkit.KindSubject,
		Modes: map[benchkit.Mode]string{
			benchkit.Durable:  "Strict",
			benchkit.Buffered: "Buffered",
			benchkit.Memory:   "InMemory",
		},
		New: func() benchkit.Engine { return &Engine{run: inmem.NewRunID()} },
	}
}

// Engine is one in-mem database. Its run ID is fixed at creation so that
// a reopen (the recovery workload) finds the keys it wrote.
type Engine struct {
	db  *inmem.DB
	kv  inmem.KVStore
	run inmem.RunID
}

var ctx = context.Background()

// Open opens dir in the durability of mode; Memory opens no directory.
func (e *Engine) Open(dir string, mode benchkit.Mode) error {
	opts := inmem.DefaultOptions()
	switch mode {
	case benchkit.Durable:
		opts.Durability = inmem.Strict
	case benchkit.Buffered:
		opts.Durability = inmem.Buffered
	default:
		opts.Durability = inmem.InMemory
		dir = ""
	}
	db, err := inmem.Open(dir, opts)
	if err != nil {
		return err
	}
	e.db, e.kv = db, db.KV()
	return nil
}

// Put commits one key.
func (e *Engine) Put(key, value []byte) error {
	_, err := e.kv.Put(ctx, e.run, string(key), inmem.Bytes(value))
	return err
}

// PutBatch commits all pairs in one transaction.
func (e *Engine) PutBatch(keys, values [][]byte) error {
	return e.db.Update(ctx, e.run, func(tx *inmem.Tx) error {
		kv := tx.KV()
		for i := range keys {
			if err := kv.Put(string(keys[i]), inmem.Bytes(values[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

// Get appends key's value to dst.
func (e *Engine) Get(key, dst []byte) ([]byte, bool, error) {
	v, err := e.kv.Get(ctx, e.run, string(key))
	if errors.Is(err, inmem.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	s, ok := v.Value.BytesString()
	if !ok {
		return dst, false, errors.New("in-mem: value is not bytes")
	}
	return append(dst, s...), true, nil
}

// Count scans the run's keys.
func (e *Engine) Count() (int, error) {
	n := 0
	for range e.kv.Scan(ctx, e.run, "") {
		n++
	}
	return n, nil
}

// Fsyncs reports the WAL's fsyncs since Open.
func (e *Engine) Fsyncs() uint64 { return e.db.Stats().WAL.Fsyncs }

// Close closes the database.
func (e *Engine) Close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	return err
}
