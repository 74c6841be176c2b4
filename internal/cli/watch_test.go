package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

// TestWatch_BesideLiveWriter prints the change feed of a directory another
// handle holds open for writing, filtered to one run.
func TestWatch_BesideLiveWriter(t *testing.T) {
	dir, run := newDB(t, nil)
	db, err := inmem.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other := inmem.NewRunID()
	must[inmem.Version](t)(db.KV().Put(ctx, run, "plan", inmem.String("a")))
	must[inmem.Version](t)(db.KV().Put(ctx, other, "plan", inmem.String("x")))
	last := must[inmem.Version](t)(db.KV().Delete(ctx, run, "plan"))
	out, _ := mustRun(t, 0, "watch", dir, "--run", run.String(), "--from", "1", "--until", last.String()[4:], "-o", "ndjson")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("watch printed %d lines:\n%s", len(lines), out)
	}
	var ops []string
	for _, l := range lines {
		var v watchView
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		for _, m := range v.Mutations {
			ops = append(ops, m.Op+" "+m.Ref)
		}
	}
	want := "put kv://" + run.String() + "/plan,delete kv://" + run.String() + "/plan"
	if got := strings.Join(ops, ","); got != want {
		t.Errorf("ops = %s, want %s", got, want)
	}
	if _, stderr := mustRun(t, 2, "watch", dir, "--primitive", "nope"); !strings.Contains(stderr, "unknown primitive") {
		t.Errorf("bad primitive: %s", stderr)
	}
}
