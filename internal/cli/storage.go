package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/keyref"
	"github.com/inmemdb/inmem/internal/manifest"
	"github.com/inmemdb/inmem/internal/value"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// progress returns a progress bar on stderr when stderr is a terminal, and
// nil otherwise (all methods of a nil bar are no-ops through pbAdd/pbDone).
func (a *app) progress(total int64, desc string) *progressbar.ProgressBar {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(total, progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
}

func pbSet(pb *progressbar.ProgressBar, n int64) {
	if pb != nil {
		pb.Set64(n)
	}
}

func pbDone(pb *progressbar.ProgressBar) {
	if pb != nil {
		pb.Finish()
	}
}

type manifestView struct {
	Dir               string `json:"dir"`
	UUID              string `json:"uuid"`
	Codec             string `json:"codec"`
	ActiveSegment     uint64 `json:"active_segment"`
	HasSnapshot       bool   `json:"has_snapshot"`
	SnapshotID        uint64 `json:"snapshot_id,omitempty"`
	SnapshotWatermark uint64 `json:"snapshot_watermark,omitempty"`
}

func readManifest(dir string) (format.Manifest, manifestView, error) {
	m, err := manifest.Read(vfs.OS(), dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return m, manifestView{}, usageError{fmt.Errorf("%s is not an in-mem database (no MANIFEST)", dir)}
		}
		return m, manifestView{}, err
	}
	return m, manifestView{Dir: dir, UUID: m.UUID.String(), Codec: m.CodecID, ActiveSegment: m.ActiveSegment,
		HasSnapshot: m.HasSnapshot, SnapshotID: m.SnapshotID, SnapshotWatermark: m.SnapshotWatermark}, nil
}

func (a *app) manifestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "manifest <dir>",
		Short: "Print the decoded MANIFEST",
		Args:  a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, v, err := readManifest(args[0])
			if err != nil {
				return err
			}
			return a.emit(v, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "uuid\t%s\ncodec\t%s\nactive segment\t%d\n", v.UUID, v.Codec, v.ActiveSegment)
				if v.HasSnapshot {
					fmt.Fprintf(tw, "snapshot\t%d (watermark %d)\n", v.SnapshotID, v.SnapshotWatermark)
				} else {
					fmt.Fprintf(tw, "snapshot\tnone\n")
				}
				tw.Flush()
			})
		},
	}
}

type infoView struct {
	manifestView
	Segments      int    `json:"wal_segments"`
	WALBytes      int64  `json:"wal_bytes"`
	SnapshotBytes int64  `json:"snapshot_bytes"`
	CommitVersion uint64 `json:"commit_version"`
	Runs          int    `json:"runs"`
	Versions      uint64 `json:"versions"`
	// TornTails lists the side files holding bytes cut off torn tails.
	TornTails   []tornView      `json:"torn_tails"`
	Retention   retentionView   `json:"retention"`
	Maintenance maintenanceView `json:"maintenance"`
}

func (a *app) infoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "info <dir>",
		Short: "Describe a database directory (opens it read-only)",
		Args:  a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			_, mv, err := readManifest(dir)
			if err != nil {
				return err
			}
			db, err := a.openDir(dir, inmem.Options{ReadOnly: true, Durability: inmem.InMemory})
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.Stats()
			v := infoView{manifestView: mv, Segments: st.WAL.Segments, WALBytes: st.WAL.Bytes, SnapshotBytes: st.WAL.SnapshotBytes,
				CommitVersion: st.CommitVersion, Runs: st.Runs, Versions: st.VersionsInstalled, TornTails: tornSideFiles(dir)}
			if v.Retention, err = readRetention(cmd.Context(), db); err != nil {
				return err
			}
			v.Maintenance = newMaintenanceView(st.WAL.Bytes, v.Retention)
			return a.emit(v, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "directory\t%s\nuuid\t%s\ncodec\t%s\n", dir, v.UUID, v.Codec)
				fmt.Fprintf(tw, "commit version\t%d\nruns\t%d\nversions\t%d\n", v.CommitVersion, v.Runs, v.Versions)
				fmt.Fprintf(tw, "wal\t%d segments, %s (active %d)\n", v.Segments, bytesText(v.WALBytes), v.ActiveSegment)
				if v.HasSnapshot {
					fmt.Fprintf(tw, "snapshot\t%d at watermark %d, %s\n", v.SnapshotID, v.SnapshotWatermark, bytesText(v.SnapshotBytes))
				} else {
					fmt.Fprintf(tw, "snapshot\tnone\n")
				}
				for _, tt := range v.TornTails {
					fmt.Fprintf(tw, "torn tail\t%s: %s cut from segment %d at offset %d (deleted with the segment)\n", tt.File, bytesText(tt.Bytes), tt.Segment, tt.Offset)
				}
				printRetention(tw, v.Retention, v.Maintenance)
				tw.Flush()
			})
		},
	}
}

func (a *app) statsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stats <dir>",
		Short: "Print the database's counters (opens it read-only)",
		Args:  a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openDir(args[0], inmem.Options{ReadOnly: true, Durability: inmem.InMemory})
			if err != nil {
				return err
			}
			defer db.Close()
			st := db.Stats()
			sv, err := newStatsView(cmd.Context(), db, st)
			if err != nil {
				return err
			}
			return a.emit(sv, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "commit version\t%d\ncommits\t%d\nversions\t%d\nruns\t%d\n", st.CommitVersion, st.Commits, st.VersionsInstalled, st.Runs)
				fmt.Fprintf(tw, "wal segments\t%d\nwal bytes\t%s\nsnapshot bytes\t%s\n", st.WAL.Segments, bytesText(st.WAL.Bytes), bytesText(st.WAL.SnapshotBytes))
				printRetention(tw, sv.Retention, sv.MaintenanceDue)
				tw.Flush()
			})
		},
	}
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}

type mutationView struct {
	Op    string `json:"op"`
	Run   string `json:"run"`
	Space string `json:"space"`
	// Key is the readable entity reference (package keyref); Kind says
	// whether the key is the entity itself or a record kept beside it,
	// Ref is the entity it belongs to, and RawKey is the engine key,
	// escaped (lossless).
	Key     string `json:"key"`
	Kind    string `json:"kind"`
	Ref     string `json:"ref,omitempty"`
	RawKey  string `json:"raw_key"`
	Version uint64 `json:"version"`
	Value   any    `json:"value,omitempty"`
}

func newMutationView(mu core.Mutation) mutationView {
	e := keyref.Describe(mu.Run, mu.Space, mu.Key)
	mv := mutationView{Op: mu.Op.String(), Run: mu.Run.String(), Space: mu.Space.String(), Key: e.String(), Kind: e.Kind,
		RawKey: keyref.Escape(mu.Key), Version: mu.Version}
	if e.Ref != nil {
		mv.Ref = e.Ref.String()
	}
	return mv
}

type recordView struct {
	Segment   uint64         `json:"segment"`
	Offset    int64          `json:"offset"`
	Size      int            `json:"size"`
	Version   uint64         `json:"version"`
	Run       string         `json:"run"`
	Timestamp string         `json:"timestamp"`
	Mutations []mutationView `json:"mutations"`
}

func (a *app) walCommand() *cobra.Command {
	wc := &cobra.Command{Use: "wal", Short: "Inspect the write-ahead log"}
	wc.AddCommand(&cobra.Command{
		Use:   "dump <dir>",
		Short: "Print every WAL record, decoded",
		Args:  a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			m, _, err := readManifest(dir)
			if err != nil {
				return err
			}
			if m.CodecID != codec.IdentityID {
				return fmt.Errorf("the WAL is encoded with codec %q, which this tool cannot decode", m.CodecID)
			}
			var all []recordView
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			if a.output == "table" {
				fmt.Fprintln(tw, "SEGMENT\tOFFSET\tVERSION\tTIME\tOP\tKEY\tVALUE")
			}
			err = wal.Dump(vfs.OS(), filepath.Join(dir, "WAL"), codec.Identity{}, func(r wal.DumpRecord) error {
				rv := recordView{Segment: r.Segment, Offset: r.Offset, Size: r.Size, Version: r.Commit.Version,
					Run: r.Commit.Run.String(), Timestamp: time.UnixMicro(r.Commit.Time).UTC().Format(time.RFC3339Nano)}
				for _, mu := range r.Commit.Mutations {
					mv := newMutationView(mu)
					if mu.Op != core.OpDelete {
						mv.Value = jsonValue(mu.Value)
					}
					rv.Mutations = append(rv.Mutations, mv)
				}
				switch a.output {
				case "ndjson":
					return a.emit(rv, nil)
				case "json":
					all = append(all, rv)
				default:
					for _, mv := range rv.Mutations {
						fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\n", rv.Segment, rv.Offset, rv.Version, rv.Timestamp, mv.Op, mv.Key, shortJSON(mv.Value))
					}
				}
				return nil
			}, func(seg wal.SegmentFile, off int64, err error) {
				fmt.Fprintf(a.stderr, "%s at offset %d: %v (the rest of the segment is not shown)\n", seg.Path, off, err)
			})
			if err != nil {
				return err
			}
			if a.output == "json" {
				return a.emit(all, nil)
			}
			if a.output == "table" {
				tw.Flush()
			}
			return nil
		},
	})
	return wc
}

// printableKey renders a key readably and losslessly.
func printableKey(k string) string { return keyref.Escape(k) }

// jsonValue converts a value for JSON output (bytes as base64, non-finite
// floats as strings).
func jsonValue(v value.Value) any {
	return rawJSON(value.ToJSONLossy(v))
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func shortJSON(v any) string {
	r, ok := v.(rawJSON)
	if !ok {
		return ""
	}
	s := string(r)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func (a *app) checkpointCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint <dir>",
		Short: "Write a snapshot of the database",
		Args:  a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openDir(args[0], inmem.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			pb := a.progress(-1, "checkpoint")
			info, err := db.Checkpoint(context.Background())
			pbDone(pb)
			if err != nil {
				return err
			}
			return a.emit(info, func(w io.Writer) {
				fmt.Fprintf(w, "snapshot %d at watermark %d: %d entities, %d versions, %s\n", info.SnapshotID, info.Watermark.N, info.Entities, info.Versions, bytesText(info.Bytes))
			})
		},
	}
}

func (a *app) compactCommand() *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "compact <dir>",
		Short: "Delete WAL segments the durable snapshot covers (--full: apply retention first)",
		Long: `compact deletes the closed WAL segments the durable snapshot covers.
With --full it first applies the retention policies (see inmem retention),
removing the versions they drop from memory, then checkpoints, and deletes
the WAL segments and snapshots the new snapshot supersedes.`,
		Args: a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openDir(args[0], inmem.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			mode := inmem.WALOnly
			if full {
				mode = inmem.Full
			}
			info, err := db.Compact(cmd.Context(), mode)
			if err != nil {
				return err
			}
			if err := db.Close(); err != nil {
				return err
			}
			return a.emit(compactViewOf(info), func(w io.Writer) { printCompact(w, info) })
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "apply the retention policies, checkpoint, then compact")
	return cmd
}

func (a *app) exportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "export <dir> <dst>",
		Short: "Checkpoint and copy the database into a new directory",
		Args:  a.args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openDir(args[0], inmem.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			pb := a.progress(-1, "export")
			info, err := db.Export(context.Background(), args[1])
			pbDone(pb)
			if err != nil {
				return err
			}
			return a.emit(info, func(w io.Writer) {
				fmt.Fprintf(w, "exported snapshot %d at watermark %d (%s) to %s\n", info.SnapshotID, info.Watermark.N, bytesText(info.Bytes), args[1])
			})
		},
	}
}

func (a *app) importCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "import <src> <dst>",
		Short: "Verify a database directory and copy it into a new one",
		Args:  a.args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(args[0]); err != nil {
				return usageError{err}
			}
			pb := a.progress(-1, "import")
			err := inmem.Import(context.Background(), args[0], args[1], &inmem.Options{Logger: a.logger()})
			pbDone(pb)
			if err != nil {
				return err
			}
			return a.emit(map[string]string{"imported": args[1]}, func(w io.Writer) {
				fmt.Fprintf(w, "imported %s into %s\n", args[0], args[1])
			})
		},
	}
}
