package cli

import (
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

func TestRunsDiff(t *testing.T) {
	dir, agent := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		if _, err := db.KV().Put(ctx, run, "k", inmem.Int(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.JSON().Create(ctx, run, "doc", inmem.MustValue(map[string]any{"a": 1})); err != nil {
			t.Fatal(err)
		}
		f, err := db.Runs().Fork(ctx, run, inmem.Version{}, inmem.ForkOptions{Name: "alt"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.KV().Put(ctx, f, "k", inmem.Int(2)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.JSON().Set(ctx, f, "doc", "/b", inmem.String("x")); err != nil {
			t.Fatal(err)
		}
	})
	out, stderr, code := run(t, "runs", "diff", dir, agent.String(), "alt", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	items := decodeJSON[[]diffView](t, out)
	if len(items) != 2 || items[0].Kind != "changed" || items[0].Key != "k" || items[1].Primitive != "json" ||
		len(items[1].Patch) != 1 || items[1].Patch[0].Op != "add" || items[1].Patch[0].Path != "/b" {
		t.Fatalf("diff output %s", out)
	}
	out, _, code = run(t, "runs", "diff", dir, "agent", "alt")
	if code != 0 || !strings.Contains(out, "changed") || !strings.Contains(out, "json") {
		t.Fatalf("table output (exit %d):\n%s", code, out)
	}
	if _, _, code := run(t, "runs", "diff", dir, "agent"); code != 2 {
		t.Fatalf("missing argument: exit %d, want 2", code)
	}
}
