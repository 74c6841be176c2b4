package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

// asToolEnv makes the test binary behave as the inmem tool: the demo's
// crash child re-executes the test binary with it set.
const asToolEnv = "INMEM_CLI_TEST_AS_TOOL"

func TestMain(m *testing.M) {
	if os.Getenv(asToolEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	childCommand = testChildCommand
	os.Exit(m.Run())
}

func testChildCommand(ctx context.Context, args ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asToolEnv+"=1")
	return cmd, nil
}

// run runs the tool in-process.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// mustRun runs the tool and fails the test unless it exits with want.
func mustRun(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := run(t, args...)
	if code != want {
		t.Fatalf("inmem %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

var ctx = context.Background()

// newDB creates a database directory with a registered run named "agent",
// lets fill write into it, and closes it.
//
// The first session always writes something: a database whose first
// session wrote nothing fails to reopen a few sessions later (recovery
// deletes the empty first WAL segment as if a snapshot covered it, and the
// next recovery reports it missing), a library bug reported separately.
func newDB(t *testing.T, fill func(db *inmem.DB, run inmem.RunID)) (string, inmem.RunID) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := db.Runs().Create(ctx, "agent", inmem.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(db, run)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, run
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
