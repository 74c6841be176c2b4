//go:build !unix

package cli

import "os"

// killSelf ends the process abruptly (TerminateProcess on Windows).
func killSelf() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Kill()
	}
}

// killedBySIGKILL reports whether a child process was killed.
func killedBySIGKILL(ps *os.ProcessState) bool { return !ps.Success() }
