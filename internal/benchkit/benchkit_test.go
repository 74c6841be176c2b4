package benchkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func tinyConfig(t *testing.T) Config {
	return Config{
		Dir:             t.TempDir(),
		DurableWriters:  []int{1, 4},
		BufferedWriters: []int{2},
		Ops:             16,
		Keys:            500,
		RecoveryBytes:   5_000,
		Repeat:          2,
	}
}

func TestRunBaselines(t *testing.T) {
	rep, err := Run(tinyConfig(t), Baselines())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"durable/1": 2, "durable/4": 2, "memory/1": 1, "recovery/1": 1}
	got := map[string]int{}
	for _, r := range rep.Results {
		got[r.Workload+"/"+itoa(r.Writers)]++
		if len(r.Samples) != 2 {
			t.Errorf("%s %s: %d samples, want 2", r.Workload, r.Engine, len(r.Samples))
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d engines, want %d (got %v)", k, got[k], n, got)
		}
	}
	for _, r := range rep.group(WorkloadDurable, 4) {
		if r.Engine == "raw ideal group commit" {
			if cpf := r.Stats[MetricCommitsPerFsync].Median; cpf < 1 {
				t.Errorf("group commit: %.2f commits per fsync, want ≥ 1", cpf)
			}
		}
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, s := range []string{"### Durable commits, 4 writers", "| raw ideal group commit |", "### In-memory put and get, 500 keys", "### Recovery", "Machine:"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md.String())
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

// lossyMap acknowledges every put but drops some, as a store that loses
// acknowledged writes would.
type lossyMap struct {
	mapEngine
	n atomic.Int64
}

func (e *lossyMap) Put(k, v []byte) error {
	if e.n.Add(1)%7 == 0 {
		return nil
	}
	return e.mapEngine.Put(k, v)
}

func TestRunCatchesLostPuts(t *testing.T) {
	spec := Spec{Name: "lossy", Kind: KindPeer, Modes: map[Mode]string{Memory: "", Buffered: ""}, New: func() Engine { return &lossyMap{} }}
	cfg := tinyConfig(t)
	cfg.Workloads = []string{WorkloadBuffered}
	_, err := Run(cfg, []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "put count mismatch") {
		t.Fatalf("Run = %v, want a put count mismatch", err)
	}
	cfg.Workloads = []string{WorkloadMemory}
	_, err = Run(cfg, []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "put count mismatch") {
		t.Fatalf("Run = %v, want a put count mismatch", err)
	}
}

func TestRunDuration(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Ops = 0
	cfg.Duration = 20 * time.Millisecond
	cfg.Workloads = []string{WorkloadDurable}
	cfg.DurableWriters = []int{3}
	cfg.Repeat = 1
	rep, err := Run(cfg, Baselines())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Stats[MetricCommitsPerSec].Median <= 0 {
			t.Errorf("%s: no commits", r.Engine)
		}
	}
}

func TestConfigRejectsBadInput(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.KeySize = 4 },
		func(c *Config) { c.ValueSize = -1 },
		func(c *Config) { c.Workloads = []string{"nope"} },
		func(c *Config) { c.DurableWriters = []int{0} },
		func(c *Config) { c.Repeat = -2 },
		func(c *Config) { c.Keys = -5 },
		func(c *Config) { c.Ops = -1 },
	} {
		cfg := tinyConfig(t)
		mod(&cfg)
		if _, err := Run(cfg, Baselines()); !errors.Is(err, ErrConfig) {
			t.Errorf("Run(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestPutKeyUnique(t *testing.T) {
	seen := map[string]bool{}
	k := make([]byte, MinKeySize)
	for w := range 3 {
		for i := range 2000 {
			putKey(k, w, i)
			if seen[string(k)] {
				t.Fatalf("duplicate key %q", k)
			}
			seen[string(k)] = true
		}
	}
	putKey(k, 7, 12345)
	if string(k) != "w00700012345" {
		t.Fatalf("key = %q", k)
	}
}

func TestRawLogDetectsDamage(t *testing.T) {
	dir := t.TempDir()
	e := &rawEngine{}
	if err := e.Open(dir, Durable); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		k := make([]byte, 16)
		putKey(k, 0, i)
		if err := e.Put(k, []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	n, end, err := e.scan()
	if n != 5 || err != nil {
		t.Fatalf("scan = %d, %v", n, err)
	}
	b, _ := readFile(e.path)
	b[end-1] ^= 1
	writeFile(t, e.path, b)
	if err := e.Open(dir, Durable); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Open of a damaged log = %v, want checksum error", err)
	}
}
