package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/vfs"
	"github.com/spf13/cobra"
)

// childCommand returns the command that runs the tool itself, with args, in
// a new process: the demo's crash child. Tests replace it (the test binary
// is not the tool).
var childCommand = func(ctx context.Context, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the inmem executable to run the crash child: %w", err)
	}
	return exec.CommandContext(ctx, exe, args...), nil
}

const demoChildTimeout = 2 * time.Minute

// demoAfterCrash runs between the crash and the reopen; tests use it to
// damage what the child left and see the verification fail.
var demoAfterCrash = func(dir string) error { return nil }

func (a *app) demoCommand() *cobra.Command {
	var (
		steps      int
		crashChild bool
		force      bool
	)
	cmd := &cobra.Command{
		Use:   "demo [dir]",
		Short: "Run an agent-like workload on all seven primitives, crash it, recover and verify",
		Long: `demo plays an AI agent in a fresh Strict-mode database (default ./inmem-demo).

It registers a run in the run index, then in each step moves a state-machine
cell through planning → acting → observing (CAS and Transition), records a
decision with a thought and a tool call under it as traces, appends tool_call,
tool_result and assistant_message events to the run's hash-chained log, keeps
its working memory in KV, edits a JSON scratchpad (Set, Patch, Merge) and
upserts a 64-dimensional memory embedding — the tool call and what it produced
in one transaction across five primitives.

Half-way it checkpoints. The second half runs in a child process that commits
its steps, reports each one as it is acknowledged, runs a vector search, leaves
a transaction open and kills itself with SIGKILL. The demo then reopens the
directory and verifies that every acknowledged step is present and nothing
else, the event hash chain, the search results, the state machine and the
run's status; the agent finishes the run, and "inmem check" verifies every
file. The report goes to stdout (-o table|json|ndjson), the story to stderr.

A database an earlier demo created in dir (it holds an INMEM-DEMO marker) is
deleted first. Any other in-mem database is refused unless --force is given,
and a non-empty dir that is not an in-mem database is always refused. Exit status 0 when every verification passed, 3 when one failed.`,
		Args: a.args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "inmem-demo"
			if len(args) == 1 {
				dir = args[0]
			}
			if steps < 2 || steps > 10000 {
				return usageError{fmt.Errorf("--steps %d: want 2 to 10000", steps)}
			}
			if crashChild {
				return a.demoChild(cmd.Context(), dir, steps)
			}
			return a.demo(cmd.Context(), dir, steps, force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete an in-mem database in dir even if no earlier demo created it")
	cmd.Flags().IntVar(&steps, "steps", 12, "agent steps: the first half before the checkpoint, the rest in the crashed child")
	cmd.Flags().BoolVar(&crashChild, "crash-child", false, "internal: run the second half and kill the process")
	cmd.Flags().MarkHidden("crash-child")
	return cmd
}

// prepareDemoDir makes dir ready for a fresh database: it may not exist, be
// empty, or hold an in-mem database that an earlier demo created (or any
// in-mem database, with force), which is deleted. Anything else is a usage
// error, and nothing is deleted.
func (a *app) prepareDemoDir(dir string, force bool) (removed bool, err error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, usageError{err}
	}
	if !fi.IsDir() {
		return false, usageError{fmt.Errorf("%s exists and is not a directory", dir)}
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return false, usageError{err}
	}
	if len(names) == 0 {
		return false, nil
	}
	refuse := func(why string) (bool, error) {
		return false, usageError{fmt.Errorf("%s %s; the demo deletes only an in-mem database — choose another directory", dir, why)}
	}
	m, err := manifest.Read(vfs.OS(), dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return refuse("is not empty and is not an in-mem database (no MANIFEST)")
		}
		return refuse(fmt.Sprintf("has a MANIFEST that cannot be read (%v)", err))
	}
	if !force && !demoMarked(dir, m.UUID.String()) {
		return false, usageError{fmt.Errorf("%s holds an in-mem database that inmem demo did not create; "+
			"the demo deletes only its own databases — choose another directory, or pass --force to delete this one", dir)}
	}
	for _, n := range names {
		switch n.Name() {
		case "MANIFEST", "MANIFEST.tmp", "LOCK", "WAL", "SNAPSHOTS", "DATA", demoMarkerName:
		default:
			return refuse(fmt.Sprintf("holds an in-mem database but also %q", n.Name()))
		}
	}
	// Never delete a database that is open elsewhere.
	db, err := inmem.Open(dir, &inmem.Options{ReadOnly: true, Durability: inmem.InMemory, Logger: a.logger()})
	if errors.Is(err, inmem.ErrLocked) {
		return false, fmt.Errorf("%s is open in another process: %w", dir, err)
	}
	if err == nil {
		db.Close()
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	return true, nil
}

// demoCheck is one verification of the demo.
type demoCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type primitiveCount struct {
	Primitive string `json:"primitive"`
	Count     int    `json:"count"`
	Detail    string `json:"detail"`
}

type demoReport struct {
	Dir        string `json:"dir"`
	Durability string `json:"durability"`
	Run        struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Status string   `json:"status"`
		Tags   []string `json:"tags"`
	} `json:"run"`
	Steps struct {
		Total            int `json:"total"`
		BeforeCheckpoint int `json:"before_checkpoint"`
		InCrashedChild   int `json:"in_crashed_child"`
		Acknowledged     int `json:"acknowledged_by_child"`
	} `json:"steps"`
	Primitives    []primitiveCount `json:"primitives"`
	CommitVersion uint64           `json:"commit_version"`
	Versions      uint64           `json:"versions_installed"`
	WAL           struct {
		Segments int   `json:"segments"`
		Bytes    int64 `json:"bytes"`
	} `json:"wal"`
	Snapshot struct {
		ID        uint64 `json:"id"`
		Watermark uint64 `json:"watermark"`
		Bytes     int64  `json:"bytes"`
	} `json:"snapshot"`
	Recovery struct {
		Micros          int64  `json:"micros"`
		Text            string `json:"text"`
		RecordsReplayed uint64 `json:"wal_records_replayed"`
	} `json:"recovery"`
	Verifications []demoCheck `json:"verifications"`
	OK            bool        `json:"ok"`
}

// childLine is one line the crash child prints on stdout.
type childLine struct {
	Ack          int         `json:"ack,omitempty"`          // a step whose commits all returned
	Version      uint64      `json:"version,omitempty"`      // the commit version after it
	Acknowledged int         `json:"acknowledged,omitempty"` // final line: steps acknowledged
	From         int         `json:"from,omitempty"`         // final line: the child's first step
	Search       []searchHit `json:"search,omitempty"`       // final line: the search before the crash
	Pid          int         `json:"pid,omitempty"`
}

func (a *app) say(format string, args ...any) {
	fmt.Fprintf(a.stderr, format+"\n", args...)
}

func openDemoDB(a *app, dir string) (*inmem.DB, error) {
	return inmem.Open(dir, &inmem.Options{Durability: inmem.Strict, Logger: a.logger()})
}

// demo runs the whole demo in dir.
func (a *app) demo(ctx context.Context, dir string, steps int, force bool) error {
	removed, err := a.prepareDemoDir(dir, force)
	if err != nil {
		return err
	}
	rep := &demoReport{Dir: dir, Durability: inmem.Strict.String()}
	rep.Steps.Total = steps
	rep.Steps.BeforeCheckpoint = steps / 2
	rep.Steps.InCrashedChild = steps - steps/2
	if removed {
		a.say("inmem demo: removed the previous demo database in %s", dir)
	}
	a.say("inmem demo: a fresh Strict-mode database in %s", dir)

	// Part one: the agent's first half, then a checkpoint.
	db, err := openDemoDB(a, dir)
	if err != nil {
		return err
	}
	if err := markDemoDir(dir); err != nil {
		db.Close()
		return fmt.Errorf("marking %s as a demo database: %w", dir, err)
	}
	s, err := startStory(ctx, db, steps)
	if err != nil {
		db.Close()
		return err
	}
	a.say("  registered run %s (%s) with tags demo, research", demoRunName, s.run)
	pb := a.progress(int64(rep.Steps.BeforeCheckpoint), "agent steps")
	for i := 1; i <= rep.Steps.BeforeCheckpoint; i++ {
		if err := s.step(i); err != nil {
			db.Close()
			return fmt.Errorf("step %d: %w", i, err)
		}
		pbSet(pb, int64(i))
	}
	pbDone(pb)
	a.say("  steps 1-%d: %d commits on all seven primitives (one transaction per step spans five)", rep.Steps.BeforeCheckpoint, db.Stats().Commits)
	cp, err := db.Checkpoint(ctx)
	if err != nil {
		db.Close()
		return err
	}
	a.say("  checkpoint: snapshot %d at watermark %d (%d entities, %s)", cp.SnapshotID, cp.Watermark.N, cp.Entities, bytesText(cp.Bytes))
	if err := db.Close(); err != nil {
		return err
	}

	// Part two: a child process continues and is killed.
	child, err := a.runCrashChild(ctx, dir, steps)
	if err != nil {
		return err
	}
	rep.Steps.Acknowledged = child.Acknowledged
	a.say("  crash: child process %d committed steps %d-%d, acknowledged %d, left a transaction open and was killed with SIGKILL",
		child.Pid, child.From, child.From+child.Acknowledged-1, child.Acknowledged)

	// Part three: recovery and verification.
	if err := demoAfterCrash(dir); err != nil {
		return err
	}
	start := time.Now()
	db, err = openDemoDB(a, dir)
	if err != nil {
		return fmt.Errorf("reopening after the crash: %w", err)
	}
	recovery := time.Since(start)
	defer db.Close()
	rep.Recovery.Micros = recovery.Microseconds()
	rep.Recovery.Text = recovery.Round(10 * time.Microsecond).String()
	rep.Recovery.RecordsReplayed = db.Stats().Commits
	a.say("  recovery: reopened in %s, replayed %d WAL records past the snapshot", rep.Recovery.Text, rep.Recovery.RecordsReplayed)

	check := func(name string, err error, okDetail string) {
		c := demoCheck{Name: name, OK: err == nil, Detail: okDetail}
		if err != nil {
			c.Detail = err.Error()
		}
		rep.Verifications = append(rep.Verifications, c)
	}
	s, err = resumeStory(ctx, db)
	if err != nil {
		return err
	}
	total := child.From - 1 + child.Acknowledged

	if v := db.Stats().CommitVersion; v != child.Version {
		check("recovered to the last acknowledged commit", fmt.Errorf("commit version %d, the child acknowledged %d", v, child.Version), "")
	} else {
		check("recovered to the last acknowledged commit", nil, fmt.Sprintf("commit version %d", v))
	}
	var stepErr error
	for i := 1; i <= total && stepErr == nil; i++ {
		stepErr = s.verifyStep(i)
	}
	check("every acknowledged step present and exact", stepErr,
		fmt.Sprintf("%d of %d steps (%d acknowledged by the crashed child)", total, total, child.Acknowledged))
	check("exact totals, nothing unacknowledged", s.verifyTotals(total), "no step beyond the acknowledged ones; the open transaction left no trace")

	chain, err := db.Events().VerifyChain(ctx, s.run)
	switch {
	case err != nil:
		check("event hash chain", err, "")
	case !chain.OK:
		check("event hash chain", fmt.Errorf("run %s: %s", s.run, chain), "")
	default:
		check("event hash chain", nil, fmt.Sprintf("%d events linked, every hash matches", chain.Checked))
	}

	hits, err := s.search()
	if err == nil {
		if len(child.Search) == 0 {
			err = errors.New("the child's search found nothing")
		} else {
			err = sameHits(child.Search, hits)
		}
	}
	check("vector search after recovery", err, fmt.Sprintf("top %d for %q with kind = \"fact\" identical: %s", demoSearchK, demoQueryTopic, hitKeys(hits)))

	info, err := db.Runs().Get(ctx, s.run)
	if err == nil && info.Value.Status != inmem.RunActive {
		err = fmt.Errorf("run %s is %s after the crash, want %s", demoRunName, info.Value.Status, inmem.RunActive)
	}
	check("run status after the crash", err, "active: the crash did not end the run")

	branched, err := s.branch()
	if err == nil {
		a.say("  branch: %s", branched)
	}
	check("fork, diff and merge", err, branched)

	err = s.finish(total)
	if err == nil {
		info, err = db.Runs().Get(ctx, s.run)
	}
	if err == nil {
		if info.Value.Status != inmem.RunCompleted {
			err = fmt.Errorf("run %s is %s after finishing, want %s", demoRunName, info.Value.Status, inmem.RunCompleted)
		} else if cell, cerr := db.State().Read(ctx, s.run, demoCell); cerr != nil {
			err = cerr
		} else if p, _ := phaseOf(cell.Value); p != "done" {
			err = fmt.Errorf("the agent is %s after finishing", p)
		}
	}
	check("agent resumed and finished the run", err, "state done and run completed in one transaction")
	if err == nil {
		rep.Run.Status = string(info.Value.Status)
	}
	rep.Run.ID, rep.Run.Name, rep.Run.Tags = s.run.String(), demoRunName, info.Value.Tags

	if err := a.demoCounts(ctx, db, s, rep); err != nil {
		return err
	}
	st := db.Stats()
	rep.CommitVersion, rep.Versions = st.CommitVersion, st.VersionsInstalled
	rep.WAL.Segments, rep.WAL.Bytes = st.WAL.Segments, st.WAL.Bytes
	if err := db.Close(); err != nil {
		return err
	}

	// Finally every file: MANIFEST, snapshot, WAL checksums, chains.
	cr, err := a.check(dir)
	switch {
	case err != nil:
		check("inmem check", err, "")
	case !cr.OK:
		check("inmem check", fmt.Errorf("%d problems: %s", len(cr.Problems), cr.Problems[0].Reason), "")
	default:
		check("inmem check", nil, fmt.Sprintf("MANIFEST, snapshot, %d WAL records and %d event chain(s) sound", cr.Records, len(cr.Chains)))
	}
	if _, mv, err := readManifest(dir); err == nil {
		rep.Snapshot.ID, rep.Snapshot.Watermark = mv.SnapshotID, mv.SnapshotWatermark
	}
	if cr != nil && cr.Snapshot != nil {
		rep.Snapshot.Bytes = cr.Snapshot.Bytes
	}

	rep.OK = !slices.ContainsFunc(rep.Verifications, func(c demoCheck) bool { return !c.OK })
	if rep.OK {
		a.say("  resumed: the agent finished the run; every verification passed")
	}
	if err := a.emit(rep, func(w io.Writer) { printDemo(w, rep) }); err != nil {
		return err
	}
	if !rep.OK {
		n := 0
		for _, c := range rep.Verifications {
			if !c.OK {
				n++
			}
		}
		return integrityError{fmt.Errorf("the demo failed %d verification(s)", n)}
	}
	return nil
}

func hitKeys(hits []searchHit) string {
	keys := make([]string, len(hits))
	for i, h := range hits {
		keys[i] = h.Key
	}
	return strings.Join(keys, ", ")
}

// demoCounts fills the per-primitive counts.
func (a *app) demoCounts(ctx context.Context, db *inmem.DB, s *story, rep *demoReport) error {
	run := s.run
	kv, err := db.KV().List(ctx, run, "")
	if err != nil {
		return err
	}
	events, err := db.Events().Len(ctx, run)
	if err != nil {
		return err
	}
	types, err := db.Events().Types(ctx, run)
	if err != nil {
		return err
	}
	cells, err := db.State().List(ctx, run, "")
	if err != nil {
		return err
	}
	cell, err := db.State().Read(ctx, run, demoCell)
	if err != nil {
		return err
	}
	traces, err := db.Traces().Count(ctx, run)
	if err != nil {
		return err
	}
	roots, err := db.Traces().Roots(ctx, run)
	if err != nil {
		return err
	}
	runs, err := db.Runs().Count(ctx)
	if err != nil {
		return err
	}
	docs, err := db.JSON().List(ctx, run, "")
	if err != nil {
		return err
	}
	padSteps, err := db.JSON().Get(ctx, run, demoPad, "/steps")
	if err != nil {
		return err
	}
	pad, err := db.JSON().Get(ctx, run, demoPad, "")
	if err != nil {
		return err
	}
	vectors, err := db.Vectors().Count(ctx, run, demoCollection)
	if err != nil {
		return err
	}
	coll, err := db.Vectors().Collection(ctx, run, demoCollection)
	if err != nil {
		return err
	}
	phase, _ := phaseOf(cell.Value)
	rep.Primitives = []primitiveCount{
		{"kv", len(kv), "working memory: config/goal, memory/step-NN, working/*"},
		{"events", int(events), fmt.Sprintf("%d types (%s), hash-chained", len(types), strings.Join(types, ", "))},
		{"state", len(cells), fmt.Sprintf("cell %s: %s at %s", demoCell, phase, cell.Version)},
		{"traces", traces, fmt.Sprintf("%d decisions, each with a thought and a tool call", len(roots))},
		{"runs", runs, fmt.Sprintf("%s: %s", demoRunName, rep.Run.Status)},
		{"json", len(docs), fmt.Sprintf("%s: %d steps, %s (%s)", demoPad, padSteps.Value.Len(), pad.Version, bytesText(int64(pad.Value.EncodedSize())))},
		{"vectors", vectors, fmt.Sprintf("collection %s: %d-d %s", coll.Name, coll.Dim, coll.Metric)},
	}
	return nil
}

func printDemo(w io.Writer, rep *demoReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "in-mem demo\t%s (%s)\n", rep.Dir, rep.Durability)
	fmt.Fprintf(tw, "run\t%s %s, %s, tags %s\n", rep.Run.Name, rep.Run.ID, rep.Run.Status, strings.Join(rep.Run.Tags, ","))
	fmt.Fprintf(tw, "steps\t%d: 1-%d before the checkpoint, %d-%d in the crashed child (%d acknowledged)\n",
		rep.Steps.Total, rep.Steps.BeforeCheckpoint, rep.Steps.BeforeCheckpoint+1, rep.Steps.Total, rep.Steps.Acknowledged)
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PRIMITIVE\tCOUNT\tDETAIL\n")
	for _, p := range rep.Primitives {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Primitive, p.Count, p.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "commit version\t%d (%d versions installed)\n", rep.CommitVersion, rep.Versions)
	fmt.Fprintf(tw, "wal\t%d segments, %s\n", rep.WAL.Segments, bytesText(rep.WAL.Bytes))
	fmt.Fprintf(tw, "snapshot\t%d at watermark %d, %s\n", rep.Snapshot.ID, rep.Snapshot.Watermark, bytesText(rep.Snapshot.Bytes))
	fmt.Fprintf(tw, "recovery\t%s, %d WAL records replayed past the snapshot\n", rep.Recovery.Text, rep.Recovery.RecordsReplayed)
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "VERIFICATION\tRESULT\tDETAIL\n")
	for _, c := range rep.Verifications {
		res := "ok"
		if !c.OK {
			res = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, res, c.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if rep.OK {
		fmt.Fprintln(w, "result: every verification passed")
	} else {
		fmt.Fprintln(w, "result: VERIFICATION FAILED")
	}
}

// runCrashChild runs the second half of the story in a child process and
// returns what it acknowledged before it killed itself.
func (a *app) runCrashChild(ctx context.Context, dir string, steps int) (childLine, error) {
	ctx, cancel := context.WithTimeout(ctx, demoChildTimeout)
	defer cancel()
	args := []string{"demo", "--crash-child", "--steps", strconv.Itoa(steps)}
	if a.verbose {
		args = append(args, "-v")
	}
	cmd, err := childCommand(ctx, append(args, dir)...)
	if err != nil {
		return childLine{}, err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(a.stderr, &errOut)
	runErr := cmd.Run()

	var ee *exec.ExitError
	switch {
	case runErr == nil:
		return childLine{}, errors.New("the crash child exited normally instead of being killed")
	case !errors.As(runErr, &ee):
		return childLine{}, fmt.Errorf("running the crash child: %w", runErr)
	case !killedBySIGKILL(ee.ProcessState):
		return childLine{}, fmt.Errorf("the crash child failed (%v): %s", runErr, strings.TrimSpace(errOut.String()))
	}
	var final childLine
	acked := 0
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l childLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return childLine{}, fmt.Errorf("the crash child printed %q: %v", sc.Text(), err)
		}
		if l.Ack != 0 {
			acked = l.Ack
			final.Version = l.Version
		}
		if l.Acknowledged != 0 {
			final = l
		}
	}
	switch {
	case final.Acknowledged == 0:
		return childLine{}, errors.New("the crash child was killed before it reported its steps")
	case final.From+final.Acknowledged-1 != acked:
		return childLine{}, fmt.Errorf("the crash child reported %d steps from %d but acknowledged up to %d", final.Acknowledged, final.From, acked)
	}
	return final, nil
}

// demoChild is the crash child: it continues the story in dir up to steps,
// printing each acknowledged step, runs the search, leaves a transaction
// open and kills its own process.
func (a *app) demoChild(ctx context.Context, dir string, steps int) error {
	if _, _, err := readManifest(dir); err != nil {
		return err
	}
	db, err := openDemoDB(a, dir)
	if err != nil {
		return err
	}
	s, err := resumeStory(ctx, db)
	if err != nil {
		return err
	}
	last, err := s.lastStep()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.stdout)
	for i := last + 1; i <= steps; i++ {
		if err := s.step(i); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		// Every commit of the step has returned: in Strict mode it is on disk.
		if err := enc.Encode(childLine{Ack: i, Version: db.Stats().CommitVersion}); err != nil {
			return err
		}
	}
	hits, err := s.search()
	if err != nil {
		return err
	}
	version := db.Stats().CommitVersion
	// Work in flight when the power goes: written into a transaction that
	// never commits.
	tx, err := db.Begin(ctx, s.run, true)
	if err != nil {
		return err
	}
	if err := tx.KV().Put(demoDraftKey, inmem.String("half-written thought")); err != nil {
		return err
	}
	if _, err := tx.Events().Append("assistant_message", inmem.MustValue(map[string]any{"text": "never committed"})); err != nil {
		return err
	}
	if err := enc.Encode(childLine{Acknowledged: steps - last, From: last + 1, Version: version, Search: hits, Pid: os.Getpid()}); err != nil {
		return err
	}
	killSelf()
	time.Sleep(10 * time.Second)
	return errors.New("the crash child could not kill itself")
}
