package inmem

import (
	"context"
	"errors"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
)

// TestJSON_RunClosed: every JSON write into a closed run fails with
// RunClosed and writes nothing; reads still work.
func TestJSON_RunClosed(t *testing.T) {
	ctx := context.Background()
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := NewRunID()
	js := db.JSON()
	v, err := js.Create(ctx, run, "d", ObjectOf(Field{Key: "a", Value: Int(1)}))
	if err != nil {
		t.Fatal(err)
	}
	// Close the run by writing its run-index record directly.
	err = db.Update(ctx, GlobalRun, func(tx *Tx) error {
		tx.txn.Put(GlobalRun, core.Run, runKey(run), ObjectOf(Field{Key: runFieldStatus, Value: String(string(RunCompleted))}).in())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]func() error{
		"Create":    func() error { _, err := js.Create(ctx, run, "e", Null()); return err },
		"Set":       func() error { _, err := js.Set(ctx, run, "d", "/b", Int(2)); return err },
		"Delete":    func() error { _, err := js.Delete(ctx, run, "d", "/a"); return err },
		"Destroy":   func() error { _, err := js.Destroy(ctx, run, "d"); return err },
		"Patch":     func() error { _, err := js.Patch(ctx, run, "d", []PatchOp{{Op: "remove", Path: "/a"}}); return err },
		"PatchJSON": func() error { _, err := js.PatchJSON(ctx, run, "d", []byte(`[]`)); return err },
		"Merge":     func() error { _, err := js.Merge(ctx, run, "d", Null()); return err },
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, ErrRunClosed) {
			t.Errorf("%s into a closed run = %v, want RunClosed", name, err)
		}
	}
	got, err := js.Get(ctx, run, "d", "/a")
	if err != nil || !got.Value.Equal(Int(1)) || got.Version != v {
		t.Fatalf("Get in a closed run = %+v, %v", got, err)
	}
	if ok, _ := js.Exists(ctx, run, "e"); ok {
		t.Fatal("Create into a closed run took effect")
	}
}
