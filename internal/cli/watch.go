package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/spf13/cobra"
)

type watchView struct {
	Version   uint64              `json:"version"`
	Run       string              `json:"run"`
	Timestamp string              `json:"timestamp"`
	Mutations []watchMutationView `json:"mutations"`
}

type watchMutationView struct {
	Op     string `json:"op"`
	Ref    string `json:"ref,omitempty"`
	Kind   string `json:"kind"`
	Run    string `json:"run"`
	Space  string `json:"space"`
	Key    string `json:"key"`
	Value  any    `json:"value,omitempty"`
	Detail string `json:"-"`
}

func (a *app) watchCommand() *cobra.Command {
	var (
		runText, prim, prefix string
		from, until           uint64
	)
	c := &cobra.Command{
		Use:   "watch <dir>",
		Short: "Print the change feed: every commit with decoded entity references",
		Long: `watch opens a database directory read-only, also beside a live writer in another
process, and prints its change feed (DB.Watch): every commit after version
--from (default: the newest commit when it starts), with each mutation's
decoded entity reference, filtered by --run, --primitive and --prefix. It runs
until interrupted (exit 0), or until it printed a commit at or above --until.
A --from older than the write-ahead log still holds fails with HistoryTrimmed.`,
		Args: a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var f inmem.WatchFilter
			if runText != "" {
				id, err := inmem.ParseRunID(runText)
				if err != nil {
					return usageError{err}
				}
				f.Run = &id
			}
			if prim != "" {
				p, ok := core.ParsePrimitiveType(prim)
				if !ok {
					return usageError{fmt.Errorf("unknown primitive %q", prim)}
				}
				f.Primitive = p
			}
			f.KeyPrefix = prefix
			db, err := a.openDir(args[0], inmem.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer db.Close()
			start := db.Stats().CommitVersion
			if cmd.Flags().Changed("from") {
				start = from
			}
			ctx := cmd.Context()
			for ch, err := range db.Watch(ctx, inmem.Txn(start), f) {
				if err != nil {
					return followErr(ctx, err)
				}
				if err := a.printChange(ch); err != nil {
					return err
				}
				if until > 0 && ch.Version.N >= until {
					return nil
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&runText, "run", "", "only mutations of this run")
	c.Flags().StringVar(&prim, "primitive", "", "only mutations of this primitive (kv, event, state, trace, run, json, vector)")
	c.Flags().StringVar(&prefix, "prefix", "", "only mutations whose entity key starts with this")
	c.Flags().Uint64Var(&from, "from", 0, "print the commits after this version (default: the newest when watch starts)")
	c.Flags().Uint64Var(&until, "until", 0, "exit after printing a commit at or above this version")
	return c
}

func (a *app) printChange(ch inmem.Change) error {
	v := watchView{Version: ch.Version.N, Run: ch.Run.String(), Timestamp: ch.Time.String()}
	for _, m := range ch.Mutations {
		mv := watchMutationView{Op: m.Op.String(), Kind: m.Kind, Run: m.Run.String(), Space: m.Primitive.String(), Key: printableKey(m.Key)}
		if m.Ref != nil {
			mv.Ref = m.Ref.String()
		}
		if m.Op != core.OpDelete {
			mv.Value = m.Value
		}
		v.Mutations = append(v.Mutations, mv)
	}
	if a.output != "table" {
		return a.emitLine(v)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, mv := range v.Mutations {
		ref := mv.Ref
		if ref == "" {
			ref = mv.Space + " " + mv.Key
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.Timestamp, mv.Op, mv.Kind, ref, shortJSON(mv.Value))
	}
	return tw.Flush()
}
