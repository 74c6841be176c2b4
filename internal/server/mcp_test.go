package server

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpClient connects an in-process client of the same SDK to the server's
// MCP endpoint: over in-memory transports, or over streamable HTTP at /mcp.
func mcpClient(t *testing.T, h *harness, overHTTP bool) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	var transport mcp.Transport
	if overHTTP {
		transport = &mcp.StreamableClientTransport{Endpoint: h.ts.URL + "/mcp", DisableStandaloneSSE: true, MaxRetries: -1}
	} else {
		st, ct := mcp.NewInMemoryTransports()
		if _, err := h.srv.mcpServer().Connect(ctx, st, nil); err != nil {
			t.Fatal(err)
		}
		transport = ct
	}
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// call invokes a tool and decodes its structured output; wantErr says
// whether the tool must report an error.
func call(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any, wantErr bool) map[string]any {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError != wantErr {
		t.Fatalf("%s: IsError %v, content %v", name, res.IsError, text(res))
	}
	if wantErr {
		return map[string]any{"error": text(res)}
	}
	b, _ := json.Marshal(res.StructuredContent)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

var wantTools = []string{
	"events_append", "events_list", "json_get", "json_patch", "json_set", "kv_recall", "kv_remember",
	"runs_complete", "runs_create", "runs_diff", "runs_fork", "runs_list", "runs_merge", "state_cas", "state_get", "state_set",
	"trace_list", "trace_record", "vector_search", "vector_upsert",
}

func TestMCPTools(t *testing.T) {
	for _, overHTTP := range []bool{false, true} {
		name := "inmemory"
		if overHTTP {
			name = "http"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Config{})
			cs := mcpClient(t, h, overHTTP)
			ctx := context.Background()

			var names []string
			for tool, err := range cs.Tools(ctx, nil) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, tool.Name)
				if tool.InputSchema == nil || tool.OutputSchema == nil || tool.Description == "" {
					t.Errorf("tool %s lacks a schema or description", tool.Name)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, wantTools) {
				t.Fatalf("tools %v, want %v", names, wantTools)
			}

			run := call(t, cs, "runs_create", map[string]any{"name": "agent-1", "tags": []string{"demo"}}, false)["id"].(string)
			if _, err := inmem.ParseRunID(run); err != nil {
				t.Fatalf("run id %q: %v", run, err)
			}
			call(t, cs, "kv_remember", map[string]any{"run": "agent-1", "key": "user", "value": map[string]any{"name": "Ada"}}, false)
			got := call(t, cs, "kv_recall", map[string]any{"run": run, "key": "user"}, false)
			if got["found"] != true || got["value"].(map[string]any)["name"] != "Ada" {
				t.Fatalf("recall %v", got)
			}
			if got := call(t, cs, "kv_recall", map[string]any{"run": run, "key": "nobody"}, false); got["found"] != false {
				t.Fatalf("recall of a missing key %v", got)
			}
			for i := range 3 {
				if s := call(t, cs, "events_append", map[string]any{"run": run, "type": "step", "payload": i}, false)["sequence"]; s != float64(i) {
					t.Fatalf("sequence %v", s)
				}
			}
			if evs := call(t, cs, "events_list", map[string]any{"run": run, "from": 1}, false)["events"].([]any); len(evs) != 2 {
				t.Fatalf("events %v", evs)
			}
			call(t, cs, "json_set", map[string]any{"run": run, "id": "plan", "value": map[string]any{"steps": []any{"a"}}}, false)
			call(t, cs, "json_set", map[string]any{"run": run, "id": "plan", "path": "/steps/-", "value": "b"}, false)
			call(t, cs, "json_patch", map[string]any{"run": run, "id": "plan", "patch": []any{map[string]any{"op": "add", "path": "/done", "value": false}}}, false)
			call(t, cs, "json_patch", map[string]any{"run": run, "id": "plan", "merge": map[string]any{"done": true}}, false)
			if doc := call(t, cs, "json_get", map[string]any{"run": run, "id": "plan"}, false)["value"].(map[string]any); doc["done"] != true || len(doc["steps"].([]any)) != 2 {
				t.Fatalf("document %v", doc)
			}
			if v := call(t, cs, "state_cas", map[string]any{"run": run, "name": "lock", "expected_version": 0, "value": "me"}, false)["version"]; v != float64(1) {
				t.Fatalf("cas version %v", v)
			}
			if e := call(t, cs, "state_cas", map[string]any{"run": run, "name": "lock", "expected_version": 0, "value": "you"}, true)["error"].(string); !strings.Contains(e, "Conflict") {
				t.Fatalf("losing cas: %s", e)
			}
			call(t, cs, "state_set", map[string]any{"run": run, "name": "lock", "value": "free"}, false)
			if st := call(t, cs, "state_get", map[string]any{"run": run, "name": "lock"}, false); st["value"] != "free" || st["version"] != float64(2) {
				t.Fatalf("state %v", st)
			}
			call(t, cs, "vector_upsert", map[string]any{"run": run, "collection": "mem", "key": "a", "embedding": []float32{1, 0}, "metadata": map[string]any{"t": 1}}, false)
			call(t, cs, "vector_upsert", map[string]any{"run": run, "collection": "mem", "key": "b", "embedding": []float32{0, 1}}, false)
			hits := call(t, cs, "vector_search", map[string]any{"run": run, "collection": "mem", "embedding": []float32{0.9, 0.1}, "k": 1}, false)["hits"].([]any)
			if len(hits) != 1 || hits[0].(map[string]any)["key"] != "a" {
				t.Fatalf("hits %v", hits)
			}
			id := call(t, cs, "trace_record", map[string]any{"run": run, "type": "decision", "body": map[string]any{"choice": "search", "options": []string{"search", "ask"}}}, false)["id"]
			call(t, cs, "trace_record", map[string]any{"run": run, "type": "thought", "body": map[string]any{"content": "why"}, "parent": id}, false)
			if trs := call(t, cs, "trace_list", map[string]any{"run": run, "type": "thought"}, false)["traces"].([]any); len(trs) != 1 || trs[0].(map[string]any)["parent"] != id {
				t.Fatalf("traces %v", trs)
			}
			call(t, cs, "trace_record", map[string]any{"run": run, "type": "bogus", "body": map[string]any{}}, true)
			call(t, cs, "runs_complete", map[string]any{"run": run}, false)
			if e := call(t, cs, "kv_remember", map[string]any{"run": run, "key": "late", "value": 1}, true)["error"].(string); !strings.Contains(e, "RunClosed") {
				t.Fatalf("write into a completed run: %s", e)
			}
			if rs := call(t, cs, "runs_list", map[string]any{"status": "completed"}, false)["runs"].([]any); len(rs) != 1 {
				t.Fatalf("runs %v", rs)
			}

			// Resources: the run list, one run, one document.
			for uri, want := range map[string]string{
				"inmem://runs":                    `"agent-1"`,
				"inmem://runs/" + run:             `"completed"`,
				"inmem://runs/agent-1/json/plan":  `"steps"`,
				"inmem://runs/" + run + "/json/x": "",
			} {
				res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
				if want == "" {
					if err == nil {
						t.Errorf("%s: read a missing document", uri)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", uri, err)
				}
				if !strings.Contains(res.Contents[0].Text, want) {
					t.Errorf("%s: %s lacks %s", uri, res.Contents[0].Text, want)
				}
			}
		})
	}
}

// TestMCPWakesFeeds: MCP writes go through the same commit path as HTTP,
// so an HTTP follower sees events an MCP client appends.
func TestMCPWakesFeeds(t *testing.T) {
	h := newHarness(t, Config{})
	cs := mcpClient(t, h, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := follow(t, ctx, h.ts.URL+"/v1/runs/global/events?follow=1", false)
	call(t, cs, "events_append", map[string]any{"type": "from-mcp", "payload": "hi"}, false)
	if e := readEvent(t, r, false); e["type"] != "from-mcp" {
		t.Fatalf("event %v", e)
	}
}
