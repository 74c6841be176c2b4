package peers

import (
	"bytes"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/benchkit"
)

// TestSmoke runs every peer through every workload it supports at tiny
// sizes: each must open, commit, read back its exact put count, reopen,
// and close.
func TestSmoke(t *testing.T) {
	cfg := benchkit.Config{
		Dir:             t.TempDir(),
		DurableWriters:  []int{1, 4},
		BufferedWriters: []int{2},
		Ops:             20,
		Keys:            300,
		RecoveryBytes:   30_000,
		Repeat:          1,
	}
	rep, err := benchkit.Run(cfg, Specs())
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	for _, s := range []string{"| Pebble Sync |", "| Pebble NoSync |", "| Pebble memtable |", "| Badger SyncWrites |",
		"| Badger InMemory |", "| bbolt |", "| SQLite WAL FULL |", "| SQLite WAL NORMAL |", "| SQLite :memory: |",
		"| buntdb SyncPolicy=Always |", "| buntdb :memory: |"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, md.String())
		}
	}
}
