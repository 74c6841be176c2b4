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
	cmd := &cobra.Command{
		Use:   "crashtest <dir>",
		Short: "SIGKILL a stress workload again and again and verify every recovery",
		Long: `crashtest runs the stress workload in a child process on a directory of your
disk, SIGKILLs it after a random number of acknowledged commits, reopens the
directory and checks it against a reference model: every acknowledged commit
present, each transaction all or nothing, no phantoms, event chains verified,
and recovering twice gives identical state. Cycles chain on one directory
and walk the scenario matrix (WAL append, rotation, checkpoint, MANIFEST
update, WAL-only compaction, Full compaction under a KeepLast policy, killing
recovery itself, consecutive crashes). Past versions are read back with
ViewAt too: whole, or HistoryTrimmed only where the policy allows it. With
--damage each cycle also cuts or bit-flips a copy of the last segment: Open
must recover a correct prefix or refuse with a Corruption error.

It exits 1 on any violation, printing the seed and cycle that reproduce it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Dir = args[0]
			if c.Cycles < 0 || c.Duration < 0 || c.Writers < 1 || c.MaxAcks < 1 {
				return usageError{fmt.Errorf("--cycles, --duration must not be negative; --writers and --max-acks at least 1")}
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
				return fmt.Errorf("violations found after %s (seed %d, cycle %d, scenario %s): rerun with --seed %d",
					time.Since(start).Round(time.Millisecond), res.Seed, res.FailedCycle, res.FailedScenario, res.Seed)
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
	return cmd
}
