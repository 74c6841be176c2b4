package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/inmemdb/inmem"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The MCP tools are thin: each builds one or two Ops and applies them like
// an HTTP request does, so they share its validation, atomicity and change
// notifications. Schemas are inferred from the input and output structs.

const mcpInstructions = `in-mem is a transactional state database for agents. Every piece of data belongs to a run:
pass "run" as a run id, the name of a run created with runs_create, or omit it for the global run.
Use kv_remember/kv_recall for working memory, events_append/events_list for an append-only log,
state_* for coordination cells with counters (state_cas for compare-and-set), json_* for documents,
vector_upsert/vector_search with your own embeddings, trace_record/trace_list for reasoning traces,
runs_fork/runs_diff/runs_merge to branch a run, compare branches and bring one's changes back.`

type runArg struct {
	Run string `json:"run,omitempty" jsonschema:"run id, run name, or omit for the global run"`
}

type kvRememberIn struct {
	runArg
	Key       string  `json:"key" jsonschema:"the key"`
	Value     any     `json:"value" jsonschema:"any JSON value"`
	IfVersion *uint64 `json:"if_version,omitempty" jsonschema:"write only if the key is at this version (0: absent)"`
}
type kvRecallIn struct {
	runArg
	Key string `json:"key"`
}
type valueOut struct {
	Found     bool   `json:"found"`
	Value     any    `json:"value"`
	Version   uint64 `json:"version"`
	Timestamp int64  `json:"timestamp"`
}
type versionOut struct {
	Version uint64 `json:"version"`
}

type eventsAppendIn struct {
	runArg
	Type    string `json:"type" jsonschema:"the event type"`
	Payload any    `json:"payload,omitempty"`
}
type sequenceOut struct {
	Sequence uint64 `json:"sequence"`
}
type eventsListIn struct {
	runArg
	From  uint64 `json:"from,omitempty" jsonschema:"first sequence (default 0)"`
	Limit int    `json:"limit,omitempty" jsonschema:"most events to return (default 1000)"`
	Type  string `json:"type,omitempty" jsonschema:"only events of this type"`
}
type eventOut struct {
	Sequence  uint64 `json:"sequence"`
	Type      string `json:"type"`
	Payload   any    `json:"payload"`
	Timestamp int64  `json:"timestamp"`
	Hash      string `json:"hash"`
	PrevHash  string `json:"prev_hash"`
}
type eventsOut struct {
	Events []eventOut `json:"events"`
}

type jsonSetIn struct {
	runArg
	ID    string `json:"id" jsonschema:"document id"`
	Path  string `json:"path,omitempty" jsonschema:"JSON Pointer or dotted path; omit to write the whole document"`
	Value any    `json:"value"`
}
type jsonGetIn struct {
	runArg
	ID   string `json:"id"`
	Path string `json:"path,omitempty"`
}
type jsonPatchIn struct {
	runArg
	ID    string `json:"id"`
	Patch []any  `json:"patch,omitempty" jsonschema:"RFC 6902 JSON Patch operations"`
	Merge any    `json:"merge,omitempty" jsonschema:"an RFC 7396 merge patch, instead of patch"`
}

type stateGetIn struct {
	runArg
	Name string `json:"name"`
}
type stateSetIn struct {
	runArg
	Name  string `json:"name"`
	Value any    `json:"value"`
}
type stateCASIn struct {
	runArg
	Name            string `json:"name"`
	ExpectedVersion uint64 `json:"expected_version" jsonschema:"the counter the cell must have (0: must not exist)"`
	Value           any    `json:"value"`
}

type vectorUpsertIn struct {
	runArg
	Collection string    `json:"collection" jsonschema:"created on first use with the embedding's dimension"`
	Key        string    `json:"key"`
	Embedding  []float32 `json:"embedding"`
	Metadata   any       `json:"metadata,omitempty" jsonschema:"an object"`
	Metric     string    `json:"metric,omitempty" jsonschema:"cosine (default), euclidean or dot_product; used when the collection is created"`
}
type vectorSearchIn struct {
	runArg
	Collection string       `json:"collection"`
	Embedding  []float32    `json:"embedding"`
	K          int          `json:"k,omitempty" jsonschema:"how many hits (default 10)"`
	Filter     []FilterCond `json:"filter,omitempty"`
}
type hitOut struct {
	Key      string  `json:"key"`
	Score    float64 `json:"score"`
	Metadata any     `json:"metadata"`
}
type hitsOut struct {
	Hits []hitOut `json:"hits"`
}

type traceRecordIn struct {
	runArg
	Type     string         `json:"type" jsonschema:"tool_call, decision, query, thought, error or custom:<name>"`
	Body     map[string]any `json:"body" jsonschema:"tool_call {tool,input,output,duration_ms}; decision {choice,options,reasoning}; query {query,results}; thought {content}; error {message,code}; custom {data}"`
	Parent   uint64         `json:"parent,omitempty" jsonschema:"parent trace id"`
	Tags     []string       `json:"tags,omitempty"`
	Metadata any            `json:"metadata,omitempty"`
}
type traceListIn struct {
	runArg
	Type string `json:"type,omitempty"`
	Tag  string `json:"tag,omitempty"`
}
type traceOut struct {
	ID         uint64         `json:"id"`
	Parent     uint64         `json:"parent"`
	Type       string         `json:"type"`
	Body       map[string]any `json:"body"`
	Tags       []string       `json:"tags"`
	Metadata   any            `json:"metadata"`
	RecordedAt int64          `json:"recorded_at"`
	Version    uint64         `json:"version"`
}
type tracesOut struct {
	Traces []traceOut `json:"traces"`
}
type idOut struct {
	ID      uint64 `json:"id"`
	Version uint64 `json:"version"`
}

type runsCreateIn struct {
	Name      string   `json:"name" jsonschema:"unique run name"`
	ParentRun string   `json:"parent_run,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Metadata  any      `json:"metadata,omitempty"`
}
type runIDOut struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
}
type runsListIn struct {
	Status string `json:"status,omitempty"`
	Tag    string `json:"tag,omitempty"`
}
type runOut struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Parent    string   `json:"parent,omitempty"`
	Status    string   `json:"status"`
	Tags      []string `json:"tags"`
	Metadata  any      `json:"metadata"`
	Error     string   `json:"error"`
	CreatedAt int64    `json:"created_at"`
	UpdatedAt int64    `json:"updated_at"`
	Version   uint64   `json:"version"`
}
type runsOut struct {
	Runs []runOut `json:"runs"`
}
type runsCompleteIn struct {
	Run    string `json:"run" jsonschema:"run id or name"`
	Status string `json:"status,omitempty" jsonschema:"completed (default), failed or cancelled"`
	Error  string `json:"error,omitempty" jsonschema:"the failure message, for failed"`
}

// raw encodes a tool argument for an Op field; nil stays absent.
func raw(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("!") // surfaces as InvalidArgument when parsed
	}
	return b
}

// convert moves a Result into a tool's output struct.
func convert[Out any](r Result) (Out, error) {
	var out Out
	b, err := json.Marshal(r)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}

// tool registers a tool that applies the operations build returns, in one
// batch, and reports the last one's result.
func tool[In, Out any](s *Server, srv *mcp.Server, name, desc string, build func(In) (string, []Op)) {
	mcp.AddTool(srv, &mcp.Tool{Name: name, Description: desc}, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		var zero Out
		runRef, ops := build(in)
		run, err := resolveRun(ctx, s.db, runRef)
		if err != nil {
			return nil, zero, err
		}
		res, _, err := s.apply(ctx, run, ops)
		if err != nil {
			var oe *OpError
			if errors.As(err, &oe) {
				err = oe.Err
			}
			return nil, zero, err
		}
		out, err := convert[Out](res[len(res)-1])
		return nil, out, err
	})
}

func (s *Server) mcpServer() *mcp.Server {
	s.mcpOnce.Do(func() { s.mcp = s.newMCPServer() })
	return s.mcp
}

func (s *Server) newMCPServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "inmem", Version: "1"}, &mcp.ServerOptions{Instructions: mcpInstructions})

	tool[kvRememberIn, versionOut](s, srv, "kv_remember", "Store a value under a key in a run's working memory.", func(in kvRememberIn) (string, []Op) {
		return in.Run, []Op{{Op: "kv.put", Key: in.Key, Value: raw(in.Value), IfVersion: in.IfVersion}}
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "kv_recall", Description: "Read the value stored under a key; found is false when there is none."},
		func(ctx context.Context, req *mcp.CallToolRequest, in kvRecallIn) (*mcp.CallToolResult, valueOut, error) {
			return s.mcpRead(ctx, in.Run, Op{Op: "kv.get", Key: in.Key})
		})
	tool[eventsAppendIn, sequenceOut](s, srv, "events_append", "Append an event to a run's hash-chained log; returns its sequence.", func(in eventsAppendIn) (string, []Op) {
		return in.Run, []Op{{Op: "event.append", Type: in.Type, Value: raw(in.Payload)}}
	})
	tool[eventsListIn, eventsOut](s, srv, "events_list", "List a run's events in order from a sequence.", func(in eventsListIn) (string, []Op) {
		return in.Run, []Op{{Op: "event.list", From: in.From, Limit: in.Limit, Type: in.Type}}
	})
	tool[jsonSetIn, versionOut](s, srv, "json_set", "Write a JSON document, or the value at a path inside it.", func(in jsonSetIn) (string, []Op) {
		if in.Path == "" || in.Path == "$" {
			return in.Run, []Op{{Op: "json.put", Key: in.ID, Value: raw(in.Value)}}
		}
		return in.Run, []Op{{Op: "json.set", Key: in.ID, Path: in.Path, Value: raw(in.Value)}}
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "json_get", Description: "Read a JSON document or the value at a path inside it."},
		func(ctx context.Context, req *mcp.CallToolRequest, in jsonGetIn) (*mcp.CallToolResult, valueOut, error) {
			return s.mcpRead(ctx, in.Run, Op{Op: "json.get", Key: in.ID, Path: in.Path})
		})
	tool[jsonPatchIn, versionOut](s, srv, "json_patch", "Apply an RFC 6902 JSON Patch (patch) or an RFC 7396 merge patch (merge) to a document.", func(in jsonPatchIn) (string, []Op) {
		if in.Merge != nil {
			return in.Run, []Op{{Op: "json.merge", Key: in.ID, Value: raw(in.Merge)}}
		}
		return in.Run, []Op{{Op: "json.patch", Key: in.ID, Patch: raw(in.Patch)}}
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "state_get", Description: "Read a state cell and its counter; found is false when it does not exist."},
		func(ctx context.Context, req *mcp.CallToolRequest, in stateGetIn) (*mcp.CallToolResult, valueOut, error) {
			return s.mcpRead(ctx, in.Run, Op{Op: "state.get", Key: in.Name})
		})
	tool[stateSetIn, versionOut](s, srv, "state_set", "Write a state cell unconditionally; returns its new counter.", func(in stateSetIn) (string, []Op) {
		return in.Run, []Op{{Op: "state.set", Key: in.Name, Value: raw(in.Value)}}
	})
	tool[stateCASIn, versionOut](s, srv, "state_cas", "Write a state cell only if its counter is expected_version (0: it must not exist); a mismatch is a Conflict error.", func(in stateCASIn) (string, []Op) {
		v := in.ExpectedVersion
		return in.Run, []Op{{Op: "state.set", Key: in.Name, Value: raw(in.Value), IfVersion: &v, IfAbsent: v == 0}}
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "vector_upsert", Description: "Store an embedding (computed by you) with metadata; the collection is created on first use."},
		func(ctx context.Context, req *mcp.CallToolRequest, in vectorUpsertIn) (*mcp.CallToolResult, versionOut, error) {
			run, err := resolveRun(ctx, s.db, in.Run)
			if err != nil {
				return nil, versionOut{}, err
			}
			_, err = s.apply1(ctx, run, Op{Op: "vector.create_collection", Collection: in.Collection, Dim: len(in.Embedding), Metric: in.Metric})
			if err != nil && !errors.Is(err, inmem.ErrAlreadyExists) {
				return nil, versionOut{}, err
			}
			r, err := s.apply1(ctx, run, Op{Op: "vector.upsert", Collection: in.Collection, Key: in.Key, Embedding: in.Embedding, Metadata: raw(in.Metadata)})
			if err != nil {
				return nil, versionOut{}, err
			}
			out, err := convert[versionOut](r)
			return nil, out, err
		})
	tool[vectorSearchIn, hitsOut](s, srv, "vector_search", "Find the k stored embeddings most similar to a query embedding, optionally filtered on metadata.", func(in vectorSearchIn) (string, []Op) {
		return in.Run, []Op{{Op: "vector.search", Collection: in.Collection, Embedding: in.Embedding, K: in.K, Filter: in.Filter}}
	})
	tool[traceRecordIn, idOut](s, srv, "trace_record", "Record a reasoning trace (tool call, decision, query, thought, error or custom).", func(in traceRecordIn) (string, []Op) {
		op := Op{Op: "trace.record", Type: in.Type, Body: raw(in.Body), Tags: in.Tags, Metadata: raw(in.Metadata)}
		if in.Parent != 0 {
			p := in.Parent
			op.Parent = &p
		}
		return in.Run, []Op{op}
	})
	tool[traceListIn, tracesOut](s, srv, "trace_list", "List a run's traces, optionally by type or tag.", func(in traceListIn) (string, []Op) {
		return in.Run, []Op{{Op: "trace.list", Type: in.Type, Tag: in.Tag}}
	})
	tool[runsCreateIn, runIDOut](s, srv, "runs_create", "Register a new run; returns its id.", func(in runsCreateIn) (string, []Op) {
		return "", []Op{{Op: "run.create", Name: in.Name, ParentRun: in.ParentRun, Tags: in.Tags, Metadata: raw(in.Metadata)}}
	})
	tool[runsListIn, runsOut](s, srv, "runs_list", "List registered runs, optionally by status or tag.", func(in runsListIn) (string, []Op) {
		return "", []Op{{Op: "run.list", Status: in.Status, Tag: in.Tag}}
	})
	tool[runsCompleteIn, versionOut](s, srv, "runs_complete", "Close a run: completed (default), failed (with error) or cancelled.", func(in runsCompleteIn) (string, []Op) {
		return "", []Op{{Op: "run.set_status", Run: in.Run, Status: orDefault(in.Status, string(inmem.RunCompleted)), Error: in.Error}}
	})
	s.addForkTools(srv)

	srv.AddResource(&mcp.Resource{URI: "inmem://runs", Name: "runs", Description: "every registered run", MIMEType: "application/json"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return s.mcpResource(ctx, req.Params.URI, "", Op{Op: "run.list"})
		})
	srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "inmem://runs/{run}", Name: "run", Description: "one run's record", MIMEType: "application/json"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			run, _, ok := splitResource(req.Params.URI)
			if !ok {
				return nil, mcp.ResourceNotFoundError(req.Params.URI)
			}
			return s.mcpResource(ctx, req.Params.URI, "", Op{Op: "run.get", Run: run})
		})
	srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "inmem://runs/{run}/json/{id}", Name: "document", Description: "a JSON document of a run", MIMEType: "application/json"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			run, id, ok := splitResource(req.Params.URI)
			if !ok || id == "" {
				return nil, mcp.ResourceNotFoundError(req.Params.URI)
			}
			return s.mcpResource(ctx, req.Params.URI, run, Op{Op: "json.get", Key: id})
		})
	return srv
}

// splitResource parses inmem://runs/<run>[/json/<id>].
func splitResource(uri string) (run, id string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "inmem://runs/")
	if !ok || rest == "" {
		return "", "", false
	}
	run, doc, hasDoc := strings.Cut(rest, "/json/")
	if strings.Contains(run, "/") {
		return "", "", false
	}
	if hasDoc {
		return run, doc, doc != ""
	}
	return run, "", true
}

func (s *Server) mcpResource(ctx context.Context, uri, runRef string, op Op) (*mcp.ReadResourceResult, error) {
	run, err := resolveRun(ctx, s.db, runRef)
	if err != nil {
		return nil, err
	}
	r, err := s.apply1(ctx, run, op)
	if errors.Is(err, inmem.ErrNotFound) {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if err != nil {
		return nil, err
	}
	var v any = r
	if op.Op == "json.get" {
		v = r["value"]
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(b)}}}, nil
}

// mcpRead runs a point read, turning NotFound into found=false: a missing
// memory is an answer for an agent, not a failure.
func (s *Server) mcpRead(ctx context.Context, runRef string, op Op) (*mcp.CallToolResult, valueOut, error) {
	run, err := resolveRun(ctx, s.db, runRef)
	if err != nil {
		return nil, valueOut{}, err
	}
	r, err := s.apply1(ctx, run, op)
	if errors.Is(err, inmem.ErrNotFound) && !errors.Is(err, inmem.ErrRunNotFound) {
		return nil, valueOut{}, nil
	}
	if err != nil {
		return nil, valueOut{}, err
	}
	out, err := convert[valueOut](r)
	out.Found = true
	return nil, out, err
}

// mcpHTTPHandler serves MCP's streamable HTTP transport at /mcp. Its
// requests end when the server shuts down (long-lived GET streams would
// otherwise hold Shutdown until its timeout).
func (s *Server) mcpHTTPHandler() http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.mcpServer() }, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ServeMCPStdio serves MCP on stdin/stdout until ctx ends or the client
// disconnects.
func (s *Server) ServeMCPStdio(ctx context.Context) error {
	return s.mcpServer().Run(ctx, &mcp.StdioTransport{})
}

// mcpState is embedded in Server.
type mcpState struct {
	mcpOnce sync.Once
	mcp     *mcp.Server
}
