package server

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// forkFixture registers run "src" with a KV key, a document, a state cell
// and two events, forks it as "child" and returns the fork's record.
func forkFixture(h *harness) map[string]any {
	h.t.Helper()
	h.must("POST", "/v1/runs", `{"name":"src"}`)
	h.must("PUT", "/v1/runs/src/kv/a", `{"value":1}`)
	h.must("PUT", "/v1/runs/src/kv/b", `{"value":2}`)
	h.must("PUT", "/v1/runs/src/json/doc", `{"value":{"x":1,"y":[1,2]}}`)
	h.must("PUT", "/v1/runs/src/state/phase", `{"value":"plan"}`)
	h.must("POST", "/v1/runs/src/events", `{"type":"start"}`)
	return h.must("POST", "/v1/runs/src/fork", `{"name":"child","tags":["t"]}`)
}

func TestForkDiffMerge(t *testing.T) {
	h := newHarness(t, Config{})
	child := forkFixture(h)
	if child["name"] != "child" || child["parent"] == nil || child["forked_at"] == nil {
		t.Fatalf("fork record %v", child)
	}
	// The fork reads through to the parent and then evolves on its own.
	if got := h.must("GET", "/v1/runs/child/kv/a", "")["value"]; got != float64(1) {
		t.Fatalf("child a: %v", got)
	}
	h.must("PUT", "/v1/runs/child/kv/a", `{"value":10}`)
	h.must("PUT", "/v1/runs/child/kv/new", `{"value":"n"}`)
	h.must("DELETE", "/v1/runs/child/kv/b", "")
	h.must("POST", "/v1/runs/child/json/doc", `{"path":"/x","value":5}`)
	h.must("POST", "/v1/runs/child/events", `{"type":"step"}`)
	if got := h.must("GET", "/v1/runs/src/kv/a", "")["value"]; got != float64(1) {
		t.Fatalf("the fork's write reached its parent: %v", got)
	}

	d := h.must("GET", "/v1/runs/src/diff?with=child", "")
	byKey := map[string]map[string]any{}
	for _, c := range d["changes"].([]any) {
		c := c.(map[string]any)
		k, _ := c["key"].(string)
		byKey[fmt.Sprint(c["primitive"], ":", k)] = c
	}
	if c := byKey["kv:a"]; c["kind"] != "changed" || c["a"].(map[string]any)["value"] != float64(1) || c["b"].(map[string]any)["value"] != float64(10) {
		t.Fatalf("kv a: %v", c)
	}
	if c := byKey["kv:new"]; c["kind"] != "added" || c["a"] != nil {
		t.Fatalf("kv new: %v", c)
	}
	if c := byKey["kv:b"]; c["kind"] != "removed" || c["b"] != nil {
		t.Fatalf("kv b: %v", c)
	}
	if p := byKey["json:doc"]["patch"].([]any); len(p) != 1 || fmt.Sprint(p[0]) != "map[op:replace path:/x value:5]" {
		t.Fatalf("json patch %v", p)
	}
	ev := byKey["event:"]["events"].(map[string]any)
	if ev["common"] != float64(1) || len(ev["a"].([]any)) != 0 || len(ev["b"].([]any)) != 1 || ev["b_count"] != float64(1) {
		t.Fatalf("event diff %v", ev)
	}
	if len(byKey) != 5 || d["next"] != nil {
		t.Fatalf("diff %v", d)
	}

	// Pages: each names the pinned versions; following next with them
	// yields every change once, even when the runs move in between.
	var seen []string
	q := "with=child&limit=2"
	for range 10 {
		p := h.must("GET", "/v1/runs/src/diff?"+q, "")
		for _, c := range p["changes"].([]any) {
			c := c.(map[string]any)
			seen = append(seen, fmt.Sprint(c["primitive"], ":", c["key"]))
		}
		if p["next"] == nil {
			break
		}
		h.must("PUT", "/v1/runs/child/kv/zzz-late", `{"value":1}`)
		q = fmt.Sprintf("with=child&limit=2&at=%v&with_at=%v&after=%v", p["at"], p["with_at"], p["next"])
	}
	if len(seen) != 5 {
		t.Fatalf("paged diff saw %v", seen)
	}

	// One run at two versions.
	v1 := h.must("PUT", "/v1/runs/src/kv/c", `{"value":3}`)["version"].(float64)
	h.must("PUT", "/v1/runs/src/kv/c", `{"value":4}`)
	d = h.must("GET", fmt.Sprintf("/v1/runs/src/diff?at=%d", int(v1)), "")
	if cs := d["changes"].([]any); len(cs) != 1 || cs[0].(map[string]any)["kind"] != "changed" {
		t.Fatalf("diff over time %v", cs)
	}

	// Merge: the fork's changes land in the parent.
	m := h.must("POST", "/v1/runs/child/merge", `{"into":"src"}`)
	if m["applied"] != float64(5) || m["events"] != float64(1) || m["conflicts_total"] != float64(0) {
		t.Fatalf("merge %v", m)
	}
	if got := h.must("GET", "/v1/runs/src/kv/a", "")["value"]; got != float64(10) {
		t.Fatalf("merged a: %v", got)
	}
	if st, _ := h.do("GET", "/v1/runs/src/kv/b", ""); st != 404 {
		t.Fatalf("merged delete of b: %d", st)
	}
}

func TestMergeConflicts(t *testing.T) {
	h := newHarness(t, Config{})
	forkFixture(h)
	h.must("PUT", "/v1/runs/child/kv/a", `{"value":"child"}`)
	h.must("PUT", "/v1/runs/src/kv/a", `{"value":"parent"}`)
	h.must("PUT", "/v1/runs/child/kv/only-child", `{"value":1}`)
	before := h.db.Stats().CommitVersion

	st, m := h.do("POST", "/v1/runs/child/merge", `{"into":"src"}`)
	if st != 409 || errCode(m) != "ConstraintViolation" {
		t.Fatalf("conflicting merge: %d %v", st, m)
	}
	e := m["error"].(map[string]any)
	cs := e["conflicts"].([]any)
	if len(cs) != 1 || e["conflicts_total"] != float64(1) {
		t.Fatalf("conflicts %v", e)
	}
	c := cs[0].(map[string]any)
	if c["primitive"] != "kv" || c["key"] != "a" || c["source"].(map[string]any)["value"] != "child" ||
		c["target"].(map[string]any)["value"] != "parent" || c["base"].(map[string]any)["value"] != float64(1) {
		t.Fatalf("conflict %v", c)
	}
	if h.db.Stats().CommitVersion != before {
		t.Fatal("a refused merge committed")
	}

	m = h.must("POST", "/v1/runs/child/merge", `{"into":"src","strategy":"target-wins"}`)
	if m["conflicts_total"] != float64(1) || m["applied"] != float64(1) {
		t.Fatalf("target-wins %v", m)
	}
	if got := h.must("GET", "/v1/runs/src/kv/a", "")["value"]; got != "parent" {
		t.Fatalf("target-wins a: %v", got)
	}
	h.must("PUT", "/v1/runs/child/kv/a", `{"value":"child2"}`)
	h.must("POST", "/v1/runs/child/merge", `{"into":"src","strategy":"source-wins"}`)
	if got := h.must("GET", "/v1/runs/src/kv/a", "")["value"]; got != "child2" {
		t.Fatalf("source-wins a: %v", got)
	}
}

// TestForkDiffMergeErrors: every mistake is a typed 4xx and changes
// nothing.
func TestForkDiffMergeErrors(t *testing.T) {
	h := newHarness(t, Config{})
	forkFixture(h)
	h.must("POST", "/v1/runs", `{"name":"stranger"}`)
	before := h.db.Stats().CommitVersion
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/runs/nope/fork", ``, 404, "RunNotFound"},
		{"POST", "/v1/runs/src/fork", `{"at":999999}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/src/fork", `{"at":"1"}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/src/fork", `{"bogus":1}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/src/fork", `{"name":"child"}`, 409, "AlreadyExists"},
		{"POST", "/v1/runs/src/fork", `{`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/global/fork", ``, 400, "InvalidArgument"},
		{"GET", "/v1/runs/src/diff?with=nope", ``, 404, "RunNotFound"},
		{"GET", "/v1/runs/src/diff?at=999999", ``, 400, "InvalidArgument"},
		{"GET", "/v1/runs/src/diff?with_at=-1", ``, 400, "InvalidArgument"},
		{"GET", "/v1/runs/src/diff?limit=0", ``, 400, "InvalidArgument"},
		{"GET", "/v1/runs/src/diff?limit=10001", ``, 400, "InvalidArgument"},
		{"GET", "/v1/runs/src/diff?after=x", ``, 400, "InvalidArgument"},
		{"POST", "/v1/runs/child/merge", ``, 400, "InvalidArgument"},
		{"POST", "/v1/runs/child/merge", `{}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/child/merge", `{"into":"src","strategy":"yolo"}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/child/merge", `{"into":"src","extra":1}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/child/merge", `{"into":"child"}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/child/merge", `{"into":"nope"}`, 404, "RunNotFound"},
		{"POST", "/v1/runs/stranger/merge", `{"into":"src"}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/nope/merge", `{"into":"src"}`, 404, "RunNotFound"},
	}
	for _, c := range cases {
		st, m := h.do(c.method, c.path, c.body)
		if st != c.status || errCode(m) != c.code {
			t.Errorf("%s %s %s: got %d %v, want %d %s", c.method, c.path, c.body, st, m, c.status, c.code)
		}
	}
	if after := h.db.Stats().CommitVersion; after != before {
		t.Fatalf("bad requests committed: %d -> %d", before, after)
	}
}

// TestReadsAsOf reads whole-run snapshots (lists, events, point reads,
// batches) as of a past commit version and time.
func TestReadsAsOf(t *testing.T) {
	h := newHarness(t, Config{})
	h.must("PUT", "/v1/runs/global/kv/a", `{"value":1}`)
	h.must("POST", "/v1/runs/global/events", `{"type":"one"}`)
	h.must("PUT", "/v1/runs/global/state/s", `{"value":"x"}`)
	cv := h.db.Stats().CommitVersion
	ts := h.must("GET", "/v1/runs/global/kv/a", "")["timestamp"].(float64)
	h.must("PUT", "/v1/runs/global/kv/b", `{"value":2}`)
	h.must("PUT", "/v1/runs/global/kv/a", `{"value":9}`)
	h.must("POST", "/v1/runs/global/events", `{"type":"two"}`)
	h.must("DELETE", "/v1/runs/global/state/s", "")

	asOf := fmt.Sprintf("as_of=%d", cv)
	if keys := h.must("GET", "/v1/runs/global/kv?"+asOf, "")["keys"]; fmt.Sprint(keys) != "[a]" {
		t.Fatalf("kv list as of %d: %v", cv, keys)
	}
	if got := h.must("GET", "/v1/runs/global/kv/a?"+asOf, "")["value"]; got != float64(1) {
		t.Fatalf("kv a as of: %v", got)
	}
	if evs := h.must("GET", "/v1/runs/global/events?"+asOf, "")["events"].([]any); len(evs) != 1 {
		t.Fatalf("events as of: %v", evs)
	}
	if got := h.must("GET", "/v1/runs/global/state/s?"+asOf, "")["value"]; got != "x" {
		t.Fatalf("state as of: %v", got)
	}
	m := h.must("POST", "/v1/batch", fmt.Sprintf(`{"as_of":%d,"ops":[{"op":"kv.get","key":"a"},{"op":"kv.list"}]}`, cv))
	if res := m["results"].([]any); res[0].(map[string]any)["value"] != float64(1) || fmt.Sprint(res[1].(map[string]any)["keys"]) != "[a]" {
		t.Fatalf("batch as of: %v", res)
	}
	// By time: the first commit's timestamp (microseconds) sees only a.
	at := url.QueryEscape(fmtMicros(int64(ts)))
	if got := h.must("GET", "/v1/runs/global/kv?as_of_time="+at, "")["keys"]; fmt.Sprint(got) != "[a]" {
		t.Fatalf("kv list as of time %s: %v", at, got)
	}
	before := h.db.Stats().CommitVersion
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/batch", fmt.Sprintf(`{"as_of":%d,"ops":[{"op":"kv.put","key":"a","value":1}]}`, cv)},
		{"POST", "/v1/batch", `{"as_of":1,"as_of_time":"2020-01-01T00:00:00Z","ops":[{"op":"kv.list"}]}`},
		{"POST", "/v1/batch", `{"as_of_time":"soon","ops":[{"op":"kv.list"}]}`},
		{"GET", "/v1/runs/global/kv?as_of=99999999", ""},
		{"GET", "/v1/runs/global/events?follow=1&as_of=1", ""},
	} {
		if st, m := h.do(c.method, c.path, c.body); st != 400 || errCode(m) != "InvalidArgument" {
			t.Errorf("%s %s %s: %d %v", c.method, c.path, c.body, st, m)
		}
	}
	if h.db.Stats().CommitVersion != before {
		t.Fatal("a read as of a past version wrote")
	}
}

func fmtMicros(us int64) string { return time.UnixMicro(us).UTC().Format(time.RFC3339Nano) }

// TestDiffBoundsEvents: a diff of logs that diverged by more events than
// an answer shows lists the first of them and counts all.
func TestDiffBoundsEvents(t *testing.T) {
	h := newHarness(t, Config{})
	h.must("POST", "/v1/runs", `{"name":"src"}`)
	h.must("POST", "/v1/runs/src/fork", `{"name":"child"}`)
	n := maxDiffEvents + 5
	for i := 0; i < n; i += 500 {
		ops := ""
		for j := i; j < min(n, i+500); j++ {
			if ops != "" {
				ops += ","
			}
			ops += `{"op":"event.append","type":"e"}`
		}
		h.must("POST", "/v1/batch", `{"run":"child","ops":[`+ops+`]}`)
	}
	d := h.must("GET", "/v1/runs/src/diff?with=child", "")
	ev := d["changes"].([]any)[0].(map[string]any)["events"].(map[string]any)
	if ev["b_count"] != float64(n) || len(ev["b"].([]any)) != maxDiffEvents {
		t.Fatalf("events diff shows %d of %v", len(ev["b"].([]any)), ev["b_count"])
	}
}
