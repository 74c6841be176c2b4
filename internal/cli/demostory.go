package cli

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/inmemdb/inmem"
)

// The demo's agent story. Every step of the agent writes the same shape of
// data, derived from the step number alone, so that after the crash the
// parent can recompute what each acknowledged step must have left behind.

const (
	demoRunName    = "demo-agent"
	demoCell       = "agent"      // the state-machine cell
	demoPad        = "scratchpad" // the JSON document
	demoCollection = "memories"   // the vector collection
	demoDim        = 64
	demoGoal       = "find three sources on write-ahead logging and summarise them"
	demoDraftKey   = "working/draft" // written by the transaction the crash abandons
	demoStatusKey  = "working/status"
	demoSearchK    = 3
)

var demoTools = []string{"search", "read_file", "run_code", "browse"}

// Event types and trace shapes per step.
var demoStepEvents = []string{"tool_call", "tool_result", "assistant_message"}

const demoStepTraces = 3 // decision → thought, tool_call

func stepTool(i int) string { return demoTools[(i-1)%len(demoTools)] }

// stepKind is the metadata the vector search filters on.
func stepKind(i int) string {
	if i%3 == 0 {
		return "observation"
	}
	return "fact"
}

func stepTag(i int) string   { return fmt.Sprintf("step-%02d", i) }
func memoryKey(i int) string { return fmt.Sprintf("memory/step-%02d", i) }
func vectorKey(i int) string { return fmt.Sprintf("mem-%02d", i) }

// toolUses is how often tool of step i has been used up to step i.
func toolUses(i int) int { return (i-1)/len(demoTools) + 1 }

func stepInput(i int) inmem.Value {
	return inmem.MustValue(map[string]any{"query": fmt.Sprintf("%s: sub-question %d", demoGoal, i), "step": i})
}

func stepOutput(i int) string {
	return fmt.Sprintf("step %d: %s returned %d results", i, stepTool(i), (i*7)%5+1)
}

func stepToolCallEvent(i int) inmem.Value {
	return inmem.MustValue(map[string]any{"step": i, "tool": stepTool(i), "input": stepInput(i)})
}

func stepToolResultEvent(i int) inmem.Value {
	return inmem.MustValue(map[string]any{"step": i, "tool": stepTool(i), "output": stepOutput(i)})
}

func stepAssistantEvent(i int) inmem.Value {
	return inmem.MustValue(map[string]any{"step": i, "text": fmt.Sprintf("noted what %s found; next step", stepTool(i))})
}

func stepMemory(i int) inmem.Value {
	return inmem.MustValue(map[string]any{"tool": stepTool(i), "result": stepOutput(i), "kind": stepKind(i)})
}

func stepPadEntry(i int) inmem.Value {
	return inmem.MustValue(map[string]any{"step": i, "tool": stepTool(i), "kind": stepKind(i)})
}

func stepVectorMeta(i int) inmem.Value {
	return inmem.MustValue(map[string]any{"step": i, "tool": stepTool(i), "kind": stepKind(i)})
}

// demoEmbedding is a deterministic pseudo-embedding: a direction per topic
// plus per-step noise (step 0 is the topic itself, the search query).
func demoEmbedding(topic string, step int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(topic))
	seed := h.Sum64()
	base := rand.New(rand.NewPCG(seed, 0x5eed))
	noise := rand.New(rand.NewPCG(seed, uint64(step)+1))
	v := make([]float32, demoDim)
	for j := range v {
		x := base.NormFloat64()
		if step > 0 {
			x += 0.8 * noise.NormFloat64()
		}
		v[j] = float32(x)
	}
	return v
}

// demoQueryTopic is what the demo searches its memories for: with the
// default 12 steps its best match (step 3) is filtered out, and the next
// ones were written by the crash child.
const demoQueryTopic = "run_code"

// demoQuery is the search the demo runs before the crash and after recovery.
func demoQuery() ([]float32, inmem.Filter) {
	return demoEmbedding(demoQueryTopic, 0), inmem.Filter{inmem.Eq("kind", inmem.String("fact"))}
}

func phaseValue(phase string, step int) inmem.Value {
	return inmem.MustValue(map[string]any{"phase": phase, "step": step})
}

func phaseOf(v inmem.Value) (string, int) {
	p, _ := v.Get("phase")
	s, _ := v.Get("step")
	ps, _ := p.AsString()
	n, _ := s.AsInt()
	return ps, int(n)
}

// demoMoves is the agent's state machine.
var demoMoves = map[string][]string{
	"idle":      {"planning"},
	"planning":  {"acting"},
	"acting":    {"observing"},
	"observing": {"planning", "done"},
}

func canMove(from, to string) bool {
	for _, t := range demoMoves[from] {
		if t == to {
			return true
		}
	}
	return false
}

// moveTo is a pure Transition function: it refuses moves the state machine
// does not allow.
func moveTo(to string, step int) func(inmem.Value) (inmem.Value, error) {
	return func(cur inmem.Value) (inmem.Value, error) {
		from, _ := phaseOf(cur)
		if !canMove(from, to) {
			return inmem.Value{}, fmt.Errorf("the agent cannot move from %q to %q", from, to)
		}
		return phaseValue(to, step), nil
	}
}

// story drives the agent in one database.
type story struct {
	ctx context.Context
	db  *inmem.DB
	run inmem.RunID
}

// startStory registers the run and sets up every primitive in one
// cross-primitive transaction.
func startStory(ctx context.Context, db *inmem.DB, steps int) (*story, error) {
	run, err := db.Runs().Create(ctx, demoRunName, inmem.RunOptions{
		Tags:     []string{"demo", "research"},
		Metadata: inmem.MustValue(map[string]any{"model": "demo-model-1", "goal": demoGoal, "steps": steps}),
	})
	if err != nil {
		return nil, err
	}
	s := &story{ctx: ctx, db: db, run: run}
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if _, err := tx.State().Init(demoCell, phaseValue("idle", 0)); err != nil {
			return err
		}
		if err := tx.Vectors().CreateCollection(demoCollection, demoDim, inmem.Cosine); err != nil {
			return err
		}
		pad := inmem.MustValue(map[string]any{"goal": demoGoal, "status": "running", "current_step": 0, "steps": []any{}, "tools": map[string]any{}})
		if err := tx.JSON().Create(demoPad, pad); err != nil {
			return err
		}
		if err := tx.KV().Put("config/goal", inmem.String(demoGoal)); err != nil {
			return err
		}
		_, err := tx.Events().Append("user_message", inmem.MustValue(map[string]any{"text": demoGoal}))
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// resumeStory finds the demo's run in a reopened database.
func resumeStory(ctx context.Context, db *inmem.DB) (*story, error) {
	info, err := db.Runs().GetByName(ctx, demoRunName)
	if err != nil {
		return nil, err
	}
	return &story{ctx: ctx, db: db, run: info.Value.ID}, nil
}

// lastStep is the step the state cell says the agent completed.
func (s *story) lastStep() (int, error) {
	v, err := s.db.State().Read(s.ctx, s.run, demoCell)
	if err != nil {
		return 0, err
	}
	_, n := phaseOf(v.Value)
	return n, nil
}

// step runs one agent step: nine commits across all seven primitives, one
// of them a transaction spanning five.
func (s *story) step(i int) error {
	ctx, db, run := s.ctx, s.db, s.run
	tool := stepTool(i)

	// Plan: compare-and-swap the state cell from where it is to planning.
	cur, err := db.State().Read(ctx, run, demoCell)
	if err != nil {
		return err
	}
	if from, _ := phaseOf(cur.Value); !canMove(from, "planning") {
		return fmt.Errorf("step %d: the agent is %s, it cannot plan", i, from)
	}
	if _, err := db.State().CAS(ctx, run, demoCell, cur.Version, phaseValue("planning", i)); err != nil {
		return err
	}
	dec, err := db.Traces().Record(ctx, run, inmem.TraceSpec{
		Body:     inmem.DecisionTrace{Choice: tool, Options: demoTools, Reasoning: fmt.Sprintf("sub-question %d needs %s", i, tool)},
		Tags:     []string{stepTag(i), "decision"},
		Metadata: inmem.MustValue(map[string]any{"step": i}),
	})
	if err != nil {
		return err
	}
	if _, err := db.Traces().RecordChild(ctx, run, dec, inmem.TraceSpec{
		Body: inmem.ThoughtTrace{Content: fmt.Sprintf("calling %s for sub-question %d", tool, i)},
		Tags: []string{stepTag(i)},
	}); err != nil {
		return err
	}

	// Act: the tool call and everything it produces commit as one unit.
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if _, _, err := tx.State().Transition(demoCell, moveTo("acting", i)); err != nil {
			return err
		}
		if _, err := tx.Events().Append("tool_call", stepToolCallEvent(i)); err != nil {
			return err
		}
		if _, err := tx.Traces().RecordChild(dec, inmem.TraceSpec{
			Body: inmem.ToolCallTrace{Tool: tool, Input: stepInput(i), Output: inmem.String(stepOutput(i)), Duration: time.Duration(i) * time.Millisecond},
			Tags: []string{stepTag(i), tool},
		}); err != nil {
			return err
		}
		if _, err := tx.Events().Append("tool_result", stepToolResultEvent(i)); err != nil {
			return err
		}
		if err := tx.KV().Put(memoryKey(i), stepMemory(i)); err != nil {
			return err
		}
		if err := tx.Vectors().Upsert(demoCollection, vectorKey(i), demoEmbedding(tool, i), stepVectorMeta(i)); err != nil {
			return err
		}
		err := tx.JSON().Patch(demoPad, []inmem.PatchOp{
			{Op: "add", Path: "/steps/-", Value: stepPadEntry(i)},
			{Op: "replace", Path: "/current_step", Value: inmem.Int(int64(i))},
		})
		return err
	})
	if err != nil {
		return err
	}

	// Observe.
	if _, _, err := db.State().Transition(ctx, run, demoCell, moveTo("observing", i)); err != nil {
		return err
	}
	if _, err := db.KV().Put(ctx, run, "working/last_tool", inmem.String(tool)); err != nil {
		return err
	}
	if _, err := db.JSON().Set(ctx, run, demoPad, "/tools/"+tool, inmem.Int(int64(toolUses(i)))); err != nil {
		return err
	}
	if _, err := db.JSON().Merge(ctx, run, demoPad, inmem.MustValue(map[string]any{
		"last_observation": map[string]any{"step": i, "summary": stepOutput(i)},
	})); err != nil {
		return err
	}
	_, err = db.Events().Append(ctx, run, "assistant_message", stepAssistantEvent(i))
	return err
}

// finish ends the run: the final state, a closing event, the scratchpad
// and the run index's status commit together.
func (s *story) finish(steps int) error {
	return s.db.Update(s.ctx, s.run, func(tx *inmem.Tx) error {
		if _, _, err := tx.State().Transition(demoCell, moveTo("done", steps)); err != nil {
			return err
		}
		if _, err := tx.Events().Append("run_finished", inmem.MustValue(map[string]any{"steps": steps})); err != nil {
			return err
		}
		if err := tx.JSON().Merge(demoPad, inmem.MustValue(map[string]any{"status": "done"})); err != nil {
			return err
		}
		if err := tx.KV().Put(demoStatusKey, inmem.String("done")); err != nil {
			return err
		}
		return tx.Runs().Complete(s.run) // last: the run is closed from here on
	})
}

// searchHit is a vector hit as the crash child reports it.
type searchHit struct {
	Key       string      `json:"key"`
	Score     float32     `json:"score"`
	ScoreBits uint32      `json:"score_bits"`
	Metadata  inmem.Value `json:"metadata"`
}

func (s *story) search() ([]searchHit, error) {
	q, f := demoQuery()
	hits, err := s.db.Vectors().Search(s.ctx, s.run, demoCollection, q, demoSearchK, f)
	if err != nil {
		return nil, err
	}
	out := make([]searchHit, len(hits))
	for i, h := range hits {
		out[i] = searchHit{Key: h.Key, Score: h.Score, ScoreBits: math.Float32bits(h.Score), Metadata: h.Metadata}
	}
	return out, nil
}

// verifyStep checks that everything step i wrote is present and exact.
func (s *story) verifyStep(i int) error {
	ctx, db, run := s.ctx, s.db, s.run
	bad := func(format string, args ...any) error {
		return fmt.Errorf("step %d: %s", i, fmt.Sprintf(format, args...))
	}
	// KV.
	m, err := db.KV().Get(ctx, run, memoryKey(i))
	if err != nil {
		return bad("kv %s: %v", memoryKey(i), err)
	}
	if !m.Value.Equal(stepMemory(i)) {
		return bad("kv %s holds %s", memoryKey(i), m.Value)
	}
	// Events: the step's three events at their sequences.
	first := uint64(1 + len(demoStepEvents)*(i-1))
	evs, err := db.Events().Range(ctx, run, first, first+uint64(len(demoStepEvents)))
	if err != nil {
		return bad("events: %v", err)
	}
	want := []inmem.Value{stepToolCallEvent(i), stepToolResultEvent(i), stepAssistantEvent(i)}
	if len(evs) != len(want) {
		return bad("%d of its %d events are in the log", len(evs), len(want))
	}
	for j, ev := range evs {
		if ev.Type != demoStepEvents[j] || !ev.Payload.Equal(want[j]) {
			return bad("event %d is %s %s", ev.Sequence, ev.Type, ev.Payload)
		}
	}
	// Traces: one decision with a thought and a tool call under it.
	ts, err := db.Traces().QueryByTag(ctx, run, stepTag(i))
	if err != nil {
		return bad("traces: %v", err)
	}
	if len(ts) != demoStepTraces {
		return bad("%d of its %d traces are stored", len(ts), demoStepTraces)
	}
	var root inmem.TraceID
	types := map[inmem.TraceType]bool{}
	for _, t := range ts {
		types[t.Value.Type] = true
		if t.Value.Parent == 0 {
			d, ok := t.Value.Body.(inmem.DecisionTrace)
			if !ok || d.Choice != stepTool(i) {
				return bad("the root trace is %s, not the decision for %s", t.Value.Type, stepTool(i))
			}
			root = t.Value.ID
		}
	}
	for _, t := range ts {
		if t.Value.ID != root && t.Value.Parent != root {
			return bad("trace %d is not a child of the decision", t.Value.ID)
		}
	}
	if root == 0 || !types[inmem.TraceTypeThought] || !types[inmem.TraceTypeToolCall] {
		return bad("the trace tree is incomplete")
	}
	// JSON.
	e, err := db.JSON().Get(ctx, run, demoPad, fmt.Sprintf("/steps/%d", i-1))
	if err != nil {
		return bad("json %s: %v", demoPad, err)
	}
	if !e.Value.Equal(stepPadEntry(i)) {
		return bad("json %s/steps/%d holds %s", demoPad, i-1, e.Value)
	}
	// Vectors: the exact embedding and metadata.
	vec, err := db.Vectors().Get(ctx, run, demoCollection, vectorKey(i))
	if err != nil {
		return bad("vector %s: %v", vectorKey(i), err)
	}
	emb := demoEmbedding(stepTool(i), i)
	if len(vec.Value.Embedding) != len(emb) {
		return bad("vector %s has dimension %d", vectorKey(i), len(vec.Value.Embedding))
	}
	for j := range emb {
		if math.Float32bits(emb[j]) != math.Float32bits(vec.Value.Embedding[j]) {
			return bad("vector %s differs at component %d", vectorKey(i), j)
		}
	}
	if !vec.Value.Metadata.Equal(stepVectorMeta(i)) {
		return bad("vector %s has metadata %s", vectorKey(i), vec.Value.Metadata)
	}
	return nil
}

// verifyTotals checks that the database holds exactly steps steps: nothing
// missing and nothing beyond (an unacknowledged step or the abandoned
// transaction would show here).
func (s *story) verifyTotals(steps int) error {
	ctx, db, run := s.ctx, s.db, s.run
	n, err := db.Events().Len(ctx, run)
	if err != nil {
		return err
	}
	if want := uint64(1 + len(demoStepEvents)*steps); n != want {
		return fmt.Errorf("the event log holds %d events, want %d", n, want)
	}
	if c, err := db.Traces().Count(ctx, run); err != nil {
		return err
	} else if c != demoStepTraces*steps {
		return fmt.Errorf("%d traces, want %d", c, demoStepTraces*steps)
	}
	if c, err := db.Vectors().Count(ctx, run, demoCollection); err != nil {
		return err
	} else if c != steps {
		return fmt.Errorf("%d vectors, want %d", c, steps)
	}
	if ok, err := db.KV().Exists(ctx, run, memoryKey(steps+1)); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("kv %s exists but step %d was never acknowledged", memoryKey(steps+1), steps+1)
	}
	if ok, err := db.KV().Exists(ctx, run, demoDraftKey); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("kv %s exists but its transaction never committed", demoDraftKey)
	}
	cell, err := db.State().Read(ctx, run, demoCell)
	if err != nil {
		return err
	}
	if want := inmem.Counter(uint64(1 + 3*steps)); cell.Version != want || !cell.Value.Equal(phaseValue("observing", steps)) {
		return fmt.Errorf("state cell %s is %s at %s, want %s at %s", demoCell, cell.Value, cell.Version, phaseValue("observing", steps), want)
	}
	cs, err := db.JSON().Get(ctx, run, demoPad, "/current_step")
	if err != nil {
		return err
	}
	if !cs.Value.Equal(inmem.Int(int64(steps))) {
		return fmt.Errorf("json %s/current_step is %s, want %d", demoPad, cs.Value, steps)
	}
	ss, err := db.JSON().Get(ctx, run, demoPad, "/steps")
	if err != nil {
		return err
	}
	if ss.Value.Len() != steps {
		return fmt.Errorf("json %s/steps has %d entries, want %d", demoPad, ss.Value.Len(), steps)
	}
	for j, tool := range demoTools {
		if j >= steps {
			break
		}
		last := steps - (steps-1-j)%len(demoTools) // the last step that used tool
		v, err := db.JSON().Get(ctx, run, demoPad, "/tools/"+tool)
		if err != nil {
			return err
		}
		if !v.Value.Equal(inmem.Int(int64(toolUses(last)))) {
			return fmt.Errorf("json %s/tools/%s is %s, want %d", demoPad, tool, v.Value, toolUses(last))
		}
	}
	return nil
}

// sameHits compares two searches exactly (keys, score bits, metadata).
func sameHits(a, b []searchHit) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d hits, %d before the crash", len(b), len(a))
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].ScoreBits != b[i].ScoreBits || !a[i].Metadata.Equal(b[i].Metadata) {
			return fmt.Errorf("hit %d is %s (%v), before the crash %s (%v)", i+1, b[i].Key, b[i].Score, a[i].Key, a[i].Score)
		}
	}
	return nil
}

// branch explores an alternative the way an agent would: fork the run as
// it is now (copy-on-write, nothing is copied), revise the scratchpad in
// the fork, diff the fork against the run, merge the fork back and delete
// it. It returns a one-line account.
func (s *story) branch() (string, error) {
	ctx, db := s.ctx, s.db
	fork, err := db.Runs().Fork(ctx, s.run, inmem.Version{}, inmem.ForkOptions{Name: demoRunName + "/review"})
	if err != nil {
		return "", err
	}
	review := inmem.MustValue(map[string]any{"review": map[string]any{"verdict": "keep", "by": "critic"}})
	if _, err := db.JSON().Merge(ctx, fork, demoPad, review); err != nil {
		return "", err
	}
	var changes, patchOps int
	for c, err := range db.Runs().Diff(ctx, s.run, fork) {
		if err != nil {
			return "", err
		}
		changes++
		patchOps += len(c.Patch)
	}
	if changes != 1 || patchOps != 1 {
		return "", fmt.Errorf("the fork differs in %d entities (%d patch operations), want 1 (1)", changes, patchOps)
	}
	res, err := db.Runs().Merge(ctx, fork, s.run, inmem.MergeFailOnConflict)
	if err != nil {
		return "", err
	}
	got, err := db.JSON().Get(ctx, s.run, demoPad, "/review/verdict")
	if err != nil {
		return "", fmt.Errorf("the merged review is missing: %w", err)
	}
	if v, _ := got.Value.AsString(); v != "keep" {
		return "", fmt.Errorf("the merged review says %v", got.Value)
	}
	if _, err := db.Runs().Delete(ctx, fork); err != nil {
		return "", err
	}
	return fmt.Sprintf("forked the run, revised the scratchpad in the fork, diffed %d change (an RFC 6902 patch of %d op), merged %d entity back at %s, deleted the fork",
		changes, patchOps, res.Applied, res.Version), nil
}
