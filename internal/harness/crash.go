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
	"sync/atomic"
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
	// ChildTimeout bounds each workload process in wall-clock time (0:
	// DefaultChildTimeout). Every child also stops by itself after a
	// commit budget derived from its kill point, so this ceiling only
	// trips when the workload stalls (a hang in the database, or a child
	// that never starts): the process is killed and the cycle fails with a
	// hang violation rather than the test running forever.
	ChildTimeout time.Duration

	// Spawn returns the command running the stress workload with cfg in a
	// new process, its records on stdout.
	Spawn func(ctx context.Context, cfg StressConfig) (*exec.Cmd, error)
	// Progress is called after each cycle (may be nil).
	Progress func(cycle int, r *CrashResult)
	// AfterKill runs after a cycle's crashes, before its check (may be
	// nil); tests use it to damage the directory and see the check fail.
	AfterKill func(dir string) error
}

// DefaultChildTimeout is the wall-clock ceiling on one workload process
// when CrashConfig.ChildTimeout is zero. It is far above what a child needs
// (its commit budget is a few hundred commits) so that a busy machine never
// trips it; it exists to turn a hang into a report.
const DefaultChildTimeout = 10 * time.Minute

// ScenarioStats counts what one scenario did.
type ScenarioStats struct {
	Scenario
	Cycles     int
	Kills      int
	Unkilled   int // workload processes that finished their commit budget before their kill point
	Verified   uint64
	Violations int
}

// CrashResult is the outcome of a crash test.
type CrashResult struct {
	Seed   uint64
	Cycles int
	Kills  int
	// Unkilled counts workload processes that completed their commit
	// budget and exited cleanly before their kill condition held (a
	// maintenance trigger skipped under load, say). Their state is still
	// checked; it is an outcome to report, not a violation.
	Unkilled  int
	Verified  uint64         // distinct commits checked present (each again at every later check)
	Past      int            // past versions read back whole (ViewAt), over all checks
	Trimmed   int            // past versions answering HistoryTrimmed, as retention allows
	Counts    map[string]int // violations by kind
	Damage    map[string]int // damage-pass outcomes
	Scenarios []*ScenarioStats
	// Violations of the failing cycle (the run stops there).
	Violations     []Violation
	FailedCycle    int
	FailedScenario string
	// Repro holds the crashtest flags that replay the run up to the
	// failing cycle: the scenario chosen for a cycle, the seeds of its
	// children and its kill points follow from the seed, the cycle number
	// and the selection of scenarios, and the checks from the writers,
	// kill range, durability and damage pass, so all of them are given.
	Repro   string
	Elapsed time.Duration
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
	fmt.Fprintf(tw, "workloads finished before their kill point\t%d\n", r.Unkilled)
	fmt.Fprintf(tw, "acknowledged commits verified\t%d\n", r.Verified)
	fmt.Fprintf(tw, "past versions read back / trimmed by retention\t%d / %d\n", r.Past, r.Trimmed)
	for _, k := range []string{KindLoss, KindAtomicity, KindPhantom, KindWrong, KindHistory, KindChain, KindRecovery, KindNondet, KindOrder, KindChild, KindHang, KindDamage, KindNotAPrefix} {
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
		fmt.Fprintf(w, "reproduce: inmem crashtest <new dir> %s\n", r.Repro)
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
		vs, kills, unkilled, err := runCycle(ctx, cfg, st.Name, m, r, res)
		verified := m.Acknowledged() - before // commits this cycle added, in-flight ones found included
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return res, fmt.Errorf("cycle %d (%s): %w", cycle, st.Name, err)
		}
		res.Cycles++
		res.Kills += kills
		res.Unkilled += unkilled
		res.Verified += verified
		st.Cycles++
		st.Kills += kills
		st.Unkilled += unkilled
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
			res.Repro = reproArgs(cfg, cycle)
			break
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// budget turns the number of acknowledged commits after which a kill is
// expected into the commit budget of the child: past it the workload stops
// and closes by itself, so a kill condition that never holds ends the
// child instead of leaving it running forever. It is generous (a kill point
// reached late because maintenance triggers were skipped under load still
// fires) and scales with the writers, each of which may finish one commit
// after the budget is spent.
func budget(expect, writers int) int { return 4*expect + 16*writers + 64 }

// reproArgs returns the crashtest flags replaying cfg up to cycle. A
// cycle's scenario is its number modulo the selection, so the selection is
// repeated as given (the whole matrix when empty), not narrowed to the
// failing scenario, which would run other cycles on a different history.
func reproArgs(cfg CrashConfig, cycle int) string {
	args := fmt.Sprintf("--seed %d --cycles %d", cfg.Seed, cycle+1)
	switch len(cfg.Scenarios) {
	case 0:
	case 1:
		args += " --scenario " + cfg.Scenarios[0]
	default:
		args += " (scenarios " + strings.Join(cfg.Scenarios, ",") + ")"
	}
	args += fmt.Sprintf(" --writers %d --max-acks %d --durability %s", cfg.Writers, cfg.MaxAcks, cfg.Durability)
	if !cfg.Damage {
		args += " --damage=false"
	}
	return args
}

// runCycle crashes the workload as the scenario says, then checks. kills
// counts the children really killed, unkilled those that spent their
// commit budget and exited cleanly first.
func runCycle(ctx context.Context, cfg CrashConfig, scenario string, m *Model, r *rand.Rand, res *CrashResult) (vs []Violation, kills, unkilled int, err error) {
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
	// one adds a child; expect is the number of acknowledged commits by
	// which its kill should have come.
	one := func(mod func(*StressConfig), c killCond, expect int) {
		sc := base
		sc.Seed = r.Uint64()
		if mod != nil {
			mod(&sc)
		}
		sc.MaxCommits = budget(expect, sc.Writers)
		steps = append(steps, step{sc, c})
	}
	k := func() int { return 1 + r.IntN(cfg.MaxAcks) }
	switch scenario {
	case "wal-append":
		n := k()
		one(nil, ackKill(n), n)
	case "rotation":
		n := k()
		one(func(c *StressConfig) { c.SegmentSize = 1024 }, ackKill(n), n)
	case "checkpoint":
		every, nth, j := 4+r.IntN(16), 1+r.IntN(3), r.IntN(3)
		one(func(c *StressConfig) { c.CheckpointEvery = every }, maintKill("checkpoint", nth, j), nth*every+j)
	case "manifest":
		ce, co := 3+r.IntN(6), 5+r.IntN(10)
		nth, j := 1+r.IntN(4), r.IntN(2*cfg.Writers+1)
		one(func(c *StressConfig) { c.CheckpointEvery, c.CompactEvery, c.SegmentSize = ce, co, 4096 },
			maintKill("", nth, j), nth*ce+j)
	case "compact-wal":
		every, nth, j := 5+r.IntN(20), 1+r.IntN(3), r.IntN(3)
		one(func(c *StressConfig) { c.CompactEvery, c.SegmentSize = every, 4096 }, maintKill("compact", nth, j), nth*every+j)
	case "compact-full":
		every, keep := 5+r.IntN(20), 1+r.IntN(3)
		nth, j := 1+r.IntN(3), r.IntN(3)
		one(func(c *StressConfig) { c.CompactEvery, c.Full, c.KeepLast, c.SegmentSize = every, true, keep, 4096 },
			maintKill("compact-full", nth, j), nth*every+j)
	case "recovery":
		n := k()
		one(nil, ackKill(n), n)
		for range 1 + r.IntN(3) {
			one(nil, func(rec Record, _ int) bool { return rec.Kind == "opening" }, 0)
		}
	case "consecutive":
		for range 2 + r.IntN(3) {
			n := 1 + r.IntN(cfg.MaxAcks/4+1)
			one(nil, ackKill(n), n)
		}
	default:
		return nil, 0, 0, fmt.Errorf("scenario %q cannot run", scenario)
	}
	for _, s := range steps {
		v, killed, err := runChild(ctx, cfg, s.sc, s.cond, m)
		if err != nil {
			return nil, kills, unkilled, err
		}
		if killed {
			kills++
		} else if len(v) == 0 {
			unkilled++
		}
		if len(v) > 0 {
			return v, kills, unkilled, nil
		}
	}
	if cfg.AfterKill != nil {
		if err := cfg.AfterKill(cfg.Dir); err != nil {
			return nil, kills, unkilled, err
		}
	}
	var cp string
	if cfg.Damage {
		if cp, err = copyForDamage(cfg.Dir); err != nil {
			return nil, kills, unkilled, err
		}
		defer os.RemoveAll(cp)
	}
	vs, rep := checkDir(ctx, cfg.Dir, nil, m)
	res.Past += rep.Past
	res.Trimmed += rep.Trimmed
	if len(vs) == 0 && cfg.Damage {
		outcome, dv := damagePass(ctx, cp, m, r)
		res.Damage[outcome]++
		vs = dv
	}
	return vs, kills, unkilled, nil
}

// killCond decides, after each record, whether to kill the child now.
type killCond func(rec Record, acks int) bool

// runChild runs one workload process and kills it when cond holds. Every
// record it printed, before and after the kill, feeds the model. killed
// reports that the process died of the kill; a child that exits 0 first
// (its commit budget spent) is not a violation, one that fails by itself
// or outlives cfg.ChildTimeout is.
func runChild(ctx context.Context, cfg CrashConfig, sc StressConfig, cond killCond, m *Model) (vs []Violation, killed bool, err error) {
	cmd, err := cfg.Spawn(ctx, sc)
	if err != nil {
		return nil, false, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, false, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, false, err
	}
	limit := cfg.ChildTimeout
	if limit <= 0 {
		limit = DefaultChildTimeout
	}
	// The ceiling kills the child, which closes its stdout and so ends the
	// read loop below; timedOut tells the two kinds of kill apart.
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(limit, func() {
		timedOut.Store(true)
		cmd.Process.Kill()
	})
	defer watchdog.Stop()
	sc2 := bufio.NewScanner(out)
	sc2.Buffer(make([]byte, 64<<10), 16<<20)
	acks, bad := 0, ""
	sentKill := false
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
		if !sentKill && cond(rec, acks) {
			cmd.Process.Kill() // SIGKILL: no deferred code, no Close, no flush
			sentKill = true
		}
	}
	if !sentKill {
		// The pipe closed first: the child ended by itself (or closed its
		// stdout and stalled). Make sure it is gone before waiting.
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	watchdog.Stop()
	if timedOut.Load() {
		vs = append(vs, Violation{Kind: KindHang, Detail: fmt.Sprintf(
			"workload process still running after %s (%d commits acknowledged, budget %d): killed; raise the ceiling with --child-timeout if the machine is that slow",
			limit, acks, sc.MaxCommits)})
		return vs, false, nil
	}
	if err := sc2.Err(); err != nil && !sentKill {
		return vs, false, err
	}
	code := -2
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	switch {
	case code == 0 && werr == nil:
		// Finished its commit budget and closed the database cleanly
		// (perhaps just before a kill sent at the very end): a clean
		// shutdown, checked like any other state.
		if bad != "" {
			vs = append(vs, Violation{Kind: KindOrder, Detail: "a cleanly exited workload left a cut last record: " + bad})
		}
		return vs, false, nil
	case sentKill && code == -1:
		return vs, true, nil
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 2000 {
		msg = msg[len(msg)-2000:]
	}
	vs = append(vs, Violation{Kind: KindChild, Detail: fmt.Sprintf("workload ended by itself (%v) after %d commits: %s", werr, acks, msg)})
	return vs, false, nil
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
