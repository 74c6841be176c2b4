package inmem

import (
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/keyref"
)

// TestKeyrefDecodesEveryKeyLayout encodes engine keys with the primitives'
// own functions and checks that keyref, the one decoder tools use, reads
// each back to the right kind and entity: the two stay in step.
func TestKeyrefDecodesEveryKeyLayout(t *testing.T) {
	run := MustParseRunID("6f1c2b3a-0000-4000-8000-00000000abcd")
	parent := MustParseRunID("11111111-2222-4333-8444-555555555555")
	at := Timestamp(1_700_000_000_123_456)
	trace := &Trace{ID: 42, Parent: 7, Type: TraceTypeToolCall, Tags: []string{"web"}, RecordedAt: at}
	info := &RunInfo{ID: run, Parent: &parent, Status: RunActive, Tags: []string{"demo"}, CreatedAt: at}
	traceRef := "trace://" + run.String() + "/42"
	runRefText := "run://" + run.String()
	type want struct{ kind, ref, detail string }
	cases := []struct {
		space core.PrimitiveType
		run   RunID
		key   string
		want  want
	}{
		{core.KV, run, "notes/a b", want{keyref.KindKV, "kv://" + run.String() + "/notes%2Fa%20b", ""}},
		{core.JSON, run, "doc", want{keyref.KindJSON, "json://" + run.String() + "/doc", ""}},
		{core.Event, run, eventKey(17), want{keyref.KindEvent, "event://" + run.String() + "/17", ""}},
		{core.Event, run, evHeadKey, want{keyref.KindEventHead, "", ""}},
		{core.Event, run, eventTypeKey("tool_call"), want{keyref.KindEventTypeHead, "", `type "tool_call"`}},
		{core.State, run, stateCellKey("phase"), want{keyref.KindState, "state://" + run.String() + "/phase", ""}},
		{core.State, run, stateHighKey("phase"), want{keyref.KindStateHighWater, "state://" + run.String() + "/phase", ""}},
		{core.Trace, run, traceKeyCounter, want{keyref.KindTraceCounter, "", ""}},
		{core.Trace, run, traceRecordKey(42), want{keyref.KindTrace, traceRef, ""}},
		{core.Trace, run, traceIndexKeys(trace)[0], want{keyref.KindTraceTimeIndex, traceRef, "at 2023-11-14T22:13:20.123456Z"}},
		{core.Trace, run, traceIndexKeys(trace)[1], want{keyref.KindTraceTypeIndex, traceRef, `type "tool_call" at 2023-11-14T22:13:20.123456Z`}},
		{core.Trace, run, traceIndexKeys(trace)[2], want{keyref.KindTraceParent, traceRef, "parent 7 at 2023-11-14T22:13:20.123456Z"}},
		{core.Trace, run, traceIndexKeys(trace)[3], want{keyref.KindTraceTagIndex, traceRef, `tag "web" at 2023-11-14T22:13:20.123456Z`}},
		{core.Run, GlobalRun, runKey(run), want{keyref.KindRun, runRefText, ""}},
		{core.Run, GlobalRun, runNameKey("planner"), want{keyref.KindRunNameIndex, "", `name "planner"`}},
		{core.Run, GlobalRun, runChildrenKey(run), want{keyref.KindRunChildren, runRefText, ""}},
		{core.Run, GlobalRun, runIndexKeys(info)[0], want{keyref.KindRunCreatedIndex, runRefText, "created 2023-11-14T22:13:20.123456Z"}},
		{core.Run, GlobalRun, runIndexKeys(info)[1], want{keyref.KindRunStatusIndex, runRefText, `status "active" created 2023-11-14T22:13:20.123456Z`}},
		{core.Run, GlobalRun, runIndexKeys(info)[2], want{keyref.KindRunParentIndex, runRefText, "parent " + parent.String() + " created 2023-11-14T22:13:20.123456Z"}},
		{core.Run, GlobalRun, runIndexKeys(info)[3], want{keyref.KindRunTagIndex, runRefText, `tag "demo" created 2023-11-14T22:13:20.123456Z`}},
		{core.Vector, run, collectionKey("mem"), want{keyref.KindCollection, "vector://" + run.String() + "/mem", ""}},
		{core.System, run, retentionKey, want{keyref.KindSystem, "", `"_system/retention"`}},
		{core.Vector, run, vectorKey("mem", "k/1"), want{keyref.KindVector, "vector://" + run.String() + "/mem/k%2F1", ""}},
	}
	for _, c := range cases {
		e := keyref.Describe(c.run, c.space, c.key)
		ref := ""
		if e.Ref != nil {
			ref = e.Ref.String()
		}
		if got := (want{e.Kind, ref, e.Detail}); got != c.want {
			t.Errorf("%s key %s: got %+v, want %+v", c.space, keyref.Escape(c.key), got, c.want)
		}
		if e.Kind == keyref.KindUnknown || strings.Contains(e.String(), "\\x") {
			t.Errorf("%s key %s reads as %q", c.space, keyref.Escape(c.key), e.String())
		}
	}
}
