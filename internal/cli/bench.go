package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/inmemdb/inmem/internal/benchkit"
	"github.com/inmemdb/inmem/internal/benchkit/inmemengine"
	"github.com/spf13/cobra"
)

// benchPeers are the engines BenchMain adds beside in-mem and the
// baselines; the library's own tool has none.
var benchPeers []benchkit.Spec

// BenchMain runs `inmem bench` with extra engines beside in-mem and the
// baselines: the bench/ module's inmem-bench passes its peers here, so both
// tools share one runner and one set of flags. It is meant for a tool's
// main function: calls must not overlap.
func BenchMain(args []string, stdout, stderr io.Writer, extra []benchkit.Spec) int {
	benchPeers = extra
	defer func() { benchPeers = nil }()
	return Main(append([]string{"bench"}, args...), stdout, stderr)
}

func (a *app) benchCommand() *cobra.Command {
	d := benchkit.DefaultConfig()
	cfg := d
	var (
		engines    []string
		recoveryMB float64
		jsonPath   string
		dir        string
		quiet      bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure in-mem beside a Go-map floor and raw fsync baselines (Markdown table)",
		Long: `bench measures in-mem through its public API in each durability mode, side by
side with a Go map behind a mutex (the in-memory floor) and raw log files
(append+fdatasync per commit, and ideal group commit: one fdatasync per batch
of concurrent writers), at the same key and value sizes:

  durable    single-key commits at each --writers count: commits/s, p50, p99,
             commits per fsync
  buffered   single-key commits handed to the OS without fsync
  memory     --keys puts into an empty store, then as many uniform gets, and
             the Go heap per raw key+value byte
  recovery   time to reopen a store holding --recovery-mb of state

Runs interleave the engines and repeat (--repeat); the table shows medians,
spreads and ratios to the baseline and the best peer. Every engine's put
count is read back after its run; a mismatch fails the command. Peers
(Pebble, Badger, bbolt, SQLite, buntdb) live in the separate bench/ module:
  cd bench && go run ./cmd/inmem-bench`,
		Args: a.args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			specs := append([]benchkit.Spec{inmemengine.Spec()}, benchkit.Baselines()...)
			specs = append(specs, benchPeers...)
			specs, err := filterEngines(specs, engines)
			if err != nil {
				return usageError{err}
			}
			if recoveryMB < 0 {
				return usageError{fmt.Errorf("--recovery-mb must not be negative")}
			}
			cfg.RecoveryBytes = int64(recoveryMB * 1e6)
			if dir != "" {
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					return usageError{fmt.Errorf("--dir %s: not a directory", dir)}
				}
			}
			parent, err := os.MkdirTemp(dir, "inmem-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(parent)
			cfg.Dir = parent
			if !quiet {
				cfg.Progress = a.stderr
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := benchkit.Run(cfg, specs)
			if err != nil {
				if errors.Is(err, benchkit.ErrConfig) {
					return usageError{err}
				}
				return err
			}
			if jsonPath != "" {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			return a.emit(rep, func(w io.Writer) { rep.Markdown(w) })
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&cfg.DurableWriters, "writers", d.DurableWriters, "writer counts of the durable commit workload")
	f.IntSliceVar(&cfg.BufferedWriters, "buffered-writers", d.BufferedWriters, "writer counts of the buffered commit workload")
	f.StringSliceVar(&cfg.Workloads, "workloads", d.Workloads, "workloads to run: durable, buffered, memory, recovery")
	f.DurationVar(&cfg.Duration, "duration", d.Duration, "length of each commit run")
	f.IntVar(&cfg.Ops, "ops", 0, "commits per commit run instead of --duration (0: use --duration)")
	f.IntVar(&cfg.Keys, "keys", d.Keys, "keys put and read by the memory workload")
	f.IntVar(&cfg.KeySize, "key-size", d.KeySize, "bytes per key")
	f.IntVar(&cfg.ValueSize, "value-size", d.ValueSize, "bytes per value")
	f.Float64Var(&recoveryMB, "recovery-mb", float64(d.RecoveryBytes)/1e6, "raw key+value megabytes of state for the recovery workload (1000 for 1 GB)")
	f.IntVar(&cfg.Repeat, "repeat", d.Repeat, "repetitions of every run (the table shows the median)")
	f.Uint64Var(&cfg.Seed, "seed", d.Seed, "seed for values, key order and reads")
	f.StringSliceVar(&engines, "engines", nil, "engines to run, by name prefix (default all; e.g. in-mem,go,raw)")
	f.StringVar(&jsonPath, "json", "", "also write the full report, samples included, as JSON to this file")
	f.StringVar(&dir, "dir", "", "directory for the engines' files (default the system temp dir); its file system is what durable runs measure")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (narrow it with --engines and --workloads)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines on stderr")
	return cmd
}

// filterEngines keeps the specs whose name starts with one of names
// (case-insensitive); every name must match something.
func filterEngines(specs []benchkit.Spec, names []string) ([]benchkit.Spec, error) {
	if len(names) == 0 {
		return specs, nil
	}
	var out []benchkit.Spec
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		found := false
		for _, s := range specs {
			if strings.HasPrefix(strings.ToLower(s.Name), n) {
				found = true
				dup := false
				for _, o := range out {
					dup = dup || o.Name == s.Name
				}
				if !dup {
					out = append(out, s)
				}
			}
		}
		if !found {
			var all []string
			for _, s := range specs {
				all = append(all, s.Name)
			}
			return nil, fmt.Errorf("no engine named %q (have %s)", n, strings.Join(all, ", "))
		}
	}
	return out, nil
}
