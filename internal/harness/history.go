package harness

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/inmemdb/inmem"
)

// historySamples bounds the past versions checked per writer and check, so
// that a long soak does not check quadratically many.
const historySamples = 256

// checkHistory reads w's run as of its acknowledged commits (ViewAt) and
// compares the KV space, the state cell and the event count with the
// generator's replay up to that commit. A past version must read back
// whole, or answer HistoryTrimmed when retention may have dropped it.
//
// KeepLast(n) removes a version only when n newer versions of its entity
// exist, and a trim floor is the version that superseded a removed one
// (for a purged tombstone, the tombstone itself). Every entity of a run is
// written by its writer alone, so a floor above the version of commit q
// needs n commits after q: HistoryTrimmed is allowed for q <= acked-n and
// is a violation for the last n commits, or with no policy at all.
//
// A commit that writes and deletes one key leaves a chain holding only a
// tombstone; purging it must raise no floor (a regression the workload's
// self-deleting commits keep covered).
func (m *Model) checkHistory(ctx context.Context, db *inmem.DB, w *writerModel, rep *CheckReport) error {
	run := inmem.MustParseRunID(w.info.Run)
	step := max(w.acked/historySamples, 1)
	g := newGenerator(w.info, w.min, w.max)
	kv := map[string]Op{}
	var state *Op
	events := 0
	for q := uint64(1); q <= w.acked; q++ {
		for _, op := range g.next() {
			switch op.P + "." + op.A {
			case "kv.put":
				kv[op.K] = op
			case "kv.delete":
				delete(kv, op.K)
			case "state.set":
				o := op
				state = &o
			case "event.append":
				events++
			}
		}
		v, ok := w.versions[q]
		if !ok || (q%step != 0 && q+uint64(max(m.keep, 1)) < w.acked) {
			continue
		}
		var diffs []string
		err := db.ViewAt(ctx, run, inmem.AtVersion(inmem.Txn(v)), func(tx *inmem.Tx) error {
			diffs = diffs[:0]
			got := map[string]inmem.Value{}
			for e, err := range tx.KV().Scan("") {
				if err != nil {
					return err
				}
				got[e.Key] = e.Value
			}
			for k, op := range kv {
				if g, ok := got[k]; !ok {
					diffs = append(diffs, fmt.Sprintf("kv %q missing", k))
				} else if !g.Equal(opValue(w.info.Seed, op)) {
					diffs = append(diffs, fmt.Sprintf("kv %q holds other data", k))
				}
			}
			for k := range maps.Keys(got) {
				if _, ok := kv[k]; !ok {
					diffs = append(diffs, fmt.Sprintf("kv %q present", k))
				}
			}
			cell, err := tx.State().Read(stateCell)
			switch {
			case err != nil && inmem.CodeOf(err) != inmem.CodeNotFound:
				return err
			case err != nil && state != nil:
				diffs = append(diffs, "state cell missing")
			case err == nil && (state == nil || !cell.Value.Equal(opValue(w.info.Seed, *state))):
				diffs = append(diffs, "state cell holds other data")
			}
			n, err := tx.Events().Len()
			if err != nil {
				return err
			}
			if n != uint64(events) {
				diffs = append(diffs, fmt.Sprintf("%d events, want %d", n, events))
			}
			return nil
		})
		switch {
		case inmem.CodeOf(err) == inmem.CodeHistoryTrimmed:
			if m.keep == 0 || q+uint64(m.keep) > w.acked {
				rep.Violations = append(rep.Violations, Violation{Kind: KindHistory, Writer: w.info.Run, Seq: q,
					Detail: fmt.Sprintf("version %d trimmed though %s keeps it (%d commits after it): %v", v, keepName(m.keep), w.acked-q, err)})
			} else {
				rep.Trimmed++
			}
		case err != nil:
			return fmt.Errorf("reading writer %s at version %d: %w", w.info.Run, v, err)
		case len(diffs) > 0:
			rep.Violations = append(rep.Violations, Violation{Kind: KindHistory, Writer: w.info.Run, Seq: q,
				Detail: fmt.Sprintf("at version %d: %s (%d differences)", v, diffs[0], len(diffs))})
		default:
			rep.Past++
		}
	}
	return nil
}

func keepName(n int) string {
	if n == 0 {
		return "no retention policy"
	}
	return "KeepLast(" + strconv.Itoa(n) + ")"
}

// clone returns an independent copy of m, so that one run of a workload can
// be checked against several crash images.
func (m *Model) clone() *Model {
	c := &Model{writers: make(map[string]*writerModel, len(m.writers)), order: slices.Clone(m.order), keep: m.keep}
	for k, w := range m.writers {
		w2 := *w
		w2.versions = maps.Clone(w.versions)
		c.writers[k] = &w2
	}
	return c
}
