package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/inmemdb/inmem"
	"github.com/spf13/cobra"
)

// The retention command, and the retention, trim-floor and maintenance
// parts of info and stats.

// policyView is one stored retention policy.
type policyView struct {
	Run     string `json:"run"` // "" for the database-wide default
	Policy  string `json:"policy"`
	Version string `json:"version,omitempty"` // "" when never set
}

type floorView struct {
	Run       string `json:"run"`
	Primitive string `json:"primitive"`
	Floor     uint64 `json:"floor"`
}

// retentionView is the retention state of a database.
type retentionView struct {
	Default  policyView   `json:"default"`
	Runs     []policyView `json:"runs"` // runs with a policy of their own
	Floors   []floorView  `json:"trim_floors"`
	Trimming bool         `json:"trimming"` // any policy other than all
}

// maintenanceView is what automatic maintenance of a writer with the
// default options would do with this database now. The CLI opens it
// read-only, where maintenance never runs, so the counters of a running
// writer are not visible here (they are in its Stats).
type maintenanceView struct {
	WALBytes           int64  `json:"wal_bytes"`
	CheckpointWALBytes int64  `json:"checkpoint_wal_bytes"`
	CheckpointDue      bool   `json:"checkpoint_due"`
	FullInterval       string `json:"full_interval"`
	FullDue            bool   `json:"full_compaction_scheduled"`
}

func policyOf(run string, v inmem.Versioned[inmem.RetentionPolicy]) policyView {
	pv := policyView{Run: run, Policy: v.Value.String()}
	if v.Version.N != 0 {
		pv.Version = v.Version.String()
	}
	return pv
}

// readRetention reads the default policy, every run's own policy and the
// trim floors.
func readRetention(ctx context.Context, db *inmem.DB) (retentionView, error) {
	var rv retentionView
	def, err := db.RetentionPolicy(ctx, inmem.GlobalRun)
	if err != nil {
		return rv, err
	}
	rv.Default = policyOf("", def)
	rv.Trimming = !def.Value.IsKeepAll()
	ids, err := db.RunIDs()
	if err != nil {
		return rv, err
	}
	rv.Runs = []policyView{}
	for _, id := range ids {
		if id == inmem.GlobalRun {
			continue
		}
		p, err := db.RetentionPolicy(ctx, id)
		if err != nil {
			return rv, err
		}
		if p.Version.N == 0 {
			continue
		}
		rv.Runs = append(rv.Runs, policyOf(id.String(), p))
		rv.Trimming = rv.Trimming || !p.Value.IsKeepAll()
	}
	floors, err := db.TrimFloors()
	if err != nil {
		return rv, err
	}
	rv.Floors = []floorView{}
	for _, f := range floors {
		rv.Floors = append(rv.Floors, floorView{Run: f.Run.String(), Primitive: f.Primitive.String(), Floor: f.Floor.N})
	}
	return rv, nil
}

func newMaintenanceView(walBytes int64, rv retentionView) maintenanceView {
	d := inmem.DefaultOptions().Maintenance
	return maintenanceView{WALBytes: walBytes, CheckpointWALBytes: d.CheckpointWALBytes, CheckpointDue: walBytes >= d.CheckpointWALBytes,
		FullInterval: d.FullInterval.String(), FullDue: rv.Trimming}
}

// printRetention writes the table lines of info and stats.
func printRetention(tw *tabwriter.Writer, rv retentionView, mv maintenanceView) {
	fmt.Fprintf(tw, "retention\tdefault %s%s\n", rv.Default.Policy, versionSuffix(rv.Default.Version))
	for _, p := range rv.Runs {
		fmt.Fprintf(tw, "retention\trun %s: %s%s\n", p.Run, p.Policy, versionSuffix(p.Version))
	}
	for _, f := range rv.Floors {
		fmt.Fprintf(tw, "trim floor\trun %s %s: below version %d\n", f.Run, f.Primitive, f.Floor)
	}
	due := "not due"
	if mv.CheckpointDue {
		due = "due"
	}
	fmt.Fprintf(tw, "maintenance\tcheckpoint %s (WAL %s, threshold %s)\n", due, bytesText(mv.WALBytes), bytesText(mv.CheckpointWALBytes))
	if mv.FullDue {
		fmt.Fprintf(tw, "maintenance\tFull compaction every %s (a policy other than all is set)\n", mv.FullInterval)
	} else {
		fmt.Fprintf(tw, "maintenance\tno Full compaction (every policy is all)\n")
	}
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " (set at " + v + ")"
}

// retentionFlags are the per-primitive overrides of retention set.
type retentionFlags map[inmem.PrimitiveType]*string

func addRetentionFlags(cmd *cobra.Command) retentionFlags {
	f := retentionFlags{}
	for _, p := range []struct {
		t    inmem.PrimitiveType
		name string
	}{
		{inmem.PrimitiveKV, "kv"}, {inmem.PrimitiveEvent, "events"}, {inmem.PrimitiveState, "state"},
		{inmem.PrimitiveTrace, "traces"}, {inmem.PrimitiveRun, "runs"}, {inmem.PrimitiveJSON, "json"}, {inmem.PrimitiveVector, "vectors"},
	} {
		f[p.t] = cmd.Flags().String(p.name, "", "policy for "+p.t.String()+" entries (all, last:N or for:DURATION), overriding the default")
	}
	return f
}

// policy builds the policy of retention set: def (or all) with the
// overrides its flags name.
func (f retentionFlags) policy(def string) (inmem.RetentionPolicy, error) {
	overrides := map[inmem.PrimitiveType]inmem.RetentionPolicy{}
	for t, s := range f {
		if *s == "" {
			continue
		}
		p, err := inmem.ParseRetentionPolicy(*s)
		if err != nil {
			return inmem.RetentionPolicy{}, usageError{fmt.Errorf("--%s: %w", t, err)}
		}
		overrides[t] = p
	}
	if def == "" {
		if len(overrides) == 0 {
			return inmem.RetentionPolicy{}, usageError{errors.New("retention set needs a policy (all, last:N, for:DURATION) or a per-primitive flag")}
		}
		def = "all"
	}
	p, err := inmem.ParseRetentionPolicy(def)
	if err != nil {
		return inmem.RetentionPolicy{}, usageError{err}
	}
	if len(overrides) > 0 {
		p = inmem.Composite(p, overrides)
		if err := p.Validate(); err != nil {
			return inmem.RetentionPolicy{}, usageError{err}
		}
	}
	return p, nil
}

const retentionHelp = `A policy is all (keep every version, the default), last:N (the newest N
versions of each entity), for:DURATION (versions committed within DURATION,
e.g. for:24h) or a composite: a default plus per-primitive flags such as
--kv last:5 --events for:72h. The newest version of every entity is always
kept. Without a run the policy is the database-wide default, which applies
to every run without one of its own. Policies are applied by Full
compaction (inmem compact --full, or a writer's automatic maintenance).

` + runArgHelp

func (a *app) retentionCommand() *cobra.Command {
	get := &cobra.Command{
		Use:   "get <dir> [run]",
		Short: "Print the retention policy of the database or of a run",
		Long:  retentionHelp,
		Args:  a.args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openExisting(args[0], false)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx := cmd.Context()
			run, label := inmem.GlobalRun, ""
			if len(args) == 2 {
				if run, err = resolveRun(ctx, db, args[1]); err != nil {
					return err
				}
				label = run.String()
			}
			p, err := db.RetentionPolicy(ctx, run)
			if err != nil {
				return err
			}
			pv := policyOf(label, p)
			return a.emit(pv, func(w io.Writer) { fmt.Fprintf(w, "%s%s\n", pv.Policy, versionSuffix(pv.Version)) })
		},
	}
	set := &cobra.Command{
		Use:   "set <dir> [run] [policy]",
		Short: "Store the retention policy of the database or of a run",
		Long: retentionHelp + `

With two arguments the second is a policy if it parses as one, else a
run (whose policy then comes from the flags alone).`,
		Args: a.args(cobra.RangeArgs(1, 3)),
	}
	flags := addRetentionFlags(set)
	set.RunE = func(cmd *cobra.Command, args []string) error {
		var runArg, def string
		switch len(args) {
		case 3:
			runArg, def = args[1], args[2]
		case 2:
			if _, err := inmem.ParseRetentionPolicy(args[1]); err == nil {
				def = args[1]
			} else {
				runArg = args[1]
			}
		}
		p, err := flags.policy(def)
		if err != nil {
			return err
		}
		db, err := a.openExisting(args[0], true)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx := cmd.Context()
		run, label := inmem.GlobalRun, ""
		if runArg != "" {
			if run, err = resolveRun(ctx, db, runArg); err != nil {
				return err
			}
			label = run.String()
		}
		v, err := db.SetRetentionPolicy(ctx, run, p)
		if err != nil {
			return err
		}
		if err := db.Close(); err != nil {
			return err
		}
		pv := policyView{Run: label, Policy: p.String(), Version: v.String()}
		return a.emit(pv, func(w io.Writer) {
			who := "database default"
			if label != "" {
				who = "run " + label
			}
			fmt.Fprintf(w, "%s retention: %s (set at %s)\n", who, pv.Policy, pv.Version)
		})
	}
	return a.group("retention", "Read or set retention policies", get, set)
}

// statsView is stats' JSON: the library's Stats (its Maintenance part
// stays empty in the CLI's read-only view) with the retention state and
// what a writer's maintenance would do.
type statsView struct {
	inmem.Stats
	Retention      retentionView   `json:"Retention"`
	MaintenanceDue maintenanceView `json:"MaintenanceDue"`
}

func newStatsView(ctx context.Context, db *inmem.DB, st inmem.Stats) (statsView, error) {
	rv, err := readRetention(ctx, db)
	if err != nil {
		return statsView{}, err
	}
	return statsView{Stats: st, Retention: rv, MaintenanceDue: newMaintenanceView(st.WAL.Bytes, rv)}, nil
}

// compactView is compact's JSON.
type compactView struct {
	Mode              string `json:"mode"`
	ReclaimedBytes    int64  `json:"reclaimed_bytes"`
	SegmentsRemoved   int    `json:"segments_removed"`
	VersionsRemoved   uint64 `json:"versions_removed"`
	SnapshotWatermark uint64 `json:"snapshot_watermark"`
	Now               string `json:"now"`
}

func compactViewOf(info inmem.CompactInfo) compactView {
	return compactView{Mode: info.Mode.String(), ReclaimedBytes: info.ReclaimedBytes, SegmentsRemoved: info.SegmentsRemoved,
		VersionsRemoved: info.VersionsRemoved, SnapshotWatermark: info.SnapshotWatermark.N, Now: info.Now.String()}
}

func printCompact(w io.Writer, info inmem.CompactInfo) {
	if info.Mode == inmem.Full {
		fmt.Fprintf(w, "removed %d versions; ", info.VersionsRemoved)
	}
	fmt.Fprintf(w, "removed %d segments (%s reclaimed); snapshot at watermark %d\n", info.SegmentsRemoved, bytesText(info.ReclaimedBytes), info.SnapshotWatermark.N)
}
