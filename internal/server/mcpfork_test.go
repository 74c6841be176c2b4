package server

import (
	"strings"
	"testing"
)

// TestMCPForkDiffMerge drives the branch tools as an agent would: fork,
// change the fork, see the difference page by page, merge, and meet a
// conflict listed in the error.
func TestMCPForkDiffMerge(t *testing.T) {
	h := newHarness(t, Config{})
	cs := mcpClient(t, h, false)
	call(t, cs, "runs_create", map[string]any{"name": "main"}, false)
	call(t, cs, "kv_remember", map[string]any{"run": "main", "key": "plan", "value": "a"}, false)
	call(t, cs, "kv_remember", map[string]any{"run": "main", "key": "shared", "value": 0}, false)
	f := call(t, cs, "runs_fork", map[string]any{"run": "main", "name": "try-b"}, false)
	if f["name"] != "try-b" || f["parent"] == nil || f["forked_at"] == float64(0) {
		t.Fatalf("fork %v", f)
	}
	call(t, cs, "kv_remember", map[string]any{"run": "try-b", "key": "plan", "value": "b"}, false)
	call(t, cs, "kv_remember", map[string]any{"run": "try-b", "key": "extra", "value": 1}, false)

	p := call(t, cs, "runs_diff", map[string]any{"run": "main", "with": "try-b", "limit": 1}, false)
	if len(p["changes"].([]any)) != 1 || p["next"] != float64(1) {
		t.Fatalf("first page %v", p)
	}
	p = call(t, cs, "runs_diff", map[string]any{"run": "main", "with": "try-b", "at": p["at"], "with_at": p["with_at"], "after": 1}, false)
	if len(p["changes"].([]any)) != 1 || p["next"] != nil {
		t.Fatalf("second page %v", p)
	}
	call(t, cs, "runs_diff", map[string]any{"run": "main", "with": "nope"}, true)
	call(t, cs, "runs_diff", map[string]any{"run": "main", "at": 1 << 40}, true)
	call(t, cs, "runs_fork", map[string]any{"run": "nope"}, true)

	call(t, cs, "kv_remember", map[string]any{"run": "main", "key": "plan", "value": "c"}, false)
	e := call(t, cs, "runs_merge", map[string]any{"source": "try-b", "target": "main"}, true)["error"].(string)
	if !strings.Contains(e, "ConstraintViolation") || !strings.Contains(e, "kv plan") {
		t.Fatalf("conflicting merge: %s", e)
	}
	call(t, cs, "runs_merge", map[string]any{"source": "try-b", "target": "main", "strategy": "sideways"}, true)
	m := call(t, cs, "runs_merge", map[string]any{"source": "try-b", "target": "main", "strategy": "source-wins"}, false)
	if m["applied"] != float64(2) || m["conflicts_total"] != float64(1) {
		t.Fatalf("merge %v", m)
	}
	if got := call(t, cs, "kv_recall", map[string]any{"run": "main", "key": "plan"}, false)["value"]; got != "b" {
		t.Fatalf("merged plan %v", got)
	}
}
