package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

type harness struct {
	t   *testing.T
	db  *inmem.DB
	srv *Server
	ts  *httptest.Server
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	db, err := inmem.Open(t.TempDir(), &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, cfg)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.endFeeds()
		ts.Close()
		db.Close()
	})
	return &harness{t: t, db: db, srv: s, ts: ts}
}

// do sends a request and decodes the JSON answer.
func (h *harness) do(method, path, body string) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		h.t.Fatalf("%s %s: answer is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (h *harness) must(method, path, body string) map[string]any {
	h.t.Helper()
	st, m := h.do(method, path, body)
	if st >= 300 {
		h.t.Fatalf("%s %s: %d %v", method, path, st, m)
	}
	return m
}

func TestRoutesMapErrorCodes(t *testing.T) {
	h := newHarness(t, Config{})
	h.must("PUT", "/v1/runs/global/kv/present", `{"value":1}`)
	h.must("POST", "/v1/runs", `{"name":"done"}`)
	h.must("POST", "/v1/runs/done/status", `{"status":"completed"}`)
	h.must("PUT", "/v1/runs/global/json/doc", `{"value":{"a":1}}`)
	h.must("PUT", "/v1/runs/global/vectors/c", `{"dim":2}`)
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/v1/runs/global/kv/missing", "", 404, "NotFound"},
		{"GET", "/v1/runs/no-such-run/kv/x", "", 404, "RunNotFound"},
		{"GET", "/v1/runs/00000000-0000-0000-0000-00000000000a", "", 404, "RunNotFound"},
		{"PUT", "/v1/runs/global/kv/present", `{"value":2,"if_absent":true}`, 409, "Conflict"},
		{"PUT", "/v1/runs/global/kv/present", `{"value":2,"if_version":12345}`, 409, "Conflict"},
		{"DELETE", "/v1/runs/global/kv/present?if_version=999", "", 409, "Conflict"},
		{"DELETE", "/v1/runs/global/kv/missing", "", 404, "NotFound"},
		{"PUT", "/v1/runs/done/kv/x", `{"value":1}`, 409, "RunClosed"},
		{"POST", "/v1/runs", `{"name":"done"}`, 409, "AlreadyExists"},
		{"POST", "/v1/runs/done/status", `{"status":"active"}`, 409, "ConstraintViolation"},
		{"POST", "/v1/runs/done/status", `{"status":"sleeping"}`, 400, "InvalidArgument"},
		{"PUT", "/v1/runs/global/kv/_system/x", `{"value":1}`, 400, "InvalidKey"},
		{"GET", "/v1/runs/global/json/doc?path=/a/b", "", 400, "WrongType"},
		{"GET", "/v1/runs/global/json/doc?path=/a~2", "", 400, "InvalidPath"},
		{"PATCH", "/v1/runs/global/json/doc", `{"patch":[{"op":"test","path":"/a","value":2}]}`, 409, "ConstraintViolation"},
		{"PUT", "/v1/runs/global/vectors/c/items/k", `{"embedding":[1,2,3]}`, 400, "InvalidArgument"},
		{"PUT", "/v1/runs/global/vectors/c", `{"dim":2}`, 409, "AlreadyExists"},
		{"POST", "/v1/runs/global/traces", `{"type":"nonsense","body":{}}`, 400, "InvalidArgument"},
		{"POST", "/v1/runs/global/traces", `{"type":"thought","body":{"content":"x","extra":1}}`, 400, "InvalidArgument"},
		{"GET", "/v1/runs/global/events/7", "", 404, "NotFound"},
		{"GET", "/v1/runs/global/events/x7", "", 400, "InvalidArgument"},
		{"GET", "/v1/runs/global/events?from=-1", "", 400, "InvalidArgument"},
		{"GET", "/v1/runs/global/kv?limit=abc", "", 400, "InvalidArgument"},
		{"GET", "/v1/nowhere", "", 404, "NotFound"},
		{"PUT", "/v1/runs/global/kv/a/../present", `{"value":9}`, 400, "InvalidKey"},
		{"PUT", "/v1/runs/global/kv/a//b", `{"value":9}`, 400, "InvalidKey"},
		{"GET", "/v1/runs/global/kv/./present", "", 400, "InvalidKey"},
		{"POST", "/v1/batch", `{"ops":[]}`, 400, "InvalidArgument"},
		{"POST", "/v1/batch", `{"ops":[{"op":"kv.fly"}]}`, 400, "InvalidArgument"},
		{"POST", "/v1/batch", `{"ops":[{"op":"kv.get","key":"k","value":1}]}`, 400, "InvalidArgument"},
	}
	for _, c := range cases {
		st, m := h.do(c.method, c.path, c.body)
		if st != c.status || errCode(m) != c.code {
			t.Errorf("%s %s %s: got %d %v, want %d %s", c.method, c.path, c.body, st, m, c.status, c.code)
		}
	}
}

// TestBadInputChangesNothing: malformed JSON, unknown fields, wrong types
// and oversized bodies get a 4xx with a code, and no commit happens.
func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 1 << 10})
	before := h.db.Stats().CommitVersion
	huge := `{"value":"` + strings.Repeat("x", 4<<10) + `"}`
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/v1/runs/global/kv/k", `{"value":1`, 400},
		{"PUT", "/v1/runs/global/kv/k", `{"value":1} {"value":2}`, 400},
		{"PUT", "/v1/runs/global/kv/k", ``, 400},
		{"PUT", "/v1/runs/global/kv/k", `[1,2]`, 400},
		{"PUT", "/v1/runs/global/kv/k", `{"value":1,"surprise":true}`, 400},
		{"PUT", "/v1/runs/global/kv/k", `{"value":1,"key":"other"}`, 400},
		{"PUT", "/v1/runs/global/kv/k", `{"value":1,"if_version":"3"}`, 400},
		{"PUT", "/v1/runs/global/kv/k", `{"value":1,"if_version":-3}`, 400},
		{"PUT", "/v1/runs/global/kv/k", `{"value":1,"embedding":[1]}`, 400},
		{"PUT", "/v1/runs/global/kv/k", huge, 413},
		{"POST", "/v1/runs/global/events", `{"type":7}`, 400},
		{"PUT", "/v1/runs/global/state/s", `{"value":{"a":}}`, 400},
		{"POST", "/v1/batch", `{"ops":[{"op":"kv.put","key":"a","value":1},{"op":"kv.put","key":"b","value":1,"bogus":1}]}`, 400},
		{"POST", "/v1/batch", `{"ops":[{"op":"kv.put","key":"a","value":1}],"extra":1}`, 400},
		{"POST", "/v1/batch", huge, 413},
	}
	for _, c := range cases {
		st, m := h.do(c.method, c.path, c.body)
		if st != c.status || errCode(m) == "" {
			t.Errorf("%s %s %.60q: got %d %v, want %d with a code", c.method, c.path, c.body, st, m, c.status)
		}
	}
	if after := h.db.Stats().CommitVersion; after != before {
		t.Fatalf("bad requests committed: version %d -> %d", before, after)
	}
	if n, _ := h.db.KV().List(context.Background(), inmem.GlobalRun, ""); len(n) != 0 {
		t.Fatalf("keys written: %v", n)
	}
}

// TestBatchIsAtomic: a failing condition in the last operation leaves no
// trace of the earlier ones; without it every operation lands in one commit.
func TestBatchIsAtomic(t *testing.T) {
	h := newHarness(t, Config{})
	ctx := context.Background()
	ops := `{"op":"kv.put","key":"a","value":1},
		{"op":"event.append","type":"step","value":{"n":1}},
		{"op":"json.put","key":"doc","value":{"x":1}},
		{"op":"state.set","key":"phase","value":"go"},
		{"op":"trace.record","type":"thought","body":{"content":"hm"}},
		{"op":"vector.create_collection","collection":"c","dim":2},
		{"op":"vector.upsert","collection":"c","key":"v","embedding":[1,0]}`
	st, m := h.do("POST", "/v1/batch", `{"ops":[`+ops+`,{"op":"kv.put","key":"guard","value":1,"if_version":5}]}`)
	if st != 409 || errCode(m) != "Conflict" {
		t.Fatalf("got %d %v", st, m)
	}
	if idx := m["error"].(map[string]any)["op_index"]; idx != float64(7) {
		t.Fatalf("op_index %v, want 7", idx)
	}
	if h.db.Stats().CommitVersion != 0 {
		t.Fatal("a failed batch committed")
	}
	if n, _ := h.db.Events().Len(ctx, inmem.GlobalRun); n != 0 {
		t.Fatalf("%d events written by a failed batch", n)
	}
	m = h.must("POST", "/v1/batch", `{"ops":[`+ops+`,{"op":"kv.put","key":"guard","value":1,"if_absent":true}]}`)
	cv := m["commit_version"].(float64)
	if cv != 1 || h.db.Stats().CommitVersion != 1 {
		t.Fatalf("commit version %v, stats %d: want one commit", cv, h.db.Stats().CommitVersion)
	}
	res := m["results"].([]any)
	if got := res[0].(map[string]any)["version"]; got != cv {
		t.Fatalf("kv.put version %v, want the commit version %v", got, cv)
	}
	if v, err := h.db.KV().Get(ctx, inmem.GlobalRun, "guard"); err != nil || v.Version.N != 1 {
		t.Fatalf("guard: %v %v", v, err)
	}
}

// TestBatchCASOneWinner: of many concurrent batches conditioned on the
// same state counter exactly one commits; the others get 409 Conflict.
func TestBatchCASOneWinner(t *testing.T) {
	h := newHarness(t, Config{})
	h.must("PUT", "/v1/runs/global/state/leader", `{"value":"none"}`)
	const n = 16
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"ops":[{"op":"state.set","key":"leader","value":"w%d","if_version":1},{"op":"kv.put","key":"won-%d","value":true}]}`, i, i)
			statuses[i], _ = h.do("POST", "/v1/batch", body)
		})
	}
	wg.Wait()
	wins := 0
	for _, st := range statuses {
		switch st {
		case 200:
			wins++
		case 409:
		default:
			t.Fatalf("status %d", st)
		}
	}
	keys, _ := h.db.KV().List(context.Background(), inmem.GlobalRun, "won-")
	if wins != 1 || len(keys) != 1 {
		t.Fatalf("%d winners, keys %v", wins, keys)
	}
}

func TestAuth(t *testing.T) {
	if err := CheckConfig(Config{Addr: "0.0.0.0:7070"}); err == nil {
		t.Fatal("a non-loopback address without a token was accepted")
	}
	if err := CheckConfig(Config{Addr: ":7070"}); err == nil {
		t.Fatal("all interfaces without a token was accepted")
	}
	for _, a := range []string{"127.0.0.1:1", "[::1]:1", "localhost:1"} {
		if err := CheckConfig(Config{Addr: a}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	if err := CheckConfig(Config{Addr: "0.0.0.0:7070", Token: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfig(Config{TLSCert: "c.pem"}); err == nil {
		t.Fatal("half a TLS pair was accepted")
	}
	// Serve itself refuses too, whatever the caller checked.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := New(nil, Config{Addr: "0.0.0.0:1"}).Serve(context.Background(), ln); err == nil {
		t.Fatal("Serve accepted a non-loopback address without a token")
	}

	h := newHarness(t, Config{Token: "s3cret"})
	for _, hdr := range []string{"", "Bearer wrong", "s3cret", "Bearer s3cret2"} {
		req, _ := http.NewRequest("PUT", h.ts.URL+"/v1/runs/global/kv/k", strings.NewReader(`{"value":1}`))
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("Authorization %q: status %d", hdr, resp.StatusCode)
		}
	}
	if h.db.Stats().CommitVersion != 0 {
		t.Fatal("an unauthenticated request wrote")
	}
	req, _ := http.NewRequest("PUT", h.ts.URL+"/v1/runs/global/kv/k", strings.NewReader(`{"value":1}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with the token: %d", resp.StatusCode)
	}
	if st, _ := h.do("GET", "/healthz", ""); st != 200 {
		t.Fatalf("healthz without a token: %d", st)
	}
	if st, _ := h.do("GET", "/v1/admin/stats", ""); st != 401 {
		t.Fatalf("stats without a token: %d", st)
	}
}

// follow opens a change feed and returns a line reader over it.
func follow(t *testing.T, ctx context.Context, url string, sse bool) *bufio.Reader {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if sse {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("follow: %d %s", resp.StatusCode, b)
	}
	return bufio.NewReader(resp.Body)
}

func readEvent(t *testing.T, r *bufio.Reader, sse bool) map[string]any {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("feed ended: %v", err)
		}
		line = strings.TrimSpace(line)
		if sse {
			var ok bool
			if line, ok = strings.CutPrefix(line, "data: "); !ok {
				continue
			}
		}
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("feed line %q: %v", line, err)
		}
		return m
	}
}

// TestFeedFollows: a follower gets the events already in the log, then
// each new one as it commits — through single appends and batches, as
// NDJSON and as Server-Sent Events.
func TestFeedFollows(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sse=%v", sse), func(t *testing.T) {
			h := newHarness(t, Config{})
			run := h.must("POST", "/v1/runs", `{"name":"agent"}`)["id"].(string)
			h.must("POST", "/v1/runs/agent/events", `{"type":"start","value":0}`)
			h.must("POST", "/v1/runs/agent/events", `{"type":"step","value":1}`)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := follow(t, ctx, h.ts.URL+"/v1/runs/"+run+"/events?follow=1&from=1", sse)
			if e := readEvent(t, r, sse); e["sequence"] != float64(1) || e["type"] != "step" {
				t.Fatalf("first event %v", e)
			}
			for i := 2; i < 6; i++ {
				if i%2 == 0 {
					h.must("POST", "/v1/runs/agent/events", fmt.Sprintf(`{"type":"step","value":%d}`, i))
				} else {
					h.must("POST", "/v1/batch", fmt.Sprintf(`{"run":"agent","ops":[{"op":"kv.put","key":"k","value":%d},{"op":"event.append","type":"step","value":%d}]}`, i, i))
				}
				if e := readEvent(t, r, sse); e["sequence"] != float64(i) || e["payload"] != float64(i) {
					t.Fatalf("event %d: got %v", i, e)
				}
			}
		})
	}
}

func TestFeedResumesFromLastEventID(t *testing.T) {
	h := newHarness(t, Config{})
	for i := range 3 {
		h.must("POST", "/v1/runs/global/events", fmt.Sprintf(`{"type":"e","value":%d}`, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/v1/runs/global/events?follow=1", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if e := readEvent(t, bufio.NewReader(resp.Body), true); e["sequence"] != float64(2) {
		t.Fatalf("resumed at %v", e)
	}
}

// TestShutdownEndsFeedsAndKeepsData: cancelling Serve's context ends open
// feeds, returns, and leaves a database that closes cleanly and reopens
// with everything acknowledged.
func TestShutdownEndsFeedsAndKeepsData(t *testing.T) {
	dir := t.TempDir()
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	resp, err := http.Post(base+"/v1/runs/global/events", "application/json", strings.NewReader(`{"type":"x","value":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := follow(t, context.Background(), base+"/v1/runs/global/events?follow=1", false)
	readEvent(t, r, false)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("feed after shutdown: %v, want EOF", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, _ := db.Events().Len(context.Background(), inmem.GlobalRun); n != 1 {
		t.Fatalf("%d events after reopen", n)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	h := newHarness(t, Config{})
	h.must("PUT", "/v1/runs/global/kv/k", `{"value":1}`)
	h.must("GET", "/healthz", "")
	resp, err := http.Get(h.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"inmem_commits_total 1\n",
		`inmem_http_requests_total{route="PUT /v1/runs/{run}/kv/{key...}",code="200"} 1`,
		"inmem_batch_commit_duration_seconds_count 1\n",
		"inmem_wal_fsyncs_total ",
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if resp.Header.Get("Content-Type") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
}

// TestPrimitivesRoundTrip exercises every primitive's routes once.
func TestPrimitivesRoundTrip(t *testing.T) {
	h := newHarness(t, Config{})
	id := h.must("POST", "/v1/runs", `{"name":"r","tags":["t"],"metadata":{"who":"me"}}`)["id"].(string)
	if got := h.must("GET", "/v1/runs/"+id, "")["name"]; got != "r" {
		t.Fatalf("run name %v", got)
	}
	h.must("PUT", "/v1/runs/r/kv/a/b", `{"value":{"deep":[1,2]}}`)
	if v := h.must("GET", "/v1/runs/r/kv/a/b", "")["value"].(map[string]any)["deep"]; fmt.Sprint(v) != "[1 2]" {
		t.Fatalf("kv value %v", v)
	}
	if k := h.must("GET", "/v1/runs/r/kv?prefix=a/", "")["keys"]; fmt.Sprint(k) != "[a/b]" {
		t.Fatalf("keys %v", k)
	}
	h.must("PUT", "/v1/runs/r/state/phase", `{"value":"plan","if_absent":true}`)
	if v := h.must("PUT", "/v1/runs/r/state/phase", `{"value":"act","if_version":1}`)["version"]; v != float64(2) {
		t.Fatalf("state counter %v", v)
	}
	h.must("PUT", "/v1/runs/r/json/cfg", `{"value":{"a":{"b":1}}}`)
	h.must("POST", "/v1/runs/r/json/cfg", `{"path":"/a/c","value":2}`)
	h.must("PATCH", "/v1/runs/r/json/cfg", `{"patch":[{"op":"remove","path":"/a/b"}]}`)
	if v := h.must("GET", "/v1/runs/r/json/cfg?path=/a", "")["value"]; fmt.Sprint(v) != "map[c:2]" {
		t.Fatalf("json %v", v)
	}
	root := h.must("POST", "/v1/runs/r/traces", `{"type":"tool_call","body":{"tool":"search","input":{"q":"x"},"duration_ms":12.5},"tags":["io"]}`)["id"].(float64)
	h.must("POST", "/v1/runs/r/traces", fmt.Sprintf(`{"type":"custom:note","body":{"data":"child"},"parent":%d}`, int(root)))
	if ts := h.must("GET", "/v1/runs/r/traces?tag=io", "")["traces"].([]any); len(ts) != 1 {
		t.Fatalf("traces by tag %v", ts)
	}
	tr := h.must("GET", fmt.Sprintf("/v1/runs/r/traces/%d", int(root)+1), "")
	if tr["parent"] != root || tr["type"] != "custom:note" {
		t.Fatalf("child trace %v", tr)
	}
	h.must("PUT", "/v1/runs/r/vectors/mem", `{"dim":3,"metric":"cosine"}`)
	h.must("PUT", "/v1/runs/r/vectors/mem/items/x", `{"embedding":[1,0,0],"metadata":{"kind":"a"}}`)
	h.must("PUT", "/v1/runs/r/vectors/mem/items/y", `{"embedding":[0,1,0],"metadata":{"kind":"b"}}`)
	hits := h.must("POST", "/v1/runs/r/vectors/mem/search", `{"embedding":[1,0.1,0],"k":5,"filter":[{"field":"kind","op":"eq","value":"b"}]}`)["hits"].([]any)
	if len(hits) != 1 || hits[0].(map[string]any)["key"] != "y" {
		t.Fatalf("hits %v", hits)
	}
	h.must("DELETE", "/v1/runs/r/vectors/mem/items/x", "")
	if st, _ := h.do("GET", "/v1/runs/r/vectors/mem/items/x", ""); st != 404 {
		t.Fatalf("deleted vector: %d", st)
	}
	h.must("POST", "/v1/runs/r/status", `{"status":"failed","error":"boom"}`)
	if r := h.must("GET", "/v1/runs?status=failed", "")["runs"].([]any); len(r) != 1 || r[0].(map[string]any)["error"] != "boom" {
		t.Fatalf("failed runs %v", r)
	}
	h.must("DELETE", "/v1/runs/r", "")
	if st, _ := h.do("GET", "/v1/runs/"+id, ""); st != 404 {
		t.Fatalf("deleted run: %d", st)
	}
	h.must("POST", "/v1/admin/checkpoint", "")
	h.must("POST", "/v1/admin/compact", "")
	if st := h.must("GET", "/v1/admin/stats", ""); st["commits"] == float64(0) {
		t.Fatalf("stats %v", st)
	}
}

// TestSlowAndAbusiveClients: a client that never finishes its headers is
// cut off by ReadHeaderTimeout, and meanwhile — and afterwards — other
// clients are served, and a huge body is refused without being stored.
func TestSlowAndAbusiveClients(t *testing.T) {
	db, err := inmem.Open(t.TempDir(), &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := New(db, Config{ReadHeaderTimeout: 50 * time.Millisecond, MaxBodyBytes: 1 << 10})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { stop(); <-done }()
	base := "http://" + ln.Addr().String()

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("PUT /v1/runs/global/kv/k HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// Others are served while the slow client holds its connection.
	resp, err := http.Post(base+"/v1/runs/global/events", "application/json", strings.NewReader(`{"type":"ok"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("append while a slow client waits: %d", resp.StatusCode)
	}
	// The server closes the slow connection (the read ends) rather than
	// waiting for ever; a reply, if any, is an error status.
	b, _ := io.ReadAll(slow)
	if len(b) > 0 && !bytes.Contains(b, []byte(" 408 ")) && !bytes.Contains(b, []byte(" 400 ")) {
		t.Fatalf("slow client got %q", b)
	}
	// A body larger than the limit, sent as a stream of unknown length.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"value":"`))
		chunk := bytes.Repeat([]byte("x"), 512)
		for range 64 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", base+"/v1/runs/global/kv/big", pr)
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("huge streamed body: %d", resp.StatusCode)
		}
	}
	pr.Close()
	if ok, _ := db.KV().Exists(context.Background(), inmem.GlobalRun, "big"); ok {
		t.Fatal("the oversized body was stored")
	}
	resp, err = http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health after abuse: %d", resp.StatusCode)
	}
}

// TestNoServerErrorForClientMistakes sends malformed, mistyped and
// nonsensical bodies and parameters to every route: the answer is never a
// 5xx, and every error carries a code.
func TestNoServerErrorForClientMistakes(t *testing.T) {
	h := newHarness(t, Config{MaxBodyBytes: 4 << 10})
	bodies := []string{"", "null", "[]", "{}", "7", `"s"`, "{", `{"value":}`, `{"value":1,"nope":1}`,
		`{"value":{"a":[1,{"b":null}]},"if_version":0}`, `{"if_version":-1}`, `{"if_version":1e99}`,
		`{"embedding":"x"}`, `{"embedding":[1e400]}`, `{"dim":-5}`, `{"dim":100000000}`, `{"k":-1,"embedding":[]}`,
		`{"patch":{}}`, `{"patch":[{"op":"move","from":"/a","path":"/a/b"}]}`, `{"type":"custom:","body":[]}`,
		`{"type":"tool_call","body":{"tool":"t","duration_ms":-1}}`, `{"status":"failed","error":"` + strings.Repeat("e", 100) + `"}`,
		`{"ops":[{"op":"kv.put"}]}`, `{"ops":[null]}`, `{"ops":"x"}`, `{"name":"\u0000"}`, `{"name":"` + strings.Repeat("n", 300) + `"}`,
		`{"parent_run":"nope"}`, `{"filter":[{"field":"a","op":"zz","value":1}],"embedding":[1]}`, `{"metric":"manhattan","dim":2}`,
	}
	params := []string{"x", "global", "00000000-0000-0000-0000-000000000000", "%00", "18446744073709551616", "_system%2Fk"}
	for _, rt := range h.srv.routes() {
		if rt.name == "metrics" || rt.name == "openapi" {
			continue // not JSON
		}
		for _, p := range params {
			path := pathParam.ReplaceAllString(rt.path, p)
			// Query strings matter to reads and deletes, bodies to writes.
			queries, bs := []string{""}, bodies
			if rt.method == "GET" || rt.method == "DELETE" {
				queries = []string{"", "?limit=0", "?limit=99999999", "?from=x", "?path=/a~9", "?if_version=x", "?follow=0&type=%00",
					"?as_of=x", "?as_of=99999999", "?as_of=0", "?as_of_time=yesterday", "?as_of_time=1999-01-01T00:00:00Z", "?as_of=1&as_of_time=2020-01-01T00:00:00Z",
					"?with=nope", "?with=global&at=999999", "?with_at=x", "?after=x", "?after=99999&limit=1"}
				bs = []string{""}
			}
			for _, q := range queries {
				for _, b := range bs {
					st, m := h.do(rt.method, path+q, b)
					if st >= 500 {
						t.Fatalf("%s %s%s %q: %d %v", rt.method, path, q, b, st, m)
					}
					if st >= 400 && errCode(m) == "" {
						t.Fatalf("%s %s%s %q: %d without a code: %v", rt.method, path, q, b, st, m)
					}
				}
			}
		}
	}
}

// TestTimeTravel reads KV, state and JSON as of past versions and lists
// their histories, deletions included.
func TestTimeTravel(t *testing.T) {
	h := newHarness(t, Config{})
	v1 := h.must("PUT", "/v1/runs/global/kv/k", `{"value":"one"}`)["version"].(float64)
	h.must("PUT", "/v1/runs/global/kv/k", `{"value":"two"}`)
	h.must("DELETE", "/v1/runs/global/kv/k", "")
	if got := h.must("GET", fmt.Sprintf("/v1/runs/global/kv/k?at=%d", int(v1)), "")["value"]; got != "one" {
		t.Fatalf("kv at %v: %v", v1, got)
	}
	if st, m := h.do("GET", "/v1/runs/global/kv/k", ""); st != 404 {
		t.Fatalf("deleted key: %d %v", st, m)
	}
	hist := h.must("GET", "/v1/runs/global/kv/k?history=1", "")["versions"].([]any)
	if len(hist) != 3 || hist[0].(map[string]any)["deleted"] != true || hist[2].(map[string]any)["value"] != "one" {
		t.Fatalf("history %v", hist)
	}
	h.must("PUT", "/v1/runs/global/state/s", `{"value":"a"}`)
	h.must("PUT", "/v1/runs/global/state/s", `{"value":"b"}`)
	if got := h.must("GET", "/v1/runs/global/state/s?at=1", "")["value"]; got != "a" {
		t.Fatalf("state at counter 1: %v", got)
	}
	d1 := h.must("PUT", "/v1/runs/global/json/d", `{"value":{"x":1}}`)["version"].(float64)
	h.must("POST", "/v1/runs/global/json/d", `{"path":"/x","value":2}`)
	if got := h.must("GET", fmt.Sprintf("/v1/runs/global/json/d?at=%d", int(d1)), "")["value"]; fmt.Sprint(got) != "map[x:1]" {
		t.Fatalf("json at %v: %v", d1, got)
	}
	if n := len(h.must("GET", "/v1/runs/global/json/d?history=1", "")["versions"].([]any)); n != 2 {
		t.Fatalf("json history %d", n)
	}
	if st, m := h.do("GET", "/v1/runs/global/json/d?at=1&path=/x", ""); st != 400 || errCode(m) != "InvalidArgument" {
		t.Fatalf("at with a path: %d %v", st, m)
	}
	if st, _ := h.do("GET", "/v1/runs/global/kv/k?at=1&history=1", ""); st != 400 {
		t.Fatalf("at with history: %d", st)
	}
	m := h.must("POST", "/v1/batch", `{"ops":[{"op":"kv.history","key":"k"},{"op":"kv.get","key":"k","at":`+fmt.Sprint(int(v1))+`}]}`)
	if res := m["results"].([]any); res[1].(map[string]any)["value"] != "one" {
		t.Fatalf("batch time travel %v", res)
	}
}
