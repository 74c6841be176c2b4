package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// childEnv carries a StressConfig (JSON) to the test binary re-executed as
// the workload process.
const childEnv = "INMEM_HARNESS_STRESS_CHILD"

// hangEnv makes the re-executed test binary a workload that prints its
// first record and then blocks until its stdin closes: a stalled child.
const hangEnv = "INMEM_HARNESS_HANG_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(hangEnv) == "1" {
		os.Stdout.WriteString(`{"kind":"opening"}` + "\n")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	if cfg := os.Getenv(childEnv); cfg != "" {
		var sc StressConfig
		if err := json.Unmarshal([]byte(cfg), &sc); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		sum, err := Stress(context.Background(), sc, os.Stdout)
		sum.Print(os.Stderr)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func spawnTestChild(ctx context.Context, sc StressConfig) (*exec.Cmd, error) {
	b, err := json.Marshal(sc)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	return cmd, nil
}

func soak() bool { return os.Getenv("INMEM_SOAK") == "1" }

func crashConfig(t *testing.T, durability string) CrashConfig {
	return CrashConfig{
		Dir:        filepath.Join(t.TempDir(), "db"),
		Seed:       uint64(time.Now().UnixNano()),
		Cycles:     len(Scenarios),
		Durability: durability,
		Writers:    3,
		MaxAcks:    40,
		MinValue:   1,
		MaxValue:   300,
		Damage:     true,
		Spawn:      spawnTestChild,
	}
}

func runCrash(t *testing.T, cfg CrashConfig) *CrashResult {
	t.Helper()
	if soak() {
		cfg.Cycles, cfg.Duration = 0, 10*time.Minute
		if d, err := time.ParseDuration(os.Getenv("INMEM_SOAK_DURATION")); err == nil {
			cfg.Duration = d
		}
	}
	res, err := Crashtest(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.Print(&b)
	t.Logf("seed %d\n%s", cfg.Seed, b.String())
	if res.Failed() {
		t.Fatalf("crash test failed (seed %d)", cfg.Seed)
	}
	return res
}

// TestCrash_Harness runs every scenario of the matrix once in Strict mode
// (INMEM_SOAK=1 runs them for INMEM_SOAK_DURATION, default 10m).
func TestCrash_Harness(t *testing.T) {
	res := runCrash(t, crashConfig(t, "strict"))
	if res.Verified == 0 || res.Kills < res.Cycles {
		t.Fatalf("nothing verified: %+v", res)
	}
	for _, s := range res.Scenarios {
		if !s.Pending && s.Cycles == 0 && !soak() {
			t.Errorf("scenario %s did not run", s.Name)
		}
	}
}

// TestCrash_HarnessBuffered: in Buffered mode a process kill (not a power
// cut) loses nothing acknowledged either: the OS keeps what was written.
func TestCrash_HarnessBuffered(t *testing.T) {
	cfg := crashConfig(t, "buffered")
	cfg.Scenarios = []string{"wal-append", "checkpoint", "consecutive"}
	cfg.Cycles = 3
	runCrash(t, cfg)
}

// TestCrash_CheckerCatchesLoss proves the checker can fail: deleting an
// acknowledged commit's marker behind the model's back is reported as a
// loss of that commit.
func TestCrash_CheckerCatchesLoss(t *testing.T) {
	cfg := crashConfig(t, "strict")
	cfg.Scenarios, cfg.Cycles, cfg.Damage = []string{"wal-append"}, 1, false
	cfg.MaxAcks = 1
	cfg.AfterKill = func(dir string) error {
		db, err := inmem.Open(dir, nil)
		if err != nil {
			return err
		}
		defer db.Close()
		ids, err := db.RunIDs()
		if err != nil {
			return err
		}
		deleted := 0
		for _, id := range ids {
			// Commit 1 of a writer may still have been in flight: absent.
			if ok, err := db.KV().Exists(context.Background(), id, "m/1"); err != nil || !ok {
				continue
			}
			if _, err := db.KV().Delete(context.Background(), id, "m/1"); err != nil {
				return err
			}
			deleted++
		}
		if deleted == 0 {
			return errors.New("no acknowledged marker to delete")
		}
		return nil
	}
	res, err := Crashtest(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() || res.Counts[KindLoss] == 0 || res.FailedCycle != 0 {
		var b strings.Builder
		res.Print(&b)
		t.Fatalf("planted loss not reported as a loss:\n%s", b.String())
	}
	// The reproduction repeats every setting the cycle depends on.
	want := fmt.Sprintf("--seed %d --cycles 1 --scenario wal-append --writers 3 --max-acks 1 --durability strict --damage=false", cfg.Seed)
	var b strings.Builder
	res.Print(&b)
	if res.Repro != want || !strings.Contains(b.String(), "reproduce: inmem crashtest <new dir> "+want+"\n") {
		t.Fatalf("reproduction %q, want %q:\n%s", res.Repro, want, b.String())
	}
}

// TestCrash_FullCompactionEveryOp cuts the power at every file-system
// operation of Full compactions under KeepLast (every few of them by
// default; all of them, on a longer script, with INMEM_SOAK=1). Recovery
// keeps every acknowledged commit and every past version KeepLast retains.
func TestCrash_FullCompactionEveryOp(t *testing.T) {
	cfg := OpCrashConfig{Seed: uint64(time.Now().UnixNano()), Writers: 2, Commits: 24, CompactEvery: 8,
		KeepLast: 1 + int(time.Now().UnixNano()%3), SegmentSize: 2048, MaxValue: 200, Stride: 1}
	if soak() {
		cfg.Commits, cfg.CompactEvery = 200, 10
	}
	cfg.Offset = int(cfg.Seed % uint64(cfg.Stride))
	res, err := CrashFullCompactionOps(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d KeepLast(%d): %d compactions, %d ops, %d crash points, %d commits verified, %d past versions read, %d trimmed",
		cfg.Seed, cfg.KeepLast, res.Compactions, res.Ops, res.Points, res.Verified, res.Past, res.Trimmed)
	if res.Failed() {
		for _, v := range res.Violations {
			t.Error(v)
		}
		t.Fatalf("crash at op %d (%v), seed %d KeepLast(%d)", res.FailedOp, res.FailedMode, cfg.Seed, cfg.KeepLast)
	}
	if res.Points == 0 || res.Verified == 0 || res.Past == 0 {
		t.Fatalf("nothing checked: %+v", res)
	}
}

// TestCrash_CheckerCatchesOvertrim proves the history check can fail: a
// database trimming under KeepLast(1) while the model was told KeepLast(4)
// answers HistoryTrimmed for versions the model requires.
func TestCrash_CheckerCatchesOvertrim(t *testing.T) {
	cfg := OpCrashConfig{Seed: 1, Writers: 1, Commits: 16, CompactEvery: 8, KeepLast: 4,
		SegmentSize: 2048, MaxValue: 50, Stride: 1, dbKeep: 1}
	res, err := CrashFullCompactionOps(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() || res.Violations[0].Kind != KindHistory {
		t.Fatalf("trimming the last commits' history not reported: %+v", res)
	}
	t.Log(res.Violations[0])
}

// TestCrash_KillNeverFires: a child whose kill condition never holds (its
// checkpoints are switched off behind the scenario's back, so the
// checkpoint kill cannot fire) spends its commit budget, exits cleanly and
// is reported as such; its state is still checked. Without the budget the
// child would commit forever and the test would hang.
func TestCrash_KillNeverFires(t *testing.T) {
	cfg := crashConfig(t, "strict")
	cfg.Scenarios, cfg.Cycles, cfg.Damage = []string{"checkpoint"}, 1, false
	var budget int
	cfg.Spawn = func(ctx context.Context, sc StressConfig) (*exec.Cmd, error) {
		sc.CheckpointEvery = 0
		budget = sc.MaxCommits
		return spawnTestChild(ctx, sc)
	}
	res, err := Crashtest(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.Print(&b)
	if res.Failed() || res.Kills != 0 || res.Unkilled != 1 || res.Scenarios[2].Unkilled != 1 {
		t.Fatalf("want one clean, unkilled cycle:\n%s", b.String())
	}
	if budget < 1 || res.Verified < uint64(budget) {
		t.Fatalf("budget %d, %d commits verified:\n%s", budget, res.Verified, b.String())
	}
	if !regexp.MustCompile(`workloads finished before their kill point +1\n`).MatchString(b.String()) {
		t.Fatalf("summary does not report the unkilled workload:\n%s", b.String())
	}
}

// TestCrash_ChildTimeout: a workload that stalls (prints its first record,
// then blocks on a pipe the test never writes to) is killed at the
// wall-clock ceiling and reported as a hang, with the seed and cycle.
func TestCrash_ChildTimeout(t *testing.T) {
	cfg := crashConfig(t, "strict")
	cfg.Scenarios, cfg.Cycles, cfg.Damage = []string{"wal-append"}, 1, false
	cfg.ChildTimeout = time.Millisecond
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	cfg.Spawn = func(ctx context.Context, sc StressConfig) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), hangEnv+"=1")
		cmd.Stdin = pr
		return cmd, nil
	}
	res, err := Crashtest(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	res.Print(&b)
	if !res.Failed() || res.Counts[KindHang] != 1 || res.FailedCycle != 0 || !strings.Contains(b.String(), "hang: workload process still running after 1ms") {
		t.Fatalf("stalled child not reported as a hang:\n%s", b.String())
	}
}
