package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/inmemdb/inmem"
)

// Scenario is one row of the crash matrix.
type Scenario struct {
	Name string
	Desc string
	// Pending scenarios cannot run yet (the feature they crash is missing);
	// the matrix lists them so the gap stays visible.
	Pending bool
}

// Scenarios is the crash matrix. Each cycle of a run takes the next
// scenario of the selection in turn.
var Scenarios = []Scenario{
	{Name: "wal-append", Desc: "kill after a random number of acknowledged commits (mid WAL append)"},
	{Name: "rotation", Desc: "1 KiB WAL segments: kills land around segment rotation"},
	{Name: "checkpoint", Desc: "frequent checkpoints; kill as one begins or a few commits later"},
	{Name: "manifest", Desc: "checkpoints and compactions back to back; kill while they replace the MANIFEST"},
	{Name: "compact-wal", Desc: "frequent WAL-only compactions on 4 KiB segments; kill as one runs"},
	{Name: "compact-full", Desc: "frequent Full compactions under KeepLast(1-3) on 4 KiB segments; kill as one runs"},
	{Name: "recovery", Desc: "kill the process while it reopens (recovers) the directory, 1-3 times"},
	{Name: "consecutive", Desc: "2-4 crashes in a row before a check"},
}

// ScenarioByName returns the scenario called name.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// CrashConfig configures a crash test.
type CrashConfig struct {
	Dir        string // a new or empty directory
	Seed       uint64
	Cycles     int           // stop after this many cycles (0: use Duration)
	Duration   time.Duration // stop starting cycles after this long
	Scenarios  []string      // empty: every runnable scenario
	Durability string        // strict or buffered
	Writers    int
	MaxAcks    int // a kill comes after 1..MaxAcks acknowledged commits
	MinValue   int
	MaxValue   int
	Damage     bool // run the torn-tail/bit-flip pass on a copy each cycle

	// Spawn returns the command running the stress workload with cfg in a
	// new process, its records on stdout.
	Spawn func(ctx context.Context, cfg StressConfig) (*exec.Cmd, error)
	// Progress is called after each cycle (may be nil).
	Progress func(cycle int, r *CrashResult)
	// AfterKill runs after a cycle's crashes, before its check (may be
	// nil); tests use it to damage the directory and see the check fail.
	AfterKill func(dir string) error
}

// ScenarioStats counts what one scenario did.
type ScenarioStats struct {
	Scenario
	Cycles     int
	Kills      int
	Verified   uint64
	Violations int
}

// CrashResult is the outcome of a crash test.
type CrashResult struct {
	Seed     uint64
	Cycles   int
	Kills    int
	Verified uint64 // distinct commits checked present (each again at every later check)
	Past     int    // past versions read back whole (ViewAt), over all checks
	Trimmed  int    // past versions answering HistoryTrimmed, as retention allows
	// PurgeFloor counts past versions KeepLast keeps that answered
	// HistoryTrimmed below the floor of a purged tombstone (see checkHistory).
	PurgeFloor int
	Counts     map[string]int // violations by kind
	Damage     map[string]int // damage-pass outcomes
	Scenarios  []*ScenarioStats
	// Violations of the failing cycle (the run stops there).
	Violations     []Violation
	FailedCycle    int
	FailedScenario string
	Elapsed        time.Duration
}

// Failed reports whether any violation was found.
func (r *CrashResult) Failed() bool { return len(r.Violations) > 0 }

// Print writes the matrix and the summary table.
func (r *CrashResult) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tCYCLES\tKILLS\tVERIFIED\tVIOLATIONS\tSTATUS")
	for _, s := range r.Scenarios {
		status := "ok"
		switch {
		case s.Pending:
			status = "pending"
		case s.Cycles == 0:
			status = "not run"
		case s.Violations > 0:
			status = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Cycles, s.Kills, s.Verified, s.Violations, status)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cycles\t%d\n", r.Cycles)
	fmt.Fprintf(tw, "kills\t%d\n", r.Kills)
	fmt.Fprintf(tw, "acknowledged commits verified\t%d\n", r.Verified)
	fmt.Fprintf(tw, "past versions read back / trimmed by retention\t%d / %d\n", r.Past, r.Trimmed)
	if r.PurgeFloor > 0 {
		fmt.Fprintf(tw, "past versions refused below a purged tombstone's floor\t%d\n", r.PurgeFloor)
	}
	for _, k := range []string{KindLoss, KindAtomicity, KindPhantom, KindWrong, KindHistory, KindChain, KindRecovery, KindNondet, KindOrder, KindChild, KindDamage, KindNotAPrefix} {
		label := k
		switch k {
		case KindLoss:
			label = "losses"
		case KindAtomicity:
			label = "atomicity violations"
		}
		if r.Counts[k] > 0 || k == KindLoss || k == KindAtomicity || k == KindPhantom {
			fmt.Fprintf(tw, "%s\t%d\n", label, r.Counts[k])
		}
	}
	outcomes := make([]string, 0, len(r.Damage))
	for k := range r.Damage {
		outcomes = append(outcomes, k)
	}
	slices.Sort(outcomes)
	for _, k := range outcomes {
		fmt.Fprintf(tw, "damaged copies: %s\t%d\n", k, r.Damage[k])
	}
	fmt.Fprintf(tw, "elapsed\t%s\n", r.Elapsed.Round(time.Millisecond))
	tw.Flush()
	if r.Failed() {
		fmt.Fprintf(w, "\nFAILED in cycle %d (scenario %s), seed %d:\n", r.FailedCycle, r.FailedScenario, r.Seed)
		for i, v := range r.Violations {
			if i == 20 {
				fmt.Fprintf(w, "  ... %d more\n", len(r.Violations)-i)
				break
			}
			fmt.Fprintf(w, "  %s\n", v)
		}
		fmt.Fprintf(w, "reproduce: inmem crashtest <new dir> --seed %d --cycles %d --scenario %s\n", r.Seed, r.FailedCycle+1, r.FailedScenario)
	}
}

// Crashtest runs crash cycles on cfg.Dir: each cycle runs the stress
// workload in child processes, SIGKILLs them when a condition on their
// output holds (never on a timer), reopens the directory and checks it
// against the model, then reopens it again and compares the two recoveries.
// It stops at the first cycle with a violation. The error is for what keeps
// the test from running at all.
func Crashtest(ctx context.Context, cfg CrashConfig) (*CrashResult, error) {
	start := time.Now()
	res := &CrashResult{Seed: cfg.Seed, Counts: map[string]int{}, Damage: map[string]int{}, FailedCycle: -1}
	var active []*ScenarioStats
	for _, s := range Scenarios {
		st := &ScenarioStats{Scenario: s}
		res.Scenarios = append(res.Scenarios, st)
		if s.Pending {
			continue
		}
		if len(cfg.Scenarios) == 0 || slices.Contains(cfg.Scenarios, s.Name) {
			active = append(active, st)
		}
	}
	for _, n := range cfg.Scenarios {
		s, ok := ScenarioByName(n)
		if !ok {
			return res, fmt.Errorf("unknown scenario %q", n)
		}
		if s.Pending {
			return res, fmt.Errorf("scenario %q is pending: %s", n, s.Desc)
		}
	}
	switch {
	case cfg.Spawn == nil:
		return res, errors.New("no way to spawn the workload")
	case cfg.Cycles <= 0 && cfg.Duration <= 0:
		return res, errors.New("give a number of cycles or a duration")
	case cfg.Writers < 1:
		return res, errors.New("at least one writer")
	case cfg.MaxAcks < 1:
		return res, errors.New("max acks below 1")
	case cfg.Durability != "strict" && cfg.Durability != "buffered":
		return res, fmt.Errorf("durability %q: want strict or buffered (a kill loses everything in inmemory mode)", cfg.Durability)
	}
	if ents, err := os.ReadDir(cfg.Dir); err == nil && len(ents) > 0 {
		return res, fmt.Errorf("%s is not empty: crashtest needs a new directory", cfg.Dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return res, err
	}
	m := NewModel()
	for cycle := 0; ; cycle++ {
		if cfg.Cycles > 0 && cycle >= cfg.Cycles {
			break
		}
		if cfg.Cycles <= 0 && time.Since(start) >= cfg.Duration {
			break
		}
		if ctx.Err() != nil {
			break
		}
		st := active[cycle%len(active)]
		r := rand.New(rand.NewPCG(cfg.Seed, uint64(cycle)))
		before := m.Acknowledged()
		vs, kills, _, err := runCycle(ctx, cfg, st.Name, m, r, res)
		verified := m.Acknowledged() - before // commits this cycle added, in-flight ones found included
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return res, fmt.Errorf("cycle %d (%s): %w", cycle, st.Name, err)
		}
		res.Cycles++
		res.Kills += kills
		res.Verified += verified
		st.Cycles++
		st.Kills += kills
		st.Verified += verified
		st.Violations += len(vs)
		for _, v := range vs {
			res.Counts[v.Kind]++
		}
		if cfg.Progress != nil {
			cfg.Progress(cycle, res)
		}
		if len(vs) > 0 {
			res.Violations, res.FailedCycle, res.FailedScenario = vs, cycle, st.Name
			break
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// runCycle crashes the workload as the scenario says, then checks.
func runCycle(ctx context.Context, cfg CrashConfig, scenario string, m *Model, r *rand.Rand, res *CrashResult) (vs []Violation, kills int, verified uint64, err error) {
	base := StressConfig{Dir: cfg.Dir, Writers: cfg.Writers, Durability: cfg.Durability,
		MinValue: cfg.MinValue, MaxValue: cfg.MaxValue}
	ackKill := func(k int) killCond {
		return func(rec Record, acks int) bool { return acks >= k }
	}
	// maintKill kills when the m-th maintenance op of kind op (any if "")
	// begins, or j acknowledged commits later.
	maintKill := func(op string, nth, j int) killCond {
		seen, at := 0, -1
		return func(rec Record, acks int) bool {
			if at < 0 && rec.Kind == "maint" && rec.Phase == "begin" && (op == "" || rec.Op == op) {
				if seen++; seen >= nth {
					at = acks
				}
			}
			return at >= 0 && acks >= at+j
		}
	}
	type step struct {
		sc   StressConfig
		cond killCond
	}
	var steps []step
	one := func(mod func(*StressConfig), c killCond) {
		sc := base
		sc.Seed = r.Uint64()
		if mod != nil {
			mod(&sc)
		}
		steps = append(steps, step{sc, c})
	}
	k := func() int { return 1 + r.IntN(cfg.MaxAcks) }
	switch scenario {
	case "wal-append":
		one(nil, ackKill(k()))
	case "rotation":
		one(func(c *StressConfig) { c.SegmentSize = 1024 }, ackKill(k()))
	case "checkpoint":
		every := 4 + r.IntN(16)
		one(func(c *StressConfig) { c.CheckpointEvery = every }, maintKill("checkpoint", 1+r.IntN(3), r.IntN(3)))
	case "manifest":
		ce, co := 3+r.IntN(6), 5+r.IntN(10)
		one(func(c *StressConfig) { c.CheckpointEvery, c.CompactEvery, c.SegmentSize = ce, co, 4096 },
			maintKill("", 1+r.IntN(4), r.IntN(2*cfg.Writers+1)))
	case "compact-wal":
		every := 5 + r.IntN(20)
		one(func(c *StressConfig) { c.CompactEvery, c.SegmentSize = every, 4096 }, maintKill("compact", 1+r.IntN(3), r.IntN(3)))
	case "compact-full":
		every, keep := 5+r.IntN(20), 1+r.IntN(3)
		one(func(c *StressConfig) { c.CompactEvery, c.Full, c.KeepLast, c.SegmentSize = every, true, keep, 4096 },
			maintKill("compact-full", 1+r.IntN(3), r.IntN(3)))
	case "recovery":
		one(nil, ackKill(k()))
		for range 1 + r.IntN(3) {
			one(nil, func(rec Record, _ int) bool { return rec.Kind == "opening" })
		}
	case "consecutive":
		for range 2 + r.IntN(3) {
			one(nil, ackKill(1+r.IntN(cfg.MaxAcks/4+1)))
		}
	default:
		return nil, 0, 0, fmt.Errorf("scenario %q cannot run", scenario)
	}
	for _, s := range steps {
		v, err := runChild(ctx, cfg, s.sc, s.cond, m)
		if err != nil {
			return nil, kills, 0, err
		}
		kills++
		if len(v) > 0 {
			return v, kills, 0, nil
		}
	}
	if cfg.AfterKill != nil {
		if err := cfg.AfterKill(cfg.Dir); err != nil {
			return nil, kills, 0, err
		}
	}
	var cp string
	if cfg.Damage {
		if cp, err = copyForDamage(cfg.Dir); err != nil {
			return nil, kills, 0, err
		}
		defer os.RemoveAll(cp)
	}
	vs, rep := checkDir(ctx, cfg.Dir, nil, m)
	verified = rep.Verified
	res.Past += rep.Past
	res.Trimmed += rep.Trimmed
	res.PurgeFloor += rep.PurgeFloor
	if len(vs) == 0 && cfg.Damage {
		outcome, dv := damagePass(ctx, cp, m, r)
		res.Damage[outcome]++
		vs = dv
	}
	return vs, kills, verified, nil
}

// killCond decides, after each record, whether to kill the child now.
type killCond func(rec Record, acks int) bool

// runChild runs one workload process and kills it when cond holds. Every
// record it printed, before and after the kill, feeds the model.
func runChild(ctx context.Context, cfg CrashConfig, sc StressConfig, cond killCond, m *Model) ([]Violation, error) {
	cmd, err := cfg.Spawn(ctx, sc)
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var vs []Violation
	sc2 := bufio.NewScanner(out)
	sc2.Buffer(make([]byte, 64<<10), 16<<20)
	acks, killed, bad := 0, false, ""
	for sc2.Scan() {
		if bad != "" {
			vs = append(vs, Violation{Kind: KindOrder, Detail: "unreadable record before the last: " + bad})
			bad = ""
		}
		var rec Record
		if err := json.Unmarshal(sc2.Bytes(), &rec); err != nil {
			// Only the last line may be cut by the kill.
			bad = fmt.Sprintf("%.80q: %v", sc2.Text(), err)
			continue
		}
		if err := m.Apply(rec); err != nil {
			vs = append(vs, Violation{Kind: KindOrder, Detail: err.Error()})
		}
		if rec.Kind == "commit" {
			acks++
		}
		if !killed && cond(rec, acks) {
			cmd.Process.Kill() // SIGKILL: no deferred code, no Close, no flush
			killed = true
		}
	}
	if !killed {
		// The pipe closed first: the child ended by itself. Kill it for
		// good measure, then report what it said.
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if err := sc2.Err(); err != nil && !killed {
		return vs, err
	}
	if !killed || (werr != nil && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() != -1) {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		vs = append(vs, Violation{Kind: KindChild, Detail: fmt.Sprintf("workload ended by itself (%v) after %d commits: %s", werr, acks, msg)})
	}
	return vs, nil
}

// checkDir reopens dir (with opts, nil for the defaults), checks it
// against the model, closes it, reopens it again and compares the two
// recoveries.
func checkDir(ctx context.Context, dir string, opts *inmem.Options, m *Model) ([]Violation, CheckReport) {
	db, err := inmem.Open(dir, opts)
	if err != nil {
		return []Violation{{Kind: KindRecovery, Detail: err.Error()}}, CheckReport{}
	}
	rep, err := m.Check(ctx, db)
	if err != nil {
		db.Close()
		return append(rep.Violations, Violation{Kind: KindRecovery, Detail: "reading the recovered database: " + err.Error()}), CheckReport{}
	}
	d1, err := Dump(ctx, db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return append(rep.Violations, Violation{Kind: KindRecovery, Detail: err.Error()}), rep
	}
	db, err = inmem.Open(dir, opts)
	if err != nil {
		return append(rep.Violations, Violation{Kind: KindRecovery, Detail: "second recovery: " + err.Error()}), rep
	}
	d2, err := Dump(ctx, db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return append(rep.Violations, Violation{Kind: KindRecovery, Detail: "second recovery: " + err.Error()}), rep
	}
	if d1 != d2 {
		return append(rep.Violations, Violation{Kind: KindNondet, Detail: firstDiff(d1, d2)}), rep
	}
	return rep.Violations, rep
}

func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: first recovery %q, second %q", i+1, x, y)
		}
	}
	return "dumps differ"
}
