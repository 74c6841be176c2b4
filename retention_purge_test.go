package inmem_test

import (
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// A key written and deleted in one commit leaves a chain holding only its
// tombstone. Purging that chain hides no history, so it must not raise the
// floor of its run and space: a floor covers every key there and would
// refuse past views the policy keeps (found by the crash harness).
func TestRetention_PurgingALoneTombstoneRaisesNoFloor(t *testing.T) {
	fsys := vfs.NewMem()
	db := openRet(t, fsys, &testClock{})
	defer db.Close()
	if _, err := db.SetRetentionPolicy(ctx, retRun, inmem.KeepLast(3)); err != nil {
		t.Fatal(err)
	}
	var vs []inmem.Version
	for i := range 6 {
		v, err := db.UpdateVersion(ctx, retRun, func(tx *inmem.Tx) error {
			if err := tx.KV().Put("x", inmem.Int(int64(i))); err != nil {
				return err
			}
			if i == 4 {
				if err := tx.KV().Put("y", inmem.Int(1)); err != nil {
					return err
				}
				return tx.KV().Delete("y")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	mustCompactFull(t, db)
	// KeepLast(3) keeps x's versions of commits 4, 5 and 6 (indexes 3..5).
	for i := 3; i < 6; i++ {
		err := db.ViewAt(ctx, retRun, inmem.AtVersion(vs[i]), func(tx *inmem.Tx) error {
			got, err := tx.KV().Get("x")
			if err != nil {
				return err
			}
			if n, _ := got.Value.AsInt(); n != int64(i) {
				t.Errorf("x as of %s = %d, want %d", vs[i], n, i)
			}
			return nil
		})
		if err != nil {
			t.Errorf("ViewAt(%s), a version KeepLast(3) keeps: %v", vs[i], err)
		}
	}
	if _, err := db.KV().Get(ctx, retRun, "y"); inmem.CodeOf(err) != inmem.CodeNotFound {
		t.Errorf("Get(y) after the purge = %v, want NotFound", err)
	}
}
