package cli

import (
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
)

func TestRetentionSetGet(t *testing.T) {
	dir, run := newDB(t, nil)
	out, _ := mustRun(t, ExitOK, "retention", "get", dir)
	if strings.TrimSpace(out) != "all" {
		t.Errorf("default policy of a new database: %q", out)
	}
	mustRun(t, ExitOK, "retention", "set", dir, "last:3")
	out, _ = mustRun(t, ExitOK, "retention", "get", "-o", "json", dir)
	if v := decodeJSON[policyView](t, out); v.Policy != "last:3" || v.Run != "" || v.Version == "" {
		t.Errorf("database default after set: %+v", v)
	}
	// A run by name, its policy from the flags alone.
	mustRun(t, ExitOK, "retention", "set", dir, "agent", "--kv", "last:5", "--events", "for:72h")
	out, _ = mustRun(t, ExitOK, "retention", "get", "-o", "json", dir, "agent")
	if v := decodeJSON[policyView](t, out); v.Policy != "all;kv=last:5;event=for:72h0m0s" || v.Run != run.String() {
		t.Errorf("run policy from flags: %+v", v)
	}
	// A run with a default and an override.
	mustRun(t, ExitOK, "retention", "set", dir, run.String(), "for:24h", "--state", "last:1")
	out, _ = mustRun(t, ExitOK, "retention", "get", dir, run.String())
	if !strings.HasPrefix(out, "for:24h0m0s;state=last:1") {
		t.Errorf("run policy with a default and an override: %q", out)
	}
	// The stored policy is the library's.
	db, err := inmem.Open(dir, &inmem.Options{ReadOnly: true, Durability: inmem.InMemory})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := must[inmem.Versioned[inmem.RetentionPolicy]](t)(db.RetentionPolicy(ctx, run))
	if want := inmem.Composite(inmem.KeepFor(24*60*60*1e9), map[inmem.PrimitiveType]inmem.RetentionPolicy{inmem.PrimitiveState: inmem.KeepLast(1)}); p.Value.String() != want.String() {
		t.Errorf("stored policy %s, want %s", p.Value, want)
	}
}

func TestRetentionSetRejectsBadPolicies(t *testing.T) {
	dir, _ := newDB(t, nil)
	for _, args := range [][]string{
		{"retention", "set", dir},                      // no policy at all
		{"retention", "set", dir, "agent"},             // a run, but no policy
		{"retention", "set", dir, "last:0"},            // n < 1 is not a policy: taken as a run, then none
		{"retention", "set", dir, "agent", "last:0"},   // invalid count
		{"retention", "set", dir, "agent", "for:-1h"},  // invalid duration
		{"retention", "set", dir, "--kv", "sometimes"}, // malformed override
		{"retention", "set", dir, "nobody", "all"},     // unknown run
		{"retention", "get", dir, "nobody"},
	} {
		mustRun(t, ExitUsage, args...)
	}
	out, _ := mustRun(t, ExitOK, "retention", "get", dir)
	if strings.TrimSpace(out) != "all" {
		t.Errorf("a refused set changed the policy: %q", out)
	}
}

func TestCompactFullAppliesRetention(t *testing.T) {
	dir, run := newDB(t, func(db *inmem.DB, run inmem.RunID) {
		for i := range 5 {
			must[inmem.Version](t)(db.KV().Put(ctx, run, "k", inmem.Int(int64(i))))
		}
	})
	// Without a policy Full compaction removes nothing.
	out, _ := mustRun(t, ExitOK, "compact", "--full", "-o", "json", dir)
	if v := decodeJSON[compactView](t, out); v.Mode != "full" || v.VersionsRemoved != 0 {
		t.Errorf("Full compaction with KeepAll: %+v", v)
	}
	out, _ = mustRun(t, ExitOK, "info", "-o", "json", dir)
	if v := decodeJSON[infoView](t, out); v.Retention.Default.Policy != "all" || len(v.Retention.Floors) != 0 || v.Maintenance.FullDue {
		t.Errorf("info before any policy: %+v", v.Retention)
	}
	mustRun(t, ExitOK, "retention", "set", dir, "agent", "last:1")
	out, _ = mustRun(t, ExitOK, "compact", "--full", dir)
	if !strings.Contains(out, "removed 4 versions") {
		t.Errorf("compact --full output: %q", out)
	}
	out, _ = mustRun(t, ExitOK, "info", "-o", "json", dir)
	v := decodeJSON[infoView](t, out)
	if len(v.Retention.Runs) != 1 || v.Retention.Runs[0].Run != run.String() || v.Retention.Runs[0].Policy != "last:1" || !v.Maintenance.FullDue {
		t.Errorf("info retention: %+v maintenance %+v", v.Retention, v.Maintenance)
	}
	found := false
	for _, f := range v.Retention.Floors {
		found = found || f.Run == run.String() && f.Primitive == "kv" && f.Floor > 0
	}
	if !found {
		t.Errorf("info lists no KV trim floor of the run: %+v", v.Retention.Floors)
	}
	out, _ = mustRun(t, ExitOK, "info", dir)
	for _, want := range []string{"retention", "trim floor", "Full compaction every 1h0m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("info table lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustRun(t, ExitOK, "stats", "-o", "json", dir)
	sv := decodeJSON[statsView](t, out)
	if len(sv.Retention.Floors) == 0 || !sv.MaintenanceDue.FullDue || sv.MaintenanceDue.CheckpointWALBytes != 64<<20 {
		t.Errorf("stats: %+v %+v", sv.Retention, sv.MaintenanceDue)
	}
	// WAL-only compaction is still the default.
	out, _ = mustRun(t, ExitOK, "compact", "-o", "json", dir)
	if v := decodeJSON[compactView](t, out); v.Mode != "wal-only" {
		t.Errorf("compact without --full: %+v", v)
	}
}
