//go:build unix

package cli

import (
	"os"
	"syscall"
)

// killSelf ends the process the way a crash does: SIGKILL, no deferred
// functions, no Close, no flush.
func killSelf() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }

// killedBySIGKILL reports whether a child process died of SIGKILL.
func killedBySIGKILL(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
