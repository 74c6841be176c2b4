package inmem

import "github.com/inmemdb/inmem/internal/dberr"

// ErrMaintenanceHalted is returned (wrapped, with the cause that halted it)
// by Checkpoint, Compact and Export once automatic maintenance has halted
// (Stats().Maintenance.Halted): a background task failed and could not
// publish the MANIFEST again, so the durable state is not known. A manual
// run would hit the same failure and, unlike the background one, poison the
// database; refusing it keeps commits going until the database is reopened,
// which recovers the durable state from the files. Its code is Internal.
var ErrMaintenanceHalted = &Error{Code: dberr.Internal, Op: "maintenance", Msg: "automatic maintenance has halted after a failure; reopen the database", Offset: -1}

// maintenanceHalted refuses op while automatic maintenance is halted.
func (db *DB) maintenanceHalted(op string) error {
	m := db.maint
	if m == nil {
		return nil
	}
	m.mu.Lock()
	halted, cause := m.halted, m.stats.LastError
	m.mu.Unlock()
	if !halted {
		return nil
	}
	if err := db.eng.Poisoned(); err != nil {
		return err // the more precise reason
	}
	return dberr.Wrap(dberr.Internal, op, ErrMaintenanceHalted, "automatic maintenance halted (%s); reopen the database to checkpoint or compact again", cause)
}
