package server

import (
	"fmt"
	"io"
	"maps"
	rtmetrics "runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// metrics are the server's own counters; the database's come from
// DB.Stats at scrape time. Everything is written in the Prometheus text
// exposition format.
type metrics struct {
	// inFlight and committing count the requests inside a handler and
	// the write batches inside DB.Update right now. With the duration
	// histograms they say whether clients keep the server busy: a group
	// commit can only gather the commits that are in flight together.
	inFlight, committing atomic.Int64

	mu       sync.Mutex
	requests map[reqKey]uint64
	reqDur   histogram
	commit   histogram
	batchOps histogram
	failures uint64
}

type reqKey struct {
	route string
	code  int
}

type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; one more for +Inf
	sum    float64
	n      uint64
}

func newHistogram(bounds ...float64) histogram {
	return histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) write(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, cum)
	}
	cum += h.counts[len(h.bounds)]
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, cum, name, h.sum, name, h.n)
}

var latencyBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newMetrics() *metrics {
	return &metrics{
		requests: map[reqKey]uint64{},
		reqDur:   newHistogram(latencyBounds...),
		commit:   newHistogram(latencyBounds...),
		batchOps: newHistogram(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
	}
}

// schedLatency reads the Go scheduler's latency histogram, the time
// goroutines spent ready to run before they ran: when the process is
// short of CPU, a woken committer (and every request) waits here, and
// the wait shows in commit latency although it is not the WAL's.
func schedLatency() histogram {
	h := newHistogram(latencyBounds...)
	s := []rtmetrics.Sample{{Name: "/sched/latencies:seconds"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindFloat64Histogram {
		return h
	}
	rh := s[0].Value.Float64Histogram()
	for i, c := range rh.Counts {
		if c == 0 {
			continue
		}
		// Bucket i is [Buckets[i], Buckets[i+1]); its lower bound stands
		// for it (the runtime keeps no sum), unless that is -Inf.
		lo := rh.Buckets[i]
		if lo < 0 || lo != lo || lo > 1e300 {
			lo = 0
		}
		j, _ := slices.BinarySearch(h.bounds, lo)
		h.counts[j] += c
		h.sum += lo * float64(c)
		h.n += c
	}
	return h
}

func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[reqKey{route, code}]++
	m.reqDur.observe(d.Seconds())
}

func (m *metrics) observeCommit(d time.Duration, ops int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.failures++
		return
	}
	m.commit.observe(d.Seconds())
	m.batchOps.observe(float64(ops))
}

func (m *metrics) write(w io.Writer, st statsOf) {
	counter := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %v\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, v)
	}
	counter("inmem_commits_total", "Transactions with writes committed since open (recovered ones included).", st.Commits)
	counter("inmem_read_only_commits_total", "Read-only transactions finished since open.", st.ReadOnlyCommits)
	counter("inmem_conflicts_total", "Transactions that failed validation with Conflict.", st.Conflicts)
	counter("inmem_versions_installed_total", "Versions installed by commits.", st.Versions)
	counter("inmem_wal_records_total", "WAL records appended since open.", st.WALRecords)
	counter("inmem_wal_fsyncs_total", "Fsyncs of WAL segment files since open.", st.Fsyncs)
	counter("inmem_wal_group_commits_total", "Group-commit batches written since open.", st.GroupCommits)
	gauge("inmem_commit_version", "Newest published commit version.", st.CommitVersion)
	gauge("inmem_runs", "Registered runs.", st.Runs)
	gauge("inmem_wal_segments", "WAL segment files.", st.WALSegments)
	gauge("inmem_wal_bytes", "Bytes of WAL segment files.", st.WALBytes)
	gauge("inmem_snapshot_bytes", "Bytes of the current snapshot.", st.SnapshotBytes)
	gauge("inmem_wal_group_commit_max", "Largest group-commit batch (commits).", st.MaxBatch)
	gauge("inmem_wal_group_commit_mean", "Mean group-commit batch (commits).", st.MeanBatch)
	gauge("inmem_http_requests_in_flight", "HTTP requests inside a handler now.", m.inFlight.Load())
	gauge("inmem_batch_commits_in_flight", "Write batches inside a transaction now (from its start to its durable commit).", m.committing.Load())
	sl := schedLatency()
	sl.write(w, "inmem_go_sched_latency_seconds", "Time goroutines waited, ready to run, for a CPU (the Go runtime's estimate; the sum counts each bucket at its lower bound).")

	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP inmem_http_requests_total HTTP requests by route and status.\n# TYPE inmem_http_requests_total counter\n")
	keys := slices.SortedFunc(maps.Keys(m.requests), func(a, b reqKey) int {
		if a.route != b.route {
			if a.route < b.route {
				return -1
			}
			return 1
		}
		return a.code - b.code
	})
	for _, k := range keys {
		fmt.Fprintf(w, "inmem_http_requests_total{route=%q,code=\"%d\"} %d\n", k.route, k.code, m.requests[k])
	}
	m.reqDur.write(w, "inmem_http_request_duration_seconds", "HTTP request latency.")
	m.commit.write(w, "inmem_batch_commit_duration_seconds", "Latency of write batches from start to durable commit.")
	m.batchOps.write(w, "inmem_batch_ops", "Operations per committed write batch.")
	counter("inmem_batch_failures_total", "Write batches that failed (conflicts and errors).", m.failures)
}
