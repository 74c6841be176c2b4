package inmem

import (
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/store"
)

// maintenanceFS returns the file system one maintenance call writes
// through: it notes the failures that leave the durable state unknown.
func (s *storage) maintenanceFS() *store.UncertainFS { return store.NewUncertainFS(s.fs) }

// maintenanceFailed turns a failure of maintenance into its error. When the
// failure left the durable state unknown the database is poisoned, exactly
// as a failed WAL fsync poisons it: later commits and maintenance return
// Poisoned, reads keep working, and reopening runs recovery, which finds
// either the old or the new MANIFEST and the files each names (nothing a
// MANIFEST could name is deleted before the MANIFEST naming its successor
// is durable). Otherwise the error is returned as is and the database keeps
// working: the old durable state still stands.
func (s *storage) maintenanceFailed(u *store.UncertainFS, op string, err error) error {
	if err == nil || !u.Failed() {
		return err
	}
	p := dberr.Wrap(dberr.Poisoned, op, err, "the state of the files on disk is unknown after a failed fsync or rename; the database refuses writes until it is reopened")
	s.db.eng.Poison(p)
	return p
}
