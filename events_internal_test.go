package inmem

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/value"
)

// openPrimTestDB opens an in-memory database for the white-box tests of the
// event log and state cells.
func openPrimTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// engineWrite commits raw writes through the engine, bypassing the
// primitives — the way a corrupted store would look.
func engineWrite(t *testing.T, db *DB, run RunID, fn func(put func(space core.PrimitiveType, key string, v Value), del func(space core.PrimitiveType, key string))) {
	t.Helper()
	txn := db.eng.Begin(run, true)
	fn(func(space core.PrimitiveType, key string, v Value) { txn.Put(run, space, key, v.in()) },
		func(space core.PrimitiveType, key string) { txn.Delete(run, space, key) })
	if _, err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
}

// appendEvents appends n events of types "even" and "odd" and returns them
// as stored.
func appendEvents(t *testing.T, db *DB, run RunID, n int) []storedEvent {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		if _, err := db.Events().Append(ctx, run, []string{"even", "odd"}[i%2], Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]storedEvent, n)
	for i := range out {
		e, ok := db.eng.Get(run, core.Event, eventKey(uint64(i)), db.eng.Visible())
		if !ok {
			t.Fatalf("event %d is not stored", i)
		}
		ev, err := decodeEvent(uint64(i), Value(e.Value))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

func TestEvents_VerifyChainDetectsTampering(t *testing.T) {
	ctx := context.Background()
	const n = 6
	for _, c := range []struct {
		name     string
		tamper   func(t *testing.T, db *DB, run RunID, evs []storedEvent)
		brokenAt uint64
		reason   string
	}{
		{
			name: "payload changed, hash kept",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				ev := evs[2]
				ev.Payload = String("forged")
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventKey(2), ev.encode())
				})
			},
			brokenAt: 2, reason: "hash does not match",
		},
		{
			name: "payload changed, hash recomputed",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				ev := evs[2]
				ev.Payload = String("forged")
				ev.Hash = ev.ComputeHash()
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventKey(2), ev.encode())
				})
			},
			brokenAt: 3, reason: "prev_hash does not match the hash of event 2",
		},
		{
			name: "last event rewritten with a fresh hash",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				ev := evs[n-1]
				ev.Payload = String("other")
				ev.Hash = ev.ComputeHash()
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventKey(n-1), ev.encode())
				})
			},
			brokenAt: n - 1, reason: "head hash",
		},
		{
			name: "genesis prev_hash not zero",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				ev := evs[0]
				ev.PrevHash[0] = 1
				ev.Hash = ev.ComputeHash()
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventKey(0), ev.encode())
				})
			},
			brokenAt: 0, reason: "genesis",
		},
		{
			name: "event removed",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				engineWrite(t, db, run, func(_ func(core.PrimitiveType, string, Value), del func(core.PrimitiveType, string)) {
					del(core.Event, eventKey(3))
				})
			},
			brokenAt: 3, reason: "missing",
		},
		{
			name: "entry not an event",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventKey(4), String("junk"))
				})
			},
			brokenAt: 4, reason: "cannot be decoded",
		},
		{
			name: "head length behind the stored events",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				h := eventHead{length: n - 1, lastTime: int64(evs[n-2].Timestamp), hash: evs[n-2].Hash}
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, evHeadKey, h.encode())
				})
			},
			brokenAt: n - 1, reason: "head records 5 events but 6 are stored",
		},
		{
			name: "type link skips an event",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				ev := evs[4] // even: links to 2+1
				ev.typeLink = 1
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventKey(4), ev.encode())
				})
			},
			brokenAt: 4, reason: "type link",
		},
		{
			name: "type head points at an older event",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventTypeKey("odd"), Int(3))
				})
			},
			brokenAt: 3, reason: `type head of "odd" names event 3, but its newest event is 5`,
		},
		{
			name: "type head missing",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				engineWrite(t, db, run, func(_ func(core.PrimitiveType, string, Value), del func(core.PrimitiveType, string)) {
					del(core.Event, eventTypeKey("even"))
				})
			},
			brokenAt: 4, reason: `"even" has no type head`,
		},
		{
			name: "type head for a type without events",
			tamper: func(t *testing.T, db *DB, run RunID, evs []storedEvent) {
				engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
					put(core.Event, eventTypeKey("ghost"), Int(1))
				})
			},
			brokenAt: 1, reason: "no event has that type",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openPrimTestDB(t)
			run := NewRunID()
			evs := appendEvents(t, db, run, n)
			if rep, err := db.Events().VerifyChain(ctx, run); err != nil || !rep.OK || rep.Checked != n {
				t.Fatalf("before tampering: %v, %v", rep, err)
			}
			c.tamper(t, db, run, evs)
			rep, err := db.Events().VerifyChain(ctx, run)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.BrokenAt != c.brokenAt || !strings.Contains(rep.Reason, c.reason) {
				t.Fatalf("VerifyChain = %+v, want broken at %d (%q)", rep, c.brokenAt, c.reason)
			}
			if !strings.Contains(rep.String(), "broken at sequence") {
				t.Fatalf("report text %q", rep.String())
			}
		})
	}
}

func TestEvents_MalformedEntriesAreCorruptionErrors(t *testing.T) {
	ctx := context.Background()
	db := openPrimTestDB(t)
	run := NewRunID()
	appendEvents(t, db, run, 3)
	engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
		put(core.Event, eventKey(1), Array(Int(1)))
	})
	if _, err := db.Events().Read(ctx, run, 1); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Read of a malformed event = %v, want Corruption", err)
	}
	if _, err := db.Events().Range(ctx, run, 0, 3); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Range over a malformed event = %v, want Corruption", err)
	}
	engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
		put(core.Event, evHeadKey, Int(3))
	})
	if _, err := db.Events().Append(ctx, run, "t", Null()); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Append over a malformed head = %v, want Corruption", err)
	}
	if _, err := db.Events().Len(ctx, run); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Len over a malformed head = %v, want Corruption", err)
	}
}

func TestEvents_KeyLayout(t *testing.T) {
	// Event keys sort in sequence order.
	for _, p := range [][2]uint64{{0, 1}, {255, 256}, {1<<32 - 1, 1 << 32}, {1<<63 - 1, 1 << 63}} {
		if eventKey(p[0]) >= eventKey(p[1]) {
			t.Errorf("eventKey(%d) does not sort before eventKey(%d)", p[0], p[1])
		}
	}
	if eventKey(1<<64-1) >= eventKeyEnd {
		t.Error("eventKeyEnd does not bound every event key")
	}
	// The three entry kinds never collide, whatever the type.
	tags := map[byte]bool{}
	for _, k := range []string{evHeadKey, eventKey(0), eventTypeKey("m")} {
		if tags[k[0]] {
			t.Errorf("tag %q used twice", k[0])
		}
		tags[k[0]] = true
	}
	// Stored events round-trip, type link included.
	ev := storedEvent{Event: Event{Sequence: 9, Type: "t", Payload: String("p"), Timestamp: -5, PrevHash: [32]byte{1}, Hash: [32]byte{2}}, typeLink: 4}
	got, err := decodeEvent(9, ev.encode())
	if err != nil || got.Type != ev.Type || !got.Payload.Equal(ev.Payload) || got.Timestamp != ev.Timestamp ||
		got.PrevHash != ev.PrevHash || got.Hash != ev.Hash || got.typeLink != ev.typeLink {
		t.Fatalf("decodeEvent(encode(%+v)) = %+v, %v", ev, got, err)
	}
	// A link that does not point backwards is refused (it could loop).
	ev.typeLink = 10
	if _, err := decodeEvent(9, ev.encode()); err == nil {
		t.Fatal("a forward type link decodes")
	}
}

func TestEvents_ReadByTypeRefusesBrokenIndex(t *testing.T) {
	ctx := context.Background()
	db := openPrimTestDB(t)
	run := NewRunID()
	evs := appendEvents(t, db, run, 6)
	ev := evs[4]
	ev.typeLink = 4 // points at event 3, which is "odd"
	engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
		put(core.Event, eventKey(4), ev.encode())
	})
	if _, err := db.Events().ReadByType(ctx, run, "even"); !errors.Is(err, ErrCorruption) {
		t.Fatalf("ReadByType over a broken link = %v, want Corruption", err)
	}
	engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
		put(core.Event, eventTypeKey("odd"), Int(99))
	})
	if _, err := db.Events().ReadByType(ctx, run, "odd"); !errors.Is(err, ErrCorruption) {
		t.Fatalf("ReadByType over a type head past the end = %v, want Corruption", err)
	}
	if _, err := db.Events().Append(ctx, run, "odd", Null()); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Append over a type head past the end = %v, want Corruption", err)
	}
}

// closeRun marks run closed in the run index, the way the run primitive
// does.
func closeRun(t *testing.T, db *DB, run RunID, status RunStatus) {
	t.Helper()
	txn := db.eng.Begin(GlobalRun, true)
	txn.Put(GlobalRun, core.Run, runKey(run), value.ObjectOf(value.Field{Key: runFieldStatus, Value: value.String(string(status))}))
	if _, err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestPrimitives_WritesIntoClosedRunFail(t *testing.T) {
	ctx := context.Background()
	db := openPrimTestDB(t)
	run, open := NewRunID(), NewRunID()
	if _, err := db.Events().Append(ctx, run, "t", Null()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.State().Init(ctx, run, "c", Int(1)); err != nil {
		t.Fatal(err)
	}
	closeRun(t, db, run, RunCompleted)
	inc := func(v Value) (Value, error) { n, _ := v.AsInt(); return Int(n + 1), nil }
	for name, err := range map[string]error{
		"events.Append":          second(db.Events().Append(ctx, run, "t", Null())),
		"state.Init":             second(db.State().Init(ctx, run, "d", Null())),
		"state.Set":              second(db.State().Set(ctx, run, "c", Null())),
		"state.CAS":              second(db.State().CAS(ctx, run, "c", Counter(1), Null())),
		"state.Delete":           db.State().Delete(ctx, run, "c"),
		"state.Transition":       third(db.State().Transition(ctx, run, "c", inc)),
		"state.TransitionOrInit": third(db.State().TransitionOrInit(ctx, run, "e", Int(0), inc)),
	} {
		if !errors.Is(err, ErrRunClosed) {
			t.Errorf("%s into a closed run = %v, want RunClosed", name, err)
		}
	}
	// Reads still work, nothing changed, and other runs are unaffected.
	if n, _ := db.Events().Len(ctx, run); n != 1 {
		t.Errorf("Len = %d after refused appends", n)
	}
	if v, err := db.State().Read(ctx, run, "c"); err != nil || v.Version != Counter(1) {
		t.Errorf("Read = %+v, %v", v, err)
	}
	if _, err := db.Events().Append(ctx, open, "t", Null()); err != nil {
		t.Errorf("append into an open run: %v", err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

func TestState_KeyLayoutAndHighWater(t *testing.T) {
	ctx := context.Background()
	db := openPrimTestDB(t)
	run := NewRunID()
	st := db.State()
	// A cell named like another cell's internal key must not collide.
	for _, name := range []string{"h", "hx", "c", "cx", "x"} {
		if _, err := st.Init(ctx, run, name, String(name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete(ctx, run, "x"); err != nil {
		t.Fatal(err)
	}
	e, ok := db.eng.Get(run, core.State, stateHighKey("x"), db.eng.Visible())
	if !ok {
		t.Fatal("Delete left no high-water entry")
	}
	if n, _ := e.Value.AsInt(); n != 1 {
		t.Fatalf("high-water = %v, want 1", e.Value)
	}
	names, _ := st.List(ctx, run, "")
	if strings.Join(names, ",") != "c,cx,h,hx" {
		t.Fatalf("List = %q", names)
	}
	engineWrite(t, db, run, func(put func(core.PrimitiveType, string, Value), _ func(core.PrimitiveType, string)) {
		put(core.State, stateCellKey("h"), String("not a cell"))
	})
	if _, err := st.Read(ctx, run, "h"); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Read of a malformed cell = %v, want Corruption", err)
	}
	if _, err := st.Set(ctx, run, "h", Null()); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Set over a malformed cell = %v, want Corruption", err)
	}
}
