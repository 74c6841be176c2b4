package server

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite openapi.json from the route table")

// fieldSchemas are the JSON Schemas of Op's fields, shared by the OpenAPI
// document and the MCP tools.
var fieldSchemas = map[string]any{
	"key":        map[string]any{"type": "string", "description": "key, cell name, document id or vector key"},
	"value":      map[string]any{"description": "any JSON value"},
	"type":       map[string]any{"type": "string", "description": "event type, or trace type (tool_call, decision, query, thought, error, custom:<name>)"},
	"body":       map[string]any{"type": "object", "description": "trace body; fields depend on the trace type"},
	"path":       map[string]any{"type": "string", "description": "JSON Pointer or dotted path inside a document"},
	"patch":      map[string]any{"type": "array", "description": "RFC 6902 JSON Patch", "items": map[string]any{"type": "object"}},
	"collection": map[string]any{"type": "string"},
	"embedding":  map[string]any{"type": "array", "items": map[string]any{"type": "number"}},
	"metadata":   map[string]any{"description": "an object or null"},
	"dim":        map[string]any{"type": "integer", "minimum": 1},
	"metric":     map[string]any{"type": "string", "enum": []string{"cosine", "euclidean", "dot_product"}},
	"k":          map[string]any{"type": "integer", "minimum": 1},
	"filter": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
		"field": map[string]any{"type": "string"}, "op": map[string]any{"type": "string", "enum": []string{"eq", "ne", "lt", "lte", "gt", "gte", "in"}}, "value": map[string]any{}}}},
	"parent":     map[string]any{"type": "integer", "description": "parent trace id"},
	"run":        map[string]any{"type": "string", "description": "run id, run name, or \"global\""},
	"parent_run": map[string]any{"type": "string", "description": "parent run id or name"},
	"name":       map[string]any{"type": "string"},
	"status":     map[string]any{"type": "string", "enum": []string{"active", "paused", "completed", "failed", "cancelled", "archived"}},
	"error":      map[string]any{"type": "string"},
	"tags":       map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	"tag":        map[string]any{"type": "string"},
	"prefix":     map[string]any{"type": "string"},
	"seq":        map[string]any{"type": "integer", "minimum": 0},
	"from":       map[string]any{"type": "integer", "minimum": 0},
	"limit":      map[string]any{"type": "integer", "minimum": 1},
	"at":         map[string]any{"type": "integer", "minimum": 0, "description": "read as of this version (time travel)"},
	"history":    map[string]any{"type": "string", "enum": []string{"1", "true"}, "description": "list every retained version instead"},
	"if_version": map[string]any{"type": "integer", "minimum": 0, "description": "fail with Conflict unless the current version is this (0: absent)"},
	"if_absent":  map[string]any{"type": "boolean", "description": "fail with Conflict if the entity exists"},
	"as_of":      map[string]any{"type": "integer", "minimum": 0, "description": "read the whole run as of this commit version"},
	"as_of_time": map[string]any{"type": "string", "format": "date-time", "description": "read the whole run as of the newest commit at or before this time"},
}

var pathParam = regexp.MustCompile(`\{([a-z]+)(\.\.\.)?\}`)

func openAPIPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

func generateOpenAPI(s *Server) map[string]any {
	errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	okResp := map[string]any{"description": "result", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
	paths := map[string]map[string]any{}
	for _, rt := range s.routes() {
		p := openAPIPath(rt.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		op := map[string]any{"operationId": strings.NewReplacer(".", "_", "/", "_").Replace(rt.name), "responses": map[string]any{"200": okResp, "default": errResp}}
		if spec, ok := opSpecs[rt.name]; ok {
			op["summary"] = "operation " + rt.name
			var body []string
			for _, f := range spec.fields {
				if f == "key" || f == "collection" || (f == "run" && strings.Contains(rt.path, "{run}")) {
					continue
				}
				body = append(body, f)
			}
			if rt.method == http.MethodGet || rt.method == http.MethodDelete {
				for _, f := range body {
					if rt.method == http.MethodDelete && f != "if_version" && f != "path" {
						continue
					}
					params = append(params, map[string]any{"name": f, "in": "query", "schema": fieldSchemas[f]})
				}
			} else {
				props := map[string]any{}
				for _, f := range body {
					props[f] = fieldSchemas[f]
				}
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
					"schema": map[string]any{"type": "object", "additionalProperties": false, "properties": props}}}}
			}
		}
		switch rt.name {
		case "event.list":
			op["summary"] = "list a run's events; follow=1 streams new ones as NDJSON or Server-Sent Events"
			for _, f := range []string{"from", "limit", "type", "follow"} {
				sch := fieldSchemas[f]
				if f == "follow" {
					sch = map[string]any{"type": "string", "enum": []string{"1", "true"}}
				}
				params = append(params, map[string]any{"name": f, "in": "query", "schema": sch})
			}
		case "batch":
			op["summary"] = "apply operations atomically in one transaction"
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Batch"}}}}
		case "metrics":
			op["summary"] = "Prometheus text metrics"
			op["responses"] = map[string]any{"200": map[string]any{"description": "metrics", "content": map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}}}
		case "kv.get", "state.get", "json.get":
			params = append(params, map[string]any{"name": "history", "in": "query", "schema": fieldSchemas["history"]})
		case "run.fork":
			op["summary"] = "fork a run at a commit version (default: the newest) into a new run that reads through to it"
			op["requestBody"] = map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type": "object", "additionalProperties": false, "properties": map[string]any{
					"at": map[string]any{"type": "integer", "minimum": 0, "description": "commit version to fork at"}, "name": fieldSchemas["name"],
					"tags": fieldSchemas["tags"], "metadata": fieldSchemas["metadata"]}}}}}
			op["responses"] = map[string]any{"201": okResp, "default": errResp}
		case "run.diff":
			op["summary"] = "one page of the differences between the run (at at) and run with (at with_at); unset versions are pinned to the newest commit and echoed, and next is the after of the next page"
			for _, f := range []string{"with", "at", "with_at", "after", "limit"} {
				var sch any = map[string]any{"type": "integer", "minimum": 0}
				if f == "with" {
					sch = fieldSchemas["run"]
				}
				params = append(params, map[string]any{"name": f, "in": "query", "schema": sch})
			}
		case "run.merge":
			op["summary"] = "merge the run into a run it was forked from or that was forked from it; a refused merge answers ConstraintViolation listing conflicts"
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type": "object", "additionalProperties": false, "required": []string{"into"}, "properties": map[string]any{
					"into": fieldSchemas["run"], "strategy": map[string]any{"type": "string", "enum": []string{"fail-on-conflict", "source-wins", "target-wins"}}}}}}}
		case "healthz", "openapi", "stats", "checkpoint", "compact", "run.delete":
			op["summary"] = rt.name
		}
		if spec, ok := opSpecs[rt.name]; rt.method == http.MethodGet && (ok && !spec.write || rt.name == "event.list") {
			params = append(params, map[string]any{"name": "as_of", "in": "query", "schema": fieldSchemas["as_of"]},
				map[string]any{"name": "as_of_time", "in": "query", "schema": fieldSchemas["as_of_time"]})
		}
		if params != nil {
			op["parameters"] = params
		}
		paths[p][strings.ToLower(rt.method)] = op
	}
	mcpOp := func(m string) map[string]any {
		return map[string]any{"operationId": "mcp_" + m, "summary": "Model Context Protocol, streamable HTTP transport", "responses": map[string]any{"200": map[string]any{"description": "MCP"}}}
	}
	paths["/mcp"] = map[string]any{"get": mcpOp("get"), "post": mcpOp("post"), "delete": mcpOp("delete")}

	var opNames []string
	for n := range opSpecs {
		opNames = append(opNames, n)
	}
	slices.Sort(opNames)
	opProps := map[string]any{"op": map[string]any{"type": "string", "enum": opNames}}
	for f, sch := range fieldSchemas {
		opProps[f] = sch
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "in-mem server", "version": "1", "description": "The resource API of inmem serve. Versions are plain integers: commit versions for KV, JSON, vectors, traces and runs, sequences for events, counters for state cells. Runs are addressed by id, name or \"global\"."},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "properties": map[string]any{"error": map[string]any{"type": "object", "required": []string{"code", "message"}, "properties": map[string]any{
					"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}, "op_index": map[string]any{"type": "integer"},
					"expected_version": map[string]any{"type": "integer"}, "actual_version": map[string]any{"type": "integer"},
					"conflicts": map[string]any{"type": "array", "items": map[string]any{"type": "object"}, "description": "a refused merge's conflicting entities"}, "conflicts_total": map[string]any{"type": "integer"}}}}},
				"Op":    map[string]any{"type": "object", "required": []string{"op"}, "additionalProperties": false, "properties": opProps},
				"Batch": map[string]any{"type": "object", "required": []string{"ops"}, "additionalProperties": false, "properties": map[string]any{"run": fieldSchemas["run"], "as_of": fieldSchemas["as_of"], "as_of_time": fieldSchemas["as_of_time"], "ops": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Op"}}}},
			},
		},
		"security": []any{map[string]any{"bearer": []any{}}},
	}
}

// TestOpenAPIMatchesRoutes: every route the server registers is in
// openapi.json with its method, and the document names no other.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := New(nil, Config{})
	if *updateOpenAPI {
		b, err := json.MarshalIndent(generateOpenAPI(s), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("openapi.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		openAPIDoc = b
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	inDoc := map[string]bool{}
	for p, methods := range doc.Paths {
		for m := range methods {
			inDoc[strings.ToUpper(m)+" "+p] = true
		}
	}
	registered := map[string]bool{"GET /mcp": true, "POST /mcp": true, "DELETE /mcp": true}
	for _, rt := range s.routes() {
		registered[rt.method+" "+openAPIPath(rt.path)] = true
	}
	for r := range registered {
		if !inDoc[r] {
			t.Errorf("route %s is not in openapi.json (go test ./internal/server -run TestOpenAPIMatchesRoutes -args -update-openapi)", r)
		}
	}
	for r := range inDoc {
		if !registered[r] {
			t.Errorf("openapi.json names %s, which the server does not serve", r)
		}
	}
	// The mux must actually route each documented path to its handler.
	h := s.Handler()
	for _, rt := range s.routes() {
		p := pathParam.ReplaceAllString(rt.path, "x")
		req, _ := http.NewRequest(rt.method, p, nil)
		_, pat := s.mux.Handler(req)
		if pat != rt.pattern() {
			t.Errorf("%s %s routes to %q, want %q", rt.method, p, pat, rt.pattern())
		}
	}
	_ = h
}
