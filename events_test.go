package inmem_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/value"
	"pgregory.net/rapid"
)

func mustAppend(t testing.TB, db *inmem.DB, run inmem.RunID, typ string, payload inmem.Value) uint64 {
	t.Helper()
	v, err := db.Events().Append(ctx, run, typ, payload)
	if err != nil {
		t.Fatalf("Append(%q): %v", typ, err)
	}
	if v.Kind != inmem.SequenceVersion {
		t.Fatalf("Append returned %v, want a Sequence version", v)
	}
	return v.N
}

func mustVerify(t testing.TB, db *inmem.DB, run inmem.RunID) inmem.ChainReport {
	t.Helper()
	rep, err := db.Events().VerifyChain(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("VerifyChain: %v", rep)
	}
	return rep
}

// referenceHash is the documented event hash encoding, written out
// independently of the implementation.
func referenceHash(ev inmem.Event) [32]byte {
	var b []byte
	b = binary.BigEndian.AppendUint64(b, ev.Sequence)
	b = binary.BigEndian.AppendUint64(b, uint64(len(ev.Type)))
	b = append(b, ev.Type...)
	p := value.AppendBinary(nil, value.Value(ev.Payload))
	b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	b = append(b, p...)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Timestamp))
	b = append(b, ev.PrevHash[:]...)
	return sha256.Sum256(b)
}

func seqsOf(evs []inmem.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Sequence
	}
	return out
}

func TestEvents_ContiguousFromZero(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	el := db.Events()
	for i := range 20 {
		if seq := mustAppend(t, db, run, "step", inmem.Int(int64(i))); seq != uint64(i) {
			t.Fatalf("append %d got sequence %d", i, seq)
		}
	}
	if n, err := el.Len(ctx, run); err != nil || n != 20 {
		t.Fatalf("Len = %d, %v; want 20", n, err)
	}
	for i := range uint64(20) {
		got, err := el.Read(ctx, run, i)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != inmem.Sequence(i) || got.Value.Sequence != i || got.Timestamp != got.Value.Timestamp || got.Timestamp == 0 {
			t.Fatalf("Read(%d) = %+v", i, got)
		}
		if !got.Value.Payload.Equal(inmem.Int(int64(i))) || got.Value.Type != "step" {
			t.Fatalf("Read(%d) payload/type = %v %q", i, got.Value.Payload, got.Value.Type)
		}
	}
	if _, err := el.Read(ctx, run, 20); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Read past the end = %v, want NotFound", err)
	}
	if rep := mustVerify(t, db, run); rep.Checked != 20 {
		t.Fatalf("VerifyChain checked %d events, want 20", rep.Checked)
	}
}

func TestEvents_HashChainLinkage(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	payloads := []inmem.Value{
		inmem.Null(), inmem.String("hello"), inmem.Float(math.NaN()), inmem.Float(math.Copysign(0, -1)),
		inmem.MustValue(map[string]any{"tool": "search", "args": []any{1, "two", 3.5}}),
		inmem.Bytes([]byte{0, 1, 2}),
		inmem.String(strings.Repeat("long payload ", 100)), // past any small buffer
	}
	for i, p := range payloads {
		mustAppend(t, db, run, []string{"a", "b"}[i%2], p)
	}
	evs, err := db.Events().Range(ctx, run, 0, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(payloads) {
		t.Fatalf("Range returned %d events, want %d", len(evs), len(payloads))
	}
	var zero [32]byte
	if evs[0].PrevHash != zero {
		t.Fatalf("genesis prev_hash = %x, want 32 zero bytes", evs[0].PrevHash)
	}
	for i, ev := range evs {
		if i > 0 && ev.PrevHash != evs[i-1].Hash {
			t.Fatalf("event %d prev_hash does not link to event %d", i, i-1)
		}
		if h := referenceHash(ev); ev.Hash != h {
			t.Fatalf("event %d hash %x, reference encoding gives %x", i, ev.Hash, h)
		}
		if ev.ComputeHash() != ev.Hash {
			t.Fatalf("event %d: ComputeHash disagrees with the stored hash", i)
		}
		if !ev.Payload.Identical(payloads[i]) {
			t.Fatalf("event %d payload %v, want %v", i, ev.Payload, payloads[i])
		}
	}
	// Any change to a hashed field changes the hash.
	base := evs[1]
	for name, mut := range map[string]func(*inmem.Event){
		"sequence":  func(e *inmem.Event) { e.Sequence++ },
		"type":      func(e *inmem.Event) { e.Type += "x" },
		"payload":   func(e *inmem.Event) { e.Payload = inmem.String("hellp") },
		"timestamp": func(e *inmem.Event) { e.Timestamp++ },
		"prev_hash": func(e *inmem.Event) { e.PrevHash[31] ^= 1 },
	} {
		e := base
		mut(&e)
		if e.ComputeHash() == base.Hash {
			t.Errorf("changing the %s does not change the hash", name)
		}
	}
	// Length prefixes keep field boundaries apart: moving a byte from the
	// type into the payload must change the hash.
	a := inmem.Event{Type: "ab", Payload: inmem.String("c")}
	b := inmem.Event{Type: "a", Payload: inmem.String("bc")}
	if a.ComputeHash() == b.ComputeHash() {
		t.Error("hash encoding is ambiguous across the type/payload boundary")
	}
	head, err := db.Events().Head(ctx, run)
	if err != nil || head.Value.Hash != evs[len(evs)-1].Hash || head.Version != inmem.Sequence(uint64(len(evs)-1)) {
		t.Fatalf("Head = %+v, %v", head, err)
	}
}

func TestEvents_ConcurrentAppendsSerialize(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	other := inmem.NewRunID()
	const workers, per = 8, 50
	var wg sync.WaitGroup
	got := make([][]uint64, workers)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				r := run
				if i%10 == 9 {
					r = other // appends to another run interleave freely
				}
				p := inmem.Int(int64(w*1000 + i))
				var v inmem.Version
				var err error
				if i%2 == 0 {
					v, err = db.Events().Append(ctx, r, "w", p)
				} else {
					// Widen the window between reading the head and
					// committing, so that appends really collide.
					var tx *inmem.Tx
					err = db.Update(ctx, r, func(t *inmem.Tx) error {
						var err error
						tx = t
						v, err = t.Events().Append("w", p)
						runtime.Gosched()
						return err
					})
					if err == nil {
						// The closure saw a provisional sequence.
						v, err = tx.Events().FinalSequence(v)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				if r == run {
					got[w] = append(got[w], v.N)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var all []uint64
	for w, seqs := range got {
		if !slices.IsSorted(seqs) {
			t.Fatalf("worker %d saw its sequences out of order: %v", w, seqs)
		}
		all = append(all, seqs...)
	}
	slices.Sort(all)
	for i, s := range all {
		if s != uint64(i) {
			t.Fatalf("sequences are not contiguous from 0: position %d holds %d", i, s)
		}
	}
	total := uint64(len(all))
	if n, _ := db.Events().Len(ctx, run); n != total {
		t.Fatalf("Len = %d, want %d", n, total)
	}
	t.Logf("%d conflicts retried", db.Stats().Conflicts)
	if rep := mustVerify(t, db, run); rep.Checked != total {
		t.Fatalf("VerifyChain checked %d, want %d", rep.Checked, total)
	}
	if n, _ := db.Events().Len(ctx, other); n != workers*per-total {
		t.Fatalf("other run Len = %d, want %d", n, workers*per-total)
	}
	mustVerify(t, db, other)
	// Every payload landed exactly once.
	evs, _ := db.Events().Range(ctx, run, 0, total)
	seen := map[int64]bool{}
	for _, ev := range evs {
		p, _ := ev.Payload.AsInt()
		if seen[p] {
			t.Fatalf("payload %d appended twice", p)
		}
		seen[p] = true
	}
}

func TestEvents_RollbackLeavesNoTrace(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	el := db.Events()
	tx, err := db.Begin(ctx, run, true)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := tx.Events().Append("draft", inmem.Int(1)); err != nil {
			t.Fatal(err)
		}
	}
	tx.Rollback()
	boom := errors.New("boom")
	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
		tx.Events().Append("draft", inmem.Int(2))
		tx.State().Set("cell", inmem.Int(2))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the closure's error", err)
	}
	if n, _ := el.Len(ctx, run); n != 0 {
		t.Fatalf("Len after rollback = %d", n)
	}
	if types, _ := el.Types(ctx, run); len(types) != 0 {
		t.Fatalf("Types after rollback = %v", types)
	}
	if evs, _ := el.ReadByType(ctx, run, "draft"); len(evs) != 0 {
		t.Fatalf("ReadByType after rollback = %v", evs)
	}
	if _, err := el.Head(ctx, run); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Head after rollback = %v, want NotFound", err)
	}
	if ok, _ := db.State().Exists(ctx, run, "cell"); ok {
		t.Fatal("state write of a rolled-back transaction is visible")
	}
	if seq := mustAppend(t, db, run, "real", inmem.Null()); seq != 0 {
		t.Fatalf("first committed append got sequence %d, want 0", seq)
	}
	mustVerify(t, db, run)
}

func TestEvents_TxReadsOwnAppends(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	mustAppend(t, db, run, "before", inmem.Int(0))
	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		el := tx.Events()
		for i, typ := range []string{"x", "y", "x"} {
			v, err := el.Append(typ, inmem.Int(int64(i+1)))
			if err != nil {
				return err
			}
			if v != inmem.Sequence(uint64(i+1)) {
				t.Errorf("append %d in tx got %v", i, v)
			}
		}
		if n, _ := el.Len(); n != 4 {
			t.Errorf("Len in tx = %d, want 4", n)
		}
		if h, err := el.Head(); err != nil || h.Value.Sequence != 3 || h.Value.Type != "x" {
			t.Errorf("Head in tx = %+v, %v", h, err)
		}
		if got, err := el.Read(2); err != nil || got.Value.Type != "y" {
			t.Errorf("Read(2) in tx = %+v, %v", got, err)
		}
		if evs, _ := el.ReadByType("x"); !slices.Equal(seqsOf(evs), []uint64{1, 3}) {
			t.Errorf("ReadByType(x) in tx = %v", seqsOf(evs))
		}
		if types, _ := el.Types(); !slices.Equal(types, []string{"before", "x", "y"}) {
			t.Errorf("Types in tx = %v", types)
		}
		if evs, _ := el.Range(1, 10); !slices.Equal(seqsOf(evs), []uint64{1, 2, 3}) {
			t.Errorf("Range in tx = %v", seqsOf(evs))
		}
		if rep, err := el.VerifyChain(); err != nil || !rep.OK || rep.Checked != 4 {
			t.Errorf("VerifyChain in tx = %v, %v", rep, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, db, run); rep.Checked != 4 {
		t.Fatalf("after commit: %v", rep)
	}
}

// TestEvents_ConcurrentTxAppendsCommute: two transactions that only append
// to one log both commit; the later one's event is renumbered and rechained
// after the earlier one's at commit.
func TestEvents_ConcurrentTxAppendsCommute(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	a, _ := db.Begin(ctx, run, true)
	b, _ := db.Begin(ctx, run, true)
	defer a.Rollback()
	defer b.Rollback()
	va, err := a.Events().Append("a", inmem.Null())
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.Events().Append("b", inmem.Null())
	if err != nil {
		t.Fatal(err)
	}
	if va.N != 0 || vb.N != 0 {
		t.Fatalf("both transactions see an empty log: %v %v", va, vb)
	}
	if _, err := b.Events().FinalSequence(vb); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("FinalSequence before commit = %v, want InvalidArgument", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		t.Fatalf("second append commit = %v, want success", err)
	}
	fa, err := a.Events().FinalSequence(va)
	if err != nil || fa.N != 1 {
		t.Fatalf("FinalSequence(a) = %v, %v; want 1", fa, err)
	}
	fb, err := b.Events().FinalSequence(vb)
	if err != nil || fb.N != 0 {
		t.Fatalf("FinalSequence(b) = %v, %v; want 0", fb, err)
	}
	if ev, err := db.Events().Read(ctx, run, 1); err != nil || ev.Value.Type != "a" {
		t.Fatalf("event 1 = %+v, %v", ev, err)
	}
	if n, _ := db.Events().Len(ctx, run); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	mustVerify(t, db, run)
}

// TestEvents_ReadThenAppendConflicts: a transaction that read the log's
// length and then appended depends on that length, so a concurrent append
// still makes it conflict.
func TestEvents_ReadThenAppendConflicts(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	a, _ := db.Begin(ctx, run, true)
	defer a.Rollback()
	if _, err := a.Events().Len(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Events().Append("a", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Events().Append(ctx, run, "b", inmem.Null()); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(); !errors.Is(err, inmem.ErrConflict) {
		t.Fatalf("commit = %v, want Conflict", err)
	}
	mustVerify(t, db, run)
}

func TestEvents_ReadByTypeAndTypes(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	el := db.Events()
	if types, err := el.Types(ctx, run); err != nil || len(types) != 0 {
		t.Fatalf("Types of an empty log = %v, %v", types, err)
	}
	// Types chosen so that a separator- or prefix-based key encoding would
	// mix them up: prefixes of each other, and characters that sort around
	// a length byte or a sequence byte.
	types := []string{"x", "xy", "x/y", "x\x01", "é", "x", "xy", "\x7f", "x"}
	for _, typ := range types {
		mustAppend(t, db, run, typ, inmem.String(typ))
	}
	want := map[string][]uint64{}
	for i, typ := range types {
		want[typ] = append(want[typ], uint64(i))
	}
	for typ, seqs := range want {
		evs, err := el.ReadByType(ctx, run, typ)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqsOf(evs), seqs) {
			t.Errorf("ReadByType(%q) = %v, want %v", typ, seqsOf(evs), seqs)
		}
		for _, ev := range evs {
			if ev.Type != typ {
				t.Errorf("ReadByType(%q) returned an event of type %q", typ, ev.Type)
			}
		}
	}
	if evs, err := el.ReadByType(ctx, run, "absent"); err != nil || len(evs) != 0 {
		t.Errorf("ReadByType of an unknown type = %v, %v", evs, err)
	}
	got, err := el.Types(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := slices.Sorted(func(yield func(string) bool) {
		for typ := range want {
			if !yield(typ) {
				return
			}
		}
	})
	if !slices.Equal(got, wantTypes) {
		t.Fatalf("Types = %q, want %q", got, wantTypes)
	}
}

func TestEvents_RangeEdges(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	el := db.Events()
	if evs, err := el.Range(ctx, run, 0, 10); err != nil || len(evs) != 0 {
		t.Fatalf("Range of an empty log = %v, %v", evs, err)
	}
	for i := range 6 {
		mustAppend(t, db, run, "e", inmem.Int(int64(i)))
	}
	for _, c := range []struct {
		from, to uint64
		want     []uint64
	}{
		{0, 6, []uint64{0, 1, 2, 3, 4, 5}},
		{2, 5, []uint64{2, 3, 4}},
		{5, 5, nil},
		{0, 0, nil},
		{3, 100, []uint64{3, 4, 5}},
		{6, 7, nil},
		{100, 200, nil},
		{0, math.MaxUint64, []uint64{0, 1, 2, 3, 4, 5}},
		{math.MaxUint64, math.MaxUint64, nil},
	} {
		evs, err := el.Range(ctx, run, c.from, c.to)
		if err != nil {
			t.Fatalf("Range(%d, %d): %v", c.from, c.to, err)
		}
		if got := seqsOf(evs); !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("Range(%d, %d) = %v, want %v", c.from, c.to, got, c.want)
		}
		if cap(evs) > len(c.want) {
			t.Errorf("Range(%d, %d) allocated capacity %d for %d events", c.from, c.to, cap(evs), len(c.want))
		}
	}
	if _, err := el.Range(ctx, run, 4, 2); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Fatalf("Range(4, 2) = %v, want InvalidArgument", err)
	}
}

func TestEvents_HeadAndLenOfEmptyLog(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	el := db.Events()
	if _, err := el.Head(ctx, run); !errors.Is(err, inmem.ErrNotFound) {
		t.Fatalf("Head of an empty log = %v, want NotFound", err)
	}
	if n, err := el.Len(ctx, run); err != nil || n != 0 {
		t.Fatalf("Len of an empty log = %d, %v", n, err)
	}
	rep, err := el.VerifyChain(ctx, run)
	if err != nil || !rep.OK || rep.Checked != 0 {
		t.Fatalf("VerifyChain of an empty log = %v, %v", rep, err)
	}
	mustAppend(t, db, run, "only", inmem.Bool(true))
	h, err := el.Head(ctx, run)
	if err != nil || h.Value.Sequence != 0 || h.Value.Type != "only" {
		t.Fatalf("Head = %+v, %v", h, err)
	}
}

// manualClock is a Clock tests move by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func TestEvents_TimestampsFromTheClockAndNonDecreasing(t *testing.T) {
	clk := &manualClock{t: time.UnixMicro(1_000_000)}
	db, err := inmem.Open("", &inmem.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := inmem.NewRunID()
	mustAppend(t, db, run, "a", inmem.Null())
	clk.set(time.UnixMicro(2_000_000))
	mustAppend(t, db, run, "b", inmem.Null())
	clk.set(time.UnixMicro(1_500_000)) // the clock steps back
	mustAppend(t, db, run, "c", inmem.Null())
	evs, _ := db.Events().Range(ctx, run, 0, 3)
	want := []inmem.Timestamp{1_000_000, 2_000_000, 2_000_000}
	for i, ev := range evs {
		if ev.Timestamp != want[i] {
			t.Errorf("event %d timestamp %d, want %d", i, ev.Timestamp, want[i])
		}
	}
	mustVerify(t, db, run)
}

func TestEvents_BadInput(t *testing.T) {
	db := openMem(t)
	run := inmem.NewRunID()
	el := db.Events()
	for _, typ := range []string{"", strings.Repeat("t", 1025), "a\x00b", "\xff"} {
		if _, err := el.Append(ctx, run, typ, inmem.Null()); !errors.Is(err, inmem.ErrInvalidKey) {
			t.Errorf("Append(type %.20q) = %v, want InvalidKey", typ, err)
		}
		if _, err := el.ReadByType(ctx, run, typ); !errors.Is(err, inmem.ErrInvalidKey) {
			t.Errorf("ReadByType(%.20q) = %v, want InvalidKey", typ, err)
		}
	}
	if _, err := el.Append(ctx, run, strings.Repeat("t", 1024), inmem.Null()); err != nil {
		t.Errorf("a 1024-byte type is allowed: %v", err)
	}
	deep := inmem.Null()
	for range 129 {
		deep = inmem.Array(deep)
	}
	for name, p := range map[string]inmem.Value{
		"oversized":    inmem.Bytes(make([]byte, 16<<20+1)),
		"too deep":     deep,
		"invalid utf8": inmem.String("\xfe"),
		"bad key":      inmem.Object(map[string]inmem.Value{"\xfe": inmem.Null()}),
	} {
		if _, err := el.Append(ctx, run, "t", p); !errors.Is(err, inmem.ErrInvalidArgument) {
			t.Errorf("Append(%s payload) = %v, want InvalidArgument", name, err)
		}
	}
	if _, err := el.Range(ctx, run, 1, 0); !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("Range(1, 0) = %v, want InvalidArgument", err)
	}
	if _, err := el.Read(ctx, run, 7); !errors.Is(err, inmem.ErrNotFound) {
		t.Errorf("Read(7) = %v, want NotFound", err)
	}
	if n, _ := el.Len(ctx, run); n != 1 {
		t.Errorf("only the valid append should exist, Len = %d", n)
	}
	// A read-only transaction cannot append.
	err := db.View(ctx, run, func(tx *inmem.Tx) error {
		_, err := tx.Events().Append("t", inmem.Null())
		return err
	})
	if !errors.Is(err, inmem.ErrInvalidArgument) {
		t.Errorf("Append in a read-only transaction = %v, want InvalidArgument", err)
	}
	// A finished transaction refuses everything.
	tx, _ := db.Begin(ctx, run, true)
	tx.Rollback()
	ev := tx.Events()
	for name, err := range map[string]error{
		"Append":      second(ev.Append("t", inmem.Null())),
		"Read":        second(ev.Read(0)),
		"Range":       second(ev.Range(0, 1)),
		"Head":        second(ev.Head()),
		"Len":         second(ev.Len()),
		"ReadByType":  second(ev.ReadByType("t")),
		"Types":       second(ev.Types()),
		"VerifyChain": second(ev.VerifyChain()),
	} {
		if !errors.Is(err, inmem.ErrTxDone) {
			t.Errorf("%s on a finished transaction = %v, want ErrTxDone", name, err)
		}
	}
	// A closed database refuses everything.
	db.Close()
	for name, err := range map[string]error{
		"Append":      second(el.Append(ctx, run, "t", inmem.Null())),
		"Read":        second(el.Read(ctx, run, 0)),
		"Range":       second(el.Range(ctx, run, 0, 1)),
		"Head":        second(el.Head(ctx, run)),
		"Len":         second(el.Len(ctx, run)),
		"ReadByType":  second(el.ReadByType(ctx, run, "t")),
		"Types":       second(el.Types(ctx, run)),
		"VerifyChain": second(el.VerifyChain(ctx, run)),
	} {
		if !errors.Is(err, inmem.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }

func TestEvents_RunsAreIsolated(t *testing.T) {
	db := openMem(t)
	a, b := inmem.NewRunID(), inmem.NewRunID()
	mustAppend(t, db, a, "t", inmem.Int(1))
	mustAppend(t, db, a, "t", inmem.Int(2))
	if seq := mustAppend(t, db, b, "u", inmem.Int(3)); seq != 0 {
		t.Fatalf("a second run's log starts at %d", seq)
	}
	if n, _ := db.Events().Len(ctx, a); n != 2 {
		t.Fatalf("run a Len = %d", n)
	}
	if types, _ := db.Events().Types(ctx, b); !slices.Equal(types, []string{"u"}) {
		t.Fatalf("run b Types = %v", types)
	}
	ha, _ := db.Events().Head(ctx, a)
	hb, _ := db.Events().Head(ctx, b)
	if hb.Value.PrevHash != [32]byte{} || ha.Value.Hash == hb.Value.Hash {
		t.Fatal("runs share a chain")
	}
	mustVerify(t, db, a)
	mustVerify(t, db, b)
}

// TestEvents_Model checks random append batches (some rolled back) against
// a plain slice.
func TestEvents_Model(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		db, err := inmem.Open("", nil)
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()
		run := inmem.NewRunID()
		var model []inmem.Event
		typeGen := rapid.SampledFrom([]string{"a", "b", "ab", "tool_call"})
		for range rapid.IntRange(1, 12).Draw(rt, "batches") {
			n := rapid.IntRange(1, 4).Draw(rt, "n")
			commit := rapid.Bool().Draw(rt, "commit")
			var batch []inmem.Event
			err := db.Update(ctx, run, func(tx *inmem.Tx) error {
				batch = batch[:0]
				for range n {
					typ := typeGen.Draw(rt, "type")
					p := inmem.Int(rapid.Int64().Draw(rt, "payload"))
					v, err := tx.Events().Append(typ, p)
					if err != nil {
						return err
					}
					batch = append(batch, inmem.Event{Sequence: v.N, Type: typ, Payload: p})
				}
				if !commit {
					return errors.New("rollback")
				}
				return nil
			})
			if commit {
				if err != nil {
					rt.Fatal(err)
				}
				model = append(model, batch...)
			}
		}
		all, err := db.Events().Range(ctx, run, 0, math.MaxUint64)
		if err != nil {
			rt.Fatal(err)
		}
		if len(all) != len(model) {
			rt.Fatalf("log has %d events, model %d", len(all), len(model))
		}
		types := map[string][]uint64{}
		for i, ev := range all {
			m := model[i]
			if ev.Sequence != uint64(i) || m.Sequence != uint64(i) || ev.Type != m.Type || !ev.Payload.Equal(m.Payload) {
				rt.Fatalf("event %d = %+v, model %+v", i, ev, m)
			}
			types[m.Type] = append(types[m.Type], uint64(i))
		}
		for typ, seqs := range types {
			evs, _ := db.Events().ReadByType(ctx, run, typ)
			if !slices.Equal(seqsOf(evs), seqs) {
				rt.Fatalf("ReadByType(%q) = %v, want %v", typ, seqsOf(evs), seqs)
			}
		}
		got, _ := db.Events().Types(ctx, run)
		if len(got) != len(types) || !slices.IsSorted(got) {
			rt.Fatalf("Types = %v, model has %d types", got, len(types))
		}
		rep, err := db.Events().VerifyChain(ctx, run)
		if err != nil || !rep.OK || rep.Checked != uint64(len(model)) {
			rt.Fatalf("VerifyChain = %v, %v", rep, err)
		}
	})
}
