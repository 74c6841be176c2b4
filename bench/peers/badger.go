package peers

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
	"github.com/inmemdb/inmem/internal/benchkit"
)

type badgerEngine struct{ db *badger.DB }

func (e *badgerEngine) Open(dir string, mode benchkit.Mode) error {
	o := badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil)
	if mode == benchkit.Memory {
		o = badger.DefaultOptions("").WithInMemory(true).WithLogger(nil)
	}
	db, err := badger.Open(o)
	if err != nil {
		return err
	}
	e.db = db
	return nil
}

func (e *badgerEngine) Put(k, v []byte) error {
	return e.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

func (e *badgerEngine) PutBatch(keys, values [][]byte) error {
	return e.db.Update(func(txn *badger.Txn) error {
		for i := range keys {
			if err := txn.Set(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *badgerEngine) Get(k, dst []byte) ([]byte, bool, error) {
	found := false
	err := e.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return it.Value(func(v []byte) error {
			dst = append(dst, v...)
			return nil
		})
	})
	return dst, found, err
}

func (e *badgerEngine) Count() (int, error) {
	n := 0
	err := e.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

func (e *badgerEngine) Close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	return err
}
