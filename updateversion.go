package inmem

import "context"

// UpdateVersion is Update that also returns the commit version: Txn(0)
// when fn wrote nothing (a transaction without writes commits nothing).
func (db *DB) UpdateVersion(ctx context.Context, run RunID, fn func(tx *Tx) error) (Version, error) {
	v, err := retryUpdate(db, ctx, run, fn, callTxFunc, false)
	if err != nil {
		return Version{}, err
	}
	return Txn(v), nil
}
