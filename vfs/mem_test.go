// Tests of MemFS: conformance, the durability model of crashes, CrashRandom,
// crash points, and concurrent use.

package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

var (
	dropUnsynced = CrashOptions{Mode: CrashDropUnsynced}
	keepAll      = CrashOptions{Mode: CrashKeepAll}
)

func TestMemConformance(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/base"); err != nil {
		t.Fatal(err)
	}
	conformance(t, m, "/base")
}

func TestMemRelativePaths(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("a/b"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "a/b/f", "x")
	for _, name := range []string{"/a/b/f", "a/b/f", "/a/../a/./b/f", "a//b/f", "../a/b/f"} {
		if got := mustRead(t, m, name); got != "x" {
			t.Fatalf("%s: %q", name, got)
		}
	}
	for _, root := range []string{"", ".", "/", "/.."} {
		names, err := m.List(root)
		if err != nil || len(names) != 1 || names[0] != "a" {
			t.Fatalf("List(%q) = %q %v", root, names, err)
		}
	}
	if _, err := m.Create("/"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create(/): %v", err)
	}
	if err := m.Remove("/"); err == nil {
		t.Fatal("Remove(/) succeeded")
	}
	if _, err := m.Open("/a"); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("Open of a directory: %v", err)
	}
	if err := m.Rename("/a", "/a/b/c"); err == nil {
		t.Fatal("Rename of a directory into itself succeeded")
	}
}

// setup returns a MemFS with the durable directory /db.
func setup(t testing.TB) *MemFS {
	t.Helper()
	m := NewMem()
	if err := m.MkdirAll("/db"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemCrashFileData(t *testing.T) {
	m := setup(t)
	f := mustCreate(t, m, "/db/a")
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "durable")
	if err := f.SyncData(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "-lost")

	if got := mustRead(t, m.Crash(dropUnsynced), "/db/a"); got != "durable" {
		t.Fatalf("CrashDropUnsynced: %q", got)
	}
	if got := mustRead(t, m.Crash(keepAll), "/db/a"); got != "durable-lost" {
		t.Fatalf("CrashKeepAll: %q", got)
	}
	// The receiver is unchanged and usable.
	if got := mustRead(t, m, "/db/a"); got != "durable-lost" {
		t.Fatalf("after Crash: %q", got)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, m.Crash(dropUnsynced), "/db/a"); got != "durable-lost" {
		t.Fatalf("after second sync: %q", got)
	}
	// A file whose entry is durable but whose data never was is empty.
	mustCreate(t, m, "/db/empty").Write([]byte("never synced"))
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, m.Crash(dropUnsynced), "/db/empty"); got != "" {
		t.Fatalf("unsynced data of a durable name: %q", got)
	}
}

func TestMemCrashDirEntries(t *testing.T) {
	m := setup(t)
	writeFile(t, m, "/db/a", "A")
	writeFile(t, m, "/db/b", "B")
	writeFile(t, m, "/db/c", "C")
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	durable := tree(t, m)

	// Unsynced create, rename, rename-over and remove.
	writeFile(t, m, "/db/d", "D")
	if err := m.Rename("/db/a", "/db/a2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Rename("/db/c", "/db/b"); err != nil {
		t.Fatal(err)
	}
	if err := m.MkdirAll("/db/sub"); err != nil {
		t.Fatal(err)
	}
	current := tree(t, m)
	if err := m.Remove("/db/a2"); err != nil {
		t.Fatal(err)
	}
	current2 := tree(t, m)

	if got := tree(t, m.Crash(dropUnsynced)); !sameTree(got, durable) {
		t.Fatalf("CrashDropUnsynced did not undo unsynced entries:\n got %v\nwant %v", got, durable)
	}
	if got := tree(t, m.Crash(keepAll)); !sameTree(got, current2) {
		t.Fatalf("CrashKeepAll: got %v, want %v", got, current2)
	}
	if sameTree(current, current2) {
		t.Fatal("test is broken")
	}
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, m.Crash(dropUnsynced)); !sameTree(got, current2) {
		t.Fatalf("synced entries not kept: got %v, want %v", got, current2)
	}
}

func TestMemDirSyncNeededForNewFile(t *testing.T) {
	m := setup(t)
	writeFile(t, m, "/db/f", "synced data") // data synced, entry not
	mustNotExist(t, m.Crash(dropUnsynced), "/db/f")
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, m.Crash(dropUnsynced), "/db/f"); got != "synced data" {
		t.Fatalf("after SyncDir: %q", got)
	}

	// Nested directories: each level needs its parent synced.
	if err := m.MkdirAll("/x/y"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/x/y/f", "deep")
	if err := m.SyncDir("/x/y"); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, m.Crash(dropUnsynced), "/x")
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	img := m.Crash(dropUnsynced)
	if names, err := img.List("/x"); err != nil || len(names) != 0 {
		t.Fatalf("/x after syncing / only: %q %v", names, err)
	}
	if err := m.SyncDir("/x"); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, m.Crash(dropUnsynced), "/x/y/f"); got != "deep" {
		t.Fatalf("/x/y/f: %q", got)
	}
}

func TestMemRemovedOpenFileCrash(t *testing.T) {
	m := setup(t)
	writeFile(t, m, "/db/a", "v1")
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	f, err := m.OpenReadWrite("/db/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/db/a"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "v2")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, m, "/db/a")
	mustNotExist(t, m.Crash(keepAll), "/db/a")
	// The unlink is not durable: the name comes back with the inode's
	// synced content.
	if got := mustRead(t, m.Crash(dropUnsynced), "/db/a"); got != "v1v2" {
		t.Fatalf("resurrected file: %q", got)
	}
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, m.Crash(dropUnsynced), "/db/a")
	mustClose(t, f)
}

func TestMemRenameAcrossDirsCrash(t *testing.T) {
	m := setup(t)
	for _, d := range []string{"/db/d1", "/db/d2"} {
		if err := m.MkdirAll(d); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, m, "/db/d1/f", "F")
	for _, d := range []string{"/db", "/db/d1", "/db/d2"} {
		if err := m.SyncDir(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Rename("/db/d1/f", "/db/d2/f"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/db/d2"); err != nil {
		t.Fatal(err)
	}
	// Only the target directory is synced: both names survive, as one inode.
	img := m.Crash(dropUnsynced)
	if mustRead(t, img, "/db/d1/f") != "F" || mustRead(t, img, "/db/d2/f") != "F" {
		t.Fatal("both names should survive")
	}
	f, err := img.OpenReadWrite("/db/d1/f")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "+")
	if got := mustRead(t, img, "/db/d2/f"); got != "F+" {
		t.Fatalf("names do not share the inode: %q", got)
	}
}

func TestMemTruncateCrash(t *testing.T) {
	m := setup(t)
	f := mustCreate(t, m, "/db/t")
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "abcdef")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, m.Crash(dropUnsynced), "/db/t"); got != "abcdef" {
		t.Fatalf("unsynced truncate: %q", got)
	}
	if err := f.Truncate(4); err != nil { // regrow: bytes 2..4 are zeros now
		t.Fatal(err)
	}
	if got := mustRead(t, m.Crash(keepAll), "/db/t"); got != "ab\x00\x00" {
		t.Fatalf("keep all: %q", got)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, m.Crash(dropUnsynced), "/db/t"); got != "ab\x00\x00" {
		t.Fatalf("synced truncate: %q", got)
	}
}

// overwriteSetup returns a MemFS whose /db/f holds one durable block of 'o'
// bytes, of which the first n were then overwritten with 'n' bytes through
// a second handle, without a sync.
func overwriteSetup(t testing.TB, n int) *MemFS {
	m := setup(t)
	h1 := mustCreate(t, m, "/db/f")
	h2, err := m.OpenReadWrite("/db/f") // offset 0: the file is empty
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h1, strings.Repeat("o", 4096))
	if err := h1.Sync(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h2, strings.Repeat("n", n))
	return m
}

func TestMemOverwrittenDurableBlockIsUnsynced(t *testing.T) {
	m := overwriteSetup(t, 100)
	want := strings.Repeat("o", 4096)
	if got := mustRead(t, m.Crash(dropUnsynced), "/db/f"); got != want {
		t.Fatalf("CrashDropUnsynced kept the overwrite: %q...", got[:110])
	}
	want = strings.Repeat("n", 100) + strings.Repeat("o", 3996)
	if got := mustRead(t, m.Crash(keepAll), "/db/f"); got != want {
		t.Fatalf("CrashKeepAll lost the overwrite: %q...", got[:110])
	}
}

// classify names the outcome of one block of CrashRandom on overwriteSetup.
func classify(b []byte, n int) string {
	head, tail := b[:n], b[n:]
	if !bytes.Equal(tail, bytes.Repeat([]byte("o"), len(tail))) {
		return "damaged synced bytes"
	}
	k := 0
	for k < n && head[k] == 'n' {
		k++
	}
	switch {
	case k == n:
		return "kept"
	case bytes.Equal(head, bytes.Repeat([]byte("o"), n)):
		return "dropped"
	case k > 0 && bytes.Equal(head[k:], bytes.Repeat([]byte("o"), n-k)):
		return "torn"
	case bytes.Equal(head, make([]byte, n)):
		return "zero"
	}
	return "garbage"
}

func TestMemCrashRandomOutcomes(t *testing.T) {
	m := overwriteSetup(t, 100)
	seen := map[string]int{}
	for seed := range uint64(300) {
		b, err := ReadFile(m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed}), "/db/f")
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 4096 {
			t.Fatalf("seed %d: length %d, want 4096", seed, len(b))
		}
		seen[classify(b, 100)]++
	}
	for _, o := range []string{"kept", "dropped", "torn", "zero", "garbage"} {
		if seen[o] == 0 {
			t.Errorf("outcome %q never happened in 300 seeds: %v", o, seen)
		}
	}
	if seen["damaged synced bytes"] > 0 {
		t.Errorf("synced bytes damaged: %v", seen)
	}
}

func TestMemCrashRandomLengths(t *testing.T) {
	const bs = 4096
	t.Run("grow", func(t *testing.T) {
		m := setup(t)
		f := mustCreate(t, m, "/db/f")
		if err := m.SyncDir("/db"); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, strings.Repeat("d", 100))
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, strings.Repeat("n", 3*bs-50)) // current length 3*bs+50
		want := map[int]bool{100: false, bs: false, 2 * bs: false, 3 * bs: false, 3*bs + 50: false}
		for seed := range uint64(200) {
			b, err := ReadFile(m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed}), "/db/f")
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := want[len(b)]; !ok {
				t.Fatalf("seed %d: length %d", seed, len(b))
			}
			want[len(b)] = true
			if string(b[:100]) != strings.Repeat("d", 100) {
				t.Fatalf("seed %d: synced prefix damaged", seed)
			}
		}
		for l, ok := range want {
			if !ok {
				t.Errorf("length %d never chosen", l)
			}
		}
	})
	t.Run("shrink", func(t *testing.T) {
		m := setup(t)
		f := mustCreate(t, m, "/db/f")
		if err := m.SyncDir("/db"); err != nil {
			t.Fatal(err)
		}
		durable := bytes.Repeat([]byte("0123456789"), (3*bs+50)/10)
		if _, err := f.Write(durable); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(10); err != nil {
			t.Fatal(err)
		}
		lengths := map[int]bool{}
		for seed := range uint64(200) {
			b, err := ReadFile(m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed}), "/db/f")
			if err != nil {
				t.Fatal(err)
			}
			if l := len(b); l != 10 && l != len(durable) && l%bs != 0 {
				t.Fatalf("seed %d: length %d", seed, l)
			}
			if !bytes.Equal(b, durable[:len(b)]) {
				t.Fatalf("seed %d: content is not a prefix of the durable bytes", seed)
			}
			lengths[len(b)] = true
		}
		if len(lengths) != 5 {
			t.Errorf("lengths chosen: %v, want 5 different", lengths)
		}
	})
	t.Run("blocksize", func(t *testing.T) {
		m := setup(t)
		f := mustCreate(t, m, "/db/f")
		if err := m.SyncDir("/db"); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, strings.Repeat("n", 2000))
		for seed := range uint64(100) {
			b, err := ReadFile(m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed, BlockSize: 512}), "/db/f")
			if err != nil {
				t.Fatal(err)
			}
			if l := len(b); l != 2000 && l%512 != 0 {
				t.Fatalf("seed %d: length %d with BlockSize 512", seed, l)
			}
		}
	})
}

// buildBusy runs a fixed workload that leaves plenty of unsynced state.
func buildBusy(t testing.TB) *MemFS {
	m := setup(t)
	for i := range 6 {
		f := mustCreate(t, m, fmt.Sprintf("/db/f%d", i))
		for j := range 5 {
			mustWrite(t, f, strings.Repeat(string(rune('a'+j)), 1500*(i+1)))
			if j == 2 {
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if i == 3 {
			if err := m.SyncDir("/db"); err != nil {
				t.Fatal(err)
			}
		}
		mustClose(t, f)
	}
	if err := m.Rename("/db/f0", "/db/f5"); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemCrashRandomDeterministic(t *testing.T) {
	m1, m2 := buildBusy(t), buildBusy(t)
	distinct := map[string]bool{}
	for seed := range uint64(20) {
		for _, entries := range []bool{false, true} {
			opts := CrashOptions{Mode: CrashRandom, Seed: seed, RandomEntries: entries}
			a, b, c := tree(t, m1.Crash(opts)), tree(t, m1.Crash(opts)), tree(t, m2.Crash(opts))
			if !sameTree(a, b) || !sameTree(a, c) {
				t.Fatalf("seed %d entries %v: images differ", seed, entries)
			}
			distinct[fmt.Sprint(a)] = true
		}
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct images over 40 crashes", len(distinct))
	}
}

func TestMemCrashRandomEntries(t *testing.T) {
	m := setup(t)
	writeFile(t, m, "/db/x", "X")
	writeFile(t, m, "/db/y", "Y")
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	if err := m.Rename("/db/x", "/db/y"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/db/new", "N")
	seen := map[string]bool{}
	for seed := range uint64(100) {
		img := m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed, RandomEntries: true})
		got := tree(t, img)
		key := fmt.Sprint(got)
		switch key {
		case "map[/db:<dir> /db/x:X /db/y:Y]", // nothing
			"map[/db:<dir> /db/y:X]",           // the rename
			"map[/db:<dir> /db/new:N /db/y:X]": // both, in order
		default:
			t.Fatalf("seed %d: impossible image %s", seed, key)
		}
		seen[key] = true
		// Without RandomEntries, entries are always the durable ones.
		img = m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed})
		if got := fmt.Sprint(tree(t, img)); got != "map[/db:<dir> /db/x:X /db/y:Y]" {
			t.Fatalf("seed %d without RandomEntries: %s", seed, got)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("images seen: %v", seen)
	}
}

func TestMemCrashImageIndependent(t *testing.T) {
	m := buildBusy(t)
	before := tree(t, m)
	img := m.Crash(keepAll)
	if !sameTree(tree(t, img), before) {
		t.Fatal("CrashKeepAll is not a copy")
	}
	// Everything in an image is durable.
	if !sameTree(tree(t, img.Crash(dropUnsynced)), before) {
		t.Fatal("image has unsynced state")
	}
	f, err := img.OpenReadWrite("/db/f1")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "more")
	if err := img.Remove("/db/f2"); err != nil {
		t.Fatal(err)
	}
	if !sameTree(tree(t, m), before) {
		t.Fatal("writing the image changed the original")
	}
	g, err := m.OpenReadWrite("/db/f3")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, g, "more")
	if got := mustRead(t, img, "/db/f3"); got != before["/db/f3"] {
		t.Fatal("writing the original changed the image")
	}
	// Locks do not survive a crash.
	l, err := m.Lock("/db/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	img2 := m.Crash(keepAll)
	l2, err := img2.Lock("/db/LOCK")
	if err != nil {
		t.Fatalf("lock survived the crash: %v", err)
	}
	l2.Close()
	l.Close()
	if img2.OpCount() != 1 {
		t.Fatalf("image OpCount = %d, want 1 (the Lock)", img2.OpCount())
	}
}

// workload is a fixed sequence of file-system operations that stops at the
// first error.
func workload(fsys FS) error {
	steps := []func() error{
		func() error { return fsys.MkdirAll("/db/wal") },
		func() error { return fsys.SyncDir("/") },
		func() error { return fsys.SyncDir("/db") },
	}
	var f File
	var l io.Closer
	steps = append(steps,
		func() (err error) { l, err = fsys.Lock("/db/LOCK"); return err },
		func() (err error) { f, err = fsys.Create("/db/wal/000001.log"); return err },
		func() error { return fsys.SyncDir("/db/wal") },
	)
	for i := range 4 {
		steps = append(steps,
			func() error { _, err := f.Write(bytes.Repeat([]byte{byte('a' + i)}, 3000)); return err },
			func() error { return f.SyncData() },
		)
	}
	steps = append(steps,
		func() error { return f.Close() },
		func() error {
			g, err := fsys.Create("/db/CURRENT.tmp")
			if err != nil {
				return err
			}
			if _, err := g.Write([]byte("000001\n")); err != nil {
				return err
			}
			if err := g.Sync(); err != nil {
				return err
			}
			return g.Close()
		},
		func() error { return fsys.Rename("/db/CURRENT.tmp", "/db/CURRENT") },
		func() error { return fsys.SyncDir("/db") },
		func() error {
			g, err := fsys.OpenReadWrite("/db/wal/000001.log")
			if err != nil {
				return err
			}
			if err := g.Truncate(5000); err != nil {
				return err
			}
			if _, err := g.Write([]byte("tail")); err != nil {
				return err
			}
			return g.Close()
		},
		func() error { return fsys.Remove("/db/wal/000001.log") },
		func() error { return fsys.SyncDir("/db/wal") },
		func() error { return l.Close() },
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func TestMemCrashAt(t *testing.T) {
	full := NewMem()
	if err := workload(full); err != nil {
		t.Fatal(err)
	}
	total := full.OpCount()
	if total < 20 {
		t.Fatalf("workload has only %d ops", total)
	}
	for _, opts := range []CrashOptions{dropUnsynced, keepAll, {Mode: CrashRandom, Seed: 7, BlockSize: 1024, RandomEntries: true}} {
		images := map[string]bool{}
		for k := 0; k <= total; k++ {
			m := NewMem()
			m.CrashAt(k, opts)
			err := workload(m)
			if k == total {
				if err != nil || m.Crashed() || m.CrashImage() != nil {
					t.Fatalf("%v k=%d (past the end): err=%v crashed=%v", opts.Mode, k, err, m.Crashed())
				}
				continue
			}
			if !errors.Is(err, ErrCrashed) {
				t.Fatalf("%v k=%d: workload err = %v, want ErrCrashed", opts.Mode, k, err)
			}
			if m.OpCount() != k || !m.Crashed() {
				t.Fatalf("%v k=%d: OpCount = %d", opts.Mode, k, m.OpCount())
			}
			img := m.CrashImage()
			if img == nil {
				t.Fatalf("k=%d: no image", k)
			}
			// The reference stops the same workload before op k with an
			// ErrorFS, and crashes explicitly.
			ref := NewMem()
			efs := NewErrorFS(ref, Rule{Index: k, Sticky: true})
			if err := workload(efs); err == nil || efs.OpCount() != k+1 || ref.OpCount() != k {
				t.Fatalf("k=%d: reference stopped at %d/%d: %v", k, efs.OpCount(), ref.OpCount(), err)
			}
			want := tree(t, ref.Crash(opts))
			got := tree(t, img)
			if !sameTree(got, want) {
				t.Fatalf("%v k=%d: image\n%v\nwant\n%v", opts.Mode, k, got, want)
			}
			images[fmt.Sprint(got)] = true

			// Everything fails after the crash and nothing changes.
			before := img.String()
			checkCrashed(t, m)
			if m.OpCount() != k || img.String() != before {
				t.Fatalf("k=%d: operations after the crash had effects", k)
			}
		}
		if len(images) < 5 {
			t.Fatalf("%v: only %d distinct images", opts.Mode, len(images))
		}
	}
}

// checkCrashed checks that every operation of m fails with ErrCrashed.
func checkCrashed(t *testing.T, m *MemFS) {
	t.Helper()
	errs := map[string]error{}
	_, errs["Create"] = m.Create("/x")
	_, errs["Open"] = m.Open("/db/CURRENT")
	_, errs["OpenReadWrite"] = m.OpenReadWrite("/db/CURRENT")
	errs["Remove"] = m.Remove("/db")
	errs["Rename"] = m.Rename("/db", "/db2")
	errs["MkdirAll"] = m.MkdirAll("/y")
	_, errs["List"] = m.List("/")
	_, errs["Stat"] = m.Stat("/")
	errs["SyncDir"] = m.SyncDir("/")
	_, errs["Lock"] = m.Lock("/L")
	for op, err := range errs {
		if !errors.Is(err, ErrCrashed) {
			t.Fatalf("%s after crash: err = %v, want ErrCrashed", op, err)
		}
	}
}

func TestMemCrashAtFileHandles(t *testing.T) {
	m := setup(t)
	f := mustCreate(t, m, "/db/f")
	mustWrite(t, f, "abc")
	l, err := m.Lock("/db/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	m.CrashAt(m.OpCount(), dropUnsynced)
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Sync at the crash point: %v", err)
	}
	var pe *fs.PathError
	if err := f.Sync(); !errors.As(err, &pe) || pe.Path != "/db/f" {
		t.Fatalf("error does not name the file: %v", err)
	}
	errs := []error{f.SyncData(), f.Truncate(0), f.Close(), l.Close()}
	_, err = f.Write([]byte("x"))
	errs = append(errs, err)
	_, err = f.Read(make([]byte, 1))
	errs = append(errs, err)
	_, err = f.ReadAt(make([]byte, 1), 0)
	errs = append(errs, err)
	_, err = f.Stat()
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, ErrCrashed) {
			t.Fatalf("op %d after crash: %v", i, err)
		}
	}
	// The image was taken before the Sync: the file's name was never
	// durable.
	mustNotExist(t, m.CrashImage(), "/db/f")
	// Crash itself still works on a crashed file system.
	if got := mustRead(t, m.Crash(keepAll), "/db/f"); got != "abc" {
		t.Fatalf("Crash after the crash point: %q", got)
	}
}

func TestMemCrashAtArming(t *testing.T) {
	m := setup(t) // 2 ops
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("CrashAt of a past op did not panic")
			}
		}()
		m.CrashAt(1, dropUnsynced)
	}()
	m.CrashAt(3, dropUnsynced)
	m.CrashAt(-1, dropUnsynced) // disarm
	for range 5 {
		if err := m.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
	}
	if m.Crashed() || m.CrashImage() != nil {
		t.Fatal("disarmed crash point fired")
	}
}

func TestMemOpCount(t *testing.T) {
	m := NewMem()
	step := func(name string, mutating bool, fn func()) {
		t.Helper()
		before := m.OpCount()
		fn()
		want := before
		if mutating {
			want++
		}
		if got := m.OpCount(); got != want {
			t.Fatalf("%s: OpCount %d -> %d, want %d", name, before, got, want)
		}
	}
	var f File
	var l io.Closer
	step("MkdirAll", true, func() { m.MkdirAll("/a/b/c") })
	step("MkdirAll root", true, func() { m.MkdirAll("") })
	step("Create", true, func() { f, _ = m.Create("/a/f") })
	step("Create fails", true, func() { m.Create("/a/f") })
	step("Write", true, func() { f.Write([]byte("x")) })
	step("Write empty", true, func() { f.Write(nil) })
	step("Sync", true, func() { f.Sync() })
	step("SyncData", true, func() { f.SyncData() })
	step("Truncate", true, func() { f.Truncate(0) })
	step("Read", false, func() { f.Read(make([]byte, 1)) })
	step("ReadAt", false, func() { f.ReadAt(make([]byte, 1), 0) })
	step("File.Stat", false, func() { f.Stat() })
	step("Close", true, func() { f.Close() })
	step("Close again", true, func() { f.Close() })
	step("Open", false, func() { f, _ = m.Open("/a/f") })
	step("OpenReadWrite", false, func() { m.OpenReadWrite("/a/f") })
	step("Stat", false, func() { m.Stat("/a/f") })
	step("List", false, func() { m.List("/a") })
	step("Rename", true, func() { m.Rename("/a/f", "/a/g") })
	step("Rename fails", true, func() { m.Rename("/a/f", "/a/g") })
	step("SyncDir", true, func() { m.SyncDir("/a") })
	step("Lock", true, func() { l, _ = m.Lock("/a/LOCK") })
	step("Lock fails", true, func() { m.Lock("/a/LOCK") })
	step("unlock", false, func() { l.Close() })
	step("Remove", true, func() { m.Remove("/a/g") })
	step("Crash", false, func() { m.Crash(keepAll) })
	step("Dump", false, func() { _ = m.String() })
}

func TestMemLockTable(t *testing.T) {
	m1, m2 := NewMem(), NewMem()
	l1, err := m1.Lock("/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := m2.Lock("/LOCK")
	if err != nil {
		t.Fatalf("lock tables are not per MemFS: %v", err)
	}
	// The lock belongs to the inode: it follows a rename.
	if err := m1.Rename("/LOCK", "/LOCK2"); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Lock("/LOCK2"); !errors.Is(err, ErrLocked) {
		t.Fatalf("renamed lock file: %v", err)
	}
	if _, err := m1.Lock("/"); err == nil {
		t.Fatal("Lock of a directory succeeded")
	}
	mustClose(t, l1)
	mustClose(t, l2)
	l3, err := m1.Lock("/LOCK2")
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, l3)
}

func TestMemDump(t *testing.T) {
	m := setup(t)
	writeFile(t, m, "/db/synced", "abc")
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	f := mustCreate(t, m, "/db/new")
	mustWrite(t, f, "12345")
	if err := m.Remove("/db/synced"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lock("/db/LOCK"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := m.Dump(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"/db dir",
		"/db/new file ino=",
		"size=5 durable=0 dirty=1 (entry not durable)",
		"/db/LOCK file",
		" locked",
		"/db/synced file ino=",
		"(durable entry only",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Dump lacks %q:\n%s", want, out)
		}
	}
	if m.String() != out {
		t.Error("String differs from Dump")
	}
}

func TestMemConcurrent(t *testing.T) {
	m := setup(t)
	const writers, writes = 8, 50
	var wg sync.WaitGroup
	var holders, maxHolders atomic.Int32
	for w := range writers {
		wg.Go(func() {
			name := fmt.Sprintf("/db/w%d", w)
			f, err := m.Create(name)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range writes {
				if _, err := f.Write([]byte{byte(i)}); err != nil {
					t.Error(err)
				}
				if i%10 == 9 {
					if err := f.SyncData(); err != nil {
						t.Error(err)
					}
				}
				if l, err := m.Lock("/db/LOCK"); err == nil {
					n := holders.Add(1)
					if n > maxHolders.Load() {
						maxHolders.Store(n)
					}
					holders.Add(-1)
					l.Close()
				} else if !errors.Is(err, ErrLocked) {
					t.Error(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			m.Crash(CrashOptions{Mode: CrashRandom, Seed: uint64(i), RandomEntries: true})
			m.List("/db")
			m.Stat("/db/w0")
			ReadFile(m, "/db/w1")
			_ = m.String()
			m.SyncDir("/db")
		}
	})
	wg.Wait()
	if maxHolders.Load() > 1 {
		t.Fatalf("%d lock holders at once", maxHolders.Load())
	}
	if err := m.SyncDir("/db"); err != nil {
		t.Fatal(err)
	}
	img := m.Crash(dropUnsynced)
	for w := range writers {
		b := []byte(mustRead(t, img, fmt.Sprintf("/db/w%d", w)))
		if len(b) != writes {
			t.Fatalf("w%d: %d bytes", w, len(b))
		}
		for i, c := range b {
			if c != byte(i) {
				t.Fatalf("w%d: byte %d = %d", w, i, c)
			}
		}
	}
	if want := 1 + writers*(1+writes+writes/10+1) + writers*writes*1; m.OpCount() < want {
		t.Fatalf("OpCount = %d, want at least %d", m.OpCount(), want)
	}
}

// TestMemCrashFate checks that CrashOptions.Fate decides the blocks it
// names, whatever the seed: a dropped earlier block beside a kept later
// one is the image an unordered writeback leaves.
func TestMemCrashFate(t *testing.T) {
	const bs = 512
	m := NewMem()
	if err := m.MkdirAll("/db"); err != nil {
		t.Fatal(err)
	}
	f, err := m.Create("/db/f")
	if err != nil {
		t.Fatal(err)
	}
	synced := bytes.Repeat([]byte{'s'}, 100)
	if _, err := f.Write(synced); err != nil {
		t.Fatal(err)
	}
	if err := f.Preallocate(4 * bs); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/", "/db"} {
		if err := m.SyncDir(d); err != nil {
			t.Fatal(err)
		}
	}
	// Preallocate keeps the offset: the write lands right after the synced
	// bytes and dirties blocks 0..3.
	cur := bytes.Repeat([]byte{'u'}, 4*bs-100)
	if _, err := f.Write(cur); err != nil {
		t.Fatal(err)
	}
	fates := []BlockFate{BlockDrop, BlockKeep, BlockZero, BlockGarbage}
	for seed := range uint64(20) {
		var calls []string
		img := m.Crash(CrashOptions{Mode: CrashRandom, Seed: seed, BlockSize: bs, Fate: func(path string, block int) BlockFate {
			calls = append(calls, fmt.Sprintf("%s#%d", path, block))
			return fates[block]
		}})
		b, err := ReadFile(img, "/db/f")
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 4*bs {
			t.Fatalf("seed %d: length %d", seed, len(b))
		}
		if !bytes.Equal(b[:100], synced) {
			t.Fatalf("seed %d: synced bytes damaged", seed)
		}
		if !allBytes(b[100:bs], 0) || !allBytes(b[bs:2*bs], 'u') || !allBytes(b[2*bs:3*bs], 0) {
			t.Fatalf("seed %d: blocks 0..2 are not dropped, kept, zeroed", seed)
		}
		if allBytes(b[3*bs:], 0) || allBytes(b[3*bs:], 'u') {
			t.Fatalf("seed %d: block 3 is not garbage", seed)
		}
		if want := "/db/f#0 /db/f#1 /db/f#2 /db/f#3"; strings.Join(calls, " ") != want {
			t.Fatalf("seed %d: Fate called for %v, want %s", seed, calls, want)
		}
	}
}

func allBytes(b []byte, c byte) bool {
	return bytes.Count(b, []byte{c}) == len(b)
}
