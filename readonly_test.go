package inmem_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/cli"
	"github.com/inmemdb/inmem/vfs"
)

const liveWriterEnv = "INMEM_TEST_LIVE_WRITER"

// TestReadOnly_WriterHelper is the child of the live-writer tests: it holds
// the database in the directory it is given open for writing and obeys
// commands on stdin, answering each with one line once it is done:
//
//	put N         N commits, each one KV put (keys k0, k1, ... continue)
//	append N      N commits, each one event appended to the run "agent"
//	checkpoint    a checkpoint and a WAL compaction
//	quit          close and exit
func TestReadOnly_WriterHelper(t *testing.T) {
	dir := os.Getenv(liveWriterEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// Small segments: the follow tests cross rotations.
	db, err := inmem.Open(dir, &inmem.Options{Durability: inmem.Strict, WALSegmentSize: 4 << 10})
	if err != nil {
		fail(err)
	}
	bg := context.Background()
	run, err := db.Runs().Create(bg, "agent", inmem.RunOptions{})
	if err != nil {
		fail(err)
	}
	fmt.Println("ready", run)
	keys, events := 0, 0
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		n, _ := strconv.Atoi(arg)
		switch cmd {
		case "put":
			for range n {
				if _, err = db.KV().Put(bg, run, fmt.Sprintf("k%d", keys), inmem.Int(int64(keys))); err != nil {
					fail(err)
				}
				keys++
			}
		case "append":
			for range n {
				if _, err = db.Events().Append(bg, run, "step", inmem.Int(int64(events))); err != nil {
					fail(err)
				}
				events++
			}
		case "checkpoint":
			if _, err := db.Checkpoint(bg); err != nil {
				fail(err)
			}
			if _, err := db.Compact(bg, inmem.WALOnly); err != nil {
				fail(err)
			}
		case "quit":
			if err := db.Close(); err != nil {
				fail(err)
			}
			fmt.Println("ok")
			os.Exit(0)
		}
		fmt.Println("ok", db.Stats().CommitVersion)
	}
	os.Exit(1)
}

// liveWriter is the parent's handle on a TestReadOnly_WriterHelper child.
type liveWriter struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	run string
}

func startLiveWriter(t *testing.T, dir string) *liveWriter {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnly_WriterHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), liveWriterEnv+"="+dir)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &liveWriter{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := w.line()
	run, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		t.Fatalf("writer: %q", line)
	}
	w.run = run
	return w
}

func (w *liveWriter) line() string {
	w.t.Helper()
	if !w.out.Scan() {
		w.t.Fatalf("the writer ended: %v", w.out.Err())
	}
	return w.out.Text()
}

// do sends a command and waits until the writer has carried it out; it
// returns the newest commit version then.
func (w *liveWriter) do(cmd string) uint64 {
	w.t.Helper()
	if _, err := fmt.Fprintln(w.in, cmd); err != nil {
		w.t.Fatal(err)
	}
	line := w.line()
	v, ok := strings.CutPrefix(line, "ok ")
	if !ok {
		w.t.Fatalf("writer, %s: %q", cmd, line)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		w.t.Fatalf("writer, %s: %q", cmd, line)
	}
	return n
}

// treeHash hashes every name and byte under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%v\x00", p, d.IsDir())
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Main(args, &out, &errOut); code != 0 {
		t.Fatalf("inmem %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}

// TestReadOnly_BesideLiveWriter opens a database read-only, and runs every
// CLI read command on it, while a child process holds it open for writing:
// no Locked error, the committed data is there, and no file changes.
func TestReadOnly_BesideLiveWriter(t *testing.T) {
	if os.Getenv(liveWriterEnv) != "" {
		t.Skip("in the helper")
	}
	dir := filepath.Join(t.TempDir(), "db")
	w := startLiveWriter(t, dir)
	w.do("put 40")
	w.do("append 3")
	before := treeHash(t, dir)

	db, err := inmem.Open(dir, &inmem.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open beside a live writer: %v", err)
	}
	run, err := inmem.ParseRunID(w.run)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		v, err := db.KV().Get(ctx, run, fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatalf("k%d: %v", i, err)
		}
		if n, _ := v.Value.AsInt(); n != int64(i) {
			t.Fatalf("k%d = %v", i, v.Value)
		}
	}
	if _, err := db.KV().Put(ctx, run, "x", inmem.Int(1)); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
		t.Fatalf("a write on a read-only handle: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"info", dir}, {"stats", dir}, {"manifest", dir}, {"check", dir},
		{"runs", "ls", dir}, {"kv", "get", dir, "agent", "k7"}, {"kv", "scan", dir, "agent"},
		{"events", "list", dir, "agent"}, {"events", "verify", dir, "agent"},
	} {
		out := runCLI(t, args...)
		if args[0] == "kv" && args[1] == "get" && !strings.Contains(out, "7") {
			t.Fatalf("kv get: %q", out)
		}
	}
	if after := treeHash(t, dir); after != before {
		t.Fatal("reading the live database changed its files")
	}
}

// TestReadOnly_Refresh catches a read-only handle up with a live writer's
// commits, also after the writer checkpointed and compacted away the
// segment the handle was reading.
func TestReadOnly_Refresh(t *testing.T) {
	if os.Getenv(liveWriterEnv) != "" {
		t.Skip("in the helper")
	}
	dir := filepath.Join(t.TempDir(), "db")
	w := startLiveWriter(t, dir)
	w.do("put 10")
	db, err := inmem.Open(dir, &inmem.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, _ := inmem.ParseRunID(w.run)
	check := func(keys int) {
		t.Helper()
		for i := range keys {
			if _, err := db.KV().Get(ctx, run, fmt.Sprintf("k%d", i)); err != nil {
				t.Fatalf("k%d: %v", i, err)
			}
		}
		if _, err := db.KV().Get(ctx, run, fmt.Sprintf("k%d", keys)); !errors.Is(err, inmem.ErrNotFound) {
			t.Fatalf("k%d: %v, want NotFound", keys, err)
		}
	}
	check(10)
	w.do("put 100") // several segments of 4 KiB
	// Readers keep reading while a refresh installs commits.
	stop, readersDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readersDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.KV().Get(ctx, run, "k3"); err != nil {
				t.Error(err)
				return
			}
			db.KV().Get(ctx, run, "k105")
		}
	}()
	err = db.Refresh(ctx)
	close(stop)
	<-readersDone
	if err != nil {
		t.Fatal(err)
	}
	check(110)
	w.do("checkpoint")
	// Caught up: a compaction (to one empty segment) trims nothing it needs.
	if err := db.Refresh(ctx); err != nil {
		t.Fatalf("refresh after a compaction, writer idle: %v", err)
	}
	w.do("put 50")
	if err := db.Refresh(ctx); err != nil {
		t.Fatalf("refresh after a compaction: %v", err)
	}
	check(160)
	// A handle opened after the compaction starts from the snapshot.
	db2, err := inmem.Open(dir, &inmem.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if v, err := db2.KV().Get(ctx, run, "k159"); err != nil || v.Version.N != db.Stats().CommitVersion {
		t.Fatalf("k159 after reopen: %v %v", v, err)
	}

	rw, err := inmem.Open(filepath.Join(t.TempDir(), "rw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if err := rw.Refresh(ctx); inmem.CodeOf(err) != inmem.CodeInvalidArgument {
		t.Fatalf("Refresh on a writable database: %v", err)
	}
}

// followLines runs the CLI with args in the background and returns its
// output lines as they come, and a function that stops it and returns its
// exit code.
func followLines(t *testing.T, args ...string) (*bufio.Scanner, func() int) {
	t.Helper()
	cctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := cli.MainContext(cctx, args, pw, &errOut)
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	return sc, func() int {
		cancel()
		go io.Copy(io.Discard, pr) // let a final write finish
		code := <-done
		if code != 0 {
			t.Logf("stderr: %s", errOut.String())
		}
		return code
	}
}

func nextLine(t *testing.T, sc *bufio.Scanner) string {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("the follow ended early: %v", sc.Err())
	}
	return sc.Text()
}

// TestReadOnly_Tail follows a live writer's commits with `inmem tail`,
// across segment rotations and a compaction.
func TestReadOnly_Tail(t *testing.T) {
	if os.Getenv(liveWriterEnv) != "" {
		t.Skip("in the helper")
	}
	dir := filepath.Join(t.TempDir(), "db")
	w := startLiveWriter(t, dir)
	start := w.do("put 5")
	sc, stop := followLines(t, "tail", dir, "-o", "ndjson", "--interval", "5ms", "--from", strconv.FormatUint(start+1, 10))
	w.do("put 60")
	i := 0
	expect := func(n int) {
		t.Helper()
		for range n {
			expectCommit(t, sc, start+1+uint64(i), fmt.Sprintf("k%d", 5+i))
			i++
		}
	}
	expect(60)
	// The segments just read go away underneath.
	w.do("checkpoint")
	w.do("put 20")
	expect(20)
	if code := stop(); code != 0 {
		t.Fatalf("tail exited %d after cancellation", code)
	}
}

func expectCommit(t *testing.T, sc *bufio.Scanner, version uint64, key string) {
	t.Helper()
	{
		var c struct {
			Version   uint64
			Mutations []struct{ Key string }
		}
		line := nextLine(t, sc)
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if c.Version != version {
			t.Fatalf("commit %s: version %d, want %d", line, c.Version, version)
		}
		if len(c.Mutations) == 0 || !strings.HasSuffix(c.Mutations[0].Key, key) {
			t.Fatalf("commit %d, want key %s: %s", version, key, line)
		}
	}
}

// TestReadOnly_EventsFollow follows a run's event log with `inmem events
// list --follow`: the events there first, then every one appended later.
func TestReadOnly_EventsFollow(t *testing.T) {
	if os.Getenv(liveWriterEnv) != "" {
		t.Skip("in the helper")
	}
	dir := filepath.Join(t.TempDir(), "db")
	w := startLiveWriter(t, dir)
	w.do("append 3")
	sc, stop := followLines(t, "events", "list", dir, "agent", "--follow", "-o", "json", "--interval", "5ms")
	seen := 0
	expect := func(n int) {
		t.Helper()
		for range n {
			var ev struct {
				Sequence uint64
				Payload  int
			}
			line := nextLine(t, sc)
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if ev.Payload != seen {
				t.Fatalf("event %d: %s", seen, line)
			}
			seen++
		}
	}
	expect(3)
	w.do("append 4")
	w.do("put 30")
	w.do("append 2")
	expect(6)
	if code := stop(); code != 0 {
		t.Fatalf("events list --follow exited %d after cancellation", code)
	}
}

// TestReadOnly_MissingCreatesNothing: a read-only open of a path that does
// not exist is NotFound and leaves no directory and no LOCK file; one of an
// empty directory leaves it empty.
func TestReadOnly_MissingCreatesNothing(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "nope", "db")
	_, err := inmem.Open(dir, &inmem.Options{ReadOnly: true})
	if inmem.CodeOf(err) != inmem.CodeNotFound {
		t.Fatalf("read-only open of a missing path: %v, want NotFound", err)
	}
	if _, err := os.Stat(filepath.Join(base, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the read-only open created %s", filepath.Join(base, "nope"))
	}
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := inmem.Open(empty, &inmem.Options{ReadOnly: true}); err == nil {
		t.Fatal("a read-only open of an empty directory succeeded")
	}
	if names, _ := os.ReadDir(empty); len(names) != 0 {
		t.Fatalf("the read-only open left %v", names)
	}
}

// TestReadOnly_MissingManifestIsCorruption: a directory whose WAL holds
// segments but whose MANIFEST is gone is damage, for Open and for check.
func TestReadOnly_MissingManifestIsCorruption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Runs().Create(ctx, "agent", inmem.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Remove(filepath.Join(dir, "MANIFEST")); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, dir)
	var out, errOut bytes.Buffer
	if code := cli.Main([]string{"check", dir}, &out, &errOut); code != cli.ExitIntegrity {
		t.Fatalf("check without a MANIFEST: exit %d, want %d\n%s%s", code, cli.ExitIntegrity, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "MANIFEST is missing") {
		t.Fatalf("check output: %s", out.String())
	}
	if _, err := inmem.Open(dir, &inmem.Options{ReadOnly: true}); !errors.Is(err, inmem.ErrCorruption) {
		t.Fatalf("read-only open without a MANIFEST: %v, want Corruption", err)
	}
	if treeHash(t, dir) != before {
		t.Fatal("the checks changed files")
	}
}

// raceFS is the file system of a read-only handle; each time that handle
// opens a snapshot file, the writer sharing the files checkpoints and
// compacts first, deleting it: the race a live writer makes possible.
type raceFS struct {
	vfs.FS
	races  int // how many opens still race
	writer *inmem.DB
	t      *testing.T
}

func (r *raceFS) Open(name string) (vfs.File, error) {
	if strings.Contains(name, "SNAPSHOTS") && r.races > 0 {
		r.races--
		if _, err := r.writer.Checkpoint(ctx); err != nil {
			r.t.Error(err)
		}
		if _, err := r.writer.Compact(ctx, inmem.WALOnly); err != nil {
			r.t.Error(err)
		}
	}
	return r.FS.Open(name)
}

// TestReadOnly_OpenRetriesCompaction: a read-only open whose snapshot and
// segments a writer deletes underneath starts over and succeeds; one that
// keeps losing the race gives up with Conflict instead of looping or
// reporting damage that is not there.
func TestReadOnly_OpenRetriesCompaction(t *testing.T) {
	mem := vfs.NewMem()
	w, err := inmem.Open("db", &inmem.Options{FS: mem, WALSegmentSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	run, err := w.Runs().Create(ctx, "agent", inmem.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := w.KV().Put(ctx, run, fmt.Sprintf("k%d", i), inmem.Int(int64(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, 50)
	if _, err := w.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	put(50, 100)

	rfs := &raceFS{FS: mem, races: 2, writer: w, t: t}
	db, err := inmem.Open("db", &inmem.Options{FS: rfs, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open racing two compactions: %v", err)
	}
	if rfs.races != 0 {
		t.Fatalf("the race ran %d times, want 2", 2-rfs.races)
	}
	for i := range 100 {
		if _, err := db.KV().Get(ctx, run, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("k%d: %v", i, err)
		}
	}
	db.Close()

	rfs = &raceFS{FS: mem, races: 1 << 20, writer: w, t: t}
	_, err = inmem.Open("db", &inmem.Options{FS: rfs, ReadOnly: true})
	if inmem.CodeOf(err) != inmem.CodeConflict || errors.Is(err, inmem.ErrCorruption) {
		t.Fatalf("read-only open that always loses the race: %v, want Conflict", err)
	}
}

// TestImport_LiveSourceIsLocked: read-only opens take no lock, but Import
// still refuses a source a writer holds: it copies files, and a copy of
// files changing underneath need not be consistent.
func TestImport_LiveSourceIsLocked(t *testing.T) {
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	w, err := inmem.Open(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Runs().Create(ctx, "agent", inmem.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := inmem.Import(ctx, src, dst, nil); inmem.CodeOf(err) != inmem.CodeLocked {
		t.Fatalf("Import of a live source: %v, want Locked", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the refused Import created %s", dst)
	}
	w.Close()
	if err := inmem.Import(ctx, src, dst, nil); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnly_RefreshAfterLostRecords: when the writer compacts away
// records a read-only handle has not read yet, Refresh says so with
// HistoryTrimmed instead of skipping them, and a reopened handle has them.
func TestReadOnly_RefreshAfterLostRecords(t *testing.T) {
	mem := vfs.NewMem()
	w, err := inmem.Open("db", &inmem.Options{FS: mem, WALSegmentSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	run, err := w.Runs().Create(ctx, "agent", inmem.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := inmem.Open("db", &inmem.Options{FS: mem, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Many segments' worth, all covered by the checkpoint: the segment the
	// reader stopped in goes, with records it never read.
	for i := range 200 {
		if _, err := w.KV().Put(ctx, run, fmt.Sprintf("k%d", i), inmem.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Compact(ctx, inmem.WALOnly); err != nil {
		t.Fatal(err)
	}
	// The checkpoint left the log with one empty segment: no record after
	// the gap shows it, the MANIFEST's watermark does.
	if err := db.Refresh(ctx); !errors.Is(err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("Refresh past lost records, writer idle: %v, want HistoryTrimmed", err)
	}
	if _, err := w.KV().Put(ctx, run, "last", inmem.Int(1)); err != nil {
		t.Fatal(err)
	}
	if err := db.Refresh(ctx); !errors.Is(err, inmem.ErrHistoryTrimmed) {
		t.Fatalf("Refresh past lost records: %v, want HistoryTrimmed", err)
	}
	db2, err := inmem.Open("db", &inmem.Options{FS: mem, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	for _, k := range []string{"k0", "k199", "last"} {
		if _, err := db2.KV().Get(ctx, run, k); err != nil {
			t.Fatalf("%s after reopening: %v", k, err)
		}
	}
}
