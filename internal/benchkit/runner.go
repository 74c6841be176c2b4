package benchkit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// ErrConfig marks a Config that Run refuses (a usage error).
var ErrConfig = errors.New("invalid benchmark configuration")

// Config sets what Run measures. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Dir is where each run gets a fresh directory (default os.TempDir()).
	Dir string
	// Workloads to run, from durable, buffered, memory, recovery.
	Workloads []string
	// DurableWriters and BufferedWriters are the writer counts of the
	// commit workloads.
	DurableWriters  []int
	BufferedWriters []int
	// Duration of each commit run, unless Ops is set.
	Duration time.Duration
	// Ops, when positive, is the number of commits of each commit run.
	Ops int
	// Keys put and read by the memory workload.
	Keys int
	// KeySize and ValueSize are the sizes of every key and value.
	KeySize, ValueSize int
	// RecoveryBytes is the raw key+value bytes written before the
	// recovery workload reopens the store.
	RecoveryBytes int64
	// Repeat is how many times every run is repeated (interleaved).
	Repeat int
	// Seed makes values, key order and reads reproducible.
	Seed uint64
	// Progress receives one line per run (nil: silent).
	Progress io.Writer
}

// DefaultConfig returns the defaults: the sizes and writer counts of the
// performance targets, 2 s per commit run, 1M keys, 64 MB of recovery
// state and 3 repetitions.
func DefaultConfig() Config {
	return Config{
		Workloads:       []string{WorkloadDurable, WorkloadBuffered, WorkloadMemory, WorkloadRecovery},
		DurableWriters:  []int{1, 8, 64},
		BufferedWriters: []int{1, 8},
		Duration:        2 * time.Second,
		Keys:            1_000_000,
		KeySize:         16,
		ValueSize:       100,
		RecoveryBytes:   64 << 20,
		Repeat:          3,
		Seed:            1,
	}
}

func (c *Config) fill() error {
	d := DefaultConfig()
	if c.Dir == "" {
		c.Dir = os.TempDir()
	}
	if c.Workloads == nil {
		c.Workloads = d.Workloads
	}
	if c.DurableWriters == nil {
		c.DurableWriters = d.DurableWriters
	}
	if c.BufferedWriters == nil {
		c.BufferedWriters = d.BufferedWriters
	}
	if c.Duration == 0 {
		c.Duration = d.Duration
	}
	if c.Keys == 0 {
		c.Keys = d.Keys
	}
	if c.KeySize == 0 {
		c.KeySize = d.KeySize
	}
	if c.ValueSize == 0 {
		c.ValueSize = d.ValueSize
	}
	if c.RecoveryBytes == 0 {
		c.RecoveryBytes = d.RecoveryBytes
	}
	if c.Repeat == 0 {
		c.Repeat = d.Repeat
	}
	for _, w := range c.Workloads {
		switch w {
		case WorkloadDurable, WorkloadBuffered, WorkloadMemory, WorkloadRecovery:
		default:
			return fmt.Errorf("%w: unknown workload %q (want durable, buffered, memory or recovery)", ErrConfig, w)
		}
	}
	switch {
	case c.KeySize < MinKeySize || c.KeySize > 1<<15:
		return fmt.Errorf("%w: key size %d out of range [%d, %d]", ErrConfig, c.KeySize, MinKeySize, 1<<15)
	case c.ValueSize < 1 || c.ValueSize > 1<<15:
		return fmt.Errorf("%w: value size %d out of range [1, %d]", ErrConfig, c.ValueSize, 1<<15)
	case c.Keys < 1 || c.Keys > 1<<30:
		return fmt.Errorf("%w: keys %d out of range [1, %d]", ErrConfig, c.Keys, 1<<30)
	case c.Repeat < 1 || c.Repeat > 1000:
		return fmt.Errorf("%w: repeat %d out of range [1, 1000]", ErrConfig, c.Repeat)
	case c.Duration < 0 || c.Ops < 0 || c.RecoveryBytes < 0:
		return fmt.Errorf("%w: duration, ops and recovery bytes must not be negative", ErrConfig)
	}
	for _, w := range slices.Concat(c.DurableWriters, c.BufferedWriters) {
		if w < 1 || w > 1000 {
			return fmt.Errorf("%w: writers %d out of range [1, 1000]", ErrConfig, w)
		}
	}
	return nil
}

func (c *Config) cases() []workloadCase {
	var cs []workloadCase
	for _, w := range c.Workloads {
		switch w {
		case WorkloadDurable:
			for _, n := range c.DurableWriters {
				cs = append(cs, workloadCase{w, Durable, n})
			}
		case WorkloadBuffered:
			for _, n := range c.BufferedWriters {
				cs = append(cs, workloadCase{w, Buffered, n})
			}
		case WorkloadMemory:
			cs = append(cs, workloadCase{w, Memory, 1})
		case WorkloadRecovery:
			cs = append(cs, workloadCase{w, Durable, 1})
		}
	}
	return cs
}

func (c workloadCase) eligible(s Spec) bool {
	if c.Workload == WorkloadRecovery && s.NoRecovery {
		return false
	}
	return s.Supports(c.Mode)
}

// Run measures every spec in every configured workload it supports,
// cfg.Repeat times, interleaving the engines within each repetition. It
// stops at the first failure, a put count mismatch included.
func Run(cfg Config, specs []Spec) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, s := range specs {
		if names[s.Name] {
			return nil, fmt.Errorf("%w: engine %q listed twice", ErrConfig, s.Name)
		}
		names[s.Name] = true
	}
	rep := &Report{Machine: ProbeMachine(cfg.Dir), Config: reportConfig(cfg)}
	value := makeValue(cfg.ValueSize, cfg.Seed)
	cases := cfg.cases()
	var keys [][]byte
	if slices.Contains(cfg.Workloads, WorkloadMemory) {
		keys = memKeys(cfg.Keys, cfg.KeySize, cfg.Seed)
	}
	results := map[string]*Result{}
	for r := range cfg.Repeat {
		for _, c := range cases {
			var eng []Spec
			for _, s := range specs {
				if c.eligible(s) {
					eng = append(eng, s)
				}
			}
			if len(eng) == 0 {
				continue
			}
			// Rotate the order each repetition, so no engine always runs
			// first (cold cache) or right after the heaviest one.
			k := r % len(eng)
			eng = append(eng[k:], eng[:k]...)
			for _, s := range eng {
				label := s.Label(c.Mode)
				dir, err := tempDir(cfg.Dir)
				if err != nil {
					return nil, err
				}
				var smp Sample
				switch c.Workload {
				case WorkloadMemory:
					smp, err = runMemory(&cfg, s, dir, keys, value)
				case WorkloadRecovery:
					smp, err = runRecovery(&cfg, s, dir, value)
				default:
					smp, err = runCommits(&cfg, s, c, dir, value)
				}
				if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
					err = rerr
				}
				if err != nil {
					return nil, fmt.Errorf("%s, %s: %w", c.title(), label, err)
				}
				id := fmt.Sprintf("%s/%d/%s", c.Workload, c.Writers, s.Name)
				res := results[id]
				if res == nil {
					res = &Result{Workload: c.Workload, Writers: c.Writers, Engine: label, Kind: s.Kind.String()}
					results[id] = res
					rep.Results = append(rep.Results, res)
				}
				res.Samples = append(res.Samples, smp)
				if cfg.Progress != nil {
					fmt.Fprintf(cfg.Progress, "[%d/%d] %s, %s: %s\n", r+1, cfg.Repeat, c.title(), label, smp)
				}
			}
		}
	}
	for _, res := range rep.Results {
		res.summarize()
	}
	rep.Machine.LoadAfter = loadAverage()
	return rep, nil
}

func (c workloadCase) title() string {
	switch c.Workload {
	case WorkloadDurable:
		return fmt.Sprintf("durable commits, %d writer%s", c.Writers, plural(c.Writers))
	case WorkloadBuffered:
		return fmt.Sprintf("buffered commits (no fsync), %d writer%s", c.Writers, plural(c.Writers))
	case WorkloadMemory:
		return "in-memory put/get"
	case WorkloadRecovery:
		return "recovery"
	}
	return c.Workload
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (s Sample) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%.4g", k, s[k])
	}
	return b.String()
}
