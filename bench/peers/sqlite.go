package peers

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/inmemdb/inmem/internal/benchkit"
	_ "modernc.org/sqlite"
)

// sqliteEngine is SQLite (modernc.org/sqlite, pure Go) in WAL mode, each
// Put one autocommit statement. One connection: SQLite admits one writer
// at a time, and a pool would only add SQLITE_BUSY retries.
type sqliteEngine struct {
	db       *sql.DB
	put, get *sql.Stmt
}

func (e *sqliteEngine) Open(dir string, mode benchkit.Mode) error {
	var dsn string
	switch mode {
	case benchkit.Durable:
		dsn = "file:" + filepath.Join(dir, "kv.sqlite") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	case benchkit.Buffered:
		dsn = "file:" + filepath.Join(dir, "kv.sqlite") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	default:
		dsn = "file::memory:"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"); err != nil {
		db.Close()
		return err
	}
	if mode != benchkit.Memory {
		var jm string
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&jm); err != nil || jm != "wal" {
			db.Close()
			return fmt.Errorf("sqlite: journal_mode %q, %v; want wal", jm, err)
		}
	}
	e.db = db
	if e.put, err = db.Prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"); err != nil {
		return errors.Join(err, e.Close())
	}
	if e.get, err = db.Prepare("SELECT v FROM kv WHERE k = ?"); err != nil {
		return errors.Join(err, e.Close())
	}
	return nil
}

func (e *sqliteEngine) Put(k, v []byte) error {
	_, err := e.put.Exec(k, v)
	return err
}

func (e *sqliteEngine) PutBatch(keys, values [][]byte) error {
	tx, err := e.db.Begin()
	if err != nil {
		return err
	}
	st := tx.Stmt(e.put)
	for i := range keys {
		if _, err := st.Exec(keys[i], values[i]); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	return tx.Commit()
}

func (e *sqliteEngine) Get(k, dst []byte) ([]byte, bool, error) {
	var v sql.RawBytes
	rows, err := e.get.Query(k)
	if err != nil {
		return dst, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return dst, false, rows.Err()
	}
	if err := rows.Scan(&v); err != nil {
		return dst, false, err
	}
	return append(dst, v...), true, nil
}

func (e *sqliteEngine) Count() (int, error) {
	var n int
	err := e.db.QueryRow("SELECT COUNT(*) FROM kv").Scan(&n)
	return n, err
}

func (e *sqliteEngine) Close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db, e.put, e.get = nil, nil, nil
	return err
}
