package benchkit

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Stat summarizes one metric over the repetitions.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Spread is half the range as a fraction of the median.
func (s Stat) Spread() float64 {
	if s.Median == 0 {
		return 0
	}
	return (s.Max - s.Min) / 2 / s.Median
}

// Result is one engine in one workload.
type Result struct {
	Workload string          `json:"workload"`
	Writers  int             `json:"writers"`
	Engine   string          `json:"engine"`
	Kind     string          `json:"kind"`
	Samples  []Sample        `json:"samples"`
	Stats    map[string]Stat `json:"stats"`
}

func (r *Result) summarize() {
	r.Stats = map[string]Stat{}
	for _, m := range []string{MetricCommitsPerSec, MetricP50Micros, MetricP99Micros, MetricCommitsPerFsync,
		MetricPutNanos, MetricGetNanos, MetricHeapPerRawByte, MetricRSSPerRawByte, MetricRecoveryMillis, MetricStateMB} {
		var xs []float64
		for _, s := range r.Samples {
			if v, ok := s[m]; ok {
				xs = append(xs, v)
			}
		}
		if len(xs) == 0 {
			continue
		}
		slices.Sort(xs)
		med := xs[len(xs)/2]
		if len(xs)%2 == 0 {
			med = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
		}
		r.Stats[m] = Stat{Median: med, Min: xs[0], Max: xs[len(xs)-1]}
	}
}

func (r *Result) median(m string) (float64, bool) {
	s, ok := r.Stats[m]
	return s.Median, ok
}

// Machine describes where the figures were taken.
type Machine struct {
	Date       string `json:"date"`
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	FS         string `json:"fs"`
	Dir        string `json:"dir"`
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// ProbeMachine describes this machine and the file system holding dir.
func ProbeMachine(dir string) Machine {
	return Machine{
		Date:       time.Now().UTC().Format(time.RFC3339),
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go:         runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		FS:         fsType(dir),
		Dir:        dir,
		LoadBefore: loadAverage(),
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// ReportConfig is the part of Config a report records.
type ReportConfig struct {
	Workloads       []string `json:"workloads"`
	DurableWriters  []int    `json:"durable_writers"`
	BufferedWriters []int    `json:"buffered_writers"`
	Duration        string   `json:"duration,omitempty"`
	Ops             int      `json:"ops,omitempty"`
	Keys            int      `json:"keys"`
	KeySize         int      `json:"key_size"`
	ValueSize       int      `json:"value_size"`
	RecoveryBytes   int64    `json:"recovery_bytes"`
	Repeat          int      `json:"repeat"`
	Seed            uint64   `json:"seed"`
}

func reportConfig(c Config) ReportConfig {
	rc := ReportConfig{Workloads: c.Workloads, DurableWriters: c.DurableWriters, BufferedWriters: c.BufferedWriters,
		Ops: c.Ops, Keys: c.Keys, KeySize: c.KeySize, ValueSize: c.ValueSize, RecoveryBytes: c.RecoveryBytes,
		Repeat: c.Repeat, Seed: c.Seed}
	if c.Ops == 0 {
		rc.Duration = c.Duration.String()
	}
	return rc
}

// Report is what Run measured.
type Report struct {
	Machine Machine      `json:"machine"`
	Config  ReportConfig `json:"config"`
	Results []*Result    `json:"results"`
}

// group returns the results of one workload case, in first-run order.
func (r *Report) group(workload string, writers int) []*Result {
	var g []*Result
	for _, res := range r.Results {
		if res.Workload == workload && res.Writers == writers {
			g = append(g, res)
		}
	}
	return g
}

// best returns the best median of metric among results of kind, where
// higher is better unless lower is set.
func best(g []*Result, kind, metric string, lower bool) (float64, string) {
	b, name := math.NaN(), ""
	for _, r := range g {
		if r.Kind != kind {
			continue
		}
		v, ok := r.median(metric)
		if !ok || v == 0 {
			continue
		}
		if math.IsNaN(b) || (lower && v < b) || (!lower && v > b) {
			b, name = v, r.Engine
		}
	}
	return b, name
}

func ratio(v, base float64, ok bool) string {
	if !ok || math.IsNaN(base) || base == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

// Markdown writes the report as Markdown tables, one per workload case.
func (r *Report) Markdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "Machine: %s, %d cores (GOMAXPROCS %d), %s, %s, file system %s (%s). %s.\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.Go, m.OS, m.FS, m.Dir, m.Date)
	if m.LoadBefore != "" {
		fmt.Fprintf(w, "Load average before: %s; after: %s.\n", m.LoadBefore, m.LoadAfter)
	}
	c := r.Config
	run := c.Duration
	if c.Ops > 0 {
		run = fmt.Sprintf("%d commits", c.Ops)
	}
	fmt.Fprintf(w, "Keys %d B, values %d B; commit runs of %s; %d keys in memory; %.0f MB recovery state; median of %d interleaved repetitions, spread = ± half the range.\n",
		c.KeySize, c.ValueSize, run, c.Keys, float64(c.RecoveryBytes)/1e6, c.Repeat)
	seen := map[string]bool{}
	for _, res := range r.Results {
		id := fmt.Sprintf("%s/%d", res.Workload, res.Writers)
		if seen[id] {
			continue
		}
		seen[id] = true
		g := r.group(res.Workload, res.Writers)
		switch res.Workload {
		case WorkloadMemory:
			r.memoryTable(w, g)
		case WorkloadRecovery:
			r.recoveryTable(w, g)
		default:
			wc := workloadCase{Workload: res.Workload, Writers: res.Writers}
			r.commitTable(w, wc.title(), g)
		}
	}
}

func (r *Report) commitTable(w io.Writer, title string, g []*Result) {
	raw, rawName := best(g, KindBaseline.String(), MetricCommitsPerSec, false)
	peer, peerName := best(g, KindPeer.String(), MetricCommitsPerSec, false)
	fmt.Fprintf(w, "\n### %s\n\n", capitalize(title))
	fmt.Fprintf(w, "| engine | commits/s | spread | p50 | p99 | commits/fsync | ÷ raw | ÷ best peer |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range g {
		cs := res.Stats[MetricCommitsPerSec]
		p50, _ := res.median(MetricP50Micros)
		p99, _ := res.median(MetricP99Micros)
		cpf := "—"
		if v, ok := res.median(MetricCommitsPerFsync); ok {
			cpf = fmt.Sprintf("%.1f", v)
		}
		fmt.Fprintf(w, "| %s | %s | ±%.0f%% | %s | %s | %s | %s | %s |\n", res.Engine, rate(cs.Median), 100*cs.Spread(),
			dur(p50), dur(p99), cpf, ratio(cs.Median, raw, true), ratio(cs.Median, peer, true))
	}
	fmt.Fprintf(w, "\nRaw baseline: %s; best peer: %s.\n", orNone(rawName), orNone(peerName))
}

func (r *Report) memoryTable(w io.Writer, g []*Result) {
	floorPut, floorName := best(g, KindBaseline.String(), MetricPutNanos, true)
	floorGet, _ := best(g, KindBaseline.String(), MetricGetNanos, true)
	peerPut, peerPutName := best(g, KindPeer.String(), MetricPutNanos, true)
	peerGet, peerGetName := best(g, KindPeer.String(), MetricGetNanos, true)
	fmt.Fprintf(w, "\n### In-memory put and get, %d keys\n\n", r.Config.Keys)
	fmt.Fprintf(w, "Put: each key once into an empty store, one writer, one commit each. Get: uniform over all keys. Times per operation; ratios are time ÷ time (above 1 is slower). Go heap misses memory a store allocates outside it (Pebble's memtable through cgo, SQLite's own allocator); the resident-set growth (RSS) sees it, but is coarser.\n\n")
	fmt.Fprintf(w, "| engine | put | spread | get | spread | Go heap ÷ raw bytes | RSS ÷ raw bytes | put ÷ floor | get ÷ floor | put ÷ best peer | get ÷ best peer |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range g {
		p, gs := res.Stats[MetricPutNanos], res.Stats[MetricGetNanos]
		heap, rss := "—", "—"
		if v, ok := res.median(MetricHeapPerRawByte); ok {
			heap = fmt.Sprintf("%.2f", v)
		}
		if v, ok := res.median(MetricRSSPerRawByte); ok {
			rss = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(w, "| %s | %s | ±%.0f%% | %s | ±%.0f%% | %s | %s | %s | %s | %s | %s |\n", res.Engine,
			nanos(p.Median), 100*p.Spread(), nanos(gs.Median), 100*gs.Spread(), heap, rss,
			ratio(p.Median, floorPut, true), ratio(gs.Median, floorGet, true),
			ratio(p.Median, peerPut, true), ratio(gs.Median, peerGet, true))
	}
	fmt.Fprintf(w, "\nFloor: %s; best peer: %s (put), %s (get).\n", orNone(floorName), orNone(peerPutName), orNone(peerGetName))
}

func (r *Report) recoveryTable(w io.Writer, g []*Result) {
	raw, rawName := best(g, KindBaseline.String(), MetricRecoveryMillis, true)
	peer, peerName := best(g, KindPeer.String(), MetricRecoveryMillis, true)
	fmt.Fprintf(w, "\n### Recovery\n\n")
	fmt.Fprintf(w, "Time for Open to return on a closed store holding the state (loaded in durable batches of 1000 keys). Ratios are time ÷ time.\n\n")
	fmt.Fprintf(w, "| engine | state | open | spread | MB/s | ÷ raw | ÷ best peer |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range g {
		o := res.Stats[MetricRecoveryMillis]
		mb, _ := res.median(MetricStateMB)
		mbs := "—"
		if o.Median > 0 {
			mbs = fmt.Sprintf("%.0f", mb/(o.Median/1000))
		}
		fmt.Fprintf(w, "| %s | %.0f MB | %s | ±%.0f%% | %s | %s | %s |\n", res.Engine, mb,
			dur(o.Median*1000), 100*o.Spread(), mbs, ratio(o.Median, raw, true), ratio(o.Median, peer, true))
	}
	fmt.Fprintf(w, "\nRaw baseline: %s (read and checksum the log); best peer: %s.\n", orNone(rawName), orNone(peerName))
}

func orNone(s string) string {
	if s == "" {
		return "none in this run"
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// dur formats microseconds.
func dur(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2f s", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2f ms", us/1e3)
	}
	return fmt.Sprintf("%.1f µs", us)
}

func nanos(ns float64) string {
	if ns >= 1000 {
		return fmt.Sprintf("%.2f µs", ns/1000)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
