package server

// Fork, diff and merge of runs, over HTTP. They are not batch operations:
// a fork registers a run in its own transaction, a diff reads two
// snapshots, and a merge is one transaction on the target run, so each has
// its own route and calls the library directly.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/inmemdb/inmem"
)

// maxConflictsShown bounds the conflicts a merge answer lists; the total is
// reported beside them.
const maxConflictsShown = 1000

// maxDiffEvents bounds the events of each side a diff answer shows.
const maxDiffEvents = 1000

type forkRequest struct {
	At       *uint64         `json:"at,omitempty"`
	Name     string          `json:"name,omitempty"`
	Tags     []string        `json:"tags,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

type mergeRequest struct {
	Into     string `json:"into"`
	Strategy string `json:"strategy,omitempty"`
}

// decodeOptionalBody decodes a body that may be absent (all its fields
// optional): an empty body is the zero value.
func (s *Server) decodeOptionalBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(trimSpace(body)) == 0 {
		return nil
	}
	return strictUnmarshal(body, v)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// forkRun forks src at version at (nil: the newest commit) and returns the
// new run's record.
func forkRun(ctx context.Context, db *inmem.DB, src inmem.RunID, req forkRequest) (Result, error) {
	const op = "run.fork"
	md, err := optValue(op, req.Metadata, "metadata")
	if err != nil {
		return nil, err
	}
	var at inmem.Version
	if req.At != nil {
		at = inmem.Txn(*req.At)
	}
	id, err := db.Runs().Fork(ctx, src, at, inmem.ForkOptions{Name: req.Name, Tags: req.Tags, Metadata: md})
	if err != nil {
		return nil, err
	}
	info, err := db.Runs().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return runJSON(info), nil
}

func (s *Server) handleFork(w http.ResponseWriter, r *http.Request) (any, int, error) {
	var req forkRequest
	if err := s.decodeOptionalBody(w, r, &req); err != nil {
		return nil, 0, err
	}
	src, err := resolveRun(r.Context(), s.db, r.PathValue("run"))
	if err != nil {
		return nil, 0, err
	}
	res, err := forkRun(r.Context(), s.db, src, req)
	if err != nil {
		return nil, 0, err
	}
	s.changes.notify()
	return res, http.StatusCreated, nil
}

// diffQuery is a diff between run A at version AAt and run B at BAt, from
// the After-th change on, at most Limit changes.
type diffQuery struct {
	A, B         inmem.RunID
	AAt, BAt     uint64
	After        uint64
	Limit        int
	haveA, haveB bool
}

// diffPage runs the diff and returns one page of it. Versions left unset
// are pinned to the newest commit, and the answer names them, so the next
// page (after=next) reads the same two snapshots: pages of a moving target
// would skip or repeat changes. Memory is bounded by the page: changes
// before after are computed and dropped.
func diffPage(ctx context.Context, db *inmem.DB, q diffQuery) (Result, error) {
	const op = "run.diff"
	if q.Limit == 0 {
		q.Limit = defaultLimit
	}
	if q.Limit < 0 || q.Limit > maxLimit {
		return nil, newErr(inmem.CodeInvalidArgument, op, "limit must be between 1 and %d", maxLimit)
	}
	now := db.Stats().CommitVersion
	if !q.haveA {
		q.AAt = now
	}
	if !q.haveB {
		q.BAt = now
	}
	changes := make([]Result, 0, min(q.Limit, 64))
	var n uint64
	more := false
	for c, err := range db.Runs().DiffAt(ctx, inmem.RunAt{Run: q.A, At: inmem.Txn(q.AAt)}, inmem.RunAt{Run: q.B, At: inmem.Txn(q.BAt)}) {
		if err != nil {
			return nil, err
		}
		n++
		if n <= q.After {
			continue
		}
		if len(changes) == q.Limit {
			more = true
			break
		}
		r, err := diffJSON(ctx, c)
		if err != nil {
			return nil, err
		}
		changes = append(changes, r)
	}
	out := Result{"run": q.A.String(), "at": q.AAt, "with": q.B.String(), "with_at": q.BAt, "changes": changes}
	if more {
		out["next"] = q.After + uint64(len(changes))
	}
	return out, nil
}

func versionedPtr(v *inmem.Versioned[inmem.Value]) any {
	if v == nil {
		return nil
	}
	return versioned(*v)
}

func patchJSON(ops []inmem.PatchOp) []Result {
	out := make([]Result, len(ops))
	for i, p := range ops {
		r := Result{"op": p.Op, "path": p.Path}
		if p.Op != "remove" {
			r["value"] = p.Value
		}
		out[i] = r
	}
	return out
}

func eventsJSON(evs []inmem.Event) []Result {
	out := make([]Result, len(evs))
	for i, e := range evs {
		out[i] = eventJSON(e)
	}
	return out
}

// firstEvents reads at most maxDiffEvents events of a diff's suffix.
func firstEvents(seq iter.Seq2[inmem.Event, error]) ([]inmem.Event, error) {
	var out []inmem.Event
	for ev, err := range seq {
		if err != nil {
			return nil, err
		}
		if out = append(out, ev); len(out) == maxDiffEvents {
			break
		}
	}
	return out, nil
}

func diffJSON(ctx context.Context, c inmem.EntityDiff) (Result, error) {
	r := Result{"kind": c.Kind.String(), "primitive": c.Primitive.String()}
	if c.Events != nil {
		// The logs may have diverged by millions of events: the answer
		// shows the first maxDiffEvents of each side and counts them all;
		// the rest are read with GET .../events?from=&as_of=.
		ea, err := firstEvents(c.Events.A(ctx))
		if err != nil {
			return nil, err
		}
		eb, err := firstEvents(c.Events.B(ctx))
		if err != nil {
			return nil, err
		}
		r["events"] = Result{"common": c.Events.Common, "a_count": c.Events.ALen, "b_count": c.Events.BLen,
			"a": eventsJSON(ea), "b": eventsJSON(eb)}
		return r, nil
	}
	r["key"] = c.Key
	if c.Collection != "" {
		r["collection"] = c.Collection
	}
	r["a"], r["b"] = versionedPtr(c.A), versionedPtr(c.B)
	if c.Patch != nil {
		r["patch"] = patchJSON(c.Patch)
	}
	return r, nil
}

func (s *Server) handleDiff(w http.ResponseWriter, r *http.Request) (any, int, error) {
	ctx := r.Context()
	var q diffQuery
	var err error
	if q.A, err = resolveRun(ctx, s.db, r.PathValue("run")); err != nil {
		return nil, 0, err
	}
	q.B = q.A
	if with := r.URL.Query().Get("with"); with != "" {
		if q.B, err = resolveRun(ctx, s.db, with); err != nil {
			return nil, 0, err
		}
	}
	if q.AAt, q.haveA, err = queryUint(r, "at"); err != nil {
		return nil, 0, err
	}
	if q.BAt, q.haveB, err = queryUint(r, "with_at"); err != nil {
		return nil, 0, err
	}
	if q.After, _, err = queryUint(r, "after"); err != nil {
		return nil, 0, err
	}
	if n, ok, err := queryUint(r, "limit"); err != nil {
		return nil, 0, err
	} else if ok {
		q.Limit = int(min(n, maxLimit+1))
		if n == 0 {
			q.Limit = -1
		}
	}
	res, err := diffPage(ctx, s.db, q)
	return res, http.StatusOK, err
}

func parseStrategy(s string) (inmem.MergeStrategy, error) {
	for _, st := range []inmem.MergeStrategy{inmem.MergeFailOnConflict, inmem.MergeSourceWins, inmem.MergeTargetWins} {
		if s == st.String() {
			return st, nil
		}
	}
	if s == "" {
		return inmem.MergeFailOnConflict, nil
	}
	return 0, newErr(inmem.CodeInvalidArgument, "run.merge", "strategy %q: want fail-on-conflict, source-wins or target-wins", s)
}

// MergeConflictError is a merge refused for conflicts: the library's error
// (ConstraintViolation) with the conflicting entities, which the error
// body lists.
type MergeConflictError struct {
	Err       error
	Conflicts []inmem.MergeConflict
}

func (e *MergeConflictError) Error() string {
	msg := e.Err.Error()
	for i, c := range e.Conflicts {
		if i == 10 {
			msg += fmt.Sprintf("; and %d more", len(e.Conflicts)-i)
			break
		}
		msg += "; " + conflictName(c)
	}
	return msg
}

func (e *MergeConflictError) Unwrap() error { return e.Err }

func conflictName(c inmem.MergeConflict) string {
	if c.Collection != "" {
		return c.Primitive.String() + " " + c.Collection + "/" + c.Key
	}
	return c.Primitive.String() + " " + c.Key
}

func conflictsJSON(cs []inmem.MergeConflict) []Result {
	out := make([]Result, 0, min(len(cs), maxConflictsShown))
	for _, c := range cs[:min(len(cs), maxConflictsShown)] {
		r := Result{"primitive": c.Primitive.String(), "key": c.Key,
			"base": versionedPtr(c.Base), "source": versionedPtr(c.Source), "target": versionedPtr(c.Target)}
		if c.Collection != "" {
			r["collection"] = c.Collection
		}
		out = append(out, r)
	}
	return out
}

func mergeRuns(ctx context.Context, db *inmem.DB, src inmem.RunID, req mergeRequest) (Result, error) {
	st, err := parseStrategy(req.Strategy)
	if err != nil {
		return nil, err
	}
	if req.Into == "" {
		return nil, newErr(inmem.CodeInvalidArgument, "run.merge", "into (the target run) is required")
	}
	dst, err := resolveRun(ctx, db, req.Into)
	if err != nil {
		return nil, err
	}
	res, err := db.Runs().Merge(ctx, src, dst, st)
	if err != nil {
		if len(res.Conflicts) > 0 && inmem.CodeOf(err) == inmem.CodeConstraintViolation {
			return nil, &MergeConflictError{Err: err, Conflicts: res.Conflicts}
		}
		return nil, err
	}
	return Result{"version": res.Version.N, "applied": res.Applied, "events": res.Events, "traces": res.Traces,
		"conflicts": conflictsJSON(res.Conflicts), "conflicts_total": len(res.Conflicts)}, nil
}

func (s *Server) handleMerge(w http.ResponseWriter, r *http.Request) (any, int, error) {
	var req mergeRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		return nil, 0, err
	}
	src, err := resolveRun(r.Context(), s.db, r.PathValue("run"))
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	res, err := mergeRuns(r.Context(), s.db, src, req)
	s.metrics.observeCommit(time.Since(start), 1, err)
	if err != nil {
		return nil, 0, err
	}
	s.changes.notify()
	return res, http.StatusOK, nil
}

// mergeConflictsOf returns the conflicts err carries, if it is a refused
// merge.
func mergeConflictsOf(err error) ([]Result, int, error, bool) {
	var me *MergeConflictError
	if !errors.As(err, &me) {
		return nil, 0, nil, false
	}
	return conflictsJSON(me.Conflicts), len(me.Conflicts), me.Err, true
}
