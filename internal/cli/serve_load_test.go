//go:build unix

package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// loadDuration is how long each phase of the load test runs (the workload's
// size, not a correctness bound): INMEM_LOAD_SECONDS, default 1.
func loadDuration(t *testing.T) time.Duration {
	if s := os.Getenv("INMEM_LOAD_SECONDS"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("INMEM_LOAD_SECONDS: %v", err)
		}
		return time.Duration(n * float64(time.Second))
	}
	return time.Second
}

const loadClients = 64

func loadRun(c int) inmem.RunID {
	return inmem.MustParseRunID(fmt.Sprintf("00000000-0000-4000-8000-%012d", c+1))
}

func loadBatch(c, i int) string {
	return fmt.Sprintf(`{"run":"%s","ops":[{"op":"kv.put","key":"n/%d","value":{"i":%d,"pad":"0123456789abcdef0123456789abcdef"}},`+
		`{"op":"event.append","type":"step","value":%d},{"op":"state.set","key":"progress","value":%d},`+
		`{"op":"json.merge","key":"doc","value":{"last":%d}}]}`, loadRun(c), i, i, i, i, i)
}

// loadConn is one client of the load test: an HTTP/1.1 keep-alive
// connection that sends a request and reads its response in the calling
// goroutine, as a load generator does. http.Client would hand every request
// to two more goroutines per connection, and on a busy machine the load
// test would then measure the client's scheduling as much as the server.
type loadConn struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

func dialLoad(ctx context.Context, addr string) (*loadConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	return &loadConn{conn: conn, r: bufio.NewReader(conn)}, nil
}

func (c *loadConn) Close() error { return c.conn.Close() }

// post sends body and fails unless the answer is 200 with a keep-alive
// connection.
func (c *loadConn) post(path, body string) error {
	c.buf = fmt.Appendf(c.buf[:0], "POST %s HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	if _, err := c.conn.Write(c.buf); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d", resp.StatusCode)
	case resp.Close:
		return errors.New("the server closed the keep-alive connection")
	}
	return nil
}

// scrapeMetrics reads the server's metrics (the unlabelled samples).
func scrapeMetrics(url string) (map[string]float64, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return nil, err
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
	return vals, sc.Err()
}

// loadMetrics is the server's view of the load: the mean time of a
// request inside its handler and of its commit, the commits per group
// commit, and, by Little's law over the served time, how many requests
// and commits were in flight on average. A group commit gathers the
// commits in flight together, so these say whether the clients keep the
// server busy. The scheduler's latency says whether goroutines waited
// for a CPU.
func loadMetrics(vals map[string]float64, served time.Duration) string {
	mean := func(h string) time.Duration {
		if vals[h+"_count"] == 0 {
			return 0
		}
		return time.Duration(vals[h+"_sum"] / vals[h+"_count"] * float64(time.Second)).Round(10 * time.Microsecond)
	}
	conc := func(h string) float64 { return vals[h+"_sum"] / served.Seconds() }
	return fmt.Sprintf("request %v, commit %v (means), %.0f group commits of %.1f commits; in flight on average %.1f requests, %.1f commits; Go scheduler latency mean %v",
		mean("inmem_http_request_duration_seconds"), mean("inmem_batch_commit_duration_seconds"),
		vals["inmem_wal_group_commits_total"], vals["inmem_wal_group_commit_mean"],
		conc("inmem_http_request_duration_seconds"), conc("inmem_batch_commit_duration_seconds"),
		mean("inmem_go_sched_latency_seconds"))
}

// selfCPU is the CPU time (user and system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// schedWaits reads this process's Go scheduler latency histogram as a
// count of waits and their total (each bucket at its lower bound, as the
// server's metric counts them), for the in-process phases' mean.
func schedWaits() (n uint64, sum float64) {
	sm := []rtmetrics.Sample{{Name: "/sched/latencies:seconds"}}
	rtmetrics.Read(sm)
	if sm[0].Value.Kind() != rtmetrics.KindFloat64Histogram {
		return 0, 0
	}
	h := sm[0].Value.Float64Histogram()
	for i, c := range h.Counts {
		if lo := h.Buckets[i]; c > 0 && lo > 0 && lo < 1e300 {
			sum += lo * float64(c)
		}
		n += c
	}
	return n, sum
}

func total0(acked []int) int {
	n := 0
	for _, a := range acked {
		n += a
	}
	return n
}

func p99(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	if len(lat) == 0 {
		return 0
	}
	return lat[len(lat)*99/100]
}

// loadSlices is how many turns the in-process and the server phases take,
// alternating: the machine's load drifts, and interleaving gives both
// phases the same share of it, so that their ratio means something.
const loadSlices = 4

// TestServeLoadThenKill drives `inmem serve` (Strict) from this process
// with 64 concurrent clients sending mixed four-primitive batches, then
// SIGKILLs the server while they are still sending, reopens the directory
// and checks that every acknowledged batch is there, whole. Before the kill
// no request may fail. It also measures the same batches committed
// in-process by 64 goroutines, in slices alternating with the server's,
// for the ratio in docs/PERFORMANCE.md.
func TestServeLoadThenKill(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	d := loadDuration(t)
	slice := d / loadSlices

	// In-process baseline: the same transactions through db.Update.
	base, err := inmem.Open(filepath.Join(t.TempDir(), "inproc"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	baseNext := make([]int, loadClients)
	var baseN int64
	var baseLat []time.Duration
	inproc := func() {
		var n atomic.Int64
		var mu sync.Mutex
		stop := time.Now().Add(slice)
		var wg sync.WaitGroup
		for c := range loadClients {
			wg.Go(func() {
				var mine []time.Duration
				for ; time.Now().Before(stop); baseNext[c]++ {
					i := baseNext[c]
					t0 := time.Now()
					err := base.Update(ctx, loadRun(c), func(tx *inmem.Tx) error {
						if err := tx.KV().Put(fmt.Sprintf("n/%d", i), inmem.MustValue(map[string]any{"i": i, "pad": "0123456789abcdef0123456789abcdef"})); err != nil {
							return err
						}
						if _, err := tx.Events().Append("step", inmem.Int(int64(i))); err != nil {
							return err
						}
						if _, err := tx.State().Set("progress", inmem.Int(int64(i))); err != nil {
							return err
						}
						err := tx.JSON().Merge("doc", inmem.MustValue(map[string]any{"last": i}))
						return err
					})
					if err != nil {
						t.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
					n.Add(1)
				}
				mu.Lock()
				baseLat = append(baseLat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		baseN += n.Load()
	}

	dir := filepath.Join(t.TempDir(), "db")
	cmd := toolCmd("serve", dir, "--addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimPrefix(strings.TrimSpace(line), "listening on ")
	ctxLoad, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := make([]*loadConn, loadClients)
	for c := range conns {
		if conns[c], err = dialLoad(ctxLoad, strings.TrimPrefix(url, "http://")); err != nil {
			t.Fatal(err)
		}
		defer conns[c].Close()
	}

	var killed atomic.Bool
	acked := make([]int, loadClients) // batches 0..acked[c]-1 of client c were acknowledged
	lats := make([][]time.Duration, loadClients)
	var measuredAcks atomic.Int64
	var serverStats string
	// served runs the clients for one slice; in the last one they keep
	// sending until the server is killed under them.
	served := func(last bool) {
		end := time.Now().Add(slice)
		var wg sync.WaitGroup
		for c := range loadClients {
			wg.Go(func() {
				for !killed.Load() && (last || time.Now().Before(end)) {
					i := acked[c]
					t0 := time.Now()
					if err := conns[c].post("/v1/batch", loadBatch(c, i)); err != nil {
						if !killed.Load() {
							t.Errorf("client %d batch %d before the kill: %v", c, i, err)
						}
						return
					}
					acked[c] = i + 1
					if t0.Before(end) {
						lats[c] = append(lats[c], time.Since(t0))
						measuredAcks.Add(1)
					}
				}
			})
		}
		if last {
			// Kill the server mid-stream.
			<-time.After(time.Until(end))
			if vals, err := scrapeMetrics(url); err != nil {
				serverStats = err.Error()
			} else {
				serverStats = loadMetrics(vals, slice*loadSlices)
			}
			killed.Store(true)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
		}
		wg.Wait()
	}
	// CPU time per batch, of the in-process phases, of the load clients
	// and of the server: on a machine short of cores, throughput is
	// capacity divided by these, and they say where the time goes.
	var baseCPU, clientCPU time.Duration
	var waits uint64
	var waited float64
	for k := range loadSlices {
		c0 := selfCPU()
		n0, s0 := schedWaits()
		inproc()
		n1, s1 := schedWaits()
		waits, waited = waits+n1-n0, waited+s1-s0
		c1 := selfCPU()
		served(k == loadSlices-1)
		baseCPU += c1 - c0
		clientCPU += selfCPU() - c1
	}
	var serverCPU time.Duration
	if ps := cmd.ProcessState; ps != nil {
		serverCPU = ps.UserTime() + ps.SystemTime()
	}
	baseRate := float64(baseN) / (slice * loadSlices).Seconds()
	rate := float64(measuredAcks.Load()) / (slice * loadSlices).Seconds()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	bs := base.Stats().WAL
	var schedMean time.Duration
	if waits > 0 {
		schedMean = time.Duration(waited / float64(waits) * float64(time.Second)).Round(time.Microsecond)
	}
	t.Logf("in-process Strict, %d writers: %.0f batches/s, p99 %v; %d group commits of %.1f commits; Go scheduler latency mean %v", loadClients, baseRate, p99(baseLat), bs.GroupCommits, bs.MeanBatch, schedMean)
	t.Logf("inmem serve Strict, %d HTTP clients: %.0f batches/s, p99 %v (%.2fx in-process)", loadClients, rate, p99(all), rate/baseRate)
	t.Logf("server side: %s", serverStats)
	perBatch := func(cpu time.Duration, n int64) time.Duration {
		if n == 0 {
			return 0
		}
		return (cpu / time.Duration(n)).Round(time.Microsecond)
	}
	t.Logf("CPU per batch: in-process %v; over HTTP %v in the server + %v in the clients", perBatch(baseCPU, baseN), perBatch(serverCPU, int64(total0(acked))), perBatch(clientCPU, int64(total0(acked))))

	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer db.Close()
	total := 0
	for c := range loadClients {
		run := loadRun(c)
		total += acked[c]
		n, err := db.Events().Len(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if n < uint64(acked[c]) {
			t.Fatalf("client %d: %d acknowledged batches, %d events after restart", c, acked[c], n)
		}
		for i := range acked[c] {
			if _, err := db.KV().Get(ctx, run, fmt.Sprintf("n/%d", i)); err != nil {
				t.Fatalf("client %d batch %d acknowledged but lost: %v", c, i, err)
			}
			e, err := db.Events().Read(ctx, run, uint64(i))
			if err != nil || e.Value.Payload != inmem.Int(int64(i)) {
				t.Fatalf("client %d event %d: %v %v", c, i, e.Value.Payload, err)
			}
		}
		// A batch is whole: the state cell and the document name the
		// same last batch as the log does.
		st, err := db.State().Read(ctx, run, "progress")
		if err != nil && acked[c] > 0 {
			t.Fatal(err)
		}
		if n > 0 && st.Value != inmem.Int(int64(n-1)) {
			t.Fatalf("client %d: %d events but progress %v", c, n, st.Value)
		}
	}
	if total == 0 {
		t.Fatal("no batch was acknowledged")
	}
}
