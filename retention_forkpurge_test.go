package inmem_test

import (
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// A fork that deletes a key it inherited holds a lone tombstone of its own,
// and that tombstone is what hides the parent's version: retention must not
// purge it, or reads fall through to the parent again and the deleted key
// comes back (found in review).
func TestRetention_ForkDeleteSurvivesPurge(t *testing.T) {
	fsys := vfs.NewMem()
	c := &testClock{}
	db := openRet(t, fsys, c)
	defer func() { db.Close() }()
	src, err := db.Runs().Create(ctx, "src", inmem.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, src, "k", inmem.Int(1))
	v1 := mustPut(t, db, src, "j", inmem.Int(1))
	fork, err := db.Runs().Fork(ctx, src, v1, inmem.ForkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// k: a lone tombstone; j: a tombstone over the fork's own version.
	mustPut(t, db, fork, "j", inmem.Int(2))
	for _, k := range []string{"k", "j"} {
		if _, err := db.KV().Delete(ctx, fork, k); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(when string) {
		t.Helper()
		for _, k := range []string{"k", "j"} {
			if v, err := db.KV().Get(ctx, fork, k); err == nil {
				t.Fatalf("%s: fork Get(%s) = %v, nil; the fork's delete was undone", when, k, v)
			}
			if keys, err := db.KV().List(ctx, fork, ""); err != nil || len(keys) != 0 {
				t.Fatalf("%s: fork List = %v, %v; want none", when, keys, err)
			}
		}
	}
	gone("before compaction")
	if _, err := db.SetRetentionPolicy(ctx, fork, inmem.KeepLast(1)); err != nil {
		t.Fatal(err)
	}
	mustCompactFull(t, db)
	gone("after compaction")
	db.Close()
	db = openRet(t, fsys, c)
	gone("reopened")
}
