// Conformance tests shared by every FS implementation, and test helpers.
//
// The same suite runs against the operating system, MemFS and ErrorFS (with
// no rules) over both, so that code tested on MemFS behaves the same on the
// OS.

package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
)

// conformance runs the shared suite on fsys inside the existing directory
// base.
func conformance(t *testing.T, fsys FS, base string) {
	p := func(name string) string { return filepath.Join(base, name) }

	t.Run("CreateExclusive", func(t *testing.T) {
		f := mustCreate(t, fsys, p("create"))
		mustWrite(t, f, "hello")
		mustClose(t, f)
		if _, err := fsys.Create(p("create")); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("second Create: err = %v, want fs.ErrExist", err)
		}
		if got := mustRead(t, fsys, p("create")); got != "hello" {
			t.Fatalf("content after failed Create = %q, want %q", got, "hello")
		}
		if _, err := fsys.Create(p("missing-dir/x")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Create in missing dir: err = %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("Perms", func(t *testing.T) {
		mustClose(t, mustCreate(t, fsys, p("perm-file")))
		fi, err := fsys.Stat(p("perm-file"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 || fi.IsDir() || !fi.Mode().IsRegular() {
			t.Fatalf("file mode = %v, want -rw-------", fi.Mode())
		}
		if fi.Name() != "perm-file" {
			t.Fatalf("Name = %q", fi.Name())
		}
		if err := fsys.MkdirAll(p("perm-dir/sub")); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"perm-dir", "perm-dir/sub"} {
			fi, err := fsys.Stat(p(d))
			if err != nil {
				t.Fatal(err)
			}
			if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Fatalf("%s mode = %v, want drwx------", d, fi.Mode())
			}
		}
		if err := fsys.MkdirAll(p("perm-dir/sub")); err != nil {
			t.Fatalf("MkdirAll of an existing dir: %v", err)
		}
		if err := fsys.MkdirAll(p("perm-file/sub")); err == nil {
			t.Fatal("MkdirAll under a file succeeded")
		}
	})

	t.Run("ReadWrite", func(t *testing.T) {
		f := mustCreate(t, fsys, p("rw"))
		mustWrite(t, f, "hello")
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		mustClose(t, f)

		r, err := fsys.Open(p("rw"))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		if n, err := r.Read(buf); n != 3 || err != nil || string(buf) != "hel" {
			t.Fatalf("Read = %d %v %q", n, err, buf)
		}
		if n, err := r.Read(buf); n != 2 || string(buf[:n]) != "lo" || (err != nil && err != io.EOF) {
			t.Fatalf("second Read = %d %v %q", n, err, buf[:n])
		}
		if n, err := r.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("Read at end = %d %v, want 0 EOF", n, err)
		}
		if _, err := r.Write([]byte("x")); err == nil {
			t.Fatal("Write on a read-only handle succeeded")
		}
		mustClose(t, r)

		w, err := fsys.OpenReadWrite(p("rw"))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, w, " world") // appends: the offset starts at the end
		if err := w.SyncData(); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 11)
		if n, err := w.ReadAt(got, 0); n != 11 || (err != nil && err != io.EOF) || string(got) != "hello world" {
			t.Fatalf("ReadAt = %d %v %q", n, err, got)
		}
		if n, err := w.ReadAt(make([]byte, 4), 9); n != 2 || err != io.EOF {
			t.Fatalf("ReadAt past end = %d %v, want 2 EOF", n, err)
		}
		if n, err := w.ReadAt(make([]byte, 4), 20); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt beyond end = %d %v, want 0 EOF", n, err)
		}
		fi, err := w.Stat()
		if err != nil || fi.Size() != 11 || fi.Name() != "rw" {
			t.Fatalf("File.Stat = %v %v", fi, err)
		}
		mustClose(t, w)
		if _, err := w.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("Write after Close: err = %v, want fs.ErrClosed", err)
		}
		if err := w.Close(); err == nil {
			t.Fatal("second Close succeeded")
		}
		if _, err := fsys.Open(p("nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open missing: err = %v", err)
		}
		if _, err := fsys.OpenReadWrite(p("nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenReadWrite missing: err = %v", err)
		}
		if _, err := fsys.Stat(p("nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat missing: err = %v", err)
		}
	})

	t.Run("Truncate", func(t *testing.T) {
		f := mustCreate(t, fsys, p("trunc"))
		mustWrite(t, f, "abcdef")
		if err := f.Truncate(2); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, fsys, p("trunc")); got != "ab" {
			t.Fatalf("after shrink: %q", got)
		}
		if err := f.Truncate(4); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, fsys, p("trunc")); got != "ab\x00\x00" {
			t.Fatalf("after grow: %q", got)
		}
		// The offset is still 6: the write leaves a hole.
		mustWrite(t, f, "z")
		if got := mustRead(t, fsys, p("trunc")); got != "ab\x00\x00\x00\x00z" {
			t.Fatalf("after write past end: %q", got)
		}
		if err := f.Truncate(-1); err == nil {
			t.Fatal("Truncate(-1) succeeded")
		}
		mustClose(t, f)
	})

	t.Run("ListSorted", func(t *testing.T) {
		if err := fsys.MkdirAll(p("list/m-dir")); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"zeta", "alpha", "Beta", "m", "b10", "b2"} {
			mustClose(t, mustCreate(t, fsys, p("list/"+n)))
		}
		got, err := fsys.List(p("list"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"Beta", "alpha", "b10", "b2", "m", "m-dir", "zeta"}
		if !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
		if _, err := fsys.List(p("list/nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("List missing: err = %v", err)
		}
	})

	t.Run("RenameReplaces", func(t *testing.T) {
		if err := fsys.MkdirAll(p("ren/sub")); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fsys, p("ren/x"), "X")
		writeFile(t, fsys, p("ren/y"), "Y")
		if err := fsys.Rename(p("ren/x"), p("ren/y")); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, fsys, p("ren/y")); got != "X" {
			t.Fatalf("y = %q, want X", got)
		}
		if _, err := fsys.Stat(p("ren/x")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("x after rename: %v", err)
		}
		if err := fsys.Rename(p("ren/y"), p("ren/sub/z")); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, fsys, p("ren/sub/z")); got != "X" {
			t.Fatalf("sub/z = %q", got)
		}
		if err := fsys.Rename(p("ren/nope"), p("ren/q")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Rename missing: %v", err)
		}
		if err := fsys.Rename(p("ren/sub/z"), p("ren/sub")); err == nil {
			t.Fatal("Rename of a file over a directory succeeded")
		}
		if err := fsys.Rename(p("ren/sub"), p("ren/moved")); err != nil {
			t.Fatalf("Rename of a directory: %v", err)
		}
		if got := mustRead(t, fsys, p("ren/moved/z")); got != "X" {
			t.Fatalf("moved/z = %q", got)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		if err := fsys.MkdirAll(p("rm/d")); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fsys, p("rm/d/f"), "F")
		if err := fsys.Remove(p("rm/d")); err == nil {
			t.Fatal("Remove of a non-empty dir succeeded")
		}
		if err := fsys.Remove(p("rm/d/f")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(p("rm/d")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(p("rm/d")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("second Remove: %v", err)
		}
		names, err := fsys.List(p("rm"))
		if err != nil || len(names) != 0 {
			t.Fatalf("List after removes = %q %v", names, err)
		}
	})

	t.Run("RemovedOpenFile", func(t *testing.T) {
		f := mustCreate(t, fsys, p("unlinked"))
		mustWrite(t, f, "abc")
		if err := fsys.Remove(p("unlinked")); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, "def")
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "abcdef" {
			t.Fatalf("ReadAt of unlinked file = %q %v", buf, err)
		}
		mustClose(t, f)
		if _, err := fsys.Stat(p("unlinked")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat of unlinked name: %v", err)
		}
	})

	t.Run("Sync", func(t *testing.T) {
		f := mustCreate(t, fsys, p("sync"))
		mustWrite(t, f, "data")
		if err := f.SyncData(); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		mustClose(t, f)
		if err := fsys.SyncDir(base); err != nil {
			t.Fatal(err)
		}
		if err := fsys.SyncDir(p("nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("SyncDir missing: %v", err)
		}
	})

	t.Run("Lock", func(t *testing.T) {
		l1, err := fsys.Lock(p("LOCK"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.Stat(p("LOCK")); err != nil {
			t.Fatalf("Lock did not create its file: %v", err)
		}
		l2, err := fsys.Lock(p("LOCK"))
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Lock: err = %v, want ErrLocked", err)
		}
		if l2 != nil {
			t.Fatal("second Lock returned a closer")
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Path != p("LOCK") {
			t.Fatalf("second Lock error %v does not name the file", err)
		}
		if err := l1.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l1.Close(); err != nil {
			t.Fatalf("second Close of a lock: %v", err)
		}
		l3, err := fsys.Lock(p("LOCK"))
		if err != nil {
			t.Fatalf("Lock after release: %v", err)
		}
		if err := l3.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.Lock(p("nope/LOCK")); err == nil || errors.Is(err, ErrLocked) {
			t.Fatalf("Lock in a missing dir: err = %v", err)
		}
	})
}

// ---- helpers ----

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func mustCreate(t tb, fsys FS, name string) File {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustWrite(t tb, f File, s string) {
	t.Helper()
	if n, err := f.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

func mustClose(t tb, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t tb, fsys FS, name string) string {
	t.Helper()
	b, err := ReadFile(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustNotExist(t tb, fsys FS, name string) {
	t.Helper()
	if _, err := fsys.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(%q): err = %v, want fs.ErrNotExist", name, err)
	}
}

// writeFile creates name with content s, syncs and closes it.
func writeFile(t tb, fsys FS, name, s string) {
	t.Helper()
	f := mustCreate(t, fsys, name)
	mustWrite(t, f, s)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	mustClose(t, f)
}

// tree returns every path under root with its content; directories map to
// "<dir>".
func tree(t tb, fsys FS) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			fi, err := fsys.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.IsDir() {
				out[p] = "<dir>"
				walk(p)
				continue
			}
			b, err := ReadFile(fsys, p)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != fi.Size() {
				t.Fatalf("%s: read %d bytes, Stat says %d", p, len(b), fi.Size())
			}
			out[p] = string(b)
		}
	}
	walk("/")
	return out
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal([]byte(v), []byte(w)) {
			return false
		}
	}
	return true
}
