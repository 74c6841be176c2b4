package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/inmemdb/inmem/internal/harness"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// stressFlags binds the workload's settings to flags shared by stress and
// the children crashtest starts.
func stressFlags(cmd *cobra.Command, c *harness.StressConfig) {
	f := cmd.Flags()
	f.IntVar(&c.Writers, "writers", 4, "concurrent writers, one run each")
	f.Uint64Var(&c.Seed, "seed", 1, "workload seed")
	f.StringVar(&c.Durability, "durability", "strict", "strict, buffered or inmemory")
	f.DurationVar(&c.Duration, "duration", 0, "stop after this long (0: until interrupted or --max-commits)")
	f.IntVar(&c.MaxCommits, "max-commits", 0, "stop after this many acknowledged commits (0: unlimited)")
	f.IntVar(&c.MinValue, "min-value", 16, "smallest value size in bytes")
	f.IntVar(&c.MaxValue, "max-value", 256, "largest value size in bytes")
	f.IntVar(&c.CheckpointEvery, "checkpoint-every", 0, "checkpoint after this many commits (0: never)")
	f.IntVar(&c.CompactEvery, "compact-every", 0, "compaction after this many commits (0: never)")
	f.BoolVar(&c.Full, "full", false, "compactions are Full (retention, checkpoint, WAL-only) rather than WAL-only")
	f.IntVar(&c.KeepLast, "keep-last", 0, "set KeepLast(N) as the default retention policy first (0: keep all)")
	f.Int64Var(&c.SegmentSize, "segment-size", 0, "WAL segment size in bytes (0: the default)")
}

// stressArgs turns a workload configuration back into stress's flags, for
// the child processes of crashtest.
func stressArgs(c harness.StressConfig) []string {
	return []string{"stress", c.Dir,
		"--writers", strconv.Itoa(c.Writers),
		"--seed", strconv.FormatUint(c.Seed, 10),
		"--durability", c.Durability,
		"--duration", c.Duration.String(),
		"--max-commits", strconv.Itoa(c.MaxCommits),
		"--min-value", strconv.Itoa(c.MinValue),
		"--max-value", strconv.Itoa(c.MaxValue),
		"--checkpoint-every", strconv.Itoa(c.CheckpointEvery),
		"--compact-every", strconv.Itoa(c.CompactEvery),
		"--full=" + strconv.FormatBool(c.Full),
		"--keep-last", strconv.Itoa(c.KeepLast),
		"--segment-size", strconv.FormatInt(c.SegmentSize, 10),
	}
}

// signalContext ends ctx on SIGINT or SIGTERM, so both commands can print
// their summary when interrupted.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func (a *app) stressCommand() *cobra.Command {
	var c harness.StressConfig
	cmd := &cobra.Command{
		Use:   "stress <dir>",
		Short: "Run a seeded multi-primitive workload; one NDJSON line per acknowledged commit",
		Long: `stress runs concurrent writers, each committing multi-primitive transactions
(KV, events, state cells, traces, runs, JSON documents, vectors) of a seeded
workload, and prints one NDJSON line per acknowledged commit to stdout:
writer, sequence, version and what it wrote (sizes and hashes). Another tool
can check durability from the outside with nothing but this output. A
summary goes to stderr on exit or on SIGINT/SIGTERM.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Dir = args[0]
			if err := c.Validate(); err != nil {
				return usageError{err}
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			sum, err := harness.Stress(ctx, c, a.stdout)
			sum.Print(a.stderr)
			return err
		},
	}
	stressFlags(cmd, &c)
	return cmd
}

func (a *app) crashtestCommand() *cobra.Command {
	c := harness.CrashConfig{Writers: 2, MaxAcks: 60, MinValue: 16, MaxValue: 256, Durability: "strict"}
	var scenario string
	var everyOp bool
	op := harness.OpCrashConfig{Commits: 24, CompactEvery: 8, SegmentSize: 2048, MaxValue: 200, Stride: 1}
	cmd := &cobra.Command{
		Use:   "crashtest <dir> | crashtest --every-op",
		Short: "SIGKILL a stress workload again and again and verify every recovery",
		Long: `crashtest runs the stress workload in a child process on a directory of your
disk, SIGKILLs it after a random number of acknowledged commits, reopens the
directory and checks it against a reference model: every acknowledged commit
present, each transaction all or nothing, no phantoms, event chains verified,
and recovering twice gives identical state. Cycles chain on one directory
and walk the scenario matrix (WAL append, rotation, checkpoint, MANIFEST
update, WAL-only compaction, Full compaction under a KeepLast policy, killing
recovery itself, consecutive crashes). Each child also stops by itself after
a commit budget a few times beyond its kill point, so a kill condition that
never holds (a maintenance trigger skipped under load) ends in a clean exit,
counted in the summary, and --child-timeout turns a stalled child into a
reported hang instead of a run that never ends. Past versions are read back with
ViewAt too: whole, or HistoryTrimmed only where the policy allows it. With
--damage each cycle also cuts or bit-flips a copy of the last segment: Open
must recover a correct prefix or refuse with a Corruption error.

With --every-op it runs a different pass instead: a scripted workload with
Full compactions under KeepLast on an in-memory file system (a power cut can
only be simulated, so it takes no directory), replayed once per file-system
operation those compactions make with the power cut just before it. The
state the cut leaves (synced bytes only) and the state as written (a process
kill) are each recovered and checked as above. It prints how many cut points
were checked.

It exits 1 on any violation, printing the seed and cycle that reproduce it.`,
		Args: a.args(func(cmd *cobra.Command, args []string) error {
			if everyOp {
				if len(args) != 0 {
					return fmt.Errorf("--every-op runs on an in-memory file system and takes no directory")
				}
				return nil
			}
			return cobra.ExactArgs(1)(cmd, args)
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if everyOp {
				op.Seed, op.Writers = c.Seed, c.Writers
				return a.everyOp(cmd.Context(), op)
			}
			c.Dir = args[0]
			if c.Cycles < 0 || c.Duration < 0 || c.Writers < 1 || c.MaxAcks < 1 || c.ChildTimeout <= 0 {
				return usageError{fmt.Errorf("--cycles, --duration must not be negative; --writers and --max-acks at least 1; --child-timeout positive")}
			}
			if c.Durability != "strict" && c.Durability != "buffered" {
				return usageError{fmt.Errorf("--durability %q: want strict or buffered (a kill loses everything in inmemory mode)", c.Durability)}
			}
			if c.Cycles == 0 && c.Duration == 0 {
				c.Cycles = 20
			}
			if scenario != "" {
				if _, ok := harness.ScenarioByName(scenario); !ok {
					return usageError{fmt.Errorf("unknown scenario %q", scenario)}
				}
				c.Scenarios = []string{scenario}
			}
			c.Spawn = func(ctx context.Context, sc harness.StressConfig) (*exec.Cmd, error) {
				return childCommand(ctx, stressArgs(sc)...)
			}
			var total int64 = int64(c.Cycles)
			if total == 0 {
				total = -1 // a spinner: the run is bounded by time
			}
			bar := a.progress(total, "crash cycles")
			if bar != nil {
				c.Progress = func(cycle int, r *harness.CrashResult) { bar.Set(cycle) }
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			start := time.Now()
			res, err := harness.Crashtest(ctx, c)
			if bar != nil {
				bar.Finish()
			}
			if res != nil {
				res.Print(a.stdout)
			}
			if err != nil {
				return err
			}
			if res.Failed() {
				return fmt.Errorf("violations found after %s (seed %d, cycle %d, scenario %s): rerun with %s",
					time.Since(start).Round(time.Millisecond), res.Seed, res.FailedCycle, res.FailedScenario, res.Repro)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.Cycles, "cycles", 0, "number of crash cycles (default 20 unless --duration)")
	f.DurationVar(&c.Duration, "duration", 0, "start cycles for this long")
	f.Uint64Var(&c.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the kill points and the workload")
	f.StringVar(&scenario, "scenario", "", "run only this scenario of the matrix")
	f.StringVar(&c.Durability, "durability", "strict", "strict or buffered")
	f.IntVar(&c.Writers, "writers", 2, "concurrent writers in the child")
	f.IntVar(&c.MaxAcks, "max-acks", 60, "a kill comes after 1..max-acks acknowledged commits")
	f.BoolVar(&c.Damage, "damage", true, "run the torn-tail/bit-flip pass on a copy every cycle")
	f.BoolVar(&everyOp, "every-op", false, "cut the power at every file-system operation of Full compactions (in memory) instead of killing processes")
	f.IntVar(&op.Commits, "op-commits", op.Commits, "with --every-op: commits of the script")
	f.IntVar(&op.CompactEvery, "op-compact-every", op.CompactEvery, "with --every-op: a Full compaction after every this many commits")
	f.IntVar(&op.KeepLast, "keep-last", 0, "with --every-op: the KeepLast(N) retention policy (0: 1 to 3, from the seed)")
	f.DurationVar(&c.ChildTimeout, "child-timeout", harness.DefaultChildTimeout,
		"wall-clock ceiling on one workload process; a child still running then is killed and reported as a hang")
	return cmd
}

// everyOp runs the power-cut-at-every-operation pass and prints its
// outcome; a violation is an error naming the seed that reproduces it.
func (a *app) everyOp(ctx context.Context, op harness.OpCrashConfig) error {
	if op.Writers < 1 || op.Commits < 1 || op.CompactEvery < 1 || op.KeepLast < 0 {
		return usageError{fmt.Errorf("--writers, --op-commits and --op-compact-every must be at least 1, --keep-last not negative")}
	}
	if op.CompactEvery > op.Commits {
		return usageError{fmt.Errorf("--op-compact-every %d above --op-commits %d: the script would never compact", op.CompactEvery, op.Commits)}
	}
	if op.KeepLast == 0 {
		op.KeepLast = 1 + int(op.Seed%3)
	}
	var bar *progressbar.ProgressBar
	started := false
	op.Progress = func(done, total int) {
		if !started {
			started = true
			bar = a.progress(int64(total), "power cuts")
		}
		pbSet(bar, int64(done))
	}
	ctx, stop := signalContext(ctx)
	defer stop()
	res, err := harness.CrashFullCompactionOps(ctx, op)
	pbDone(bar)
	fmt.Fprintf(a.stdout, "every-op power cuts: seed %d, %d writers, %d commits, Full compaction every %d, KeepLast(%d)\n",
		op.Seed, op.Writers, op.Commits, op.CompactEvery, op.KeepLast)
	if res != nil {
		res.Print(a.stdout)
	}
	if err != nil {
		return err
	}
	if res.Failed() {
		return fmt.Errorf("violation at power cut before file-system operation %d (%v): rerun with --every-op --seed %d --writers %d --op-commits %d --op-compact-every %d --keep-last %d",
			res.FailedOp, res.FailedMode, op.Seed, op.Writers, op.Commits, op.CompactEvery, op.KeepLast)
	}
	return nil
}
