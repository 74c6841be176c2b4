package server

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type runsForkIn struct {
	Run  string   `json:"run" jsonschema:"run id or name to fork"`
	At   *uint64  `json:"at,omitempty" jsonschema:"commit version to fork at (default: the newest)"`
	Name string   `json:"name,omitempty" jsonschema:"the fork's name (default: <source name>@<version>)"`
	Tags []string `json:"tags,omitempty"`
}
type runsForkOut struct {
	runOut
	ForkedAt uint64 `json:"forked_at"`
}

type runsDiffIn struct {
	Run    string  `json:"run" jsonschema:"run id or name (side a)"`
	With   string  `json:"with,omitempty" jsonschema:"the other run (side b); omit to compare run with itself at two versions"`
	At     *uint64 `json:"at,omitempty" jsonschema:"commit version of side a (default: the newest)"`
	WithAt *uint64 `json:"with_at,omitempty" jsonschema:"commit version of side b (default: the newest)"`
	After  uint64  `json:"after,omitempty" jsonschema:"skip this many changes (the next of the previous page, with its at and with_at)"`
	Limit  int     `json:"limit,omitempty" jsonschema:"most changes to return (default 100)"`
}
type runsDiffOut struct {
	Run     string           `json:"run"`
	At      uint64           `json:"at"`
	With    string           `json:"with"`
	WithAt  uint64           `json:"with_at"`
	Changes []map[string]any `json:"changes" jsonschema:"kind (added, removed, changed), primitive, key, collection, a and b ({value, version, timestamp} or null), patch (JSON documents), events ({common, a_count, b_count, a, b}: the first 1000 events of each side past the common prefix)"`
	Next    *uint64          `json:"next,omitempty" jsonschema:"set when more changes follow: pass it as after"`
}

type runsMergeIn struct {
	Source   string `json:"source" jsonschema:"run id or name whose changes are merged"`
	Target   string `json:"target" jsonschema:"run id or name that receives them (the source's fork parent or fork)"`
	Strategy string `json:"strategy,omitempty" jsonschema:"fail-on-conflict (default), source-wins or target-wins"`
}
type runsMergeOut struct {
	Version        uint64           `json:"version"`
	Applied        int              `json:"applied"`
	Events         int              `json:"events"`
	Traces         int              `json:"traces"`
	Conflicts      []map[string]any `json:"conflicts" jsonschema:"entities both runs changed: primitive, key, base, source, target"`
	ConflictsTotal int              `json:"conflicts_total"`
}

// mcpDiffLimit is the default page of runs_diff: a model's context is
// smaller than an HTTP client's buffer.
const mcpDiffLimit = 100

// addForkTools registers runs_fork, runs_diff and runs_merge.
func (s *Server) addForkTools(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{Name: "runs_fork", Description: "Fork a run at a commit version into a new run that starts with all its data; try something without touching the original."},
		func(ctx context.Context, req *mcp.CallToolRequest, in runsForkIn) (*mcp.CallToolResult, runsForkOut, error) {
			src, err := resolveRun(ctx, s.db, in.Run)
			if err != nil {
				return nil, runsForkOut{}, err
			}
			r, err := forkRun(ctx, s.db, src, forkRequest{At: in.At, Name: in.Name, Tags: in.Tags})
			if err != nil {
				return nil, runsForkOut{}, err
			}
			s.changes.notify()
			out, err := convert[runsForkOut](r)
			return nil, out, err
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "runs_diff", Description: "List what differs between two runs (say a fork and its parent), or one run at two versions, one page at a time."},
		func(ctx context.Context, req *mcp.CallToolRequest, in runsDiffIn) (*mcp.CallToolResult, runsDiffOut, error) {
			q := diffQuery{After: in.After, Limit: in.Limit}
			if q.Limit == 0 {
				q.Limit = mcpDiffLimit
			}
			var err error
			if q.A, err = resolveRun(ctx, s.db, in.Run); err != nil {
				return nil, runsDiffOut{}, err
			}
			q.B = q.A
			if in.With != "" {
				if q.B, err = resolveRun(ctx, s.db, in.With); err != nil {
					return nil, runsDiffOut{}, err
				}
			}
			if in.At != nil {
				q.AAt, q.haveA = *in.At, true
			}
			if in.WithAt != nil {
				q.BAt, q.haveB = *in.WithAt, true
			}
			r, err := diffPage(ctx, s.db, q)
			if err != nil {
				return nil, runsDiffOut{}, err
			}
			out, err := convert[runsDiffOut](r)
			return nil, out, err
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "runs_merge", Description: "Merge a fork's changes into its parent (or the parent's into the fork). By default any entity both changed refuses the whole merge and the error lists the conflicts."},
		func(ctx context.Context, req *mcp.CallToolRequest, in runsMergeIn) (*mcp.CallToolResult, runsMergeOut, error) {
			src, err := resolveRun(ctx, s.db, in.Source)
			if err != nil {
				return nil, runsMergeOut{}, err
			}
			r, err := mergeRuns(ctx, s.db, src, mergeRequest{Into: in.Target, Strategy: in.Strategy})
			if err != nil {
				return nil, runsMergeOut{}, err
			}
			s.changes.notify()
			out, err := convert[runsMergeOut](r)
			return nil, out, err
		})
}
