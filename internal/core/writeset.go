package core

import "github.com/inmemdb/inmem/internal/value"

// Op is the kind of one mutation in a writeset. The numeric values are
// persisted in WAL records and must never change.
type Op uint8

const (
	// OpPut writes a new version of an entity.
	OpPut Op = 1
	// OpDelete writes a tombstone version.
	OpDelete Op = 2
	// OpAppend adds a new entry to an append-only stream (events, traces).
	// The engine treats it as a Put of a key that did not exist; storage and
	// retention treat it as a stream entry.
	OpAppend Op = 3
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpAppend:
		return "append"
	}
	return "invalid"
}

// Valid reports whether o is a known op.
func (o Op) Valid() bool { return o >= OpPut && o <= OpAppend }

// Mutation is one write of a commit: an entity (run, space, key), the new
// value (absent for deletes) and the version the engine assigned, which is
// always the commit version of the enclosing Commit.
type Mutation struct {
	Op      Op
	Run     RunID
	Space   PrimitiveType
	Key     string
	Value   value.Value
	Version uint64
}

// Commit is the ordered writeset of one transaction: what the engine hands
// to storage before publishing it, and what recovery hands back to the engine.
// Storage persists Version and the mutations' versions exactly as given and
// never invents or changes one.
type Commit struct {
	Version   uint64 // global commit version (Txn)
	Run       RunID  // the run the transaction was bound to
	Time      int64  // commit timestamp, microseconds since the Unix epoch
	Mutations []Mutation
}
