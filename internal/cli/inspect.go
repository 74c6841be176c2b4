package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/inmemdb/inmem"
	"github.com/spf13/cobra"
)

// The state and traces commands: read-only inspection of the two
// primitives that kv, events, runs, json and vectors leave out.

// ---- state -------------------------------------------------------------

func (a *app) stateCommand() *cobra.Command {
	get := &cobra.Command{
		Use:   "get <dir> <run> <cell>",
		Short: "Print the value of a state cell",
		Long:  "get prints the cell's value as JSON (-o json adds its counter version and timestamp).\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				v, err := db.State().Read(ctx, run, args[2])
				if err != nil {
					return err
				}
				return a.emit(newEntryView(run, args[2], v), func(w io.Writer) { printValue(w, v.Value) })
			})
		},
	}
	list := &cobra.Command{
		Use:   "list <dir> <run> [prefix]",
		Short: "List the live state cells (with a prefix) and their values",
		Long:  "list prints the run's live cells in name order, optionally only those with a prefix, read at one point in time.\n\n" + runArgHelp,
		Args:  a.args(cobra.RangeArgs(2, 3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 3 {
				prefix = args[2]
			}
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				var items []entryView
				err := db.View(ctx, run, func(tx *inmem.Tx) error {
					names, err := tx.State().List(prefix)
					if err != nil {
						return err
					}
					for _, n := range names {
						v, err := tx.State().Read(n)
						if err != nil {
							return err
						}
						items = append(items, newEntryView(run, n, v))
					}
					return nil
				})
				if err != nil {
					return err
				}
				return emitList(a, items, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "CELL\tVERSION\tTIMESTAMP\tVALUE")
					for _, it := range items {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printableKey(it.Key), it.Version, it.Timestamp, clip(valueText(it.Value), 80))
					}
					tw.Flush()
				})
			})
		},
	}
	return a.group("state", "Inspect a run's state cells", get, list)
}

// ---- traces ------------------------------------------------------------

type traceView struct {
	Run        string         `json:"run"`
	ID         uint64         `json:"id"`
	Parent     uint64         `json:"parent,omitempty"`
	Type       string         `json:"type"`
	Body       map[string]any `json:"body"`
	Tags       []string       `json:"tags"`
	Metadata   inmem.Value    `json:"metadata"`
	RecordedAt string         `json:"recorded_at"`
	Version    string         `json:"version"`
	Timestamp  string         `json:"timestamp"`
}

func newTraceView(run inmem.RunID, v inmem.Versioned[inmem.Trace]) traceView {
	t := v.Value
	tv := traceView{Run: run.String(), ID: uint64(t.ID), Parent: uint64(t.Parent), Type: string(t.Type), Body: traceBody(t.Body),
		Tags: t.Tags, Metadata: t.Metadata, RecordedAt: t.RecordedAt.String(), Version: v.Version.String(), Timestamp: v.Timestamp.String()}
	if tv.Tags == nil {
		tv.Tags = []string{}
	}
	return tv
}

// traceBody lays out a trace body as JSON fields.
func traceBody(b inmem.TraceBody) map[string]any {
	switch b := b.(type) {
	case inmem.ToolCallTrace:
		return map[string]any{"tool": b.Tool, "input": b.Input, "output": b.Output, "duration": b.Duration.String()}
	case inmem.DecisionTrace:
		opts := b.Options
		if opts == nil {
			opts = []string{}
		}
		return map[string]any{"choice": b.Choice, "options": opts, "reasoning": b.Reasoning}
	case inmem.QueryTrace:
		return map[string]any{"query": b.Query, "results": b.Results}
	case inmem.ThoughtTrace:
		return map[string]any{"content": b.Content}
	case inmem.ErrorTrace:
		return map[string]any{"message": b.Message, "code": b.Code}
	case inmem.CustomTrace:
		return map[string]any{"name": b.Name, "data": b.Data}
	}
	return map[string]any{}
}

// traceSummary is a one-line description of a trace body for tables.
func traceSummary(tv traceView) string {
	var parts []string
	for _, k := range []string{"tool", "choice", "query", "content", "message", "name"} {
		if v, ok := tv.Body[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}

func (a *app) tracesCommand() *cobra.Command {
	get := &cobra.Command{
		Use:   "get <dir> <run> <trace-id>",
		Short: "Print one trace",
		Long:  "get prints the trace with its body, tags, metadata and parent.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[2], 10, 64)
			if err != nil || id == 0 {
				return usageError{fmt.Errorf("trace id %q: want a positive integer", args[2])}
			}
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				v, err := db.Traces().Get(ctx, run, inmem.TraceID(id))
				if err != nil {
					return err
				}
				tv := newTraceView(run, v)
				return a.emit(tv, func(w io.Writer) {
					b, _ := json.MarshalIndent(tv, "", "  ")
					fmt.Fprintf(w, "%s\n", b)
				})
			})
		},
	}
	var typ, tag string
	list := &cobra.Command{
		Use:   "list <dir> <run>",
		Short: "List a run's traces",
		Long:  "list prints the run's traces in (recorded at, id) order: all, one --type or one --tag.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if typ != "" && tag != "" {
				return usageError{fmt.Errorf("--type and --tag cannot be combined")}
			}
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				var (
					ts  []inmem.Versioned[inmem.Trace]
					err error
				)
				switch {
				case typ != "":
					ts, err = db.Traces().QueryByType(ctx, run, inmem.TraceType(typ))
				case tag != "":
					ts, err = db.Traces().QueryByTag(ctx, run, tag)
				default:
					ts, err = db.Traces().List(ctx, run)
				}
				if err != nil {
					return err
				}
				items := make([]traceView, 0, len(ts))
				for _, t := range ts {
					items = append(items, newTraceView(run, t))
				}
				return emitList(a, items, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tPARENT\tTYPE\tRECORDED\tTAGS\tSUMMARY")
					for _, it := range items {
						parent := "-"
						if it.Parent != 0 {
							parent = strconv.FormatUint(it.Parent, 10)
						}
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", it.ID, parent, it.Type, it.RecordedAt, strings.Join(it.Tags, ","), clip(traceSummary(it), 80))
					}
					tw.Flush()
				})
			})
		},
	}
	list.Flags().StringVar(&typ, "type", "", "only traces of this type (tool_call, decision, query, thought, error, custom:<name>)")
	list.Flags().StringVar(&tag, "tag", "", "only traces with this tag")
	return a.group("traces", "Inspect a run's reasoning traces", get, list)
}
