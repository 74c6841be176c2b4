package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/inmemdb/inmem"
)

// route is one endpoint of the resource API. The table below is both what
// New registers and what the OpenAPI test compares openapi.json with.
type route struct {
	method, path string
	// name labels the route in metrics.
	name string
	// stream routes write their own response; others return a value.
	handle func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error)
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// opRoute builds a route that turns a request into one operation: fill
// sets the operation's fields from the URL and body.
func opRoute(method, path, opName string, body bool, fill func(r *http.Request, op *Op) error) route {
	return route{method: method, path: path, name: opName, handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
		var op Op
		if body {
			if err := s.decodeBody(w, r, &op); err != nil {
				return nil, 0, err
			}
			// The operation and the fields a URL names come from the URL
			// only; a body repeating them is a client mistake.
			if op.Op != "" || op.Key != "" || op.Collection != "" || op.Run != "" {
				return nil, 0, newErr(inmem.CodeInvalidArgument, opName, "op, key, collection and run come from the URL, not the body")
			}
			if bad := unexpectedFields(op, opName); bad != "" {
				return nil, 0, newErr(inmem.CodeInvalidArgument, opName, "unknown field %q", bad)
			}
		}
		op.Op = opName
		if fill != nil {
			if err := fill(r, &op); err != nil {
				return nil, 0, err
			}
		}
		run, err := resolveRun(r.Context(), s.db, r.PathValue("run"))
		if err != nil {
			return nil, 0, err
		}
		if method == http.MethodGet {
			at, err := asOfQuery(r)
			if err != nil {
				return nil, 0, err
			}
			if at != nil {
				res, err := s.applyAt(r.Context(), run, *at, []Op{op})
				if err != nil {
					return nil, 0, unwrapOp(err)
				}
				return res[0], http.StatusOK, nil
			}
		}
		res, err := s.apply1(r.Context(), run, op)
		if err != nil {
			return nil, 0, err
		}
		status := http.StatusOK
		if method == http.MethodPost && opSpecs[opName].write {
			status = http.StatusCreated
		}
		return res, status, nil
	}}
}

// unexpectedFields names a field set in op that opName does not take
// (a body field that belongs to another operation).
func unexpectedFields(op Op, opName string) string {
	b, _ := json.Marshal(op)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	for k := range m {
		if k != "op" && !containsStr(opSpecs[opName].fields, k) {
			return k
		}
	}
	return ""
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func pathKey(name string) func(r *http.Request, op *Op) error {
	return func(r *http.Request, op *Op) error {
		op.Key = r.PathValue(name)
		op.Collection = r.PathValue("coll")
		return nil
	}
}

// timeTravel reads ?at=<version> (a read as of that version) and
// ?history=1 (every retained version) on point reads.
func timeTravel(r *http.Request, op *Op) error {
	if n, ok, err := queryUint(r, "at"); err != nil {
		return err
	} else if ok {
		op.At = &n
	}
	if h := r.URL.Query().Get("history"); h == "1" || h == "true" {
		if op.At != nil {
			return newErr(inmem.CodeInvalidArgument, op.Op, "at and history exclude each other")
		}
		op.Op = strings.TrimSuffix(op.Op, ".get") + ".history"
	}
	return nil
}

func queryFill(r *http.Request, op *Op) error {
	q := r.URL.Query()
	op.Prefix = q.Get("prefix")
	op.Type = q.Get("type")
	op.Tag = q.Get("tag")
	op.Status = q.Get("status")
	op.Path = q.Get("path")
	if n, ok, err := queryUint(r, "from"); err != nil {
		return err
	} else if ok {
		op.From = n
	}
	if n, ok, err := queryUint(r, "limit"); err != nil {
		return err
	} else if ok {
		if n > maxLimit {
			n = maxLimit + 1
		}
		op.Limit = int(n)
	}
	return nil
}

func both(fs ...func(r *http.Request, op *Op) error) func(r *http.Request, op *Op) error {
	return func(r *http.Request, op *Op) error {
		for _, f := range fs {
			if err := f(r, op); err != nil {
				return err
			}
		}
		return nil
	}
}

func seqParam(name string) func(r *http.Request, op *Op) error {
	return func(r *http.Request, op *Op) error {
		n, err := parseUintParam(r.PathValue(name), name)
		if err != nil {
			return err
		}
		op.Seq = &n
		return nil
	}
}

func (s *Server) routes() []route {
	get, put, post, del, patch := http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch
	return []route{
		{method: get, path: "/healthz", name: "healthz", handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
			return map[string]any{"status": "ok", "commit_version": stats(s.db).CommitVersion}, http.StatusOK, nil
		}},
		{method: get, path: "/metrics", name: "metrics", handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			s.metrics.write(w, stats(s.db))
			return nil, 0, nil
		}},
		{method: get, path: "/openapi.json", name: "openapi", handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(openAPIDoc)
			return nil, 0, nil
		}},
		{method: post, path: "/v1/batch", name: "batch", handle: (*Server).handleBatch},

		{method: get, path: "/v1/admin/stats", name: "stats", handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
			return stats(s.db), http.StatusOK, nil
		}},
		{method: post, path: "/v1/admin/checkpoint", name: "checkpoint", handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
			res, err := checkpoint(r.Context(), s.db)
			return res, http.StatusOK, err
		}},
		{method: post, path: "/v1/admin/compact", name: "compact", handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
			res, err := compact(r.Context(), s.db)
			return res, http.StatusOK, err
		}},

		opRoute(get, "/v1/runs", "run.list", false, queryFill),
		opRoute(post, "/v1/runs", "run.create", true, nil),
		opRoute(get, "/v1/runs/{run}", "run.get", false, func(r *http.Request, op *Op) error { op.Run = r.PathValue("run"); return nil }),
		opRoute(post, "/v1/runs/{run}/status", "run.set_status", true, func(r *http.Request, op *Op) error { op.Run = r.PathValue("run"); return nil }),
		{method: del, path: "/v1/runs/{run}", name: "run.delete", handle: func(s *Server, w http.ResponseWriter, r *http.Request) (any, int, error) {
			run, err := resolveRun(r.Context(), s.db, r.PathValue("run"))
			if err != nil {
				return nil, 0, err
			}
			v, err := deleteRun(r.Context(), s.db, run)
			if err != nil {
				return nil, 0, err
			}
			s.changes.notify()
			return Result{"version": v}, http.StatusOK, nil
		}},

		{method: post, path: "/v1/runs/{run}/fork", name: "run.fork", handle: (*Server).handleFork},
		{method: get, path: "/v1/runs/{run}/diff", name: "run.diff", handle: (*Server).handleDiff},
		{method: post, path: "/v1/runs/{run}/merge", name: "run.merge", handle: (*Server).handleMerge},

		opRoute(get, "/v1/runs/{run}/kv", "kv.list", false, queryFill),
		opRoute(get, "/v1/runs/{run}/kv/{key...}", "kv.get", false, both(pathKey("key"), timeTravel)),
		opRoute(put, "/v1/runs/{run}/kv/{key...}", "kv.put", true, pathKey("key")),
		opRoute(del, "/v1/runs/{run}/kv/{key...}", "kv.delete", false, both(pathKey("key"), condQuery)),

		{method: get, path: "/v1/runs/{run}/events", name: "event.list", handle: (*Server).handleEvents},
		opRoute(post, "/v1/runs/{run}/events", "event.append", true, nil),
		opRoute(get, "/v1/runs/{run}/events/{seq}", "event.get", false, seqParam("seq")),

		opRoute(get, "/v1/runs/{run}/state", "state.list", false, queryFill),
		opRoute(get, "/v1/runs/{run}/state/{key...}", "state.get", false, both(pathKey("key"), timeTravel)),
		opRoute(put, "/v1/runs/{run}/state/{key...}", "state.set", true, pathKey("key")),
		opRoute(del, "/v1/runs/{run}/state/{key...}", "state.delete", false, both(pathKey("key"), condQuery)),

		opRoute(get, "/v1/runs/{run}/traces", "trace.list", false, queryFill),
		opRoute(post, "/v1/runs/{run}/traces", "trace.record", true, nil),
		opRoute(get, "/v1/runs/{run}/traces/{id}", "trace.get", false, seqParam("id")),

		opRoute(get, "/v1/runs/{run}/json", "json.list", false, queryFill),
		opRoute(get, "/v1/runs/{run}/json/{key...}", "json.get", false, both(pathKey("key"), queryFill, timeTravel)),
		opRoute(put, "/v1/runs/{run}/json/{key...}", "json.put", true, pathKey("key")),
		opRoute(post, "/v1/runs/{run}/json/{key...}", "json.set", true, pathKey("key")),
		opRoute(patch, "/v1/runs/{run}/json/{key...}", "json.patch", true, pathKey("key")),
		opRoute(del, "/v1/runs/{run}/json/{key...}", "json.delete", false, both(pathKey("key"), queryFill, condQuery)),

		opRoute(get, "/v1/runs/{run}/vectors", "vector.collections", false, nil),
		opRoute(put, "/v1/runs/{run}/vectors/{coll}", "vector.create_collection", true, pathKey("")),
		opRoute(del, "/v1/runs/{run}/vectors/{coll}", "vector.delete_collection", false, pathKey("")),
		opRoute(post, "/v1/runs/{run}/vectors/{coll}/search", "vector.search", true, pathKey("")),
		opRoute(get, "/v1/runs/{run}/vectors/{coll}/items/{key...}", "vector.get", false, pathKey("key")),
		opRoute(put, "/v1/runs/{run}/vectors/{coll}/items/{key...}", "vector.upsert", true, pathKey("key")),
		opRoute(del, "/v1/runs/{run}/vectors/{coll}/items/{key...}", "vector.delete", false, both(pathKey("key"), condQuery)),
	}
}

// condQuery reads the conditions of a DELETE from the query string
// (DELETE requests carry no body).
func condQuery(r *http.Request, op *Op) error {
	if n, ok, err := queryUint(r, "if_version"); err != nil {
		return err
	} else if ok {
		op.IfVersion = &n
	}
	return nil
}

func parseUintParam(s, name string) (uint64, error) {
	var n uint64
	if s == "" || len(s) > 20 {
		return 0, newErr(inmem.CodeInvalidArgument, "path", "%s: %q is not an unsigned integer", name, s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, newErr(inmem.CodeInvalidArgument, "path", "%s: %q is not an unsigned integer", name, s)
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, newErr(inmem.CodeInvalidArgument, "path", "%s: %q is out of range", name, s)
		}
		n = n*10 + d
	}
	return n, nil
}

// batchRequest is the body of POST /v1/batch.
type batchRequest struct {
	Run      string            `json:"run,omitempty"`
	Ops      []json.RawMessage `json:"ops"`
	AsOf     *uint64           `json:"as_of,omitempty"`
	AsOfTime string            `json:"as_of_time,omitempty"`
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) (any, int, error) {
	var req batchRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		return nil, 0, err
	}
	if len(req.Ops) == 0 {
		return nil, 0, newErr(inmem.CodeInvalidArgument, "batch", "ops must hold at least one operation")
	}
	if len(req.Ops) > maxBatchOps {
		return nil, 0, newErr(inmem.CodeInvalidArgument, "batch", "a batch holds at most %d operations", maxBatchOps)
	}
	ops := make([]Op, len(req.Ops))
	for i, raw := range req.Ops {
		op, err := decodeOp(raw)
		if err != nil {
			return nil, 0, &OpError{Index: i, Err: err}
		}
		ops[i] = op
	}
	run, err := resolveRun(r.Context(), s.db, req.Run)
	if err != nil {
		return nil, 0, err
	}
	at, err := parseAsOf(req.AsOf, req.AsOfTime)
	if err != nil {
		return nil, 0, err
	}
	if at != nil {
		res, err := s.applyAt(r.Context(), run, *at, ops)
		if err != nil {
			return nil, 0, err
		}
		return batchResponse{Results: res}, http.StatusOK, nil
	}
	res, cv, err := s.apply(r.Context(), run, ops)
	if err != nil {
		return nil, 0, err
	}
	return batchResponse{Results: res, CommitVersion: cv}, http.StatusOK, nil
}

// batchResponse is the body POST /v1/batch answers (a struct: encoding a
// map sorts its keys on every response).
type batchResponse struct {
	Results       []Result `json:"results"`
	CommitVersion uint64   `json:"commit_version"`
}

// instrument wraps a route: it runs the handler, writes its value or
// error as JSON and records the request in the metrics.
func (s *Server) instrument(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Add(1)
		defer s.metrics.inFlight.Add(-1)
		// http.Server has no WriteTimeout (feeds stream for hours); the
		// deadline is per response instead. Errors mean the connection
		// does not support deadlines (tests' recorders), which is fine.
		_ = http.NewResponseController(w).SetWriteDeadline(start.Add(s.cfg.WriteTimeout))
		sw := &statusWriter{ResponseWriter: w}
		v, status, err := rt.handle(s, sw, r)
		switch {
		case err != nil:
			if sw.status == 0 {
				writeError(sw, err)
			}
			if st, _ := errorDetailOf(err); st >= 500 {
				s.cfg.Logger.Error("request failed", "route", rt.pattern(), "err", err)
			}
		case v != nil:
			writeJSON(sw, status, v)
		}
		s.metrics.observeRequest(rt.pattern(), sw.code(), time.Since(start))
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// wantSSE reports whether the client asked for Server-Sent Events.
func wantSSE(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}
