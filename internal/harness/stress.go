package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem"
)

// StressConfig configures the stress workload.
type StressConfig struct {
	Dir        string
	Writers    int
	Seed       uint64
	Durability string        // strict, buffered or inmemory
	Duration   time.Duration // 0: until ctx ends (or MaxCommits)
	MaxCommits int           // 0: unlimited
	MinValue   int           // bytes, at least 1
	MaxValue   int
	// CheckpointEvery and CompactEvery run a checkpoint or a compaction
	// after that many acknowledged commits (0: never).
	CheckpointEvery int
	CompactEvery    int
	// Full makes the compactions Full (retention, checkpoint, WAL-only)
	// instead of WAL-only; without KeepLast it trims nothing.
	Full bool
	// KeepLast, when above zero, sets KeepLast(KeepLast) as the database's
	// default retention policy before the writers start, so that Full
	// compactions trim history.
	KeepLast    int
	SegmentSize int64 // WAL segment size (0: the default)
}

// Validate reports a configuration the workload cannot run.
func (c *StressConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("a directory is required")
	case c.Writers < 0:
		return fmt.Errorf("writers %d < 0", c.Writers)
	case c.MinValue < 1 || c.MaxValue < c.MinValue:
		return fmt.Errorf("value sizes %d..%d: want 1 <= min <= max", c.MinValue, c.MaxValue)
	case c.MaxValue > 1<<20:
		return fmt.Errorf("max value size %d above 1 MiB", c.MaxValue)
	case c.CheckpointEvery < 0 || c.CompactEvery < 0 || c.MaxCommits < 0 || c.Duration < 0 || c.KeepLast < 0:
		return errors.New("negative interval, duration or commit count")
	case c.SegmentSize != 0 && c.SegmentSize < 1024:
		return fmt.Errorf("segment size %d below 1 KiB", c.SegmentSize)
	}
	if _, err := inmem.ParseDurability(c.Durability); err != nil {
		return err
	}
	return nil
}

// StressSummary is what a stress run did.
type StressSummary struct {
	Commits     uint64
	PerWriter   []uint64
	Checkpoints int
	Compactions int
	Elapsed     time.Duration
	Err         error // the first error that stopped a writer or maintenance
}

// Print writes the summary in human form.
func (s StressSummary) Print(w io.Writer) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Commits) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "stress: %d commits in %s (%.0f commits/s), %d checkpoints, %d compactions\n",
		s.Commits, s.Elapsed.Round(time.Millisecond), rate, s.Checkpoints, s.Compactions)
	for i, n := range s.PerWriter {
		fmt.Fprintf(w, "  writer %d: %d commits\n", i, n)
	}
	if s.Err != nil {
		fmt.Fprintf(w, "  stopped by: %v\n", s.Err)
	}
}

// lineWriter writes each record as one line in one Write call, so that a
// kill never leaves half a line in the middle of the output (a partial last
// line is simply not an acknowledgement).
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (l *lineWriter) emit(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		_, l.err = l.w.Write(b)
	}
	return l.err
}

// Stress runs the workload: cfg.Writers goroutines each commit
// transactions on their own run and print one record per acknowledged
// commit to out, after Commit returned and before the next begins. It stops
// when ctx ends, the duration passes, MaxCommits are acknowledged, or a
// write to out fails (the reader went away); then it closes the database.
func Stress(ctx context.Context, cfg StressConfig, out io.Writer) (StressSummary, error) {
	sum := StressSummary{PerWriter: make([]uint64, cfg.Writers)}
	if err := cfg.Validate(); err != nil {
		return sum, err
	}
	dur, _ := inmem.ParseDurability(cfg.Durability)
	lw := &lineWriter{w: out}
	// "opening" comes before Open so that a parent can kill recovery.
	if err := lw.emit(Record{Kind: "opening"}); err != nil {
		return sum, err
	}
	opts := inmem.DefaultOptions()
	opts.Durability = dur
	opts.WALSegmentSize = cfg.SegmentSize
	db, err := inmem.Open(cfg.Dir, opts)
	if err != nil {
		return sum, err
	}
	start := time.Now()
	if cfg.KeepLast > 0 {
		// The intent comes first: a policy that became durable before a
		// kill is then always known to the checker.
		if err := lw.emit(Record{Kind: "retain", Keep: cfg.KeepLast}); err != nil {
			db.Close()
			return sum, err
		}
		if _, err := db.SetRetentionPolicy(ctx, inmem.GlobalRun, inmem.KeepLast(cfg.KeepLast)); err != nil {
			db.Close()
			return sum, err
		}
	}
	writers := newWriters(cfg.Seed, cfg.Writers, false)
	if err := lw.emit(Record{Kind: "start", Seed: cfg.Seed, Durability: dur.String(),
		MinValue: cfg.MinValue, MaxValue: cfg.MaxValue, Writers: writers}); err != nil {
		db.Close()
		return sum, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, cfg.Duration)
		defer c2()
	}
	var (
		total    atomic.Uint64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
		maint    = make(chan string, 1)
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		cancel()
	}
	for i, w := range writers {
		wg.Go(func() {
			g := newGenerator(w, cfg.MinValue, cfg.MaxValue)
			run := inmem.MustParseRunID(w.Run)
			for ctx.Err() == nil {
				ops := g.next()
				v, err := commit(ctx, db, run, w.Seed, ops)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("writer %d commit %d: %w", i, g.seq, err))
					}
					return
				}
				if err := lw.emit(Record{Kind: "commit", Writer: w.Run, Seq: g.seq, Version: v, Ops: ops}); err != nil {
					fail(err)
					return
				}
				sum.PerWriter[i]++
				n := total.Add(1)
				if cfg.MaxCommits > 0 && n >= uint64(cfg.MaxCommits) {
					cancel()
				}
				trigger := ""
				if cfg.CompactEvery > 0 && n%uint64(cfg.CompactEvery) == 0 {
					trigger = "compact"
					if cfg.Full {
						trigger = "compact-full"
					}
				} else if cfg.CheckpointEvery > 0 && n%uint64(cfg.CheckpointEvery) == 0 {
					trigger = "checkpoint"
				}
				if trigger != "" {
					select {
					case maint <- trigger: // at most one waits; others are skipped
					default:
					}
				}
			}
		})
	}
	var mwg sync.WaitGroup
	mwg.Go(func() {
		for {
			var op string
			select {
			case <-ctx.Done():
				return
			case op = <-maint:
			}
			if lw.emit(Record{Kind: "maint", Op: op, Phase: "begin"}) != nil {
				return
			}
			var err error
			switch op {
			case "compact":
				_, err = db.Compact(ctx, inmem.WALOnly)
				sum.Compactions++
			case "compact-full":
				_, err = db.Compact(ctx, inmem.Full)
				sum.Compactions++
			default:
				_, err = db.Checkpoint(ctx)
				sum.Checkpoints++
			}
			r := Record{Kind: "maint", Op: op, Phase: "end"}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.Error = err.Error()
				if inmem.CodeOf(err) == inmem.CodePoisoned {
					fail(fmt.Errorf("%s: %w", op, err))
				}
			}
			lw.emit(r)
		}
	})
	wg.Wait()
	cancel()
	mwg.Wait()
	sum.Commits = total.Load()
	sum.Elapsed = time.Since(start)
	sum.Err = firstErr
	if err := db.Close(); err != nil && sum.Err == nil {
		sum.Err = err
	}
	return sum, sum.Err
}

// newWriters draws the writers of a session from seed. Their runs are
// random unless fixedRuns, which derives them from seed too (the in-process
// crash driver replays a session byte for byte).
func newWriters(seed uint64, n int, fixedRuns bool) []WriterInfo {
	rng := rand.New(rand.NewPCG(seed, 0x73747265737321))
	writers := make([]WriterInfo, n)
	for i := range writers {
		id := inmem.NewRunID()
		if fixedRuns {
			for j := range id {
				id[j] = byte(rng.Uint32())
			}
			id[6] = id[6]&0x0f | 0x40
			id[8] = id[8]&0x3f | 0x80
		}
		writers[i] = WriterInfo{Run: id.String(), Seed: rng.Uint64()}
	}
	return writers
}

// commit runs ops in one transaction on run, retrying a Conflict with the
// same ops (the generator already moved on; the ops do not depend on what
// the database holds), and returns the commit version.
func commit(ctx context.Context, db *inmem.DB, run inmem.RunID, seed uint64, ops []Op) (uint64, error) {
	for {
		tx, err := db.Begin(ctx, run, true)
		if err != nil {
			return 0, err
		}
		if err := apply(tx, seed, ops); err != nil {
			tx.Rollback()
			return 0, err
		}
		err = tx.Commit()
		if err == nil {
			return tx.CommitVersion().N, nil
		}
		if inmem.CodeOf(err) != inmem.CodeConflict || ctx.Err() != nil {
			return 0, err
		}
	}
}
