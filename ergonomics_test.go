package inmem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

type level string

type agentStep struct {
	Name    string    `json:"name"`
	Skip    string    `json:"-"`
	Note    string    `json:"note,omitempty"`
	Level   level     `json:"level"`
	Score   float64   // untagged: the field name
	At      time.Time `json:"at"`
	Tags    map[string]int
	Parent  *agentStep `json:"parent"`
	private int
}

func TestValueOf_StructsMapsNamedTypesTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	v, err := inmem.ValueOf(agentStep{Name: "plan", Skip: "x", Level: "high", Score: 0.5, At: at, Tags: map[string]int{"a": 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := inmem.ObjectOf(
		inmem.Field{Key: "name", Value: inmem.String("plan")},
		inmem.Field{Key: "level", Value: inmem.String("high")},
		inmem.Field{Key: "Score", Value: inmem.Float(0.5)},
		inmem.Field{Key: "at", Value: inmem.String("2026-01-02T03:04:05.000000006Z")},
		inmem.Field{Key: "Tags", Value: inmem.ObjectOf(inmem.Field{Key: "a", Value: inmem.Int(1)})},
		inmem.Field{Key: "parent", Value: inmem.Null()},
	)
	if !v.Equal(want) {
		t.Errorf("ValueOf(struct) = %v, want %v", v, want)
	}
	if v, err := inmem.ValueOf(map[string][]level{"x": {"a"}}); err != nil || !v.Equal(inmem.ObjectOf(inmem.Field{Key: "x", Value: inmem.Array(inmem.String("a"))})) {
		t.Errorf("ValueOf(map of named) = %v, %v", v, err)
	}
	if _, err := inmem.ValueOf(map[int]string{1: "a"}); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("int-keyed map: %v", err)
	}
	loop := &agentStep{}
	loop.Parent = loop
	if _, err := inmem.ValueOf(loop); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("cyclic struct: %v", err)
	}
}

func TestVersion_ZeroPrintsNone(t *testing.T) {
	if s := (inmem.Version{}).String(); s != "none" {
		t.Errorf("zero Version prints %q", s)
	}
	if s := inmem.Txn(0).String(); s != "txn:0" {
		t.Errorf("Txn(0) prints %q", s)
	}
}

func TestUpdateVersion_ReturnsCommitVersion(t *testing.T) {
	ctx := context.Background()
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	v, err := db.UpdateVersion(ctx, run, func(tx *inmem.Tx) error {
		err := tx.KV().Put("a", inmem.Int(1))
		return err
	})
	got, _ := db.KV().Get(ctx, run, "a")
	if err != nil || v != got.Version || v.N == 0 {
		t.Errorf("UpdateVersion = %v, %v; the write has %v", v, err, got.Version)
	}
	if v, err := db.UpdateVersion(ctx, run, func(*inmem.Tx) error { return nil }); err != nil || v != inmem.Txn(0) {
		t.Errorf("read-only UpdateVersion = %v, %v", v, err)
	}
}

// TestRuns_CreateWithIDAndFirstData registers a run with a chosen id and
// writes its first data in the same transaction.
func TestRuns_CreateWithIDAndFirstData(t *testing.T) {
	ctx := context.Background()
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := inmem.NewRunID()
	v, err := db.UpdateVersion(ctx, id, func(tx *inmem.Tx) error {
		got, err := tx.Runs().Create("agent", inmem.RunOptions{ID: &id})
		if err != nil || got != id {
			return err
		}
		err = tx.KV().Put("goal", inmem.String("ship"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := db.Runs().Get(ctx, id)
	goal, gerr := db.KV().Get(ctx, id, "goal")
	if err != nil || gerr != nil || info.Version != v || goal.Version != v {
		t.Fatalf("run %v (%v), goal %v (%v), commit %v", info, err, goal, gerr, v)
	}
	if _, err := db.Runs().Create(ctx, "again", inmem.RunOptions{ID: &id}); !errors.Is(err, inmem.ErrAlreadyExists) {
		t.Errorf("second Create with the id: %v", err)
	}
	global := inmem.GlobalRun
	if _, err := db.Runs().Create(ctx, "global", inmem.RunOptions{ID: &global}); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("Create with the global id: %v", err)
	}
}

func TestRuns_PausedRunCanFail(t *testing.T) {
	ctx := context.Background()
	db, err := inmem.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, end := range []func(inmem.RunID) (inmem.Version, error){
		func(id inmem.RunID) (inmem.Version, error) { return db.Runs().Fail(ctx, id, "boom") },
		func(id inmem.RunID) (inmem.Version, error) { return db.Runs().Cancel(ctx, id) },
	} {
		id, err := db.Runs().Create(ctx, inmem.NewRunID().String(), inmem.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Runs().Pause(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := end(id); err != nil {
			t.Errorf("ending a paused run: %v", err)
		}
	}
}
