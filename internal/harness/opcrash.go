package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// OpCrashConfig configures CrashFullCompactionOps.
type OpCrashConfig struct {
	Seed         uint64
	Writers      int // writers take turns, one commit at a time
	Commits      int // commits of the script
	CompactEvery int // a Full compaction after every this many commits
	KeepLast     int // the default retention policy (at least 1)
	SegmentSize  int64
	MaxValue     int // values are 1..MaxValue bytes
	// Stride crashes at every Stride-th operation of the compactions (1:
	// every one); Offset shifts the first.
	Stride, Offset int
	// Progress, when set, is called after each crash point with the
	// number checked and the number the run will check.
	Progress func(done, total int)

	// dbKeep, when set, is the policy really set, behind the model's back
	// (a test's way to see the history check fail).
	dbKeep int
}

// OpCrashResult is the outcome of CrashFullCompactionOps.
type OpCrashResult struct {
	Compactions int // Full compactions in the script
	Ops         int // file-system operations they made
	Points      int // crash points run (each checked as two images)
	Verified    uint64
	Past        int
	Trimmed     int
	// The first failing crash point (the run stops there).
	Violations []Violation
	FailedOp   int
	FailedMode vfs.CrashMode
	Elapsed    time.Duration
}

// Failed reports whether any violation was found.
func (r *OpCrashResult) Failed() bool { return len(r.Violations) > 0 }

// Print writes the outcome in human form.
func (r *OpCrashResult) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Full compactions\t%d\n", r.Compactions)
	fmt.Fprintf(tw, "file-system operations in them\t%d\n", r.Ops)
	fmt.Fprintf(tw, "power-cut points checked\t%d (each as two images: synced state only, and all written)\n", r.Points)
	fmt.Fprintf(tw, "acknowledged commits verified\t%d\n", r.Verified)
	fmt.Fprintf(tw, "past versions read back / trimmed by retention\t%d / %d\n", r.Past, r.Trimmed)
	status := "ok"
	if r.Failed() {
		status = "FAIL"
	}
	fmt.Fprintf(tw, "elapsed\t%s\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(tw, "result\t%s\n", status)
	tw.Flush()
	if r.Failed() {
		fmt.Fprintf(w, "\nFAILED at file-system operation %d (%v):\n", r.FailedOp, r.FailedMode)
		for i, v := range r.Violations {
			if i == 20 {
				fmt.Fprintf(w, "  ... %d more\n", len(r.Violations)-i)
				break
			}
			fmt.Fprintf(w, "  %s\n", v)
		}
	}
}

// opDir is the database directory inside the MemFS.
const opDir = "/db"

// fixedClock makes timestamps, and so the bytes written, the same in every
// replay of the script.
type fixedClock struct{ us atomic.Int64 }

func (c *fixedClock) Now() time.Time { return time.UnixMicro(1767225600000000 + c.us.Add(1)).UTC() }

// CrashFullCompactionOps crashes a Full compaction at every file-system
// operation it makes. A script (writers committing in turn on a MemFS in
// Strict mode, with KeepLast set and Compact(ctx, Full) every CompactEvery
// commits) is run once to count the operations of each compaction; then
// for each such operation k it is replayed with a power cut armed just
// before k. The image the cut leaves (only synced state) and the state as
// it stood (a process kill) are each recovered and checked against the
// model: every acknowledged commit present, the interrupted one whole or
// absent, two recoveries identical, and every past version read back whole
// or trimmed only where KeepLast allows it.
func CrashFullCompactionOps(ctx context.Context, cfg OpCrashConfig) (*OpCrashResult, error) {
	res := &OpCrashResult{FailedOp: -1}
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()
	switch {
	case cfg.Writers < 1 || cfg.Commits < 1 || cfg.CompactEvery < 1 || cfg.KeepLast < 1 || cfg.MaxValue < 1:
		return res, errors.New("writers, commits, compaction interval, KeepLast and value size must be at least 1")
	case cfg.Stride < 1 || cfg.Offset < 0:
		return res, errors.New("stride below 1 or negative offset")
	}
	dry := vfs.NewMem()
	spans, err := opScript(ctx, cfg, dry, NewModel())
	if err != nil {
		return res, fmt.Errorf("dry run: %w", err)
	}
	if dry.Crashed() {
		return res, errors.New("dry run crashed")
	}
	res.Compactions = len(spans)
	var points []int
	for _, sp := range spans {
		res.Ops += sp[1] - sp[0]
		for k := sp[0]; k < sp[1]; k++ {
			points = append(points, k)
		}
	}
	if res.Ops == 0 {
		return res, errors.New("the script's compactions made no file-system operation")
	}
	total := 0
	if cfg.Offset < len(points) {
		total = (len(points) - cfg.Offset + cfg.Stride - 1) / cfg.Stride
	}
	for i := cfg.Offset; i < len(points); i += cfg.Stride {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		k := points[i]
		mem := vfs.NewMem()
		mem.CrashAt(k, vfs.CrashOptions{Mode: vfs.CrashDropUnsynced})
		m := NewModel()
		if _, err := opScript(ctx, cfg, mem, m); err != nil {
			return res, fmt.Errorf("crash at op %d: %w", k, err)
		}
		if !mem.Crashed() {
			return res, fmt.Errorf("crash at op %d: the replay did not reach it (the script is not deterministic)", k)
		}
		res.Points++
		images := []struct {
			mode vfs.CrashMode
			fs   *vfs.MemFS
		}{
			{vfs.CrashDropUnsynced, mem.CrashImage()},
			{vfs.CrashKeepAll, mem.Crash(vfs.CrashOptions{Mode: vfs.CrashKeepAll})},
		}
		for _, img := range images {
			opts := opOptions(cfg, img.fs)
			vs, rep := checkDir(ctx, opDir, opts, m.clone())
			res.Verified += rep.Verified
			res.Past += rep.Past
			res.Trimmed += rep.Trimmed
			if len(vs) > 0 {
				res.Violations, res.FailedOp, res.FailedMode = vs, k, img.mode
				return res, nil
			}
		}
		if cfg.Progress != nil {
			cfg.Progress(res.Points, total)
		}
	}
	return res, nil
}

func opOptions(cfg OpCrashConfig, fsys vfs.FS) *inmem.Options {
	opts := inmem.DefaultOptions()
	opts.FS = fsys
	opts.Durability = inmem.Strict
	opts.WALSegmentSize = cfg.SegmentSize
	opts.Clock = new(fixedClock)
	return opts
}

// opScript runs the script on fsys, feeding m what it acknowledges, and
// returns the operation span [start, end) of each Full compaction. A
// failure after fsys crashed ends the script without an error: that is the
// crash.
func opScript(ctx context.Context, cfg OpCrashConfig, fsys *vfs.MemFS, m *Model) ([][2]int, error) {
	crashed := func(err error) error {
		if fsys.Crashed() {
			return nil
		}
		return err
	}
	db, err := inmem.Open(opDir, opOptions(cfg, fsys))
	if err != nil {
		return nil, crashed(err)
	}
	defer db.Close()
	if err := m.Apply(Record{Kind: "retain", Keep: cfg.KeepLast}); err != nil {
		return nil, err
	}
	keep := cfg.KeepLast
	if cfg.dbKeep > 0 {
		keep = cfg.dbKeep
	}
	if _, err := db.SetRetentionPolicy(ctx, inmem.GlobalRun, inmem.KeepLast(keep)); err != nil {
		return nil, crashed(err)
	}
	writers := newWriters(cfg.Seed, cfg.Writers, true)
	if err := m.Apply(Record{Kind: "start", MinValue: 1, MaxValue: cfg.MaxValue, Writers: writers}); err != nil {
		return nil, err
	}
	gens := make([]*generator, len(writers))
	for i, w := range writers {
		gens[i] = newGenerator(w, 1, cfg.MaxValue)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6f70637261736821))
	var spans [][2]int
	for n := 1; n <= cfg.Commits; n++ {
		i := r.IntN(len(writers))
		w, g := writers[i], gens[i]
		ops := g.next()
		v, err := commit(ctx, db, inmem.MustParseRunID(w.Run), w.Seed, ops)
		if err != nil {
			return spans, crashed(err)
		}
		if err := m.Apply(Record{Kind: "commit", Writer: w.Run, Seq: g.seq, Version: v, Ops: ops}); err != nil {
			return spans, err
		}
		if n%cfg.CompactEvery == 0 {
			start := fsys.OpCount()
			if _, err := db.Compact(ctx, inmem.Full); err != nil {
				return spans, crashed(err)
			}
			spans = append(spans, [2]int{start, fsys.OpCount()})
		}
	}
	return spans, nil
}
