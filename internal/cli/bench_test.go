package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/benchkit"
)

// tinyBench keeps the command's test well under a second: a few commits
// per run, a few hundred keys, a few kilobytes of recovery state.
var tinyBench = []string{"bench", "-q", "--ops", "12", "--writers", "1,4", "--buffered-writers", "2",
	"--keys", "300", "--recovery-mb", "0.02", "--repeat", "2"}

func TestBenchTable(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "report.json")
	out, errOut, code := run(t, append(tinyBench, "--dir", dir, "--json", jsonPath)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{
		"### Durable commits, 1 writer", "### Durable commits, 4 writers", "### Buffered commits (no fsync), 2 writers",
		"### In-memory put and get, 300 keys", "### Recovery",
		"| in-mem Strict |", "| in-mem Buffered |", "| in-mem InMemory |", "| go map+mutex |",
		"| raw append+fdatasync |", "| raw ideal group commit |",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			Engine  string
			Samples []map[string]float64
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) == 0 || len(rep.Results[0].Samples) != 2 {
		t.Fatalf("JSON report: %+v", rep)
	}
	// The engines' directories are removed after their runs.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d entries left in --dir, want only the JSON report", len(ents))
	}
}

func TestBenchJSONOutputAndFilter(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	out, errOut, code := run(t, append(tinyBench, "--dir", t.TempDir(), "-o", "json", "--engines", "go", "--workloads", "memory", "--cpuprofile", prof)...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct{ Results []struct{ Engine string } }
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rep.Results) != 1 || rep.Results[0].Engine != "go map+mutex" {
		t.Fatalf("results %+v, want the Go map alone", rep.Results)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Fatalf("CPU profile: %v", err)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--engines", "nosuch"},
		{"bench", "--workloads", "nope"},
		{"bench", "--key-size", "3"},
		{"bench", "--recovery-mb", "-1"},
		{"bench", "--writers", "0"},
		{"bench", "extra-arg"},
	} {
		_, _, code := run(t, args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}

// TestBenchMainExtraEngines runs the tool as bench/'s inmem-bench does:
// the bench command as the root, with a peer beside in-mem.
func TestBenchMainExtraEngines(t *testing.T) {
	peer := benchkit.Baselines()[0]
	peer.Name, peer.Kind = "fake peer", benchkit.KindPeer
	var out, errOut bytes.Buffer
	code := BenchMain([]string{"-q", "--workloads", "memory", "--keys", "200", "--repeat", "1", "--dir", t.TempDir()},
		&out, &errOut, []benchkit.Spec{peer})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "| fake peer |") || !strings.Contains(out.String(), "best peer: fake peer") {
		t.Fatalf("table lacks the extra engine:\n%s", out.String())
	}
	if code := BenchMain([]string{"--key-size", "2"}, &out, &errOut, nil); code != ExitUsage {
		t.Fatalf("bad flag: exit %d, want %d", code, ExitUsage)
	}
}
