package benchkit

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Workload names.
const (
	WorkloadDurable  = "durable"
	WorkloadBuffered = "buffered"
	WorkloadMemory   = "memory"
	WorkloadRecovery = "recovery"
)

// Metric names, as they appear in the JSON report.
const (
	MetricCommitsPerSec   = "commits_per_sec"
	MetricP50Micros       = "p50_us"
	MetricP99Micros       = "p99_us"
	MetricCommitsPerFsync = "commits_per_fsync"
	MetricPutNanos        = "put_ns"
	MetricGetNanos        = "get_ns"
	MetricHeapPerRawByte  = "heap_per_raw_byte"
	MetricRSSPerRawByte   = "rss_per_raw_byte"
	MetricRecoveryMillis  = "recovery_ms"
	MetricStateMB         = "state_mb"
)

// Sample is one run's figures, by metric name.
type Sample map[string]float64

// workloadCase is one row group of the report.
type workloadCase struct {
	Workload string
	Mode     Mode
	Writers  int
}

// MinKeySize is the smallest key the workloads can number uniquely.
const MinKeySize = 12

// putKey writes a unique, printable key for (writer, seq) into dst:
// 'w', three digits of writer, then seq zero-padded to the end.
func putKey(dst []byte, writer, seq int) {
	var num [20]byte
	dst[0] = 'w'
	dst[1] = byte('0' + writer/100%10)
	dst[2] = byte('0' + writer/10%10)
	dst[3] = byte('0' + writer%10)
	s := strconv.AppendUint(num[:0], uint64(seq), 10)
	rest := dst[4:]
	pad := len(rest) - len(s)
	for i := range pad {
		rest[i] = '0'
	}
	copy(rest[max(pad, 0):], s[max(-pad, 0):])
}

// makeValue returns one incompressible value, shared by every put, so
// that compressing stores gain nothing over the others.
func makeValue(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	v := make([]byte, size)
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

func fsyncs(e Engine) (uint64, bool) {
	if f, ok := e.(FsyncCounter); ok {
		return f.Fsyncs(), true
	}
	return 0, false
}

func verifyCount(e Engine, want int) error {
	got, err := e.Count()
	if err != nil {
		return fmt.Errorf("count after run: %w", err)
	}
	if got != want {
		return fmt.Errorf("put count mismatch: %d puts acknowledged, %d keys read back", want, got)
	}
	return nil
}

// runCommits has writers goroutines commit single-key transactions of
// fresh keys for cfg.Duration (or cfg.Ops commits in all), timing each.
func runCommits(cfg *Config, spec Spec, c workloadCase, dir string, value []byte) (s Sample, err error) {
	e := spec.New()
	if err := e.Open(dir, c.Mode); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := e.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	f0, counted := fsyncs(e)

	var (
		stop     atomic.Bool
		start    = make(chan struct{})
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, c.Writers)
		errs     = make([]error, c.Writers)
		quota    = make([]int, c.Writers)
		ready    sync.WaitGroup
		useQuota = cfg.Ops > 0
	)
	for w := range quota {
		quota[w] = cfg.Ops / c.Writers
		if w < cfg.Ops%c.Writers {
			quota[w]++
		}
	}
	for w := range c.Writers {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			key := make([]byte, cfg.KeySize)
			l := make([]time.Duration, 0, 1<<12)
			ready.Done()
			<-start
			for i := 0; ; i++ {
				if useQuota {
					if i >= quota[w] {
						break
					}
				} else if stop.Load() {
					break
				}
				putKey(key, w, i)
				t := time.Now()
				if err := e.Put(key, value); err != nil {
					errs[w] = err
					stop.Store(true)
					break
				}
				l = append(l, time.Since(t))
			}
			lats[w] = l
		}()
	}
	ready.Wait()
	t0 := time.Now()
	if !useQuota {
		timer := time.AfterFunc(cfg.Duration, func() { stop.Store(true) })
		defer timer.Stop()
	}
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("put: %w", err)
		}
	}
	all := slices.Concat(lats...)
	n := len(all)
	if n == 0 {
		return nil, fmt.Errorf("no commit finished")
	}
	if err := verifyCount(e, n); err != nil {
		return nil, err
	}
	slices.Sort(all)
	s = Sample{
		MetricCommitsPerSec: float64(n) / elapsed.Seconds(),
		MetricP50Micros:     micros(all[n/2]),
		MetricP99Micros:     micros(all[min(n*99/100, n-1)]),
	}
	if counted {
		if f1, _ := fsyncs(e); f1 > f0 {
			s[MetricCommitsPerFsync] = float64(n) / float64(f1-f0)
		}
	}
	return s, nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// memKeys returns n distinct keys in a shuffled order, packed in one
// slice so that the harness's own heap stays out of the measurement.
func memKeys(n, size int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	perm := r.Perm(n)
	buf := make([]byte, n*size)
	keys := make([][]byte, n)
	for i, p := range perm {
		k := buf[i*size : (i+1)*size : (i+1)*size]
		putKey(k, 0, p)
		keys[i] = k
	}
	return keys
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	// Return freed pages too, so that the resident size that follows
	// counts what the engine holds, not what an earlier one left behind.
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// runMemory puts every key once into an empty store (one writer, one
// commit per key), measures the Go heap it holds, then reads uniformly
// random keys, as many as it put.
func runMemory(cfg *Config, spec Spec, dir string, keys [][]byte, value []byte) (s Sample, err error) {
	h0 := heapAlloc()
	r0, rssOK := residentBytes()
	e := spec.New()
	if err := e.Open(dir, Memory); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := e.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	t0 := time.Now()
	for _, k := range keys {
		if err := e.Put(k, value); err != nil {
			return nil, fmt.Errorf("put: %w", err)
		}
	}
	putTime := time.Since(t0)
	h1 := heapAlloc()
	r1, _ := residentBytes()
	if err := verifyCount(e, len(keys)); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 2))
	n := len(keys)
	dst := make([]byte, 0, len(value))
	t0 = time.Now()
	for range n {
		v, found, err := e.Get(keys[r.IntN(n)], dst[:0])
		if err != nil {
			return nil, fmt.Errorf("get: %w", err)
		}
		if !found || len(v) != len(value) {
			return nil, fmt.Errorf("get: a key that was put is missing or has %d bytes", len(v))
		}
	}
	getTime := time.Since(t0)
	raw := float64(n * (cfg.KeySize + cfg.ValueSize))
	s = Sample{
		MetricPutNanos: float64(putTime.Nanoseconds()) / float64(n),
		MetricGetNanos: float64(getTime.Nanoseconds()) / float64(n),
	}
	if h1 > h0 {
		s[MetricHeapPerRawByte] = float64(h1-h0) / raw
	}
	if rssOK && r1 > r0 {
		s[MetricRSSPerRawByte] = float64(r1-r0) / raw
	}
	return s, nil
}

// runRecovery fills a durable store with cfg.RecoveryBytes of raw
// key+value bytes in batches, closes it, and times the reopen.
func runRecovery(cfg *Config, spec Spec, dir string, value []byte) (s Sample, err error) {
	n := int(max(cfg.RecoveryBytes/int64(cfg.KeySize+cfg.ValueSize), 1))
	e := spec.New()
	if err := e.Open(dir, Durable); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	const batch = 1000
	keyBuf := make([]byte, batch*cfg.KeySize)
	keys := make([][]byte, 0, batch)
	vals := make([][]byte, 0, batch)
	for i := 0; i < n; i += batch {
		keys, vals = keys[:0], vals[:0]
		for j := i; j < min(i+batch, n); j++ {
			k := keyBuf[(j-i)*cfg.KeySize : (j-i+1)*cfg.KeySize]
			putKey(k, 0, j)
			keys = append(keys, k)
			vals = append(vals, value)
		}
		if err := e.PutBatch(keys, vals); err != nil {
			e.Close()
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	if err := e.Close(); err != nil {
		return nil, fmt.Errorf("close after load: %w", err)
	}
	heapAlloc()
	t0 := time.Now()
	if err := e.Open(dir, Durable); err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	d := time.Since(t0)
	defer func() {
		if cerr := e.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	if err := verifyCount(e, n); err != nil {
		return nil, fmt.Errorf("after reopen: %w", err)
	}
	return Sample{
		MetricRecoveryMillis: float64(d) / float64(time.Millisecond),
		MetricStateMB:        float64(n*(cfg.KeySize+cfg.ValueSize)) / 1e6,
	}, nil
}

func tempDir(parent string) (string, error) { return os.MkdirTemp(parent, "engine-") }
