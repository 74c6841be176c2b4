package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return v
}

// ndjsonLines checks that s is one JSON object per line and returns them.
func ndjsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", len(out)+1, err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// jsonEqual compares two JSON texts structurally.
func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal([]byte(got), &a); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestKVPutGetRoundTrip(t *testing.T) {
	dir, _ := newDB(t, nil)
	run := inmem.NewRunID().String() // an unregistered run
	values := map[string]string{
		"user/name":  `"Ada"`,
		"user/age":   `36`,
		"user/score": `0.5`,
		"user/prefs": `{"theme":"dark","tags":["a","b"],"n":null}`,
		"flag":       `true`,
	}
	for k, v := range values {
		out, _ := mustRun(t, ExitOK, "kv", "put", dir, run, k, v)
		if !strings.HasPrefix(out, "put "+k+": txn:") {
			t.Errorf("put %s: %q", k, out)
		}
	}
	for k, v := range values {
		out, _ := mustRun(t, ExitOK, "kv", "get", dir, run, k)
		if !jsonEqual(t, out, v) {
			t.Errorf("get %s = %s, want %s", k, out, v)
		}
		out, _ = mustRun(t, ExitOK, "kv", "get", "-o", "json", dir, run, k)
		ev := decodeJSON[struct {
			Run, Key, Version string
			Value             json.RawMessage
		}](t, out)
		if ev.Run != run || ev.Key != k || !strings.HasPrefix(ev.Version, "txn:") || !jsonEqual(t, string(ev.Value), v) {
			t.Errorf("get -o json %s: %s", k, out)
		}
	}
	out, _ := mustRun(t, ExitOK, "kv", "scan", "-o", "ndjson", dir, run, "user/")
	if lines := ndjsonLines(t, out); len(lines) != 4 || lines[0]["key"] != "user/age" {
		t.Errorf("scan user/: %s", out)
	}
	out, _ = mustRun(t, ExitOK, "kv", "scan", dir, run)
	if !strings.Contains(out, "KEY") || !strings.Contains(out, `"Ada"`) {
		t.Errorf("scan table:\n%s", out)
	}
	mustRun(t, ExitOK, "kv", "del", dir, run, "flag")
	_, stderr := mustRun(t, ExitError, "kv", "get", dir, run, "flag")
	if !strings.Contains(stderr, "NotFound") {
		t.Errorf("get after del: %s", stderr)
	}
	mustRun(t, ExitError, "kv", "del", dir, run, "flag")
}

func TestRunsCreateStatus(t *testing.T) {
	dir, _ := newDB(t, nil)
	out, _ := mustRun(t, ExitOK, "runs", "create", dir, "planner", "--tag", "x", "--tag", "y", "--metadata", `{"model":"m1"}`)
	id := strings.TrimSpace(out)
	if _, err := inmem.ParseRunID(id); err != nil {
		t.Fatalf("runs create printed %q", out)
	}
	out, _ = mustRun(t, ExitOK, "runs", "create", "-o", "json", dir, "worker", "--parent", "planner")
	child := decodeJSON[runView](t, out)
	if child.Parent != id || child.Status != "active" {
		t.Errorf("child run: %+v", child)
	}
	mustRun(t, ExitError, "runs", "create", dir, "planner") // names are unique

	// status by name and by ID
	for _, ref := range []string{"planner", id} {
		out, _ = mustRun(t, ExitOK, "runs", "status", "-o", "json", dir, ref)
		rv := decodeJSON[runView](t, out)
		if rv.ID != id || rv.Name != "planner" || rv.Status != "active" || strings.Join(rv.Tags, ",") != "x,y" || valueText(rv.Metadata) != `{"model":"m1"}` {
			t.Errorf("status %s: %+v", ref, rv)
		}
	}
	out, _ = mustRun(t, ExitOK, "runs", "status", dir, "planner", "paused")
	if !strings.Contains(out, "paused") {
		t.Errorf("status paused:\n%s", out)
	}
	mustRun(t, ExitOK, "runs", "status", dir, "planner", "active")
	out, _ = mustRun(t, ExitOK, "runs", "status", "-o", "json", dir, "worker", "failed", "--error", "tool crashed")
	if rv := decodeJSON[runView](t, out); rv.Status != "failed" || rv.Error != "tool crashed" {
		t.Errorf("status failed: %+v", rv)
	}
	mustRun(t, ExitError, "runs", "status", dir, "worker", "active") // the lifecycle forbids it
	mustRun(t, ExitUsage, "runs", "status", dir, "worker", "sleeping")
	_, stderr := mustRun(t, ExitError, "kv", "put", dir, "worker", "k", "1")
	if !strings.Contains(stderr, "RunClosed") {
		t.Errorf("write into a failed run: %s", stderr)
	}

	out, _ = mustRun(t, ExitOK, "runs", "ls", "-o", "json", dir)
	if rs := decodeJSON[[]runView](t, out); len(rs) != 3 || rs[0].Name != "agent" || rs[1].Name != "planner" || rs[2].Name != "worker" {
		t.Errorf("runs ls: %s", out)
	}
	out, _ = mustRun(t, ExitOK, "runs", "ls", "-o", "json", "--status", "failed", dir)
	if rs := decodeJSON[[]runView](t, out); len(rs) != 1 || rs[0].Name != "worker" {
		t.Errorf("runs ls --status failed: %s", out)
	}
	out, _ = mustRun(t, ExitOK, "runs", "ls", dir, "--tag", "x")
	if !strings.Contains(out, "planner") || strings.Contains(out, "worker") {
		t.Errorf("runs ls --tag x:\n%s", out)
	}
}

func TestJSONSetGet(t *testing.T) {
	dir, _ := newDB(t, nil)
	out, _ := mustRun(t, ExitOK, "json", "set", dir, "agent", "pad", "", `{"goal":"x","steps":[]}`)
	if !strings.HasPrefix(out, "create pad") {
		t.Errorf("set root of a new document: %q", out)
	}
	mustRun(t, ExitOK, "json", "set", dir, "agent", "pad", "/plan/first", `"search"`)
	mustRun(t, ExitOK, "json", "set", dir, "agent", "pad", "$.steps[0]", `{"n":1}`)
	mustRun(t, ExitOK, "json", "patch", dir, "agent", "pad", `[{"op":"add","path":"/steps/-","value":{"n":2}},{"op":"replace","path":"/goal","value":"y"}]`)
	mustRun(t, ExitOK, "json", "patch", "--merge", dir, "agent", "pad", `{"plan":null,"done":false}`)
	out, _ = mustRun(t, ExitOK, "json", "get", dir, "agent", "pad")
	if want := `{"goal":"y","steps":[{"n":1},{"n":2}],"done":false}`; !jsonEqual(t, out, want) {
		t.Errorf("get = %s, want %s", out, want)
	}
	out, _ = mustRun(t, ExitOK, "json", "get", dir, "agent", "pad", "/steps/1/n")
	if strings.TrimSpace(out) != "2" {
		t.Errorf("get /steps/1/n = %q", out)
	}
	out, _ = mustRun(t, ExitOK, "json", "get", "-o", "json", dir, "agent", "pad", "$.goal")
	if ev := decodeJSON[entryView](t, out); ev.Key != "pad" || valueText(ev.Value) != `"y"` || ev.Version != "txn:6" {
		t.Errorf("get -o json: %s", out)
	}
	mustRun(t, ExitError, "json", "get", dir, "agent", "pad", "/missing")
	mustRun(t, ExitError, "json", "patch", dir, "agent", "pad", `[{"op":"test","path":"/goal","value":"z"}]`)
	mustRun(t, ExitUsage, "json", "patch", dir, "agent", "pad", `{"op":"add"}`)
	mustRun(t, ExitUsage, "json", "set", dir, "agent", "pad", "/goal", `y`)
}

func TestVectorsSearch(t *testing.T) {
	dir, run := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		must[inmem.Version](t)(db.Vectors().CreateCollection(ctx, run, "mem", 3, inmem.Cosine))
		for key, v := range map[string]struct {
			vec  []float32
			meta map[string]any
		}{
			"a": {[]float32{1, 0, 0}, map[string]any{"kind": "fact", "n": 1}},
			"b": {[]float32{0.9, 0.1, 0}, map[string]any{"kind": "note", "n": 2}},
			"c": {[]float32{0.7, 0.7, 0}, map[string]any{"kind": "fact", "n": 3}},
			"d": {[]float32{0, 0, 1}, map[string]any{"kind": "fact", "n": 4}},
		} {
			must[inmem.Version](t)(db.Vectors().Upsert(ctx, run, "mem", key, v.vec, inmem.MustValue(v.meta)))
		}
	})
	keys := func(out string) string {
		var ks []string
		for _, h := range decodeJSON[[]hitView](t, out) {
			ks = append(ks, h.Key)
		}
		return strings.Join(ks, ",")
	}
	out, _ := mustRun(t, ExitOK, "vectors", "search", "-o", "json", dir, "agent", "mem", "[1,0,0]", "-k", "2")
	if got := keys(out); got != "a,b" {
		t.Errorf("search -k 2: %s", got)
	}
	out, _ = mustRun(t, ExitOK, "vectors", "search", "-o", "json", dir, run.String(), "mem", "[1,0,0]", "--filter", `kind="fact"`)
	if got := keys(out); got != "a,c,d" {
		t.Errorf("search kind=fact: %s", got)
	}
	out, _ = mustRun(t, ExitOK, "vectors", "search", "-o", "json", dir, "agent", "mem", "[1,0,0]", "--filter", `kind="fact"`, "--filter", "n>=2", "-k", "1")
	if got := keys(out); got != "c" {
		t.Errorf("search kind=fact n>=2 -k 1: %s", got)
	}
	out, _ = mustRun(t, ExitOK, "vectors", "search", dir, "agent", "mem", "[1,0,0]", "-k", "1")
	if !strings.Contains(out, "RANK") || !strings.Contains(out, "1.000000") || !strings.Contains(out, `"kind":"fact"`) {
		t.Errorf("search table:\n%s", out)
	}
	out, _ = mustRun(t, ExitOK, "vectors", "ls", dir, "agent")
	if !strings.Contains(out, "mem") || !strings.Contains(out, "cosine") {
		t.Errorf("vectors ls:\n%s", out)
	}
	mustRun(t, ExitUsage, "vectors", "search", dir, "agent", "mem", "[1,0,0]", "--filter", "kind=fact")
	mustRun(t, ExitUsage, "vectors", "search", dir, "agent", "mem", `["x"]`)
	mustRun(t, ExitUsage, "vectors", "search", dir, "agent", "mem", "[1,0,0]", "-k", "0")
	mustRun(t, ExitError, "vectors", "search", dir, "agent", "mem", "[1,0]") // wrong dimension
	mustRun(t, ExitError, "vectors", "search", dir, "agent", "nope", "[1,0,0]")
}

func TestEventsAppendListVerify(t *testing.T) {
	dir, _ := newDB(t, nil)
	for i, typ := range []string{"user_message", "tool_call", "tool_result", "tool_call"} {
		out, _ := mustRun(t, ExitOK, "events", "append", "-o", "json", dir, "agent", typ, `{"i":`+string(rune('0'+i))+`}`)
		if wv := decodeJSON[writeView](t, out); wv.Version != "seq:"+string(rune('0'+i)) {
			t.Errorf("append %d: %s", i, out)
		}
	}
	out, _ := mustRun(t, ExitOK, "events", "list", "-o", "ndjson", dir, "agent")
	lines := ndjsonLines(t, out)
	if len(lines) != 4 || lines[3]["type"] != "tool_call" || lines[1]["hash"] != lines[2]["prev_hash"] {
		t.Errorf("events list:\n%s", out)
	}
	out, _ = mustRun(t, ExitOK, "events", "list", "-o", "ndjson", dir, "agent", "--type", "tool_call")
	if lines := ndjsonLines(t, out); len(lines) != 2 || lines[0]["sequence"] != 1.0 || lines[1]["sequence"] != 3.0 {
		t.Errorf("events list --type tool_call:\n%s", out)
	}
	out, _ = mustRun(t, ExitOK, "events", "list", "-o", "ndjson", dir, "agent", "--from", "1", "--to", "3")
	if lines := ndjsonLines(t, out); len(lines) != 2 {
		t.Errorf("events list --from 1 --to 3:\n%s", out)
	}
	out, _ = mustRun(t, ExitOK, "events", "verify", dir, "agent")
	if !strings.Contains(out, "chain ok: 4 events") {
		t.Errorf("events verify: %s", out)
	}
	mustRun(t, ExitUsage, "events", "append", dir, "agent", "x", "{bad")
}

func TestWALDumpNDJSON(t *testing.T) {
	dir, _ := eventsDB(t, 4)
	out, _ := mustRun(t, ExitOK, "wal", "dump", "-o", "ndjson", dir)
	lines := ndjsonLines(t, out)
	if len(lines) != 5 { // the run's registration and four appends
		t.Fatalf("%d lines, want 5:\n%s", len(lines), out)
	}
	for i, l := range lines {
		if l["version"] != float64(i+1) {
			t.Errorf("line %d: version %v", i+1, l["version"])
		}
		if ms, ok := l["mutations"].([]any); !ok || len(ms) == 0 {
			t.Errorf("line %d: no mutations", i+1)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir, _ := newDB(t, nil)
	notDB := t.TempDir()
	if err := os.WriteFile(filepath.Join(notDB, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rid := inmem.NewRunID().String()
	for _, args := range [][]string{
		{"bogus"},
		{"--bogus", "info", dir},
		{"-o", "xml", "version"},
		{"kv"},
		{"kv", "bogus"},
		{"kv", "get", dir},
		{"kv", "get", dir, rid, "k", "extra"},
		{"kv", "put", dir, rid, "k", "not json"},
		{"kv", "get", notDB, rid, "k"},
		{"kv", "get", filepath.Join(notDB, "missing"), rid, "k"},
		{"kv", "get", dir, "no-such-run", "k"},
		{"events", "list", dir, rid, "--from", "5", "--to", "2"},
		{"runs", "ls", dir, "--status", "sleeping"},
		{"runs", "create", dir, "r", "--metadata", "{"},
		{"json", "get", dir, rid},
		{"vectors", "search", dir, rid, "c", "[]"},
		{"check"},
		{"demo", "a", "b"},
		{"demo", "--steps", "1", filepath.Join(t.TempDir(), "d")},
	} {
		_, stderr, code := run(t, args...)
		if code != ExitUsage {
			t.Errorf("inmem %s: exit %d, want %d (%s)", strings.Join(args, " "), code, ExitUsage, stderr)
		}
		if !strings.HasPrefix(stderr, "inmem: ") {
			t.Errorf("inmem %s: stderr %q", strings.Join(args, " "), stderr)
		}
	}
}
