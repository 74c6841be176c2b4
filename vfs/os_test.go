// Tests of the operating-system FS: the shared conformance suite, plus
// locking within one process and across processes.

package vfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestOSConformance(t *testing.T) {
	conformance(t, OS(), t.TempDir())
}

func TestOSDefault(t *testing.T) {
	if _, ok := Default.(osFS); !ok {
		t.Fatalf("Default is %T, want the OS file system", Default)
	}
}

func TestOSCreateFlagsAndModes(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	f := mustCreate(t, OS(), name)
	defer f.Close()
	// The handle is read-write.
	mustWrite(t, f, "abc")
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "abc" {
		t.Fatalf("ReadAt = %q %v", buf, err)
	}
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("file perm = %v, want 0600", st.Mode().Perm())
	}
	// O_EXCL: an existing file, even an empty one, is never reused.
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OS().Create(filepath.Join(dir, "empty")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of existing empty file: %v", err)
	}
	if err := OS().MkdirAll(filepath.Join(dir, "a", "b")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a", "a/b"} {
		st, err := os.Stat(filepath.Join(dir, d))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Fatalf("%s perm = %v, want 0700", d, st.Mode().Perm())
		}
	}
}

func TestOSSyncDataClosed(t *testing.T) {
	f := mustCreate(t, OS(), filepath.Join(t.TempDir(), "f"))
	mustClose(t, f)
	err := f.SyncData()
	var pe *fs.PathError
	if err == nil || !errors.As(err, &pe) {
		t.Fatalf("SyncData on a closed file: err = %v, want a *fs.PathError", err)
	}
}

// TestOSLockSameProcess checks that two Locks of one file in one process
// conflict: flock locks belong to open file descriptions, not processes.
func TestOSLockSameProcess(t *testing.T) {
	name := filepath.Join(t.TempDir(), "LOCK")
	l1, err := OS().Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("lock file perm = %v, want 0600", st.Mode().Perm())
	}
	// Another FS value, as a second database instance would have.
	if _, err := Default.Lock(name); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: err = %v, want ErrLocked", err)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Default.Lock(name)
	if err != nil {
		t.Fatalf("Lock after Close: %v", err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
}

const lockHelperEnv = "INMEM_VFS_LOCK_HELPER"

// TestOSLockHelperProcess is not a test: TestOSLockChildProcess runs the
// test binary again with only this test selected and lockHelperEnv set. It
// takes the lock, says so on stdout and waits to be killed.
func TestOSLockHelperProcess(t *testing.T) {
	name := os.Getenv(lockHelperEnv)
	if name == "" {
		t.Skip("helper process for TestOSLockChildProcess")
	}
	l, err := OS().Lock(name)
	if err != nil {
		fmt.Printf("lock failed: %v\n", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute) // the parent kills us long before
	l.Close()
	os.Exit(3)
}

func TestOSLockChildProcess(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs flock and process signals")
	}
	name := filepath.Join(t.TempDir(), "LOCK")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOSLockHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+name)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); line == "locked" || strings.HasPrefix(line, "lock failed") {
				lines <- line
				return
			}
		}
		lines <- "child exited: " + fmt.Sprint(sc.Err())
	}()
	select {
	case line := <-lines:
		if line != "locked" {
			t.Fatalf("child: %s", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child did not take the lock")
	}

	if _, err := OS().Lock(name); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock held by the child: err = %v, want ErrLocked", err)
	}

	// SIGKILL: the child gets no chance to unlock; the kernel releases the
	// lock when its descriptors are closed at exit.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited cleanly, want killed")
	}

	var l interface{ Close() error }
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err = OS().Lock(name)
		if err == nil || !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Lock after the child died: %v", err)
	}
	mustClose(t, l)
}
