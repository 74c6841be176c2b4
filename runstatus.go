package inmem

// RunStatus is the lifecycle state of a run in the run index.
//
//	Active    → Completed, Failed, Cancelled, Paused, Archived
//	Paused    → Active, Failed, Cancelled, Archived
//	Completed → Archived
//	Failed    → Archived
//	Cancelled → Archived
//	Archived  (terminal)
//
// Completed, Failed, Cancelled and Archived are closed: writes into a closed
// run fail with RunClosed. Runs that were never registered in the run index
// behave as Active.
type RunStatus string

// Run statuses.
const (
	RunActive    RunStatus = "active"
	RunPaused    RunStatus = "paused"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
	RunArchived  RunStatus = "archived"
)

// RunStatuses lists every status.
var RunStatuses = []RunStatus{RunActive, RunPaused, RunCompleted, RunFailed, RunCancelled, RunArchived}

// Valid reports whether s is a known status.
func (s RunStatus) Valid() bool {
	for _, x := range RunStatuses {
		if s == x {
			return true
		}
	}
	return false
}

// Closed reports whether writes into a run with this status are refused.
func (s RunStatus) Closed() bool {
	switch s {
	case RunCompleted, RunFailed, RunCancelled, RunArchived:
		return true
	}
	return false
}

// CanTransition reports whether the lifecycle allows moving from s to next.
func (s RunStatus) CanTransition(next RunStatus) bool {
	switch s {
	case RunActive:
		switch next {
		case RunCompleted, RunFailed, RunCancelled, RunPaused, RunArchived:
			return true
		}
	case RunPaused:
		switch next {
		case RunActive, RunFailed, RunCancelled, RunArchived:
			return true
		}
	case RunCompleted, RunFailed, RunCancelled:
		return next == RunArchived
	}
	return false
}

// runFieldStatus is the field of a run record that holds its RunStatus.
const runFieldStatus = "status"
