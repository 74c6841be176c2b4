package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			vals[name] = f
		}
	}
	return vals
}

// TestMetricsInFlight: the in-flight gauges count the requests inside a
// handler (a following change feed stays in one; the scrape is another)
// and the write batches inside a transaction, and the Go scheduler's
// latency is reported; these are what tell a load test whether its
// clients keep the server busy and whether the server waits for a CPU.
func TestMetricsInFlight(t *testing.T) {
	h := newHarness(t, Config{})
	h.must("POST", "/v1/batch", `{"ops":[{"op":"kv.put","key":"k","value":1},{"op":"event.append","type":"e","value":0}]}`)
	if v := scrape(t, h.ts.URL); v["inmem_http_requests_in_flight"] != 1 || v["inmem_batch_commits_in_flight"] != 0 {
		t.Fatalf("idle: %v requests, %v commits in flight; want 1 (the scrape), 0", v["inmem_http_requests_in_flight"], v["inmem_batch_commits_in_flight"])
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := follow(t, ctx, h.ts.URL+"/v1/runs/global/events?follow=1", false)
	readEvent(t, r, false) // the feed's handler is running
	v := scrape(t, h.ts.URL)
	if v["inmem_http_requests_in_flight"] != 2 {
		t.Fatalf("with a feed open: %v requests in flight, want 2", v["inmem_http_requests_in_flight"])
	}
	if _, ok := v["inmem_go_sched_latency_seconds_count"]; !ok {
		t.Fatal("no inmem_go_sched_latency_seconds histogram")
	}
	cancel()
	io.Copy(io.Discard, r)
}
