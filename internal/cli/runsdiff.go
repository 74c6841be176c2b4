package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/inmemdb/inmem"
	"github.com/spf13/cobra"
)

// diffView is one entity of `runs diff` output.
type diffView struct {
	Kind       string            `json:"kind"`
	Primitive  string            `json:"primitive"`
	Key        string            `json:"key,omitempty"`
	Collection string            `json:"collection,omitempty"`
	A          *inmem.Value      `json:"a,omitempty"`
	B          *inmem.Value      `json:"b,omitempty"`
	Patch      []patchView       `json:"patch,omitempty"`
	Events     *eventsDiffView   `json:"events,omitempty"`
	Versions   map[string]string `json:"versions,omitempty"`
}

type patchView struct {
	Op    string       `json:"op"`
	Path  string       `json:"path"`
	From  string       `json:"from,omitempty"`
	Value *inmem.Value `json:"value,omitempty"`
}

type eventsDiffView struct {
	Common uint64      `json:"common"`
	A      []eventLine `json:"a"`
	B      []eventLine `json:"b"`
}

type eventLine struct {
	Sequence uint64      `json:"seq"`
	Type     string      `json:"type"`
	Payload  inmem.Value `json:"payload"`
}

func newDiffView(ctx context.Context, c inmem.EntityDiff) (diffView, error) {
	dv := diffView{Kind: c.Kind.String(), Primitive: c.Primitive.String(), Key: c.Key, Collection: c.Collection}
	vs := map[string]string{}
	if c.A != nil {
		dv.A = &c.A.Value
		vs["a"] = c.A.Version.String()
	}
	if c.B != nil {
		dv.B = &c.B.Value
		vs["b"] = c.B.Version.String()
	}
	if len(vs) > 0 {
		dv.Versions = vs
	}
	for _, op := range c.Patch {
		pv := patchView{Op: op.Op, Path: op.Path, From: op.From}
		if op.Op == "add" || op.Op == "replace" || op.Op == "test" {
			v := op.Value
			pv.Value = &v
		}
		dv.Patch = append(dv.Patch, pv)
	}
	if e := c.Events; e != nil {
		ev := &eventsDiffView{Common: e.Common, A: []eventLine{}, B: []eventLine{}}
		for x, err := range e.A(ctx) {
			if err != nil {
				return dv, err
			}
			ev.A = append(ev.A, eventLine{x.Sequence, x.Type, x.Payload})
		}
		for x, err := range e.B(ctx) {
			if err != nil {
				return dv, err
			}
			ev.B = append(ev.B, eventLine{x.Sequence, x.Type, x.Payload})
		}
		dv.Events = ev
	}
	return dv, nil
}

// runsDiffCommand is `inmem runs diff <dir> <a> <b>`.
func (a *app) runsDiffCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "diff <dir> <a> <b>",
		Short: "Show what differs between two runs, entity by entity",
		Long: "diff compares runs <a> and <b> (RunIDs or names) across every primitive and prints each\n" +
			"entity that differs: added (only in b), removed (only in a) or changed, with both values,\n" +
			"an RFC 6902 patch for JSON documents, and the event logs' common prefix and divergent\n" +
			"suffixes. With -o json or ndjson it prints one object per entity.",
		Args: a.args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openExisting(args[0], false)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx := cmd.Context()
			ra, err := resolveRun(ctx, db, args[1])
			if err != nil {
				return err
			}
			rb, err := resolveRun(ctx, db, args[2])
			if err != nil {
				return err
			}
			items := []diffView{}
			for c, err := range db.Runs().Diff(ctx, ra, rb) {
				if err != nil {
					return err
				}
				dv, err := newDiffView(ctx, c)
				if err != nil {
					return err
				}
				items = append(items, dv)
			}
			return emitList(a, items, func(w io.Writer) { printDiff(w, items) })
		},
	}
}

func printDiff(w io.Writer, items []diffView) {
	if len(items) == 0 {
		fmt.Fprintln(w, "no differences")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tPRIMITIVE\tKEY\tA\tB")
	for _, it := range items {
		if it.Events != nil {
			fmt.Fprintf(tw, "%s\t%s\t\tcommon %d, +%d only in a\t+%d only in b\n", it.Kind, it.Primitive, it.Events.Common, len(it.Events.A), len(it.Events.B))
			continue
		}
		key := it.Key
		if it.Collection != "" {
			key = it.Collection + "/" + key
		}
		side := func(v *inmem.Value) string {
			if v == nil {
				return "-"
			}
			return clip(valueText(*v), 40)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Kind, it.Primitive, key, side(it.A), side(it.B))
	}
	tw.Flush()
}
