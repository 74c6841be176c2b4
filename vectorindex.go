package inmem

import "github.com/inmemdb/inmem/internal/core"

type vectorIndexes struct{ db *DB }

func newVectorIndexes(db *DB) *vectorIndexes      { return &vectorIndexes{db: db} }
func (v *vectorIndexes) observe(m *core.Mutation) {}
