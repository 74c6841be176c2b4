package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
	"github.com/spf13/cobra"
)

// Commands that follow a live database poll it: a writer in another process
// gives no signal, and polling a few times a second costs one directory
// listing and one small read when nothing changed.
const defaultFollowInterval = 200 * time.Millisecond

// MainContext is Main with a context: cancelling it (the inmem command does
// on SIGINT and SIGTERM) ends the commands that follow a live database,
// `tail` and `events list --follow`, with exit code 0.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return execute(ctx, args, stdout, stderr)
}

// waitTick waits for the next poll; false means ctx ended.
func waitTick(ctx context.Context, t *time.Ticker) bool {
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type tailView struct {
	Version   uint64         `json:"version"`
	Run       string         `json:"run"`
	Timestamp string         `json:"timestamp"`
	Mutations []mutationView `json:"mutations"`
}

func (a *app) tailCommand() *cobra.Command {
	var (
		from     uint64
		interval time.Duration
	)
	c := &cobra.Command{
		Use:   "tail <dir>",
		Short: "Print commits as a live writer makes them (until interrupted)",
		Long: `tail follows the write-ahead log of a database directory, also while another
process holds it open for writing, and prints every commit once its record is
complete in the log: from now on, or from version --from if the log still holds
it (HistoryTrimmed otherwise, also when the writer compacts away commits tail
has not printed yet). It changes no file and takes no lock. It runs until interrupted (exit 0).
In table form each mutation is a line; with -o json or ndjson each commit is
one JSON object per line.`,
		Args: a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return usageError{fmt.Errorf("--interval must be positive")}
			}
			dir := args[0]
			m, _, err := readManifest(dir)
			if err != nil {
				return err
			}
			if m.CodecID != codec.IdentityID {
				return fmt.Errorf("the WAL is encoded with codec %q, which this tool cannot decode", m.CodecID)
			}
			fsys, walDir := vfs.OS(), filepath.Join(dir, "WAL")
			fo := wal.FollowOptions{FS: fsys, Dir: walDir, UUID: m.UUID, Codec: codec.Identity{},
				// Records the writer compacted away before tail read them
				// are an error at once, not at the writer's next commit.
				Floor: func() (uint64, error) {
					m, err := manifest.Read(fsys, dir)
					return m.SnapshotWatermark, err
				}}
			ctx := cmd.Context()
			print := func(c *core.Commit) error { return a.printCommit(c) }
			if cmd.Flags().Changed("from") {
				if from > 0 {
					fo.Last, fo.Exact = from-1, true
				}
			} else {
				// From now: skip what the newest segment already holds.
				l, err := wal.List(fsys, walDir)
				if err != nil {
					return fmt.Errorf("listing %s: %w", walDir, err)
				}
				if n := len(l.Segments); n > 0 {
					fo.Segment = l.Segments[n-1].Number
				}
				print = nil
			}
			f := wal.NewFollower(fo)
			if print == nil {
				if _, err := f.Poll(ctx, func(*core.Commit) error { return nil }); err != nil {
					return followErr(ctx, err)
				}
				print = func(c *core.Commit) error { return a.printCommit(c) }
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				if _, err := f.Poll(ctx, print); err != nil {
					return followErr(ctx, err)
				}
				if !waitTick(ctx, t) {
					return nil
				}
			}
		},
	}
	c.Flags().Uint64Var(&from, "from", 0, "first commit version to print (default: the next commit)")
	c.Flags().DurationVar(&interval, "interval", defaultFollowInterval, "how often to look for new commits")
	return c
}

// followErr turns the end of a follow into its result: cancellation is how
// a follow ends normally.
func followErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return nil
	}
	return err
}

func (a *app) printCommit(c *core.Commit) error {
	v := tailView{Version: c.Version, Run: c.Run.String(), Timestamp: time.UnixMicro(c.Time).UTC().Format(time.RFC3339Nano),
		Mutations: []mutationView{}}
	for _, mu := range c.Mutations {
		mv := mutationView{Op: mu.Op.String(), Run: mu.Run.String(), Space: mu.Space.String(), Key: printableKey(mu.Key), Version: mu.Version}
		if mu.Op != core.OpDelete {
			mv.Value = jsonValue(mu.Value)
		}
		v.Mutations = append(v.Mutations, mv)
	}
	if a.output != "table" {
		return a.emitLine(v)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, mv := range v.Mutations {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.Timestamp, mv.Op, mv.Space, mv.Run, mv.Key, shortJSON(mv.Value))
	}
	return tw.Flush()
}

// emitLine writes v as one JSON line whatever the output format: a follow
// never ends with a complete JSON document.
func (a *app) emitLine(v any) error {
	saved := a.output
	a.output = "ndjson"
	defer func() { a.output = saved }()
	return a.emit(v, nil)
}

// followEvents prints the events of run from sequence next on (below to,
// of type typ if set) as a writer appends them, until ctx ends.
func (a *app) followEvents(ctx context.Context, db *inmem.DB, run inmem.RunID, next, to uint64, typ string, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var reopened *inmem.DB
	defer func() {
		if reopened != nil {
			reopened.Close()
		}
	}()
	for waitTick(ctx, t) {
		err := db.Refresh(ctx)
		if errors.Is(err, inmem.ErrHistoryTrimmed) {
			// The writer compacted away records this handle had not read:
			// a fresh handle starts from the snapshot, which holds them.
			// Events are state, so nothing is lost by reading them there.
			fresh, oerr := a.openDir(db.Dir(), inmem.Options{ReadOnly: true, Durability: inmem.InMemory})
			if oerr != nil {
				return followErr(ctx, oerr)
			}
			if reopened != nil {
				reopened.Close()
			}
			reopened, db, err = fresh, fresh, nil
		}
		if err != nil {
			return followErr(ctx, err)
		}
		var evs []inmem.Event
		if typ != "" {
			evs, err = db.Events().ReadByType(ctx, run, typ)
		} else {
			evs, err = db.Events().Range(ctx, run, next, to)
		}
		if err != nil {
			return followErr(ctx, err)
		}
		for _, ev := range evs {
			if ev.Sequence < next || ev.Sequence >= to {
				continue
			}
			it := eventView{Run: run.String(), Sequence: ev.Sequence, Type: ev.Type, Timestamp: ev.Timestamp.String(),
				Payload: ev.Payload, PrevHash: hex.EncodeToString(ev.PrevHash[:]), Hash: hex.EncodeToString(ev.Hash[:])}
			if a.output == "table" {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", it.Sequence, it.Type, it.Timestamp, it.Hash[:12], clip(valueText(it.Payload), 80))
				if err := tw.Flush(); err != nil {
					return err
				}
			} else if err := a.emitLine(it); err != nil {
				return err
			}
			next = ev.Sequence + 1
		}
	}
	return nil
}
