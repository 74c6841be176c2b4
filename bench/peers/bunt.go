package peers

import (
	"errors"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/benchkit"
	"github.com/tidwall/buntdb"
)

// buntEngine is buntdb: an in-memory B-tree with an append-only file,
// fsynced on every commit in durable mode (SyncPolicy=Always).
type buntEngine struct{ db *buntdb.DB }

func (e *buntEngine) Open(dir string, mode benchkit.Mode) error {
	path := ":memory:"
	if mode != benchkit.Memory {
		path = filepath.Join(dir, "bunt.db")
	}
	db, err := buntdb.Open(path)
	if err != nil {
		return err
	}
	var c buntdb.Config
	if err := db.ReadConfig(&c); err != nil {
		db.Close()
		return err
	}
	c.SyncPolicy = buntdb.Always
	if err := db.SetConfig(c); err != nil {
		db.Close()
		return err
	}
	e.db = db
	return nil
}

func (e *buntEngine) Put(k, v []byte) error {
	return e.db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(string(k), string(v), nil)
		return err
	})
}

func (e *buntEngine) PutBatch(keys, values [][]byte) error {
	return e.db.Update(func(tx *buntdb.Tx) error {
		for i := range keys {
			if _, _, err := tx.Set(string(keys[i]), string(values[i]), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *buntEngine) Get(k, dst []byte) ([]byte, bool, error) {
	found := false
	err := e.db.View(func(tx *buntdb.Tx) error {
		v, err := tx.Get(string(k))
		if errors.Is(err, buntdb.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		dst = append(dst, v...)
		return nil
	})
	return dst, found, err
}

func (e *buntEngine) Count() (int, error) {
	n := 0
	err := e.db.View(func(tx *buntdb.Tx) error {
		var err error
		n, err = tx.Len()
		return err
	})
	return n, err
}

func (e *buntEngine) Close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	return err
}
