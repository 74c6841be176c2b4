package cli

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStressPrintsEveryAcknowledgedCommit: stress prints one NDJSON line per
// acknowledged commit, each with its own version, and a summary.
func TestStressPrintsEveryAcknowledgedCommit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	stdout, stderr, code := run(t, "stress", dir, "--writers", "3", "--max-commits", "30", "--seed", "5")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	commits := 0
	seen := map[uint64]bool{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var rec struct {
			Kind    string `json:"kind"`
			Version uint64 `json:"version"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("not NDJSON: %q: %v", sc.Text(), err)
		}
		if rec.Kind != "commit" {
			continue
		}
		commits++
		// Writers acknowledge concurrently, so lines need not be in version
		// order; each version is one commit.
		if rec.Version == 0 || seen[rec.Version] {
			t.Fatalf("version %d missing or printed twice", rec.Version)
		}
		seen[rec.Version] = true
	}
	// Writers already committing when the cap is reached finish their
	// commit: up to one more per writer.
	if commits < 30 || commits > 33 {
		t.Fatalf("%d commit lines, want 30 to 33", commits)
	}
	if stderr == "" {
		t.Fatal("no summary on stderr")
	}
	if _, stderr, code := run(t, "stress", dir, "--min-value", "0"); code != ExitUsage {
		t.Fatalf("bad value size: exit %d, want %d (%s)", code, ExitUsage, stderr)
	}
}

// TestCrashtestShortRun runs a few kill cycles through real child processes
// of the tool and expects a clean summary.
func TestCrashtestShortRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	stdout, stderr, code := run(t, "crashtest", dir, "--cycles", "4", "--seed", "11", "--max-acks", "20")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "SCENARIO") || !strings.Contains(stdout, "wal-append") {
		t.Fatalf("no summary table:\n%s", stdout)
	}
	if _, _, code := run(t, "crashtest", dir, "--scenario", "no-such"); code != ExitUsage {
		t.Fatalf("unknown scenario: exit %d, want %d", code, ExitUsage)
	}
	for _, bad := range [][]string{{"--durability", "inmemory"}, {"--child-timeout", "0s"}} {
		if _, stderr, code := run(t, append([]string{"crashtest", t.TempDir()}, bad...)...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, ExitUsage, stderr)
		}
	}
}

// TestCrashtestFullCompaction runs the compact-full scenario through real
// child processes: the children must get --full and --keep-last, or the
// cycle would crash WAL-only compactions that trim nothing.
func TestCrashtestFullCompaction(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	stdout, stderr, code := run(t, "crashtest", dir, "--cycles", "2", "--seed", "3", "--max-acks", "20", "--scenario", "compact-full")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "compact-full  2") {
		t.Fatalf("compact-full did not run twice:\n%s", stdout)
	}
	_, stderr, code = run(t, "stress", filepath.Join(t.TempDir(), "db2"), "--max-commits", "12", "--compact-every", "4", "--full", "--keep-last", "1")
	if code != ExitOK || !strings.Contains(stderr, "compactions") {
		t.Fatalf("stress --full: exit %d: %s", code, stderr)
	}
}

// TestCrashtestEveryOp runs the power cut at every file-system operation of
// Full compactions from the tool and expects the number of cut points
// checked and a clean result.
func TestCrashtestEveryOp(t *testing.T) {
	stdout, stderr, code := run(t, "crashtest", "--every-op", "--seed", "7", "--op-commits", "8", "--op-compact-every", "4", "--keep-last", "2")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`power-cut points checked +(\d+) `).FindStringSubmatch(stdout)
	if m == nil || m[1] == "0" {
		t.Fatalf("no cut points reported:\n%s", stdout)
	}
	if !regexp.MustCompile(`Full compactions +2\n`).MatchString(stdout) || !regexp.MustCompile(`result +ok\n`).MatchString(stdout) ||
		!strings.Contains(stdout, "KeepLast(2)") {
		t.Fatalf("summary incomplete:\n%s", stdout)
	}
	for _, bad := range [][]string{
		{"crashtest", "--every-op", t.TempDir()},
		{"crashtest", "--every-op", "--op-commits", "4", "--op-compact-every", "5"},
		{"crashtest", "--every-op", "--op-compact-every", "0"},
		{"crashtest"},
	} {
		if _, stderr, code := run(t, bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, ExitUsage, stderr)
		}
	}
}
