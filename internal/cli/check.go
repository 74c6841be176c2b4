package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/codec"
	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/format"
	"github.com/inmemdb/inmem/internal/snapshot"
	"github.com/inmemdb/inmem/internal/wal"
	"github.com/inmemdb/inmem/vfs"
	"github.com/spf13/cobra"
)

type problem struct {
	File   string `json:"file,omitempty"`
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
}

type chainView struct {
	Run      string `json:"run"`
	Events   uint64 `json:"events"`
	OK       bool   `json:"ok"`
	BrokenAt uint64 `json:"broken_at,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

type checkReport struct {
	Dir      string       `json:"dir"`
	OK       bool         `json:"ok"`
	Manifest manifestView `json:"manifest"`
	Snapshot *struct {
		ID        uint64 `json:"id"`
		Watermark uint64 `json:"watermark"`
		Entities  uint64 `json:"entities"`
		Versions  uint64 `json:"versions"`
		Bytes     int64  `json:"bytes"`
	} `json:"snapshot,omitempty"`
	Segments    int         `json:"wal_segments"`
	Records     int         `json:"wal_records"`
	LastVersion uint64      `json:"last_version"`
	TornTail    *problem    `json:"torn_tail,omitempty"`
	Chains      []chainView `json:"event_chains"`
	Problems    []problem   `json:"problems"`
}

func (a *app) checkCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check <dir>",
		Short: "Verify MANIFEST, snapshot, WAL checksums, segment continuity and every run's event hash chain",
		Long: `check reads a database directory without changing it and verifies the MANIFEST,
the snapshot it names (every section checksum, the footer), every WAL record's
checksum, that segment numbers and record versions continue without a gap, and
the hash chain of every run's event log. It exits 0 when the database is sound
and 3 on any integrity failure, naming the file and offset. A torn tail at the
end of the newest WAL segment — what a crash leaves — is reported but is not a
failure: the next open cuts it off.`,
		Args: a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := a.checkSettled(args[0])
			if err != nil {
				return err
			}
			if err := a.emit(rep, func(w io.Writer) { printCheck(w, rep) }); err != nil {
				return err
			}
			if !rep.OK {
				return integrityError{fmt.Errorf("%s failed its integrity check (%d problems)", args[0], len(rep.Problems))}
			}
			return nil
		},
	}
}

func corruptionProblem(err error) (problem, bool) {
	var e *dberr.Error
	if errors.As(err, &e) && (e.Code == dberr.Corruption || e.Code == dberr.CodecMismatch) {
		msg := e.Reason
		if msg == "" {
			msg = e.Error()
		}
		return problem{File: e.File, Offset: e.Offset, Reason: msg}, true
	}
	return problem{}, false
}

// check verifies dir layer by layer, without modifying it.
func (a *app) check(dir string) (*checkReport, error) {
	rep := &checkReport{Dir: dir, Chains: []chainView{}, Problems: []problem{}}
	fail := func(err error) (*checkReport, error) {
		if p, ok := corruptionProblem(err); ok {
			rep.Problems = append(rep.Problems, p)
			return rep, nil
		}
		return nil, err
	}
	m, mv, err := readManifest(dir)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			if p, ok := orphanedFiles(dir); ok {
				rep.Problems = append(rep.Problems, p)
				return rep, nil
			}
			return nil, err
		}
		return fail(err)
	}
	rep.Manifest = mv
	if m.CodecID != codec.IdentityID {
		return nil, fmt.Errorf("the database uses codec %q, which this tool cannot decode", m.CodecID)
	}
	fsys := vfs.OS()
	if m.HasSnapshot {
		pb := a.progress(-1, "snapshot")
		res, err := snapshot.Read(snapshot.ReadOptions{
			FS: fsys, Path: filepath.Join(dir, "SNAPSHOTS", snapshot.FileName(m.SnapshotID)), UUID: m.UUID, Codec: codec.Identity{},
			ID: m.SnapshotID, Watermark: m.SnapshotWatermark,
		}, func(*format.SnapshotEntity) error { return nil })
		pbDone(pb)
		if err != nil {
			return fail(err)
		}
		rep.Snapshot = &struct {
			ID        uint64 `json:"id"`
			Watermark uint64 `json:"watermark"`
			Entities  uint64 `json:"entities"`
			Versions  uint64 `json:"versions"`
			Bytes     int64  `json:"bytes"`
		}{m.SnapshotID, m.SnapshotWatermark, res.Footer.Entities, res.Footer.Versions, res.Bytes}
	}
	pb := a.progress(-1, "wal records")
	records := int64(0)
	res, err := wal.Replay(wal.ReplayOptions{
		FS: fsys, Dir: filepath.Join(dir, "WAL"), UUID: m.UUID, Codec: codec.Identity{},
		Watermark: m.SnapshotWatermark, HasSnapshot: m.HasSnapshot, ActiveSegment: m.ActiveSegment,
	}, func(batch []*core.Commit) error {
		records += int64(len(batch))
		pbSet(pb, records)
		return nil
	})
	pbDone(pb)
	if err != nil {
		return fail(err)
	}
	rep.Segments, rep.Records, rep.LastVersion = len(res.Segments), res.Records, res.LastVersion
	if t := res.Torn; t != nil {
		rep.TornTail = &problem{File: t.Path, Offset: t.Offset, Reason: fmt.Sprintf("%d bytes of a torn tail (the next open cuts them off)", t.Bytes)}
	}
	// The layers are sound: open read-only and verify every event chain.
	db, err := a.openDir(dir, inmem.Options{ReadOnly: true, Durability: inmem.InMemory})
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	runs, err := db.RunIDs()
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		n, err := db.Events().Len(context.Background(), run)
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			continue
		}
		cr, err := db.Events().VerifyChain(context.Background(), run)
		if err != nil {
			if p, ok := corruptionProblem(err); ok {
				rep.Problems = append(rep.Problems, p)
				rep.Chains = append(rep.Chains, chainView{Run: run.String(), Events: n, Reason: p.Reason})
				continue
			}
			return nil, err
		}
		cv := chainView{Run: run.String(), Events: n, OK: cr.OK}
		if !cr.OK {
			cv.BrokenAt, cv.Reason = cr.BrokenAt, cr.Reason
			rep.Problems = append(rep.Problems, problem{Offset: -1, Reason: fmt.Sprintf("run %s: event chain broken at sequence %d: %s", run, cr.BrokenAt, cr.Reason)})
		}
		rep.Chains = append(rep.Chains, cv)
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

func printCheck(w io.Writer, rep *checkReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "directory\t%s\n", rep.Dir)
	if rep.Manifest.UUID != "" {
		fmt.Fprintf(tw, "manifest\tok (uuid %s)\n", rep.Manifest.UUID)
	}
	if rep.Snapshot != nil {
		fmt.Fprintf(tw, "snapshot\tok (id %d, watermark %d, %d entities)\n", rep.Snapshot.ID, rep.Snapshot.Watermark, rep.Snapshot.Entities)
	}
	if len(rep.Problems) == 0 || rep.Segments > 0 {
		fmt.Fprintf(tw, "wal\t%d segments, %d records replayed, last version %d\n", rep.Segments, rep.Records, rep.LastVersion)
	}
	if rep.TornTail != nil {
		fmt.Fprintf(tw, "torn tail\t%s at offset %d: %s\n", rep.TornTail.File, rep.TornTail.Offset, rep.TornTail.Reason)
	}
	ok := 0
	for _, c := range rep.Chains {
		if c.OK {
			ok++
		}
	}
	fmt.Fprintf(tw, "event chains\t%d of %d runs verified\n", ok, len(rep.Chains))
	for _, p := range rep.Problems {
		if p.File != "" {
			fmt.Fprintf(tw, "PROBLEM\t%s at offset %d: %s\n", p.File, p.Offset, p.Reason)
		} else {
			fmt.Fprintf(tw, "PROBLEM\t%s\n", p.Reason)
		}
	}
	if rep.OK {
		fmt.Fprintf(tw, "result\tsound\n")
	} else {
		fmt.Fprintf(tw, "result\tINTEGRITY FAILURE\n")
	}
	tw.Flush()
}
