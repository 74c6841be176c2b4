// Tests of ErrorFS: conformance without rules, rule matching, and that a
// failed operation is not applied.

package vfs

import (
	"errors"
	"io"
	"io/fs"
	"syscall"
	"testing"
)

func TestErrorFSConformance(t *testing.T) {
	t.Run("Mem", func(t *testing.T) {
		m := NewMem()
		if err := m.MkdirAll("/base"); err != nil {
			t.Fatal(err)
		}
		e := NewErrorFS(m)
		conformance(t, e, "/base")
		if e.Injected() != 0 || e.OpCount() != m.OpCount()-1 {
			t.Fatalf("Injected = %d, OpCount = %d (inner %d)", e.Injected(), e.OpCount(), m.OpCount())
		}
	})
	t.Run("OS", func(t *testing.T) {
		conformance(t, NewErrorFS(OS()), t.TempDir())
	})
}

func TestErrorFSOpCountMatchesMemFS(t *testing.T) {
	m := NewMem()
	e := NewErrorFS(m)
	if err := workload(e); err != nil {
		t.Fatal(err)
	}
	if e.OpCount() != m.OpCount() || e.Inner() != FS(m) {
		t.Fatalf("ErrorFS OpCount = %d, MemFS OpCount = %d", e.OpCount(), m.OpCount())
	}
}

// injected checks that err is an injected *fs.PathError for op and path
// wrapping want.
func injected(t *testing.T, err error, op, path string, want error) {
	t.Helper()
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want a *fs.PathError", err, err)
	}
	if pe.Op != op || pe.Path != path || !errors.Is(err, want) {
		t.Fatalf("err = %#v (%v), want op %q path %q wrapping %v", pe, err, op, path, want)
	}
}

func TestErrorFSFailKthOpOnce(t *testing.T) {
	m := NewMem()
	e := NewErrorFS(m, Rule{Index: 2})
	f := mustCreate(t, e, "/f") // op 0
	mustWrite(t, f, "one")      // op 1
	_, err := f.Write([]byte("two"))
	injected(t, err, "write", "/f", syscall.EIO) // op 2
	if !errors.Is(err, ErrEIO) {
		t.Fatal("default error is not ErrEIO")
	}
	mustWrite(t, f, "three") // op 3: the rule fired once
	mustClose(t, f)          // op 4
	if e.OpCount() != 5 || e.Injected() != 1 || m.OpCount() != 4 {
		t.Fatalf("OpCount = %d, Injected = %d, inner OpCount = %d", e.OpCount(), e.Injected(), m.OpCount())
	}
	if got := mustRead(t, m, "/f"); got != "onethree" {
		t.Fatalf("content = %q", got)
	}
}

func TestErrorFSSticky(t *testing.T) {
	m := NewMem()
	e := NewErrorFS(m, Rule{OpKinds: OpSync, Index: 3, Sticky: true})
	f := mustCreate(t, e, "/f") // 0
	mustWrite(t, f, "a")        // 1
	if err := f.Sync(); err != nil {
		t.Fatal(err) // 2
	}
	injected(t, f.Sync(), "sync", "/f", syscall.EIO) // 3
	mustWrite(t, f, "b")                             // 4: other kinds pass
	injected(t, f.SyncData(), "fdatasync", "/f", syscall.EIO)
	injected(t, f.Sync(), "sync", "/f", syscall.EIO)
	if e.Injected() != 3 {
		t.Fatalf("Injected = %d", e.Injected())
	}

	// A sticky rule whose index is an operation of another kind never
	// fires.
	e2 := NewErrorFS(NewMem(), Rule{OpKinds: OpSync, Index: 1, Sticky: true})
	g := mustCreate(t, e2, "/g") // 0
	mustWrite(t, g, "a")         // 1: a write, not a sync
	for range 3 {
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestErrorFSByKind(t *testing.T) {
	m := setup(t)
	writeFile(t, m, "/db/a", "A")
	e := NewErrorFS(m, Rule{OpKinds: OpRename | OpRemove, Index: -1, Err: syscall.EACCES})
	injected(t, e.Rename("/db/a", "/db/b"), "rename", "/db/a", syscall.EACCES)
	injected(t, e.Remove("/db/a"), "remove", "/db/a", syscall.EACCES)
	injected(t, e.Remove("/db/missing"), "remove", "/db/missing", syscall.EACCES)
	if got := mustRead(t, e, "/db/a"); got != "A" {
		t.Fatalf("a = %q", got)
	}
	mustNotExist(t, e, "/db/b")
	writeFile(t, e, "/db/c", "C") // other kinds pass
	if err := e.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	if e.Injected() != 3 {
		t.Fatalf("Injected = %d", e.Injected())
	}
	// OpKind names.
	if s := (OpRename | OpRemove).String(); s != "Rename|Remove" {
		t.Fatalf("String = %q", s)
	}
	if s := (OpCreate | OpStat | 1<<20).String(); s != "Create|Stat|OpKind(1<<20)" {
		t.Fatalf("String = %q", s)
	}
}

func TestErrorFSByPathPattern(t *testing.T) {
	m := setup(t)
	if err := m.MkdirAll("/db/wal"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/db/x.log", "x")
	writeFile(t, m, "/db/y", "y")

	// A pattern without a slash matches base names.
	e := NewErrorFS(m, Rule{Path: "*.log", Index: -1, Err: ErrENOSPC})
	_, err := e.Create("/db/wal/000001.log")
	injected(t, err, "open", "/db/wal/000001.log", syscall.ENOSPC)
	mustNotExist(t, m, "/db/wal/000001.log")
	writeFile(t, e, "/db/wal/000001.tmp", "ok")
	// A rename matches by either name, and names the one that matched.
	injected(t, e.Rename("/db/wal/000001.tmp", "/db/wal/000001.log"), "rename", "/db/wal/000001.log", syscall.ENOSPC)
	injected(t, e.Rename("/db/x.log", "/db/z"), "rename", "/db/x.log", syscall.ENOSPC)
	if err := e.Rename("/db/y", "/db/z"); err != nil {
		t.Fatal(err)
	}

	// A pattern with a slash matches cleaned full paths.
	e2 := NewErrorFS(m, Rule{Path: "/db/wal/*", OpKinds: OpDirSync | OpCreate | OpOpen, Index: -1})
	_, err = e2.Create("/db/wal/../wal/2")
	injected(t, err, "open", "/db/wal/../wal/2", syscall.EIO)
	if err := e2.SyncDir("/db/wal/"); err != nil { // cleans to /db/wal: no match
		t.Fatal(err)
	}
	_, err = e2.Open("/db/wal/000001.tmp")
	injected(t, err, "open", "/db/wal/000001.tmp", syscall.EIO)
}

func TestErrorFSPartialWrite(t *testing.T) {
	m := setup(t)
	e := NewErrorFS(m, Rule{OpKinds: OpWrite, Path: "wal", Index: 3, Err: ErrENOSPC, PartialWrite: true, Sticky: true})
	f := mustCreate(t, e, "/db/wal") // 0
	mustWrite(t, f, "0123")          // 1
	mustWrite(t, f, "4567")          // 2
	n, err := f.Write([]byte("abcdefghij"))
	injected(t, err, "write", "/db/wal", syscall.ENOSPC)
	if n != 5 {
		t.Fatalf("partial write n = %d, want 5", n)
	}
	if got := mustRead(t, m, "/db/wal"); got != "01234567abcde" {
		t.Fatalf("content = %q", got)
	}
	n, err = f.Write([]byte("x"))
	injected(t, err, "write", "/db/wal", syscall.ENOSPC)
	if n != 0 {
		t.Fatalf("1-byte write wrote %d", n)
	}
	// Space freed.
	e.ClearRules()
	mustWrite(t, f, "Z")
	if got := mustRead(t, m, "/db/wal"); got != "01234567abcdeZ" {
		t.Fatalf("content = %q", got)
	}
}

func TestErrorFSUncountedKinds(t *testing.T) {
	m := setup(t)
	writeFile(t, m, "/db/f", "data")
	e := NewErrorFS(m,
		Rule{OpKinds: OpRead, Index: 0}, // uncounted ops have no index: never fires
		Rule{OpKinds: OpOpen | OpList | OpStat, Path: "/db", Index: -1},
	)
	f, err := e.OpenReadWrite("/db/f") // /db/f does not match "/db"
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(make([]byte, 4)); err != io.EOF { // the offset is at the end
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, 4), 0); err != nil {
		t.Fatal(err)
	}
	_, err = e.List("/db")
	injected(t, err, "readdirent", "/db", syscall.EIO)
	_, err = e.Stat("/db")
	injected(t, err, "stat", "/db", syscall.EIO)
	if e.OpCount() != 0 {
		t.Fatalf("uncounted ops counted: %d", e.OpCount())
	}
	e.AddRule(Rule{OpKinds: OpRead | OpStat, Index: -1})
	_, err = f.ReadAt(make([]byte, 4), 0)
	injected(t, err, "read", "/db/f", syscall.EIO)
	_, err = f.Read(make([]byte, 4))
	injected(t, err, "read", "/db/f", syscall.EIO)
	_, err = f.Stat()
	injected(t, err, "stat", "/db/f", syscall.EIO)
	// Kind 0 means mutating kinds only.
	e2 := NewErrorFS(m, Rule{Index: -1})
	if _, err := e2.Stat("/db/f"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(e2, "/db/f"); err != nil {
		t.Fatal(err)
	}
	if err := e2.SyncDir("/db"); err == nil {
		t.Fatal("SyncDir passed a rule for any mutating op")
	}
}

// TestErrorFSFailedOpNotApplied fails each mutating kind once over a MemFS
// and checks that the inner file system did not change.
func TestErrorFSFailedOpNotApplied(t *testing.T) {
	fresh := func(t *testing.T, kind OpKind) (*MemFS, *ErrorFS, File) {
		m := setup(t)
		writeFile(t, m, "/db/a", "A")
		if err := m.SyncDir("/db"); err != nil {
			t.Fatal(err)
		}
		f, err := m.OpenReadWrite("/db/a")
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, "-unsynced")
		mustClose(t, f)
		e := NewErrorFS(m, Rule{OpKinds: kind, Index: -1})
		g, err := e.OpenReadWrite("/db/a")
		if err != nil {
			t.Fatal(err)
		}
		return m, e, g
	}
	check := func(t *testing.T, m *MemFS, err error, before, beforeDurable map[string]string, beforeOps int) {
		t.Helper()
		if err == nil {
			t.Fatal("op did not fail")
		}
		if m.OpCount() != beforeOps {
			t.Fatalf("failed op reached the inner FS")
		}
		if !sameTree(tree(t, m), before) || !sameTree(tree(t, m.Crash(dropUnsynced)), beforeDurable) {
			t.Fatalf("failed op changed the file system:\n%s", m)
		}
	}
	ops := []struct {
		kind OpKind
		do   func(e *ErrorFS, f File) error
	}{
		{OpCreate, func(e *ErrorFS, f File) error { _, err := e.Create("/db/b"); return err }},
		{OpWrite, func(e *ErrorFS, f File) error { _, err := f.Write([]byte("x")); return err }},
		{OpSync, func(e *ErrorFS, f File) error { return f.Sync() }},
		{OpSync, func(e *ErrorFS, f File) error { return f.SyncData() }},
		{OpTruncate, func(e *ErrorFS, f File) error { return f.Truncate(0) }},
		{OpRename, func(e *ErrorFS, f File) error { return e.Rename("/db/a", "/db/b") }},
		{OpRemove, func(e *ErrorFS, f File) error { return e.Remove("/db/a") }},
		{OpMkdir, func(e *ErrorFS, f File) error { return e.MkdirAll("/db/sub") }},
		{OpDirSync, func(e *ErrorFS, f File) error { return e.SyncDir("/db") }},
		{OpLock, func(e *ErrorFS, f File) error { _, err := e.Lock("/db/LOCK"); return err }},
		{OpClose, func(e *ErrorFS, f File) error { return f.Close() }},
	}
	for _, op := range ops {
		t.Run(op.kind.String(), func(t *testing.T) {
			m, e, f := fresh(t, op.kind)
			// Make the directory sync observable.
			if err := m.Rename("/db/a", "/db/a2"); err != nil {
				t.Fatal(err)
			}
			if err := m.Rename("/db/a2", "/db/a"); err != nil {
				t.Fatal(err)
			}
			mustClose(t, mustCreate(t, m, "/db/unsynced-entry"))
			before, beforeDurable := tree(t, m), tree(t, m.Crash(dropUnsynced))
			beforeOps := m.OpCount() // after tree, whose reads close files
			check(t, m, op.do(e, f), before, beforeDurable, beforeOps)
			if op.kind == OpLock {
				l, err := m.Lock("/db/LOCK")
				if err != nil {
					t.Fatalf("failed Lock holds the lock: %v", err)
				}
				l.Close()
			}
			if op.kind == OpClose {
				e.ClearRules()
				mustWrite(t, f, "!") // still open
				mustClose(t, f)
			}
		})
	}
}
