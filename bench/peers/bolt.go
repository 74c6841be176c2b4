package peers

import (
	"path/filepath"

	"github.com/inmemdb/inmem/internal/benchkit"
	bolt "go.etcd.io/bbolt"
)

var boltBucket = []byte("kv")

// boltEngine is bbolt with its defaults: every Update fsyncs.
type boltEngine struct{ db *bolt.DB }

func (e *boltEngine) Open(dir string, _ benchkit.Mode) error {
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return err
	}
	e.db = db
	return nil
}

func (e *boltEngine) Put(k, v []byte) error {
	return e.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put(k, v) })
}

func (e *boltEngine) PutBatch(keys, values [][]byte) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for i := range keys {
			if err := b.Put(keys[i], values[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) Get(k, dst []byte) ([]byte, bool, error) {
	found := false
	err := e.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(boltBucket).Get(k)
		found = v != nil
		dst = append(dst, v...)
		return nil
	})
	return dst, found, err
}

func (e *boltEngine) Count() (int, error) {
	n := 0
	err := e.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(boltBucket).Stats().KeyN
		return nil
	})
	return n, err
}

func (e *boltEngine) Close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	return err
}
