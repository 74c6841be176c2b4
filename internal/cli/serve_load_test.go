//go:build unix

package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

func p99(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	if len(lat) == 0 {
		return 0
	}
	return lat[len(lat)*99/100]
}

// TestServeLoadThenKill drives `inmem serve` (Strict) from this process
// with 64 concurrent clients sending mixed four-primitive batches, then
// SIGKILLs the server while they are still sending, reopens the directory
// and checks that every acknowledged batch is there, whole. Before the kill
// no request may fail. It also measures the same batches committed
// in-process by 64 goroutines, for the ratio in docs/PERFORMANCE.md.
func TestServeLoadThenKill(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	d := loadDuration(t)

	// In-process baseline: the same transactions through db.Update.
	inproc := func() (float64, time.Duration) {
		db, err := inmem.Open(filepath.Join(t.TempDir(), "inproc"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		stop := time.Now().Add(d)
		start := time.Now()
		var wg sync.WaitGroup
		for c := range loadClients {
			wg.Go(func() {
				var mine []time.Duration
				for i := 0; time.Now().Before(stop); i++ {
					t0 := time.Now()
					err := db.Update(ctx, loadRun(c), func(tx *inmem.Tx) error {
						if _, err := tx.KV().Put(fmt.Sprintf("n/%d", i), inmem.MustValue(map[string]any{"i": i, "pad": "0123456789abcdef0123456789abcdef"})); err != nil {
							return err
						}
						if _, err := tx.Events().Append("step", inmem.Int(int64(i))); err != nil {
							return err
						}
						if _, err := tx.State().Set("progress", inmem.Int(int64(i))); err != nil {
							return err
						}
						_, err := tx.JSON().Merge("doc", inmem.MustValue(map[string]any{"last": i}))
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
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds(), p99(lat)
	}
	baseRate, baseP99 := inproc()

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
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients, MaxConnsPerHost: loadClients}}

	var killed atomic.Bool
	acked := make([]int, loadClients) // batches 0..acked[c]-1 of client c were acknowledged
	lats := make([][]time.Duration, loadClients)
	var measuredAcks atomic.Int64
	ctxLoad, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	measureEnd := start.Add(d)
	var wg sync.WaitGroup
	for c := range loadClients {
		wg.Go(func() {
			for i := 0; ; i++ {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctxLoad, "POST", url+"/v1/batch", strings.NewReader(loadBatch(c, i)))
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					if !killed.Load() {
						t.Errorf("client %d batch %d before the kill: %v", c, i, err)
					}
					return
				}
				acked[c] = i + 1
				if t0.Before(measureEnd) {
					lats[c] = append(lats[c], time.Since(t0))
					measuredAcks.Add(1)
				}
			}
		})
	}
	// Let the load run for d, then kill the server mid-stream.
	<-time.After(d)
	killed.Store(true)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	wg.Wait()
	rate := float64(measuredAcks.Load()) / d.Seconds()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	t.Logf("in-process Strict, %d writers: %.0f batches/s, p99 %v", loadClients, baseRate, baseP99)
	t.Logf("inmem serve Strict, %d HTTP clients: %.0f batches/s, p99 %v (%.2fx in-process)", loadClients, rate, p99(all), rate/baseRate)

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
