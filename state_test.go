package inmem_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
	"pgregory.net/rapid"
)

func increment(v inmem.Value) (inmem.Value, error) {
	n, ok := v.AsInt()
	if !ok {
		return inmem.Value{}, fmt.Errorf("not an int: %v", v)
	}
	return inmem.Int(n + 1), nil
}

func mustCounter(t testing.TB, v inmem.Version, err error, want uint64) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if v != inmem.Counter(want) {
		t.Fatalf("got version %v, want %v", v, inmem.Counter(want))
	}
}

func mustReadCell(t testing.TB, db *inmem.DB, run inmem.RunID, name string) inmem.Versioned[inmem.Value] {
	t.Helper()
	v, err := db.State().Read(ctx, run, name)
	if err != nil {
		t.Fatalf("Read(%q): %v", name, err)
	}
	return v
}

func TestState_InitReadSetExistsList(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	v, err := st.Init(ctx, run, "lock", inmem.String("free"))
	mustCounter(t, v, err, 1)
	if _, err := st.Init(ctx, run, "lock", inmem.String("again")); !errors.Is(err, inmem.ErrAlreadyExists) {
		t.Fatalf("second Init = %v, want AlreadyExists", err)
	}
	got := mustReadCell(t, db, run, "lock")
	if got.Version != inmem.Counter(1) || !got.Value.Equal(inmem.String("free")) || got.Timestamp == 0 || got.Deleted {
		t.Fatalf("Read = %+v", got)
	}
	v, err = st.Set(ctx, run, "lock", inmem.String("held"))
	mustCounter(t, v, err, 2)
	v, err = st.Set(ctx, run, "fresh", inmem.Int(0))
	mustCounter(t, v, err, 1)
	if got := mustReadCell(t, db, run, "lock"); !got.Value.Equal(inmem.String("held")) || got.Version != inmem.Counter(2) {
		t.Fatalf("Read after Set = %+v", got)
	}
	for name, want := range map[string]bool{"lock": true, "fresh": true, "nope": false} {
		if ok, err := st.Exists(ctx, run, name); err != nil || ok != want {
			t.Fatalf("Exists(%q) = %v, %v", name, ok, err)
		}
	}
	if _, err := st.Read(ctx, run, "nope"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Read of a missing cell = %v, want NotFound", err)
	}
	st.Set(ctx, run, "lock/b", inmem.Null())
	st.Set(ctx, run, "lock/a", inmem.Null())
	if names, _ := st.List(ctx, run, ""); !slices.Equal(names, []string{"fresh", "lock", "lock/a", "lock/b"}) {
		t.Fatalf("List = %v", names)
	}
	if names, _ := st.List(ctx, run, "lock/"); !slices.Equal(names, []string{"lock/a", "lock/b"}) {
		t.Fatalf("List(lock/) = %v", names)
	}
	st.Delete(ctx, run, "lock/a")
	if names, _ := st.List(ctx, run, "lock"); !slices.Equal(names, []string{"lock", "lock/b"}) {
		t.Fatalf("List after Delete = %v", names)
	}
}

func TestState_CounterMonotonicAcrossDelete(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	v, err := st.Init(ctx, run, "c", inmem.Int(1))
	mustCounter(t, v, err, 1)
	v, err = st.Set(ctx, run, "c", inmem.Int(2))
	mustCounter(t, v, err, 2)
	if err := st.Delete(ctx, run, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(ctx, run, "c"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Read after Delete = %v, want NotFound", err)
	}
	if err := st.Delete(ctx, run, "c"); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("second Delete = %v, want NotFound", err)
	}
	if _, err := st.CAS(ctx, run, "c", inmem.Counter(2), inmem.Int(9)); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("CAS on a deleted cell with its old counter = %v, want NotFound", err)
	}
	v, err = st.Init(ctx, run, "c", inmem.Int(3))
	mustCounter(t, v, err, 3)
	st.Delete(ctx, run, "c")
	v, err = st.Set(ctx, run, "c", inmem.Int(4))
	mustCounter(t, v, err, 4)
	st.Delete(ctx, run, "c")
	v, err = st.CAS(ctx, run, "c", inmem.Counter(0), inmem.Int(5))
	mustCounter(t, v, err, 5)
	st.Delete(ctx, run, "c")
	_, v, err = st.TransitionOrInit(ctx, run, "c", inmem.Int(5), increment)
	mustCounter(t, v, err, 6)
	if got := mustReadCell(t, db, run, "c"); !got.Value.Equal(inmem.Int(6)) {
		t.Fatalf("value = %v", got.Value)
	}
	// Delete and re-create inside one transaction.
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		if err := tx.State().Delete("c"); err != nil {
			return err
		}
		v, err := tx.State().Init("c", inmem.Int(7))
		mustCounter(t, v, err, 7)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustReadCell(t, db, run, "c"); got.Version != inmem.Counter(7) {
		t.Fatalf("after delete+init in one tx: %+v", got)
	}
}

func TestState_CASSemantics(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	v, err := st.CAS(ctx, run, "c", inmem.Counter(0), inmem.String("a"))
	mustCounter(t, v, err, 1)
	v, err = st.CAS(ctx, run, "c", inmem.Counter(1), inmem.String("b"))
	mustCounter(t, v, err, 2)
	for _, exp := range []inmem.Version{inmem.Counter(1), inmem.Counter(3), inmem.Counter(0), {}} {
		_, err := st.CAS(ctx, run, "c", exp, inmem.String("x"))
		var e *inmem.Error
		if !errors.As(err, &e) || e.Code != inmem.CodeConflict || !inmem.IsRetryable(err) {
			t.Fatalf("CAS(%v) = %v, want Conflict", exp, err)
		}
		wantExp := inmem.Counter(exp.N)
		if e.Expected == nil || e.Actual == nil || *e.Expected != wantExp || *e.Actual != inmem.Counter(2) {
			t.Fatalf("CAS(%v) conflict carries expected %v actual %v", exp, e.Expected, e.Actual)
		}
	}
	if _, err := st.CAS(ctx, run, "missing", inmem.Counter(1), inmem.Null()); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("CAS on a missing cell = %v, want NotFound", err)
	}
	for _, bad := range []inmem.Version{inmem.Txn(2), inmem.Sequence(2), {Kind: 0, N: 2}} {
		if _, err := st.CAS(ctx, run, "c", bad, inmem.Null()); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Fatalf("CAS(%v) = %v, want InvalidArgument", bad, err)
		}
	}
	if got := mustReadCell(t, db, run, "c"); got.Version != inmem.Counter(2) || !got.Value.Equal(inmem.String("b")) {
		t.Fatalf("failed CAS changed the cell: %+v", got)
	}
	// CAS inside a transaction sees the transaction's own writes.
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		s := tx.State()
		v, err := s.CAS("c", inmem.Counter(2), inmem.String("c"))
		mustCounter(t, v, err, 3)
		v, err = s.CAS("c", inmem.Counter(3), inmem.String("d"))
		mustCounter(t, v, err, 4)
		got, err := s.Read("c")
		if err != nil || got.Version != inmem.Counter(4) || !got.Value.Equal(inmem.String("d")) {
			t.Errorf("Read in tx = %+v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustReadCell(t, db, run, "c"); got.Version != inmem.Counter(4) {
		t.Fatalf("after tx: %+v", got)
	}
}

func TestState_ConcurrentCASExactlyOneWinner(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	if _, err := st.Init(ctx, run, "leader", inmem.String("none")); err != nil {
		t.Fatal(err)
	}
	const rounds, contenders = 20, 8
	for r := range rounds {
		expected := inmem.Counter(uint64(r + 1))
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := range contenders {
			wg.Go(func() {
				<-start
				v, err := st.CAS(ctx, run, "leader", expected, inmem.Int(int64(c)))
				switch {
				case err == nil:
					if v != inmem.Counter(expected.N+1) {
						t.Errorf("winner got %v", v)
					}
					wins.Add(1)
				case errors.Is(err, inmem.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("CAS: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != contenders-1 {
			t.Fatalf("round %d: %d winners, %d conflicts", r, wins.Load(), conflicts.Load())
		}
	}
	if got := mustReadCell(t, db, run, "leader"); got.Version != inmem.Counter(rounds+1) {
		t.Fatalf("final counter %v, want %d", got.Version, rounds+1)
	}
}

func TestState_TransitionUnderContention(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	const workers, per = 8, 100
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				if _, _, err := st.TransitionOrInit(ctx, run, "n", inmem.Int(0), increment); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait() // "n" was created by the first transition
	got := mustReadCell(t, db, run, "n")
	if !got.Value.Equal(inmem.Int(workers*per)) || got.Version != inmem.Counter(workers*per) {
		t.Fatalf("n = %v at %v, want %d at counter %d", got.Value, got.Version, workers*per, workers*per)
	}

	if _, err := st.Init(ctx, run, "k", inmem.Int(0)); err != nil {
		t.Fatal(err)
	}
	for range workers {
		wg.Go(func() {
			for range per {
				if _, _, err := st.Transition(ctx, run, "k", increment); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got = mustReadCell(t, db, run, "k")
	if !got.Value.Equal(inmem.Int(workers*per)) || got.Version != inmem.Counter(workers*per+1) {
		t.Fatalf("k = %v at %v, want %d at counter %d", got.Value, got.Version, workers*per, workers*per+1)
	}
}

func TestState_TransitionErrors(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	if _, _, err := st.Transition(ctx, run, "missing", increment); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Transition of a missing cell = %v, want NotFound", err)
	}
	st.Init(ctx, run, "c", inmem.String("text"))
	if _, _, err := st.Transition(ctx, run, "c", increment); err == nil || !strings.Contains(err.Error(), "not an int") {
		t.Fatalf("Transition with a failing fn = %v, want fn's error", err)
	}
	boom := errors.New("boom")
	calls := 0
	_, _, err := st.Transition(ctx, run, "c", func(inmem.Value) (inmem.Value, error) { calls++; return inmem.Value{}, boom })
	if err != boom || calls != 1 {
		t.Fatalf("Transition = %v after %d calls, want boom after 1", err, calls)
	}
	if _, _, err := st.Transition(ctx, run, "c", func(inmem.Value) (inmem.Value, error) { return inmem.String("\xff"), nil }); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("Transition to an invalid value = %v, want InvalidArgument", err)
	}
	if _, _, err := st.Transition(ctx, run, "c", nil); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("Transition(nil) = %v, want InvalidArgument", err)
	}
	if got := mustReadCell(t, db, run, "c"); got.Version != inmem.Counter(1) || !got.Value.Equal(inmem.String("text")) {
		t.Fatalf("failed transitions changed the cell: %+v", got)
	}
	val, ver, err := st.Transition(ctx, run, "c", func(v inmem.Value) (inmem.Value, error) {
		s, _ := v.AsString()
		return inmem.String(s + "!"), nil
	})
	if err != nil || ver != inmem.Counter(2) || !val.Equal(inmem.String("text!")) {
		t.Fatalf("Transition = %v, %v, %v", val, ver, err)
	}
}

func TestState_TransitionOrInit(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	val, ver, err := st.TransitionOrInit(ctx, run, "n", inmem.Int(10), increment)
	if err != nil || ver != inmem.Counter(1) || !val.Equal(inmem.Int(11)) {
		t.Fatalf("TransitionOrInit on a missing cell = %v, %v, %v; want 11 at counter 1", val, ver, err)
	}
	val, ver, err = st.TransitionOrInit(ctx, run, "n", inmem.Int(10), increment)
	if err != nil || ver != inmem.Counter(2) || !val.Equal(inmem.Int(12)) {
		t.Fatalf("TransitionOrInit on an existing cell = %v, %v, %v; want 12 at counter 2", val, ver, err)
	}
	st.Delete(ctx, run, "n")
	val, ver, err = st.TransitionOrInit(ctx, run, "n", inmem.Int(0), increment)
	if err != nil || ver != inmem.Counter(3) || !val.Equal(inmem.Int(1)) {
		t.Fatalf("TransitionOrInit after Delete = %v, %v, %v; want 1 at counter 3", val, ver, err)
	}
	if _, _, err := st.TransitionOrInit(ctx, run, "m", inmem.String("\xff"), increment); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("TransitionOrInit with an invalid init = %v, want InvalidArgument", err)
	}
}

func TestState_HistoryAndGetAt(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	txnNow := func() inmem.Version { return inmem.Txn(db.Stats().CommitVersion) }
	st.Init(ctx, run, "c", inmem.String("a"))
	t1 := txnNow()
	mustPut(t, db, run, "unrelated", inmem.Null()) // a commit that does not touch the cell
	st.Set(ctx, run, "c", inmem.String("b"))
	t2 := txnNow()
	st.Delete(ctx, run, "c")
	t3 := txnNow()
	st.Init(ctx, run, "c", inmem.String("c"))
	t4 := txnNow()

	h, err := st.History(ctx, run, "c")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ver     uint64
		val     string
		deleted bool
	}{{3, "c", false}, {2, "", true}, {2, "b", false}, {1, "a", false}}
	if len(h) != len(want) {
		t.Fatalf("History has %d entries, want %d: %+v", len(h), len(want), h)
	}
	for i, w := range want {
		if h[i].Version != inmem.Counter(w.ver) || h[i].Deleted != w.deleted || h[i].Timestamp == 0 {
			t.Fatalf("History[%d] = %+v, want counter %d deleted %v", i, h[i], w.ver, w.deleted)
		}
		if !w.deleted && !h[i].Value.Equal(inmem.String(w.val)) {
			t.Fatalf("History[%d] value = %v, want %q", i, h[i].Value, w.val)
		}
		if i > 0 && h[i].Timestamp > h[i-1].Timestamp {
			t.Fatalf("History is not newest first at %d", i)
		}
	}
	if h, err := st.History(ctx, run, "never"); err != nil || len(h) != 0 {
		t.Fatalf("History of a never-written cell = %v, %v", h, err)
	}

	for _, c := range []struct {
		at      inmem.Version
		want    string // "" = NotFound
		counter uint64
	}{
		{inmem.Txn(t1.N - 1), "", 0},
		{t1, "a", 1},
		{inmem.Txn(t1.N + 1), "a", 1},
		{t2, "b", 2},
		{t3, "", 0},
		{t4, "c", 3},
		{inmem.Txn(t4.N + 1000), "c", 3},
		{inmem.Counter(0), "", 0},
		{inmem.Counter(1), "a", 1},
		{inmem.Counter(2), "b", 2},
		{inmem.Counter(3), "c", 3},
		{inmem.Counter(4), "", 0},
	} {
		got, err := st.GetAt(ctx, run, "c", c.at)
		if c.want == "" {
			if !errors.Is(err, inmem.ErrNotFound) {
				t.Fatalf("GetAt(%v) = %+v, %v; want NotFound", c.at, got, err)
			}
			continue
		}
		if err != nil || !got.Value.Equal(inmem.String(c.want)) || got.Version != inmem.Counter(c.counter) {
			t.Fatalf("GetAt(%v) = %+v, %v; want %q at counter %d", c.at, got, err, c.want, c.counter)
		}
	}
	for _, bad := range []inmem.Version{inmem.Sequence(1), {}} {
		if _, err := st.GetAt(ctx, run, "c", bad); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Fatalf("GetAt(%v) = %v, want InvalidArgument", bad, err)
		}
	}
	// Inside a transaction, GetAt by counter finds the transaction's own
	// write; history holds committed versions only.
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		s := tx.State()
		if _, err := s.Set("c", inmem.String("d")); err != nil {
			return err
		}
		if got, err := s.GetAt("c", inmem.Counter(4)); err != nil || !got.Value.Equal(inmem.String("d")) {
			t.Errorf("GetAt(own write) = %+v, %v", got, err)
		}
		if got, err := s.GetAt("c", inmem.Counter(2)); err != nil || !got.Value.Equal(inmem.String("b")) {
			t.Errorf("GetAt(counter 2) in tx = %+v, %v", got, err)
		}
		if h, _ := s.History("c"); len(h) != 4 {
			t.Errorf("History in tx has %d entries, want 4", len(h))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestState_RunsAreIsolated(t *testing.T) {
	db := openMem(t)
	a, b := inmem.NewRunID(), inmem.NewRunID()
	st := db.State()
	st.Init(ctx, a, "c", inmem.Int(1))
	st.Set(ctx, a, "c", inmem.Int(2))
	v, err := st.Init(ctx, b, "c", inmem.Int(10))
	mustCounter(t, v, err, 1)
	st.Delete(ctx, a, "c")
	if got := mustReadCell(t, db, b, "c"); !got.Value.Equal(inmem.Int(10)) || got.Version != inmem.Counter(1) {
		t.Fatalf("run b cell = %+v", got)
	}
	if names, _ := st.List(ctx, a, ""); len(names) != 0 {
		t.Fatalf("run a List = %v", names)
	}
	if v, err := st.Set(ctx, a, "c", inmem.Int(3)); err != nil || v != inmem.Counter(3) {
		t.Fatalf("run a Set after delete = %v, %v", v, err)
	}
}

func TestState_BadInput(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	st := db.State()
	long := strings.Repeat("x", 1025)
	for _, name := range []string{"", long, "a\x00b", "_system/x"} {
		for op, err := range map[string]error{
			"Init":             second(st.Init(ctx, run, name, inmem.Null())),
			"Read":             second(st.Read(ctx, run, name)),
			"CAS":              second(st.CAS(ctx, run, name, inmem.Counter(0), inmem.Null())),
			"Set":              second(st.Set(ctx, run, name, inmem.Null())),
			"Delete":           st.Delete(ctx, run, name),
			"Exists":           second(st.Exists(ctx, run, name)),
			"Transition":       third(st.Transition(ctx, run, name, increment)),
			"TransitionOrInit": third(st.TransitionOrInit(ctx, run, name, inmem.Int(0), increment)),
			"GetAt":            second(st.GetAt(ctx, run, name, inmem.Counter(1))),
			"History":          second(st.History(ctx, run, name)),
		} {
			if !errors.Is(err, inmem.ErrInvalidKey) {
				t.Errorf("%s(%.12q) = %v, want InvalidKey", op, name, err)
			}
		}
	}
	deep := inmem.Null()
	for range 129 {
		deep = inmem.Array(deep)
	}
	for what, v := range map[string]inmem.Value{
		"oversized":    inmem.Bytes(make([]byte, 16<<20+1)),
		"too deep":     deep,
		"invalid utf8": inmem.String("\xfe"),
	} {
		for op, err := range map[string]error{
			"Init": second(st.Init(ctx, run, "c", v)),
			"CAS":  second(st.CAS(ctx, run, "c", inmem.Counter(0), v)),
			"Set":  second(st.Set(ctx, run, "c", v)),
		} {
			if !errors.Is(err, inmem.ErrInvalidArgument) {
				t.Errorf("%s(%s value) = %v, want InvalidArgument", op, what, err)
			}
		}
	}
	if names, _ := st.List(ctx, run, ""); len(names) != 0 {
		t.Fatalf("bad input wrote cells: %v", names)
	}
	err := db.View(ctx, run, func(tx *inmem.Tx) error {
		_, err := tx.State().Set("c", inmem.Null())
		return err
	})
	if !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("Set in a read-only transaction = %v, want InvalidArgument", err)
	}
	tx, _ := db.Begin(ctx, run, true)
	tx.Rollback()
	s := tx.State()
	for op, err := range map[string]error{
		"Init":    second(s.Init("c", inmem.Null())),
		"Read":    second(s.Read("c")),
		"Set":     second(s.Set("c", inmem.Null())),
		"Delete":  s.Delete("c"),
		"List":    second(s.List("")),
		"GetAt":   second(s.GetAt("c", inmem.Counter(1))),
		"History": second(s.History("c")),
	} {
		if !errors.Is(err, inmem.ErrTxDone) {
			t.Errorf("%s on a finished transaction = %v, want ErrTxDone", op, err)
		}
	}
	db.Close()
	for op, err := range map[string]error{
		"Init": second(st.Init(ctx, run, "c", inmem.Null())),
		"Read": second(st.Read(ctx, run, "c")),
		"List": second(st.List(ctx, run, "")),
	} {
		if !errors.Is(err, inmem.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
}

// third returns the error of a three-result call.
func third[T, U any](_ T, _ U, err error) error { return err }

func TestState_CrossPrimitiveAtomicity(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		if _, err := tx.Events().Append("claimed", inmem.String("task-1")); err != nil {
			return err
		}
		_, err := tx.State().Set("task-1", inmem.String("mine"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := db.Events().Head(ctx, run)
	cell := mustReadCell(t, db, run, "task-1")
	if ev.Value.Type != "claimed" || cell.Version != inmem.Counter(1) {
		t.Fatalf("event %+v, cell %+v", ev, cell)
	}
	// A transaction that read the cell conflicts with a concurrent CAS.
	tx, _ := db.Begin(ctx, run, true)
	defer tx.Rollback()
	if _, err := tx.State().Read("task-1"); err != nil {
		t.Fatal(err)
	}
	tx.Events().Append("observed", inmem.Null())
	if _, err := db.State().CAS(ctx, run, "task-1", inmem.Counter(1), inmem.String("theirs")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("commit after a concurrent CAS on a read cell = %v, want Conflict", err)
	}
	if n, _ := db.Events().Len(ctx, run); n != 1 {
		t.Fatalf("the aborted append left a trace: Len = %d", n)
	}
}

// TestState_Model runs random operations on a few cells against a model
// holding each cell's value, counter and high-water mark.
func TestState_Model(t *testing.T) {
	type cell struct {
		val     inmem.Value
		counter uint64
		live    bool
		values  map[uint64]inmem.Value // every counter the cell held
	}
	rapid.Check(t, func(rt *rapid.T) {
		db, err := inmem.Open("", nil)
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()
		run := inmem.NewRunID()
		st := db.State()
		model := map[string]*cell{}
		names := rapid.SampledFrom([]string{"a", "b", "ab"})
		get := func(name string) *cell {
			if model[name] == nil {
				model[name] = &cell{values: map[uint64]inmem.Value{}}
			}
			return model[name]
		}
		write := func(c *cell, v inmem.Value) {
			c.counter++
			c.val, c.live = v, true
			c.values[c.counter] = v
		}
		rt.Repeat(map[string]func(*rapid.T){
			"init": func(rt *rapid.T) {
				name, v := names.Draw(rt, "name"), inmem.Int(rapid.Int64Range(0, 9).Draw(rt, "v"))
				c := get(name)
				ver, err := st.Init(ctx, run, name, v)
				if c.live {
					if !errors.Is(err, inmem.ErrAlreadyExists) {
						rt.Fatalf("Init(%s) on a live cell = %v", name, err)
					}
					return
				}
				write(c, v)
				if err != nil || ver != inmem.Counter(c.counter) {
					rt.Fatalf("Init(%s) = %v, %v; want counter %d", name, ver, err, c.counter)
				}
			},
			"set": func(rt *rapid.T) {
				name, v := names.Draw(rt, "name"), inmem.Int(rapid.Int64Range(0, 9).Draw(rt, "v"))
				c := get(name)
				ver, err := st.Set(ctx, run, name, v)
				write(c, v)
				if err != nil || ver != inmem.Counter(c.counter) {
					rt.Fatalf("Set(%s) = %v, %v; want counter %d", name, ver, err, c.counter)
				}
			},
			"cas": func(rt *rapid.T) {
				name, v := names.Draw(rt, "name"), inmem.Int(rapid.Int64Range(0, 9).Draw(rt, "v"))
				exp := rapid.Uint64Range(0, 6).Draw(rt, "expected")
				c := get(name)
				ver, err := st.CAS(ctx, run, name, inmem.Counter(exp), v)
				live := uint64(0)
				if c.live {
					live = c.counter
				}
				switch {
				case !c.live && exp != 0:
					if !errors.Is(err, inmem.ErrNotFound) {
						rt.Fatalf("CAS(%s, %d) on a missing cell = %v", name, exp, err)
					}
				case exp != live:
					if !errors.Is(err, inmem.ErrConflict) {
						rt.Fatalf("CAS(%s, %d) at %d = %v", name, exp, live, err)
					}
				default:
					write(c, v)
					if err != nil || ver != inmem.Counter(c.counter) {
						rt.Fatalf("CAS(%s, %d) = %v, %v", name, exp, ver, err)
					}
				}
			},
			"delete": func(rt *rapid.T) {
				name := names.Draw(rt, "name")
				c := get(name)
				err := st.Delete(ctx, run, name)
				if !c.live {
					if !errors.Is(err, inmem.ErrNotFound) {
						rt.Fatalf("Delete(%s) of a missing cell = %v", name, err)
					}
					return
				}
				c.live = false
				if err != nil {
					rt.Fatal(err)
				}
			},
			"increment": func(rt *rapid.T) {
				name := names.Draw(rt, "name")
				c := get(name)
				val, ver, err := st.TransitionOrInit(ctx, run, name, inmem.Int(0), increment)
				cur := inmem.Int(0)
				if c.live {
					cur = c.val
				}
				next, _ := increment(cur)
				write(c, next)
				if err != nil || ver != inmem.Counter(c.counter) || !val.Equal(next) {
					rt.Fatalf("increment(%s) = %v, %v, %v", name, val, ver, err)
				}
			},
			"": func(rt *rapid.T) {
				for name, c := range model {
					got, err := st.Read(ctx, run, name)
					if !c.live {
						if !errors.Is(err, inmem.ErrNotFound) {
							rt.Fatalf("Read(%s) of a deleted cell = %v", name, err)
						}
					} else if err != nil || got.Version != inmem.Counter(c.counter) || !got.Value.Equal(c.val) {
						rt.Fatalf("Read(%s) = %+v, %v; model %v at %d", name, got, err, c.val, c.counter)
					}
					for n, v := range c.values {
						got, err := st.GetAt(ctx, run, name, inmem.Counter(n))
						if err != nil || !got.Value.Equal(v) {
							rt.Fatalf("GetAt(%s, counter %d) = %+v, %v; want %v", name, n, got, err, v)
						}
					}
				}
			},
		})
	})
}
