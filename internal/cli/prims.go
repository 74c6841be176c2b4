package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/spf13/cobra"
)

// The primitive commands: enough to inspect a database and repair it by
// hand. Read commands open the directory read-only (nothing is written, not
// even a torn tail is cut); write commands open it in Strict mode. Values
// are JSON on the command line and on output.

const runArgHelp = `<run> is a RunID (its canonical UUID text) or the name of a run registered
in the run index; an argument that parses as a RunID is always taken as one.`

// openExisting opens dir, which must hold an in-mem database: read-only for
// reads, Strict for writes.
func (a *app) openExisting(dir string, write bool) (*inmem.DB, error) {
	if _, _, err := readManifest(dir); err != nil {
		return nil, err
	}
	if write {
		return a.openDir(dir, inmem.Options{Durability: inmem.Strict})
	}
	return a.openDir(dir, inmem.Options{ReadOnly: true, Durability: inmem.InMemory})
}

// resolveRun turns a command-line run argument into a RunID: RunID text
// first, then the name of a registered run.
func resolveRun(ctx context.Context, db *inmem.DB, arg string) (inmem.RunID, error) {
	if id, err := inmem.ParseRunID(arg); err == nil {
		return id, nil
	}
	info, err := db.Runs().GetByName(ctx, arg)
	if err != nil {
		if errors.Is(err, inmem.ErrRunNotFound) || errors.Is(err, inmem.ErrInvalidArgument) {
			return inmem.RunID{}, usageError{fmt.Errorf("run %q is neither a RunID nor the name of a registered run", arg)}
		}
		return inmem.RunID{}, err
	}
	return info.Value.ID, nil
}

// withRun opens dir, resolves the run argument and calls fn.
func (a *app) withRun(cmd *cobra.Command, dir, runArg string, write bool, fn func(ctx context.Context, db *inmem.DB, run inmem.RunID) error) error {
	db, err := a.openExisting(dir, write)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := cmd.Context()
	run, err := resolveRun(ctx, db, runArg)
	if err != nil {
		return err
	}
	if err := fn(ctx, db, run); err != nil {
		return err
	}
	return db.Close()
}

// parseValue parses a JSON command-line argument.
func parseValue(what, s string) (inmem.Value, error) {
	v, err := inmem.ValueFromJSON([]byte(s))
	if err != nil {
		msg := err.Error()
		var e *inmem.Error
		if errors.As(err, &e) && e.Msg != "" {
			msg = e.Msg
		}
		return inmem.Value{}, usageError{fmt.Errorf("%s %q is not JSON (quote strings: '\"text\"'): %s", what, clip(s, 40), msg)}
	}
	return v, nil
}

// valueText renders a value as compact JSON.
func valueText(v inmem.Value) string {
	b, _ := v.MarshalJSON()
	return string(b)
}

// clip shortens s for a table cell.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

// printValue writes a value as indented JSON.
func printValue(w io.Writer, v inmem.Value) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}

// entryView is a versioned value of a keyed primitive.
type entryView struct {
	Run       string      `json:"run"`
	Key       string      `json:"key"`
	Version   string      `json:"version"`
	Timestamp string      `json:"timestamp"`
	Value     inmem.Value `json:"value"`
}

func newEntryView(run inmem.RunID, key string, v inmem.Versioned[inmem.Value]) entryView {
	return entryView{Run: run.String(), Key: key, Version: v.Version.String(), Timestamp: v.Timestamp.String(), Value: v.Value}
}

// writeView is the result of a write.
type writeView struct {
	Run     string `json:"run"`
	Key     string `json:"key"`
	Op      string `json:"op"`
	Version string `json:"version"`
}

func (a *app) emitWrite(run inmem.RunID, key, op string, v inmem.Version) error {
	wv := writeView{Run: run.String(), Key: key, Op: op, Version: v.String()}
	return a.emit(wv, func(w io.Writer) { fmt.Fprintf(w, "%s %s: %s\n", op, key, v) })
}

// emitList writes a listing: a JSON array, one JSON object per line, or
// the table.
func emitList[T any](a *app, items []T, table func(w io.Writer)) error {
	if items == nil {
		items = []T{}
	}
	if a.output == "ndjson" {
		for _, it := range items {
			if err := a.emit(it, nil); err != nil {
				return err
			}
		}
		return nil
	}
	return a.emit(items, table)
}

// group returns a command that only holds subcommands; called without one,
// or with an unknown one, it is a usage error.
func (a *app) group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short}
	g.AddCommand(subs...)
	return g
}

// ---- kv ----------------------------------------------------------------

func (a *app) kvCommand() *cobra.Command {
	get := &cobra.Command{
		Use:   "get <dir> <run> <key>",
		Short: "Print the value of a key",
		Long:  "get prints the key's value as JSON (-o json adds its version and timestamp).\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				v, err := db.KV().Get(ctx, run, args[2])
				if err != nil {
					return err
				}
				return a.emit(newEntryView(run, args[2], v), func(w io.Writer) { printValue(w, v.Value) })
			})
		},
	}
	put := &cobra.Command{
		Use:   "put <dir> <run> <key> <json-value>",
		Short: "Write a key",
		Long:  "put writes a new version of the key and prints it.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(4)),
		RunE: func(cmd *cobra.Command, args []string) error {
			val, err := parseValue("value", args[3])
			if err != nil {
				return err
			}
			return a.withRun(cmd, args[0], args[1], true, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				v, err := db.KV().Put(ctx, run, args[2], val)
				if err != nil {
					return err
				}
				return a.emitWrite(run, args[2], "put", v)
			})
		},
	}
	del := &cobra.Command{
		Use:   "del <dir> <run> <key>",
		Short: "Delete a key (its history keeps the deletion)",
		Long:  "del writes a tombstone for the key and prints its version.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withRun(cmd, args[0], args[1], true, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				v, err := db.KV().Delete(ctx, run, args[2])
				if err != nil {
					return err
				}
				return a.emitWrite(run, args[2], "del", v)
			})
		},
	}
	scan := &cobra.Command{
		Use:   "scan <dir> <run> [prefix]",
		Short: "List the live keys (with a prefix) and their values",
		Long:  "scan lists the run's live keys in order, optionally only those with a prefix.\n\n" + runArgHelp,
		Args:  a.args(cobra.RangeArgs(2, 3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 3 {
				prefix = args[2]
			}
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				var items []entryView
				for e, err := range db.KV().Scan(ctx, run, prefix) {
					if err != nil {
						return err
					}
					items = append(items, newEntryView(run, e.Key, e.Versioned))
				}
				return emitList(a, items, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "KEY\tVERSION\tTIMESTAMP\tVALUE")
					for _, it := range items {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printableKey(it.Key), it.Version, it.Timestamp, clip(valueText(it.Value), 80))
					}
					tw.Flush()
				})
			})
		},
	}
	return a.group("kv", "Read and write a run's key-value working memory", get, put, del, scan)
}

// ---- events ------------------------------------------------------------

type eventView struct {
	Run       string      `json:"run"`
	Sequence  uint64      `json:"sequence"`
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Payload   inmem.Value `json:"payload"`
	PrevHash  string      `json:"prev_hash"`
	Hash      string      `json:"hash"`
}

type chainReportView struct {
	Run      string `json:"run"`
	OK       bool   `json:"ok"`
	Events   uint64 `json:"events"`
	Checked  uint64 `json:"checked"`
	BrokenAt uint64 `json:"broken_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func (a *app) eventsCommand() *cobra.Command {
	appendCmd := &cobra.Command{
		Use:   "append <dir> <run> <type> <json-payload>",
		Short: "Append an event to a run's log",
		Long:  "append adds an event to the end of the run's hash-chained log and prints its sequence.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(4)),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload, err := parseValue("payload", args[3])
			if err != nil {
				return err
			}
			return a.withRun(cmd, args[0], args[1], true, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				seq, err := db.Events().Append(ctx, run, args[2], payload)
				if err != nil {
					return err
				}
				return a.emitWrite(run, args[2], "append", seq)
			})
		},
	}
	var (
		from, to uint64
		typ      string
		follow   bool
		interval time.Duration
	)
	list := &cobra.Command{
		Use:   "list <dir> <run>",
		Short: "List a run's events",
		Long:  "list prints the run's events in sequence order: all, a range [--from, --to), or one --type.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("to") {
				to = math.MaxUint64
			}
			if from > to {
				return usageError{fmt.Errorf("--from %d is after --to %d", from, to)}
			}
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				var (
					evs []inmem.Event
					err error
				)
				if typ != "" {
					evs, err = db.Events().ReadByType(ctx, run, typ)
				} else {
					evs, err = db.Events().Range(ctx, run, from, to)
				}
				if err != nil {
					return err
				}
				items := make([]eventView, 0, len(evs))
				for _, ev := range evs {
					if ev.Sequence < from || ev.Sequence >= to {
						continue
					}
					items = append(items, eventView{Run: run.String(), Sequence: ev.Sequence, Type: ev.Type, Timestamp: ev.Timestamp.String(),
						Payload: ev.Payload, PrevHash: hex.EncodeToString(ev.PrevHash[:]), Hash: hex.EncodeToString(ev.Hash[:])})
				}
				if follow && a.output == "json" {
					a.output = "ndjson" // a follow never ends with a complete document
				}
				if err := emitList(a, items, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "SEQ\tTYPE\tTIMESTAMP\tHASH\tPAYLOAD")
					for _, it := range items {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", it.Sequence, it.Type, it.Timestamp, it.Hash[:12], clip(valueText(it.Payload), 80))
					}
					tw.Flush()
				}); err != nil || !follow {
					return err
				}
				next := from
				if n := len(items); n > 0 {
					next = items[n-1].Sequence + 1
				}
				return a.followEvents(ctx, db, run, next, to, typ, interval)
			})
		},
	}
	list.Flags().Uint64Var(&from, "from", 0, "first sequence")
	list.Flags().Uint64Var(&to, "to", 0, "end of the range, exclusive (default the end of the log)")
	list.Flags().StringVar(&typ, "type", "", "only events of this type")
	list.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing events as a live writer appends them, until interrupted (-o json then prints one event per line)")
	list.Flags().DurationVar(&interval, "interval", defaultFollowInterval, "with --follow, how often to look for new events")
	verify := &cobra.Command{
		Use:   "verify <dir> <run>",
		Short: "Verify a run's event hash chain (exit 3 if broken)",
		Long:  "verify checks every link of the run's event hash chain and exits 3, naming the sequence, if one is broken.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				n, err := db.Events().Len(ctx, run)
				if err != nil {
					return err
				}
				r, err := db.Events().VerifyChain(ctx, run)
				if err != nil {
					return err
				}
				v := chainReportView{Run: run.String(), OK: r.OK, Events: n, Checked: r.Checked, BrokenAt: r.BrokenAt, Reason: r.Reason}
				if err := a.emit(v, func(w io.Writer) { fmt.Fprintf(w, "run %s: %s\n", run, r) }); err != nil {
					return err
				}
				if !r.OK {
					return integrityError{fmt.Errorf("run %s: event chain broken at sequence %d: %s", run, r.BrokenAt, r.Reason)}
				}
				return nil
			})
		},
	}
	return a.group("events", "Append to, list and verify a run's event log", appendCmd, list, verify)
}

// ---- runs --------------------------------------------------------------

type runView struct {
	ID        string      `json:"id"`
	Name      string      `json:"name"`
	Status    string      `json:"status"`
	Parent    string      `json:"parent,omitempty"`
	Tags      []string    `json:"tags"`
	Metadata  inmem.Value `json:"metadata"`
	Error     string      `json:"error,omitempty"`
	CreatedAt string      `json:"created_at"`
	UpdatedAt string      `json:"updated_at"`
	Version   string      `json:"version"`
}

func newRunView(v inmem.Versioned[inmem.RunInfo]) runView {
	r := v.Value
	rv := runView{ID: r.ID.String(), Name: r.Name, Status: string(r.Status), Tags: r.Tags, Metadata: r.Metadata, Error: r.Error,
		CreatedAt: r.CreatedAt.String(), UpdatedAt: r.UpdatedAt.String(), Version: v.Version.String()}
	if rv.Tags == nil {
		rv.Tags = []string{}
	}
	if r.Parent != nil {
		rv.Parent = r.Parent.String()
	}
	return rv
}

func printRun(w io.Writer, rv runView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nname\t%s\nstatus\t%s\n", rv.ID, rv.Name, rv.Status)
	if rv.Parent != "" {
		fmt.Fprintf(tw, "parent\t%s\n", rv.Parent)
	}
	fmt.Fprintf(tw, "tags\t%s\nmetadata\t%s\n", strings.Join(rv.Tags, ","), valueText(rv.Metadata))
	if rv.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", rv.Error)
	}
	fmt.Fprintf(tw, "created\t%s\nupdated\t%s\nversion\t%s\n", rv.CreatedAt, rv.UpdatedAt, rv.Version)
	tw.Flush()
}

func (a *app) runsCommand() *cobra.Command {
	var (
		lsStatus, lsTag string
	)
	ls := &cobra.Command{
		Use:   "ls <dir>",
		Short: "List the registered runs",
		Long:  "ls lists the runs of the run index in creation order, optionally only those with a --status or a --tag.",
		Args:  a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if lsStatus != "" && lsTag != "" {
				return usageError{errors.New("--status and --tag cannot be combined")}
			}
			if lsStatus != "" && !inmem.RunStatus(lsStatus).Valid() {
				return usageError{fmt.Errorf("unknown status %q (want one of %s)", lsStatus, statusList())}
			}
			db, err := a.openExisting(args[0], false)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx := cmd.Context()
			var runs []inmem.Versioned[inmem.RunInfo]
			switch {
			case lsStatus != "":
				runs, err = db.Runs().QueryByStatus(ctx, inmem.RunStatus(lsStatus))
			case lsTag != "":
				runs, err = db.Runs().QueryByTag(ctx, lsTag)
			default:
				runs, err = db.Runs().List(ctx)
			}
			if err != nil {
				return err
			}
			items := make([]runView, len(runs))
			for i, r := range runs {
				items[i] = newRunView(r)
			}
			return emitList(a, items, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tTAGS\tCREATED")
				for _, it := range items {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.ID, it.Name, it.Status, strings.Join(it.Tags, ","), it.CreatedAt)
				}
				tw.Flush()
			})
		},
	}
	ls.Flags().StringVar(&lsStatus, "status", "", "only runs with this status")
	ls.Flags().StringVar(&lsTag, "tag", "", "only runs with this tag")

	var (
		tags   []string
		meta   string
		parent string
	)
	create := &cobra.Command{
		Use:   "create <dir> <name>",
		Short: "Register a new run and print its ID",
		Long:  "create registers a new active run named <name> (names are unique) and prints its new RunID.",
		Args:  a.args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := inmem.RunOptions{Tags: tags}
			if meta != "" {
				v, err := parseValue("--metadata", meta)
				if err != nil {
					return err
				}
				opts.Metadata = v
			}
			db, err := a.openExisting(args[0], true)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx := cmd.Context()
			if parent != "" {
				p, err := resolveRun(ctx, db, parent)
				if err != nil {
					return err
				}
				opts.Parent = &p
			}
			id, err := db.Runs().Create(ctx, args[1], opts)
			if err != nil {
				return err
			}
			info, err := db.Runs().Get(ctx, id)
			if err != nil {
				return err
			}
			rv := newRunView(info)
			if err := a.emit(rv, func(w io.Writer) { fmt.Fprintln(w, id) }); err != nil {
				return err
			}
			return db.Close()
		},
	}
	create.Flags().StringArrayVar(&tags, "tag", nil, "a tag (repeatable)")
	create.Flags().StringVar(&meta, "metadata", "", "metadata as JSON")
	create.Flags().StringVar(&parent, "parent", "", "the parent run (RunID or name)")

	var errMsg string
	status := &cobra.Command{
		Use:   "status <dir> <run> [new-status]",
		Short: "Show a run's record, or change its status",
		Long: `status prints the run's record. With a new status (` + statusList() + `) it moves
the run there first, as the lifecycle allows; "failed" takes the message of
--error.

` + runArgHelp,
		Args: a.args(cobra.RangeArgs(2, 3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var next inmem.RunStatus
			if len(args) == 3 {
				next = inmem.RunStatus(args[2])
				if !next.Valid() {
					return usageError{fmt.Errorf("unknown status %q (want one of %s)", args[2], statusList())}
				}
			}
			if errMsg != "" && next != inmem.RunFailed {
				return usageError{errors.New("--error goes with the status failed")}
			}
			return a.withRun(cmd, args[0], args[1], next != "", func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				if next == inmem.RunFailed {
					if _, err := db.Runs().Fail(ctx, run, errMsg); err != nil {
						return err
					}
				} else if next != "" {
					if _, err := db.Runs().SetStatus(ctx, run, next); err != nil {
						return err
					}
				}
				info, err := db.Runs().Get(ctx, run)
				if err != nil {
					return err
				}
				rv := newRunView(info)
				return a.emit(rv, func(w io.Writer) { printRun(w, rv) })
			})
		},
	}
	status.Flags().StringVar(&errMsg, "error", "", "the error message of a failed run")
	return a.group("runs", "List, register and change the status of runs; diff two runs", ls, create, status, a.runsDiffCommand())
}

func statusList() string {
	s := make([]string, len(inmem.RunStatuses))
	for i, st := range inmem.RunStatuses {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// ---- json --------------------------------------------------------------

func (a *app) jsonCommand() *cobra.Command {
	get := &cobra.Command{
		Use:   "get <dir> <run> <id> [path]",
		Short: "Print a JSON document, or the value at a path in it",
		Long: `get prints document <id>, or the value at [path]: a JSON Pointer ("/a/0")
or a dotted path ("$.a[0]"); "" and "$" are the whole document.

` + runArgHelp,
		Args: a.args(cobra.RangeArgs(3, 4)),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 4 {
				path = args[3]
			}
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				v, err := db.JSON().Get(ctx, run, args[2], path)
				if err != nil {
					return err
				}
				return a.emit(newEntryView(run, args[2], v), func(w io.Writer) { printValue(w, v.Value) })
			})
		},
	}
	set := &cobra.Command{
		Use:   "set <dir> <run> <id> <path> <json-value>",
		Short: "Set the value at a path of a JSON document (the root path creates it)",
		Long: `set writes <json-value> at <path> of document <id>, creating missing object
keys on the way. The root path ("" or "$") replaces the whole document, and
creates it if it does not exist.

` + runArgHelp,
		Args: a.args(cobra.ExactArgs(5)),
		RunE: func(cmd *cobra.Command, args []string) error {
			val, err := parseValue("value", args[4])
			if err != nil {
				return err
			}
			id, path := args[2], args[3]
			return a.withRun(cmd, args[0], args[1], true, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				var v inmem.Version
				if path == "" || path == "$" {
					ok, err := db.JSON().Exists(ctx, run, id)
					if err != nil {
						return err
					}
					if !ok {
						v, err = db.JSON().Create(ctx, run, id, val)
						if err != nil {
							return err
						}
						return a.emitWrite(run, id, "create", v)
					}
				}
				v, err := db.JSON().Set(ctx, run, id, path, val)
				if err != nil {
					return err
				}
				return a.emitWrite(run, id, "set", v)
			})
		},
	}
	var merge bool
	patch := &cobra.Command{
		Use:   "patch <dir> <run> <id> <json-patch>",
		Short: "Apply an RFC 6902 JSON Patch (or, with --merge, an RFC 7396 merge patch)",
		Long: `patch applies <json-patch>, an array of RFC 6902 operations, to document <id>
atomically. With --merge, <json-patch> is an RFC 7396 merge patch (a missing
document is created).

` + runArgHelp,
		Args: a.args(cobra.ExactArgs(4)),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseValue("patch", args[3])
			if err != nil {
				return err
			}
			if !merge && p.Kind() != inmem.KindArray {
				return usageError{fmt.Errorf("a JSON Patch is an array of operations (use --merge for a merge patch)")}
			}
			id := args[2]
			return a.withRun(cmd, args[0], args[1], true, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				var v inmem.Version
				op := "patch"
				if merge {
					op = "merge"
					v, err = db.JSON().Merge(ctx, run, id, p)
				} else {
					v, err = db.JSON().PatchJSON(ctx, run, id, []byte(args[3]))
				}
				if err != nil {
					return err
				}
				return a.emitWrite(run, id, op, v)
			})
		},
	}
	patch.Flags().BoolVar(&merge, "merge", false, "apply an RFC 7396 merge patch")
	return a.group("json", "Read and edit a run's JSON documents", get, set, patch)
}

// ---- vectors -----------------------------------------------------------

type hitView struct {
	Rank     int         `json:"rank"`
	Key      string      `json:"key"`
	Score    float32     `json:"score"`
	Metadata inmem.Value `json:"metadata"`
}

type collectionView struct {
	Name    string `json:"name"`
	Dim     int    `json:"dim"`
	Metric  string `json:"metric"`
	Vectors int    `json:"vectors"`
	Version string `json:"version"`
}

// parseFilter parses field=json, field!=json, field<json, field<=json,
// field>json and field>=json.
func parseFilter(s string) (inmem.Condition, error) {
	i := strings.IndexAny(s, "=!<>")
	if i <= 0 {
		return inmem.Condition{}, usageError{fmt.Errorf("--filter %q: want field=jsonvalue (or !=, <, <=, >, >=)", s)}
	}
	field, rest := s[:i], s[i:]
	var op inmem.FilterOp
	for _, o := range []struct {
		text string
		op   inmem.FilterOp
	}{{"!=", inmem.OpNe}, {"<=", inmem.OpLte}, {">=", inmem.OpGte}, {"=", inmem.OpEq}, {"<", inmem.OpLt}, {">", inmem.OpGt}} {
		if strings.HasPrefix(rest, o.text) {
			op, rest = o.op, rest[len(o.text):]
			break
		}
	}
	if op == 0 {
		return inmem.Condition{}, usageError{fmt.Errorf("--filter %q: want field=jsonvalue (or !=, <, <=, >, >=)", s)}
	}
	v, err := parseValue("--filter "+field+" value", rest)
	if err != nil {
		return inmem.Condition{}, err
	}
	return inmem.Condition{Field: field, Op: op, Value: v}, nil
}

// parseQuery parses a JSON array of numbers into an embedding.
func parseQuery(s string) ([]float32, error) {
	var xs []float64
	if err := json.Unmarshal([]byte(s), &xs); err != nil {
		return nil, usageError{fmt.Errorf("query %q is not a JSON array of numbers: %v", clip(s, 40), err)}
	}
	if len(xs) == 0 {
		return nil, usageError{errors.New("the query vector is empty")}
	}
	q := make([]float32, len(xs))
	for i, x := range xs {
		f := float32(x)
		if math.IsInf(float64(f), 0) {
			return nil, usageError{fmt.Errorf("query component %d (%v) does not fit a float32", i, x)}
		}
		q[i] = f
	}
	return q, nil
}

func (a *app) vectorsCommand() *cobra.Command {
	var (
		k       int
		filters []string
	)
	search := &cobra.Command{
		Use:   "search <dir> <run> <collection> <json-array-query>",
		Short: "Exact k-nearest-neighbour search with metadata filters",
		Long: `search prints the -k vectors of <collection> scoring highest against the
query, best first. Each --filter field=jsonvalue keeps only vectors whose
top-level metadata field equals the JSON value ('kind="fact"', 'step=3');
!=, <, <=, > and >= work too, and several filters must all hold.

` + runArgHelp,
		Args: a.args(cobra.ExactArgs(4)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if k < 1 {
				return usageError{fmt.Errorf("-k %d: want at least 1", k)}
			}
			q, err := parseQuery(args[3])
			if err != nil {
				return err
			}
			var f inmem.Filter
			for _, s := range filters {
				c, err := parseFilter(s)
				if err != nil {
					return err
				}
				f = append(f, c)
			}
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				hits, err := db.Vectors().Search(ctx, run, args[2], q, k, f)
				if err != nil {
					return err
				}
				items := make([]hitView, len(hits))
				for i, h := range hits {
					items[i] = hitView{Rank: i + 1, Key: h.Key, Score: h.Score, Metadata: h.Metadata}
				}
				return emitList(a, items, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "RANK\tKEY\tSCORE\tMETADATA")
					for _, it := range items {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", it.Rank, it.Key, strconv.FormatFloat(float64(it.Score), 'f', 6, 32), clip(valueText(it.Metadata), 80))
					}
					tw.Flush()
				})
			})
		},
	}
	search.Flags().IntVarP(&k, "k", "k", 10, "number of results")
	search.Flags().StringArrayVar(&filters, "filter", nil, "field=jsonvalue metadata condition (repeatable)")
	ls := &cobra.Command{
		Use:   "ls <dir> <run>",
		Short: "List a run's vector collections",
		Long:  "ls lists the run's vector collections with their dimension, metric and size.\n\n" + runArgHelp,
		Args:  a.args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withRun(cmd, args[0], args[1], false, func(ctx context.Context, db *inmem.DB, run inmem.RunID) error {
				cs, err := db.Vectors().ListCollections(ctx, run)
				if err != nil {
					return err
				}
				items := make([]collectionView, len(cs))
				for i, c := range cs {
					n, err := db.Vectors().Count(ctx, run, c.Name)
					if err != nil {
						return err
					}
					items[i] = collectionView{Name: c.Name, Dim: c.Dim, Metric: c.Metric.String(), Vectors: n, Version: c.Version.String()}
				}
				return emitList(a, items, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "COLLECTION\tDIM\tMETRIC\tVECTORS")
					for _, it := range items {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", it.Name, it.Dim, it.Metric, it.Vectors)
					}
					tw.Flush()
				})
			})
		},
	}
	return a.group("vectors", "Search a run's vector collections", search, ls)
}
