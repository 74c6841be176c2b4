package inmem

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/inmemdb/inmem/internal/core"
)

// TrimFloor is the trim floor of one run and primitive, raised by
// Compact(ctx, Full): a read below Floor that finds no retained version
// answers HistoryTrimmed.
type TrimFloor struct {
	Run       RunID
	Primitive PrimitiveType
	Floor     Version
}

// TrimFloors returns every raised trim floor, sorted by run and primitive
// (none before the first Full compaction that removed anything).
func (db *DB) TrimFloors() ([]TrimFloor, error) {
	if err := db.checkOpen("TrimFloors"); err != nil {
		return nil, err
	}
	var out []TrimFloor
	db.eng.Floors(func(run core.RunID, space core.PrimitiveType, floor uint64) {
		out = append(out, TrimFloor{Run: run, Primitive: space, Floor: core.Txn(floor)})
	})
	slices.SortFunc(out, func(a, b TrimFloor) int {
		if c := bytes.Compare(a.Run[:], b.Run[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Primitive, b.Primitive)
	})
	return out, nil
}
