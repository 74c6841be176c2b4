package inmem_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// TestRecovery_BufferedPrefix crashes a Buffered workload at many points and
// checks that every image recovers to a prefix of the commit order — no
// hole, no partial transaction — that reaches at least the last completed
// Flush.
func TestRecovery_BufferedPrefix(t *testing.T) {
	const steps = 40
	probe := vfs.NewMem()
	db := mustOpenFS(t, probe, inmem.Buffered, 2048)
	if _, err := runBufferedSteps(db, steps); err != nil {
		t.Fatal(err)
	}
	db.Close()
	total := probe.OpCount()
	short := 0
	for k := 0; k < total; k++ {
		fsys := vfs.NewMem()
		fsys.CrashAt(k, vfs.CrashOptions{Mode: vfs.CrashRandom, Seed: uint64(k)})
		flushed := 0
		if db, err := openFS(t, fsys, inmem.Buffered, 2048); err == nil {
			flushed, _ = runBufferedSteps(db, steps)
			db.Close()
		}
		img := fsys.CrashImage()
		if img == nil {
			continue
		}
		db, err := openFS(t, img, inmem.Buffered, 2048)
		if err != nil {
			t.Fatalf("crash at op %d: recovery: %v", k, err)
		}
		if checkPrefix(t, db, flushed) < steps {
			short++
		}
		db.Close()
	}
	if short == 0 {
		t.Fatal("no crash image lost unsynced Buffered commits: the test exercised nothing")
	}
}

// runBufferedSteps runs the step workload, flushing every 5 steps, and
// returns the number of steps covered by the last successful Flush.
func runBufferedSteps(db *inmem.DB, n int) (flushed int, err error) {
	for i := 1; i <= n; i++ {
		if err := commitStep(db, i); err != nil {
			return flushed, err
		}
		if i%5 == 0 {
			if err := db.Flush(); err != nil {
				return flushed, err
			}
			flushed = i
		}
	}
	return flushed, nil
}

// TestFaults_ErrorAtEveryOperation injects an I/O error (EIO, and ENOSPC
// with a partial write) at every operation index of a small Strict workload.
// The failing commit reports an error, every later write reports Poisoned,
// reads keep working, fsync is never retried, and reopening recovers every
// acknowledged commit — no commit is both acknowledged and lost.
func TestFaults_ErrorAtEveryOperation(t *testing.T) {
	const steps = 20
	probe := vfs.NewErrorFS(vfs.NewMem())
	db := mustOpenFS(t, probe, inmem.Strict, 2048)
	runSteps(db, steps)
	db.Close()
	total := probe.OpCount()
	poisoned := 0
	for k := 0; k < total; k++ {
		for _, rule := range []vfs.Rule{
			{Index: k, Err: vfs.ErrEIO},
			{Index: k, Err: vfs.ErrENOSPC, PartialWrite: true},
		} {
			mem := vfs.NewMem()
			efs := vfs.NewErrorFS(mem, rule)
			acked := 0
			db, err := openFS(t, efs, inmem.Strict, 2048)
			if err == nil {
				var stepErr error
				acked, stepErr = runSteps(db, steps)
				if stepErr != nil {
					poisoned++
					// Every later write is refused as Poisoned...
					if err := commitStep(db, 999); !errors.Is(err, inmem.ErrPoisoned) {
						t.Fatalf("op %d: write after a failure = %v, want Poisoned", k, err)
					}
					// ...while reads of committed data keep working.
					if acked > 0 {
						if _, err := db.KV().Get(ctx, crashRun, fmt.Sprintf("k%05d", acked)); err != nil {
							t.Fatalf("op %d: read after poisoning: %v", k, err)
						}
					}
				}
				db.Close()
			}
			// The process survives: reopen what it left, and also what a
			// power cut right now would leave.
			for _, img := range []*vfs.MemFS{mem.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll}), mem.Crash(vfs.CrashOptions{Mode: vfs.CrashDropUnsynced})} {
				db, err := openFS(t, img, inmem.Strict, 2048)
				if err != nil {
					t.Fatalf("op %d (%v): reopen: %v", k, rule.Err, err)
				}
				checkPrefix(t, db, acked)
				db.Close()
			}
		}
	}
	if poisoned == 0 {
		t.Fatal("no injected error reached a commit")
	}
}

// TestFaults_FsyncNeverRetried fails one fsync of the WAL and checks that
// the database never syncs that file again (a retried fsync can report
// success after the kernel dropped the dirty pages).
func TestFaults_FsyncNeverRetried(t *testing.T) {
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		mem := vfs.NewMem()
		efs := vfs.NewErrorFS(mem)
		db := mustOpenFS(t, efs, mode, 1<<20)
		if err := commitStep(db, 1); err != nil {
			t.Fatal(err)
		}
		efs.AddRule(vfs.Rule{Index: -1, OpKinds: vfs.OpSync, Path: "*.seg", Err: vfs.ErrEIO})
		err := commitStep(db, 2)
		if mode == inmem.Buffered {
			err = db.Flush()
		}
		if err == nil {
			t.Fatalf("%v: the failed fsync was not reported", mode)
		}
		// The rule stays: any later sync of a segment would be injected
		// (and counted), so an unchanged count proves none was attempted.
		injected := efs.Injected()
		db.Flush()
		commitStep(db, 3)
		db.Close()
		if efs.Injected() != injected {
			t.Fatalf("%v: %d more segment syncs were attempted after the failure", mode, efs.Injected()-injected)
		}
		// Reopening recovers.
		db = mustOpenFS(t, mem.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll}), mode, 1<<20)
		checkPrefix(t, db, 1)
		db.Close()
	}
}

// TestLock_SecondOpenerInProcess checks that a second Open of the same
// directory fails at once with Locked, and works after Close.
func TestLock_SecondOpenerInProcess(t *testing.T) {
	dir := t.TempDir()
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := inmem.Open(dir, nil); !errors.Is(err, inmem.ErrLocked) {
		t.Fatalf("second Open = %v, want Locked", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("the second Open waited instead of failing at once")
	}
	db.Close()
	db, err = inmem.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db.Close()
}

const lockHelperEnv = "INMEM_TEST_LOCK_HOLDER"

// TestLock_HelperProcess is the child of TestLock_OtherProcess: it opens the
// database, commits, reports "ready" and waits to be killed.
func TestLock_HelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	db, err := inmem.Open(dir, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if _, err := db.KV().Put(ctx, crashRun, "child", inmem.String("alive")); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestLock_OtherProcess checks the lock against another process and that a
// SIGKILLed holder's lock is released (and its acknowledged commit kept).
func TestLock_OtherProcess(t *testing.T) {
	if os.Getenv(lockHelperEnv) != "" {
		t.Skip("in the helper")
	}
	dir := filepath.Join(t.TempDir(), "db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLock_HelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if _, err := inmem.Open(dir, nil); !errors.Is(err, inmem.ErrLocked) {
		t.Fatalf("Open while another process holds the directory = %v, want Locked", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	defer db.Close()
	got, err := db.KV().Get(ctx, crashRun, "child")
	if err != nil || !got.Value.Equal(inmem.String("alive")) {
		t.Fatalf("the killed holder's acknowledged commit: %v, %v", got, err)
	}
}

func TestOpen_RefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := inmem.Open(dir, nil); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("Open of a foreign directory = %v", err)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Fatalf("Open scribbled into a foreign directory: %v", names)
	}
}

func TestOpen_DirectoryLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, mode := range map[string]os.FileMode{"": 0o700, "WAL": 0o700, "SNAPSHOTS": 0o700, "DATA": 0o700, "MANIFEST": 0o600, "LOCK": 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "WAL", "wal-*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	st, _ := os.Stat(segs[0])
	if st.Mode().Perm() != 0o600 {
		t.Errorf("segment mode %v", st.Mode().Perm())
	}
}

// TestBuffered_IdleDatabaseSynced checks that the background flusher syncs
// an idle Buffered database without any Flush call.
func TestBuffered_IdleDatabaseSynced(t *testing.T) {
	mem := vfs.NewMem()
	db, err := inmem.Open(dbDir, &inmem.Options{FS: mem, Durability: inmem.Buffered, BufferedFlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := commitStep(db, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		img := mem.Crash(vfs.CrashOptions{Mode: vfs.CrashDropUnsynced})
		rdb, err := openFS(t, img, inmem.Strict, 0)
		if err != nil {
			t.Fatal(err)
		}
		m := checkPrefix(t, rdb, 0)
		rdb.Close()
		if m == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("an idle Buffered database was never synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzOpenCraftedDirectory opens a database directory whose newest WAL
// segment (and, with a flag, its MANIFEST) holds arbitrary bytes: Open must
// either recover or fail with a typed error — never panic, hang or allocate
// without bound.
func FuzzOpenCraftedDirectory(f *testing.F) {
	base := vfs.NewMem()
	db := mustOpenFS(f, base, inmem.Strict, 1<<20)
	runSteps(db, 3)
	db.Close()
	segs := segmentFiles(f, base)
	seg := readAll(f, base, segs[len(segs)-1])
	man := readAll(f, base, filepath.Join(dbDir, "MANIFEST"))
	f.Add(seg, false)
	f.Add(seg[:len(seg)/2], false)
	f.Add(man, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f}, false)
	f.Fuzz(func(t *testing.T, data []byte, manifestToo bool) {
		fsys := base.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})
		target := segs[len(segs)-1]
		if manifestToo {
			target = filepath.Join(dbDir, "MANIFEST")
		}
		fsys.Remove(target)
		file, err := fsys.Create(target)
		if err != nil {
			t.Fatal(err)
		}
		file.Write(data)
		file.Close()
		db, err := inmem.Open(dbDir, &inmem.Options{FS: fsys})
		if err != nil {
			var e *inmem.Error
			if !errors.As(err, &e) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		db.Close()
	})
}
