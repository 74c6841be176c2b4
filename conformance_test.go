package inmem_test

// The conformance suite: the properties every primitive must have, written
// once over a small adapter per primitive and run unchanged in every
// durability mode (storage is logically invisible, rule 1 of the spec).
//
//	go test -run 'TestConformance$'                 every mode, every property
//	go test -run 'TestConformance/strict'           the Strict modes only
//	go test -run 'TestConformance/.*/Transactional' one property in every mode
//
// Modes: inmemory (no directory), inmemory-dir (InMemory on a MemFS
// directory), buffered and strict (MemFS, small WAL segments), strict-osdir
// (Strict on a real temporary directory).
//
// Layout: TestConformance/<mode>/<property>/<primitive>. The cross-mode
// comparison (rule 1) renders a scripted workload through the public API in
// each mode and compares the text with the rendering of the same workload
// in a reference in-memory database; Reopen does the same across Close and
// Open, with and without a checkpoint in between (for inmemory-dir: only
// what a checkpoint wrote survives).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/vfs"
)

// ---- Modes ------------------------------------------------------------------

// confMode is one way of opening a database: the suite runs unchanged in
// each.
type confMode struct {
	name    string
	durable bool // Close and Open again keep the data
	newEnv  func(t testing.TB, clock inmem.Clock) *confEnv
}

// confSegSize makes the WAL of the MemFS modes rotate during the workloads.
const confSegSize = 4 << 10

var confModes = []confMode{
	{name: "inmemory", newEnv: func(t testing.TB, clock inmem.Clock) *confEnv {
		return openConfEnv(t, "", inmem.Options{Clock: clock})
	}},
	// InMemory with a directory writes nothing unless asked (Checkpoint).
	{name: "inmemory-dir", newEnv: func(t testing.TB, clock inmem.Clock) *confEnv {
		return openConfEnv(t, "/db", inmem.Options{Clock: clock, FS: vfs.NewMem(), Durability: inmem.InMemory})
	}},
	{name: "buffered", durable: true, newEnv: func(t testing.TB, clock inmem.Clock) *confEnv {
		return openConfEnv(t, "/db", inmem.Options{Clock: clock, FS: vfs.NewMem(), Durability: inmem.Buffered, WALSegmentSize: confSegSize})
	}},
	{name: "strict", durable: true, newEnv: func(t testing.TB, clock inmem.Clock) *confEnv {
		return openConfEnv(t, "/db", inmem.Options{Clock: clock, FS: vfs.NewMem(), Durability: inmem.Strict, WALSegmentSize: confSegSize})
	}},
	{name: "strict-osdir", durable: true, newEnv: func(t testing.TB, clock inmem.Clock) *confEnv {
		return openConfEnv(t, t.TempDir(), inmem.Options{Clock: clock, Durability: inmem.Strict})
	}},
}

// confEnv is an open database of one mode that can be closed and opened
// again on the same directory and file system.
type confEnv struct {
	t    testing.TB
	dir  string
	opts inmem.Options
	db   *inmem.DB
}

func openConfEnv(t testing.TB, dir string, opts inmem.Options) *confEnv {
	t.Helper()
	e := &confEnv{t: t, dir: dir, opts: opts}
	e.open()
	t.Cleanup(func() { e.db.Close() })
	return e
}

func (e *confEnv) open() {
	e.t.Helper()
	opts := e.opts
	db, err := inmem.Open(e.dir, &opts)
	if err != nil {
		e.t.Fatalf("Open(%q): %v", e.dir, err)
	}
	want := e.opts.Durability
	if e.dir == "" {
		want = inmem.InMemory
	}
	if db.Durability() != want {
		e.t.Fatalf("Open: durability %v, want %v", db.Durability(), want)
	}
	e.db = db
}

// reopen closes the database and opens it again with the same options.
func (e *confEnv) reopen() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.open()
}

// confClock is a deterministic Options.Clock: every reading is one
// millisecond after the previous one, from a fixed epoch.
type confClock struct{ n atomic.Int64 }

const confEpoch = 1_700_000_000_000_000 // µs

func (c *confClock) Now() time.Time {
	return time.UnixMicro(confEpoch + 1000*c.n.Add(1))
}

// unobserved runs f and then puts the clock back where it was, so that
// readings taken by f (a checkpoint records its time) do not shift the
// timestamps of later commits. Only for sequential code.
func (c *confClock) unobserved(f func()) {
	n := c.n.Load()
	f()
	c.n.Store(n)
}

// The fixed runs the suite writes into (unregistered, so implicitly active).
var (
	confRunA = inmem.MustParseRunID("a0a0a0a0-0000-4000-8000-00000000000a")
	confRunB = inmem.MustParseRunID("b0b0b0b0-0000-4000-8000-00000000000b")
)

// ---- Adapters ---------------------------------------------------------------

// confObs is what the suite observes of one entity through a read.
type confObs struct {
	Name    string // the name the entity was created with
	Body    string // canonical rendering of its content
	Version inmem.Version
	Time    inmem.Timestamp
}

// confPrim adapts one primitive to the generic properties. Every operation
// works inside a transaction (so that one transaction can span all seven);
// dbRead and dbExists use the primitive's single-operation facade on DB.
//
// An entity is created with a name. For most primitives the name is its key
// and the EntityRef names it; an event log and a trace store instead assign
// a position (sequence, trace ID), which the returned ref carries, and the
// name is what the entry records (event type, custom trace name). The run
// index is not per run: its entities are the registered runs themselves.
type confPrim struct {
	name string
	prim inmem.PrimitiveType
	kind inmem.VersionKind
	// appendOnly: entries can neither change nor be removed; update appends
	// a new entry and returns its ref.
	appendOnly bool
	// global: entities live in the database-wide run index, whatever run
	// the transaction is bound to.
	global bool
	// absent is the code of a read of a missing entity.
	absent inmem.Code

	create func(tx *inmem.Tx, name string) (inmem.EntityRef, error)
	read   func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error)
	// update writes version i of the entity (a new entry for append-only
	// primitives) and returns the ref of what it wrote.
	update func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error)
	// remove deletes or destroys the entity; nil when the primitive has no
	// way to do so.
	remove   func(tx *inmem.Tx, ref inmem.EntityRef) error
	exists   func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error)
	list     func(tx *inmem.Tx) ([]inmem.EntityRef, error)
	dbRead   func(db *inmem.DB, ref inmem.EntityRef) (confObs, error)
	dbExists func(db *inmem.DB, ref inmem.EntityRef) (bool, error)
}

// confVal is the content of version i of the entity called name.
func confVal(name string, i int) inmem.Value {
	return inmem.String(name + "#" + strconv.Itoa(i))
}

// confVec is the embedding of version i of the vector called name.
func confVec(name string, i int) []float32 {
	return []float32{1, float32(i), float32(len(name))}
}

// confColl is the vector collection the adapter keeps its vectors in.
const confColl = "conf"

// absentToFalse turns a read error into an existence answer.
func absentToFalse(err error, absent inmem.Code) (bool, error) {
	if err == nil {
		return true, nil
	}
	if inmem.CodeOf(err) == absent {
		return false, nil
	}
	return false, err
}

func seqOf(ref inmem.EntityRef) uint64 {
	n, err := strconv.ParseUint(ref.Key, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("ref %v has no numeric key", ref))
	}
	return n
}

func vObs(name string, v inmem.Versioned[inmem.Value]) confObs {
	return confObs{Name: name, Body: v.Value.String(), Version: v.Version, Time: v.Timestamp}
}

func eventObs(v inmem.Versioned[inmem.Event]) confObs {
	ev := v.Value
	return confObs{Name: ev.Type, Body: fmt.Sprintf("%s prev=%x hash=%x", ev.Payload, ev.PrevHash[:4], ev.Hash[:4]),
		Version: v.Version, Time: v.Timestamp}
}

func traceObs(v inmem.Versioned[inmem.Trace]) confObs {
	tr := v.Value
	name := string(tr.Type)
	if c, ok := tr.Body.(inmem.CustomTrace); ok {
		name = c.Name
	}
	return confObs{Name: name, Body: fmt.Sprintf("parent=%d tags=%q body=%+v", tr.Parent, tr.Tags, tr.Body),
		Version: v.Version, Time: v.Timestamp}
}

func runObs(v inmem.Versioned[inmem.RunInfo]) confObs {
	r := v.Value
	return confObs{Name: r.Name, Body: fmt.Sprintf("status=%s tags=%q meta=%s", r.Status, r.Tags, r.Metadata),
		Version: v.Version, Time: v.Timestamp}
}

func vectorObs(v inmem.Versioned[inmem.VectorEntry]) confObs {
	return confObs{Name: v.Value.Key, Body: fmt.Sprintf("%v %s", v.Value.Embedding, v.Value.Metadata),
		Version: v.Version, Time: v.Timestamp}
}

func confView[T any](db *inmem.DB, run inmem.RunID, f func(tx *inmem.Tx) (T, error)) (T, error) {
	var out T
	err := db.View(context.Background(), run, func(tx *inmem.Tx) error {
		var err error
		out, err = f(tx)
		return err
	})
	return out, err
}

var confPrims = []confPrim{
	{
		name: "kv", prim: inmem.PrimitiveKV, kind: inmem.TxnVersion, absent: inmem.CodeNotFound,
		create: func(tx *inmem.Tx, name string) (inmem.EntityRef, error) {
			err := tx.KV().Put(name, confVal(name, 0))
			return inmem.EntityRef{Primitive: inmem.PrimitiveKV, Run: tx.Run(), Key: name}, err
		},
		read: func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error) {
			v, err := tx.KV().Get(ref.Key)
			return vObs(ref.Key, v), err
		},
		update: func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error) {
			err := tx.KV().Put(ref.Key, confVal(name, i))
			return ref, err
		},
		remove: func(tx *inmem.Tx, ref inmem.EntityRef) error { return tx.KV().Delete(ref.Key) },
		exists: func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error) { return tx.KV().Exists(ref.Key) },
		list: func(tx *inmem.Tx) ([]inmem.EntityRef, error) {
			keys, err := tx.KV().List("")
			var out []inmem.EntityRef
			for _, k := range keys {
				out = append(out, inmem.EntityRef{Primitive: inmem.PrimitiveKV, Run: tx.Run(), Key: k})
			}
			return out, err
		},
		dbRead: func(db *inmem.DB, ref inmem.EntityRef) (confObs, error) {
			v, err := db.KV().Get(ctx, ref.Run, ref.Key)
			return vObs(ref.Key, v), err
		},
		dbExists: func(db *inmem.DB, ref inmem.EntityRef) (bool, error) { return db.KV().Exists(ctx, ref.Run, ref.Key) },
	},
	{
		name: "event", prim: inmem.PrimitiveEvent, kind: inmem.SequenceVersion, absent: inmem.CodeNotFound, appendOnly: true,
		create: func(tx *inmem.Tx, name string) (inmem.EntityRef, error) {
			seq, err := tx.Events().Append(name, confVal(name, 0))
			return inmem.EntityRef{Primitive: inmem.PrimitiveEvent, Run: tx.Run(), Key: strconv.FormatUint(seq.N, 10)}, err
		},
		read: func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error) {
			v, err := tx.Events().Read(seqOf(ref))
			return eventObs(v), err
		},
		update: func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error) {
			seq, err := tx.Events().Append(name, confVal(name, i))
			return inmem.EntityRef{Primitive: inmem.PrimitiveEvent, Run: tx.Run(), Key: strconv.FormatUint(seq.N, 10)}, err
		},
		exists: func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error) {
			_, err := tx.Events().Read(seqOf(ref))
			return absentToFalse(err, inmem.CodeNotFound)
		},
		list: func(tx *inmem.Tx) ([]inmem.EntityRef, error) {
			evs, err := tx.Events().Range(0, math.MaxUint64)
			var out []inmem.EntityRef
			for _, ev := range evs {
				out = append(out, inmem.EntityRef{Primitive: inmem.PrimitiveEvent, Run: tx.Run(), Key: strconv.FormatUint(ev.Sequence, 10)})
			}
			return out, err
		},
		dbRead: func(db *inmem.DB, ref inmem.EntityRef) (confObs, error) {
			v, err := db.Events().Read(ctx, ref.Run, seqOf(ref))
			return eventObs(v), err
		},
		dbExists: func(db *inmem.DB, ref inmem.EntityRef) (bool, error) {
			_, err := db.Events().Read(ctx, ref.Run, seqOf(ref))
			return absentToFalse(err, inmem.CodeNotFound)
		},
	},
	{
		name: "state", prim: inmem.PrimitiveState, kind: inmem.CounterVersion, absent: inmem.CodeNotFound,
		create: func(tx *inmem.Tx, name string) (inmem.EntityRef, error) {
			_, err := tx.State().Init(name, confVal(name, 0))
			return inmem.EntityRef{Primitive: inmem.PrimitiveState, Run: tx.Run(), Key: name}, err
		},
		read: func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error) {
			v, err := tx.State().Read(ref.Key)
			return vObs(ref.Key, v), err
		},
		update: func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error) {
			_, err := tx.State().Set(ref.Key, confVal(name, i))
			return ref, err
		},
		remove: func(tx *inmem.Tx, ref inmem.EntityRef) error { return tx.State().Delete(ref.Key) },
		exists: func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error) { return tx.State().Exists(ref.Key) },
		list: func(tx *inmem.Tx) ([]inmem.EntityRef, error) {
			names, err := tx.State().List("")
			var out []inmem.EntityRef
			for _, n := range names {
				out = append(out, inmem.EntityRef{Primitive: inmem.PrimitiveState, Run: tx.Run(), Key: n})
			}
			return out, err
		},
		dbRead: func(db *inmem.DB, ref inmem.EntityRef) (confObs, error) {
			v, err := db.State().Read(ctx, ref.Run, ref.Key)
			return vObs(ref.Key, v), err
		},
		dbExists: func(db *inmem.DB, ref inmem.EntityRef) (bool, error) { return db.State().Exists(ctx, ref.Run, ref.Key) },
	},
	{
		name: "trace", prim: inmem.PrimitiveTrace, kind: inmem.TxnVersion, absent: inmem.CodeNotFound, appendOnly: true,
		create: func(tx *inmem.Tx, name string) (inmem.EntityRef, error) {
			id, err := tx.Traces().Record(inmem.TraceSpec{Body: inmem.CustomTrace{Name: name, Data: confVal(name, 0)}, Tags: []string{name}})
			return inmem.EntityRef{Primitive: inmem.PrimitiveTrace, Run: tx.Run(), Key: id.String()}, err
		},
		read: func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error) {
			v, err := tx.Traces().Get(inmem.TraceID(seqOf(ref)))
			return traceObs(v), err
		},
		update: func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error) {
			id, err := tx.Traces().RecordChild(inmem.TraceID(seqOf(ref)), inmem.TraceSpec{Body: inmem.CustomTrace{Name: name, Data: confVal(name, i)}})
			return inmem.EntityRef{Primitive: inmem.PrimitiveTrace, Run: tx.Run(), Key: id.String()}, err
		},
		exists: func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error) {
			_, err := tx.Traces().Get(inmem.TraceID(seqOf(ref)))
			return absentToFalse(err, inmem.CodeNotFound)
		},
		list: func(tx *inmem.Tx) ([]inmem.EntityRef, error) {
			trs, err := tx.Traces().List()
			var out []inmem.EntityRef
			for _, tr := range trs {
				out = append(out, inmem.EntityRef{Primitive: inmem.PrimitiveTrace, Run: tx.Run(), Key: tr.Value.ID.String()})
			}
			return out, err
		},
		dbRead: func(db *inmem.DB, ref inmem.EntityRef) (confObs, error) {
			v, err := db.Traces().Get(ctx, ref.Run, inmem.TraceID(seqOf(ref)))
			return traceObs(v), err
		},
		dbExists: func(db *inmem.DB, ref inmem.EntityRef) (bool, error) {
			_, err := db.Traces().Get(ctx, ref.Run, inmem.TraceID(seqOf(ref)))
			return absentToFalse(err, inmem.CodeNotFound)
		},
	},
	{
		name: "run", prim: inmem.PrimitiveRun, kind: inmem.TxnVersion, absent: inmem.CodeRunNotFound, global: true,
		create: func(tx *inmem.Tx, name string) (inmem.EntityRef, error) {
			id, err := tx.Runs().Create(name, inmem.RunOptions{Metadata: confVal(name, 0)})
			return inmem.EntityRef{Primitive: inmem.PrimitiveRun, Run: id}, err
		},
		read: func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error) {
			v, err := tx.Runs().Get(ref.Run)
			return runObs(v), err
		},
		update: func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error) {
			return ref, tx.Runs().SetMetadata(ref.Run, confVal(name, i))
		},
		remove: func(tx *inmem.Tx, ref inmem.EntityRef) error { return tx.Runs().Delete(ref.Run) },
		exists: func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error) {
			_, err := tx.Runs().Get(ref.Run)
			return absentToFalse(err, inmem.CodeRunNotFound)
		},
		list: func(tx *inmem.Tx) ([]inmem.EntityRef, error) {
			runs, err := tx.Runs().List()
			var out []inmem.EntityRef
			for _, r := range runs {
				out = append(out, inmem.EntityRef{Primitive: inmem.PrimitiveRun, Run: r.Value.ID})
			}
			return out, err
		},
		dbRead: func(db *inmem.DB, ref inmem.EntityRef) (confObs, error) {
			v, err := db.Runs().Get(ctx, ref.Run)
			return runObs(v), err
		},
		dbExists: func(db *inmem.DB, ref inmem.EntityRef) (bool, error) {
			_, err := db.Runs().Get(ctx, ref.Run)
			return absentToFalse(err, inmem.CodeRunNotFound)
		},
	},
	{
		name: "json", prim: inmem.PrimitiveJSON, kind: inmem.TxnVersion, absent: inmem.CodeNotFound,
		create: func(tx *inmem.Tx, name string) (inmem.EntityRef, error) {
			doc := inmem.ObjectOf(inmem.Field{Key: "name", Value: inmem.String(name)}, inmem.Field{Key: "v", Value: confVal(name, 0)})
			err := tx.JSON().Create(name, doc)
			return inmem.EntityRef{Primitive: inmem.PrimitiveJSON, Run: tx.Run(), Key: name}, err
		},
		read: func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error) {
			v, err := tx.JSON().Get(ref.Key, "")
			return vObs(ref.Key, v), err
		},
		update: func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error) {
			err := tx.JSON().Set(ref.Key, "/v", confVal(name, i))
			return ref, err
		},
		remove: func(tx *inmem.Tx, ref inmem.EntityRef) error { return tx.JSON().Destroy(ref.Key) },
		exists: func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error) { return tx.JSON().Exists(ref.Key) },
		list: func(tx *inmem.Tx) ([]inmem.EntityRef, error) {
			ids, err := tx.JSON().List("")
			var out []inmem.EntityRef
			for _, id := range ids {
				out = append(out, inmem.EntityRef{Primitive: inmem.PrimitiveJSON, Run: tx.Run(), Key: id})
			}
			return out, err
		},
		dbRead: func(db *inmem.DB, ref inmem.EntityRef) (confObs, error) {
			v, err := db.JSON().Get(ctx, ref.Run, ref.Key, "")
			return vObs(ref.Key, v), err
		},
		dbExists: func(db *inmem.DB, ref inmem.EntityRef) (bool, error) { return db.JSON().Exists(ctx, ref.Run, ref.Key) },
	},
	{
		name: "vector", prim: inmem.PrimitiveVector, kind: inmem.TxnVersion, absent: inmem.CodeNotFound,
		create: func(tx *inmem.Tx, name string) (inmem.EntityRef, error) {
			ref := inmem.EntityRef{Primitive: inmem.PrimitiveVector, Run: tx.Run(), Key: confColl, Sub: name}
			if _, err := tx.Vectors().Collection(confColl); errors.Is(err, inmem.ErrNotFound) {
				if err := tx.Vectors().CreateCollection(confColl, 3, inmem.Cosine); err != nil {
					return ref, err
				}
			} else if err != nil {
				return ref, err
			}
			meta := inmem.ObjectOf(inmem.Field{Key: "v", Value: confVal(name, 0)})
			return ref, tx.Vectors().Upsert(confColl, name, confVec(name, 0), meta)
		},
		read: func(tx *inmem.Tx, ref inmem.EntityRef) (confObs, error) {
			v, err := tx.Vectors().Get(ref.Key, ref.Sub)
			return vectorObs(v), err
		},
		update: func(tx *inmem.Tx, ref inmem.EntityRef, name string, i int) (inmem.EntityRef, error) {
			meta := inmem.ObjectOf(inmem.Field{Key: "v", Value: confVal(name, i)})
			return ref, tx.Vectors().Upsert(ref.Key, ref.Sub, confVec(name, i), meta)
		},
		remove: func(tx *inmem.Tx, ref inmem.EntityRef) error { return tx.Vectors().Delete(ref.Key, ref.Sub) },
		exists: func(tx *inmem.Tx, ref inmem.EntityRef) (bool, error) {
			_, err := tx.Vectors().Get(ref.Key, ref.Sub)
			return absentToFalse(err, inmem.CodeNotFound)
		},
		list: func(tx *inmem.Tx) ([]inmem.EntityRef, error) {
			// There is no listing of a collection's keys: a search with k
			// = Count returns every vector.
			n, err := tx.Vectors().Count(confColl)
			if errors.Is(err, inmem.ErrNotFound) || n == 0 {
				return nil, nil
			} else if err != nil {
				return nil, err
			}
			hits, err := tx.Vectors().Search(confColl, []float32{1, 0, 0}, n, nil)
			var out []inmem.EntityRef
			for _, h := range hits {
				out = append(out, inmem.EntityRef{Primitive: inmem.PrimitiveVector, Run: tx.Run(), Key: confColl, Sub: h.Key})
			}
			slices.SortFunc(out, func(a, b inmem.EntityRef) int { return strings.Compare(a.Sub, b.Sub) })
			return out, err
		},
		dbRead: func(db *inmem.DB, ref inmem.EntityRef) (confObs, error) {
			v, err := db.Vectors().Get(ctx, ref.Run, ref.Key, ref.Sub)
			return vectorObs(v), err
		},
		dbExists: func(db *inmem.DB, ref inmem.EntityRef) (bool, error) {
			_, err := db.Vectors().Get(ctx, ref.Run, ref.Key, ref.Sub)
			return absentToFalse(err, inmem.CodeNotFound)
		},
	},
}

// ---- Helpers ----------------------------------------------------------------

// confCreate creates an entity in its own transaction and returns its ref.
func confCreate(t testing.TB, db *inmem.DB, p confPrim, run inmem.RunID, name string) inmem.EntityRef {
	t.Helper()
	var ref inmem.EntityRef
	if err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		var err error
		ref, err = p.create(tx, name)
		return err
	}); err != nil {
		t.Fatalf("%s: create %q: %v", p.name, name, err)
	}
	return ref
}

// confUpdate writes version i of an entity in its own transaction.
func confUpdate(t testing.TB, db *inmem.DB, p confPrim, ref inmem.EntityRef, name string, i int) inmem.EntityRef {
	t.Helper()
	var out inmem.EntityRef
	if err := db.Update(ctx, confTxRun(p, ref), func(tx *inmem.Tx) error {
		var err error
		out, err = p.update(tx, ref, name, i)
		return err
	}); err != nil {
		t.Fatalf("%s: update %v: %v", p.name, ref, err)
	}
	return out
}

// confTxRun is the run a transaction touching ref is bound to.
func confTxRun(p confPrim, ref inmem.EntityRef) inmem.RunID {
	if p.global {
		return confRunA
	}
	return ref.Run
}

// confRead reads an entity at the newest snapshot, through a transaction
// and through the DB facade, and checks that both agree.
func confRead(t testing.TB, db *inmem.DB, p confPrim, ref inmem.EntityRef) (confObs, error) {
	t.Helper()
	o, err := confView(db, confTxRun(p, ref), func(tx *inmem.Tx) (confObs, error) { return p.read(tx, ref) })
	o2, err2 := p.dbRead(db, ref)
	if inmem.CodeOf(err) != inmem.CodeOf(err2) || (err == nil && o != o2) {
		t.Errorf("%s: read %v in a transaction = %+v, %v; through the DB = %+v, %v", p.name, ref, o, err, o2, err2)
	}
	return o, err
}

// confMustRead is confRead that fails the test if the entity is missing.
func confMustRead(t testing.TB, db *inmem.DB, p confPrim, ref inmem.EntityRef) confObs {
	t.Helper()
	o, err := confRead(t, db, p, ref)
	if err != nil {
		t.Fatalf("%s: read %v: %v", p.name, ref, err)
	}
	return o
}

// confExists asks both facades whether ref exists and checks they agree.
func confExists(t testing.TB, db *inmem.DB, p confPrim, ref inmem.EntityRef) bool {
	t.Helper()
	ok, err := confView(db, confTxRun(p, ref), func(tx *inmem.Tx) (bool, error) { return p.exists(tx, ref) })
	ok2, err2 := p.dbExists(db, ref)
	if err != nil || err2 != nil {
		t.Fatalf("%s: exists %v: %v / %v", p.name, ref, err, err2)
	}
	if ok != ok2 {
		t.Errorf("%s: exists %v: %v in a transaction, %v through the DB", p.name, ref, ok, ok2)
	}
	return ok
}

// confList lists the entities of run (of the run index for global
// primitives).
func confList(t testing.TB, db *inmem.DB, p confPrim, run inmem.RunID) []inmem.EntityRef {
	t.Helper()
	refs, err := confView(db, run, p.list)
	if err != nil {
		t.Fatalf("%s: list: %v", p.name, err)
	}
	return refs
}

// confWantAbsent checks that a read of ref fails with the primitive's
// "absent" code and that the error addresses ref.
func confWantAbsent(t testing.TB, db *inmem.DB, p confPrim, ref inmem.EntityRef) {
	t.Helper()
	o, err := confRead(t, db, p, ref)
	if err == nil {
		t.Fatalf("%s: read %v = %+v, want %v", p.name, ref, o, p.absent)
	}
	if inmem.CodeOf(err) != p.absent {
		t.Fatalf("%s: read %v: %v, want code %v", p.name, ref, err, p.absent)
	}
	var e *inmem.Error
	if !errors.As(err, &e) || e.Ref == nil || *e.Ref != ref {
		t.Fatalf("%s: read %v: the error %v does not address the entity", p.name, ref, err)
	}
}

func confCmp(t testing.TB, what string, a, b inmem.Version) int {
	t.Helper()
	c, err := a.Compare(b)
	if err != nil {
		t.Fatalf("%s: comparing %v with %v: %v", what, a, b, err)
	}
	return c
}

// confForPrims runs f as a subtest for each primitive.
func confForPrims(t *testing.T, f func(t *testing.T, p confPrim)) {
	for _, p := range confPrims {
		t.Run(p.name, func(t *testing.T) { f(t, p) })
	}
}

// ---- The suite --------------------------------------------------------------

// TestConformance runs every property for every primitive in every
// durability mode.
func TestConformance(t *testing.T) {
	ref := confReference(t)
	for _, m := range confModes {
		t.Run(m.name, func(t *testing.T) {
			newEnv := func(t testing.TB) *confEnv { return m.newEnv(t, new(confClock)) }
			t.Run("Addressable", func(t *testing.T) {
				confForPrims(t, func(t *testing.T, p confPrim) { confAddressable(t, newEnv(t), p) })
			})
			t.Run("Versioned", func(t *testing.T) { confForPrims(t, func(t *testing.T, p confPrim) { confVersioned(t, newEnv(t), p) }) })
			t.Run("Transactional", func(t *testing.T) {
				t.Run("Commit", func(t *testing.T) { confAtomicCommit(t, newEnv(t)) })
				t.Run("Rollback", func(t *testing.T) { confRollback(t, newEnv(t)) })
				t.Run("Conflict", func(t *testing.T) { confConflict(t, newEnv(t)) })
			})
			t.Run("Lifecycle", func(t *testing.T) { confForPrims(t, func(t *testing.T, p confPrim) { confLifecycle(t, newEnv(t), p) }) })
			t.Run("RunIsolation", func(t *testing.T) {
				confForPrims(t, func(t *testing.T, p confPrim) { confRunIsolation(t, newEnv(t), p) })
			})
			t.Run("Introspectable", func(t *testing.T) {
				confForPrims(t, func(t *testing.T, p confPrim) { confIntrospectable(t, newEnv(t), p) })
			})
			t.Run("ReadWrite", func(t *testing.T) {
				t.Run("ReadsDoNotWrite", func(t *testing.T) {
					confForPrims(t, func(t *testing.T, p confPrim) { confReadsDoNotWrite(t, newEnv(t), p) })
				})
				t.Run("ReadYourWrites", func(t *testing.T) {
					confForPrims(t, func(t *testing.T, p confPrim) { confReadYourWrites(t, newEnv(t), p) })
				})
				t.Run("SnapshotIsolation", func(t *testing.T) { confSnapshotIsolation(t, newEnv(t)) })
			})
			t.Run("IdenticalAcrossModes", func(t *testing.T) { confIdentical(t, m, ref) })
			t.Run("Reopen", func(t *testing.T) {
				if !m.durable {
					confReopenVolatile(t, m, ref)
					return
				}
				confReopen(t, m, ref)
			})
			t.Run("Concurrency", func(t *testing.T) {
				t.Run("EventAppends", func(t *testing.T) { confConcurrentAppends(t, newEnv(t)) })
				t.Run("StateCAS", func(t *testing.T) { confConcurrentStateCAS(t, newEnv(t)) })
				t.Run("KVCAS", func(t *testing.T) { confConcurrentKVCAS(t, newEnv(t)) })
			})
		})
	}
}

// ---- 1. Addressable ---------------------------------------------------------

// confAddressable: every entity's EntityRef names its primitive and run,
// has the documented text form, round-trips through it, and is the ref the
// library itself reports in errors about the entity.
func confAddressable(t *testing.T, env *confEnv, p confPrim) {
	db := env.db
	for _, name := range []string{"plain", "with/slash and space%2F", "ünïcødé"} {
		ref := confCreate(t, db, p, confRunA, name)
		if ref.Primitive != p.prim {
			t.Fatalf("%q: ref %v names primitive %v, want %v", name, ref, ref.Primitive, p.prim)
		}
		text := ref.String()
		wantPrefix := p.prim.String() + "://"
		if p.global {
			// A run's ref names the registered run itself.
			if ref.Run.IsGlobal() || text != wantPrefix+ref.Run.String() {
				t.Fatalf("%q: run ref %q, want run://<its id>", name, text)
			}
		} else {
			wantPrefix += confRunA.String() + "/"
			if ref.Run != confRunA || !strings.HasPrefix(text, wantPrefix) {
				t.Fatalf("%q: ref %q does not name run %v (want prefix %q)", name, text, confRunA, wantPrefix)
			}
		}
		back, err := inmem.ParseEntityRef(text)
		if err != nil || back != ref {
			t.Fatalf("%q: ParseEntityRef(%q) = %+v, %v; want %+v", name, text, back, err, ref)
		}
		if back.String() != text {
			t.Fatalf("%q: text form is not stable: %q then %q", name, text, back.String())
		}
		// The parsed ref reaches the same entity, under the name it was
		// created with.
		if o := confMustRead(t, db, p, back); o.Name != name {
			t.Fatalf("%q: read via parsed ref %q gives an entity named %q", name, text, o.Name)
		}
		// The library's own errors about the entity carry this ref.
		missing := ref
		if p.appendOnly {
			missing.Key = "999999"
		} else {
			if err := db.Update(ctx, confTxRun(p, ref), func(tx *inmem.Tx) error { return p.remove(tx, ref) }); err != nil {
				t.Fatalf("%q: remove: %v", name, err)
			}
			missing = ref
		}
		confWantAbsent(t, db, p, missing)
	}
	// Refs of two runs differ and never parse to each other.
	if !p.global {
		a := confCreate(t, db, p, confRunA, "same")
		b := confCreate(t, db, p, confRunB, "same")
		if a == b || a.String() == b.String() || a.Run != confRunA || b.Run != confRunB {
			t.Fatalf("refs of one name in two runs: %v and %v", a, b)
		}
	}
}

// ---- 2. Versioned -----------------------------------------------------------

// confVersioned: reads report the primitive's Version kind, and every write
// gives a newer version than the one before.
func confVersioned(t *testing.T, env *confEnv, p confPrim) {
	db := env.db
	ref := confCreate(t, db, p, confRunA, "v")
	first := confMustRead(t, db, p, ref)
	if first.Version.Kind != p.kind || first.Version.IsZero() {
		t.Fatalf("read reports version %v, want a %v version", first.Version, p.kind)
	}
	if first.Time == 0 {
		t.Fatalf("read reports no timestamp: %+v", first)
	}
	prev, prevRef := first, ref
	for i := 1; i <= 3; i++ {
		cur := confUpdate(t, db, p, ref, "v", i)
		o := confMustRead(t, db, p, cur)
		if o.Version.Kind != p.kind {
			t.Fatalf("write %d: version %v, want kind %v", i, o.Version, p.kind)
		}
		if confCmp(t, p.name, o.Version, prev.Version) <= 0 {
			t.Fatalf("write %d: version %v is not newer than %v", i, o.Version, prev.Version)
		}
		if o.Time < prev.Time {
			t.Fatalf("write %d: timestamp %v before %v", i, o.Time, prev.Time)
		}
		if p.appendOnly {
			if cur == prevRef {
				t.Fatalf("append %d reused the ref %v", i, cur)
			}
			// The first entry is untouched by later appends.
			if again := confMustRead(t, db, p, ref); again != first {
				t.Fatalf("append %d changed the first entry: %+v, was %+v", i, again, first)
			}
		} else if cur != ref {
			t.Fatalf("update %d moved the entity from %v to %v", i, ref, cur)
		}
		prev, prevRef = o, cur
	}
	// Version kinds are not ordered against each other.
	other := inmem.Sequence(1)
	if p.kind == inmem.SequenceVersion {
		other = inmem.Txn(1)
	}
	if _, err := prev.Version.Compare(other); err == nil {
		t.Fatalf("comparing %v with %v did not fail", prev.Version, other)
	}
	// A removed entity that comes back still gets a newer version (no ABA).
	if p.remove != nil {
		if err := db.Update(ctx, confTxRun(p, ref), func(tx *inmem.Tx) error { return p.remove(tx, ref) }); err != nil {
			t.Fatal(err)
		}
		again := confCreate(t, db, p, confRunA, "v")
		o := confMustRead(t, db, p, again)
		if confCmp(t, p.name, o.Version, prev.Version) <= 0 {
			t.Fatalf("re-created after removal with version %v, not newer than %v", o.Version, prev.Version)
		}
	}
}

// ---- 3. Transactional -------------------------------------------------------

// confAll creates an entity of every primitive, named name, in tx.
func confAll(tx *inmem.Tx, name string) ([]inmem.EntityRef, error) {
	refs := make([]inmem.EntityRef, len(confPrims))
	for i, p := range confPrims {
		ref, err := p.create(tx, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		refs[i] = ref
	}
	return refs, nil
}

// confAbsentOrOther checks that ref does not show the entity named name: it
// is missing, or (for positions an append-only primitive reuses) holds
// something else.
func confAbsentOrOther(t testing.TB, db *inmem.DB, p confPrim, ref inmem.EntityRef, name string) {
	t.Helper()
	o, err := confRead(t, db, p, ref)
	switch {
	case err == nil && o.Name == name:
		t.Errorf("%s: %v is visible: %+v", p.name, ref, o)
	case err != nil && inmem.CodeOf(err) != p.absent:
		t.Errorf("%s: read %v: %v", p.name, ref, err)
	}
	if !p.global {
		if err != nil && confExists(t, db, p, ref) {
			t.Errorf("%s: %v cannot be read but exists", p.name, ref)
		}
	}
}

// confAtomicCommit: one Update writing to all seven primitives commits as a
// unit, with one commit version, and reads inside it see all its writes.
func confAtomicCommit(t *testing.T, env *confEnv) {
	db := env.db
	before := inmem.Visible(db)
	tx, err := db.Begin(ctx, confRunA, true)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := confAll(tx, "atom")
	if err != nil {
		t.Fatal(err)
	}
	// Read-your-writes across primitives, before commit.
	for i, p := range confPrims {
		o, err := p.read(tx, refs[i])
		if err != nil || o.Name != "atom" {
			t.Fatalf("%s: read own write %v = %+v, %v", p.name, refs[i], o, err)
		}
	}
	if inmem.Visible(db) != before {
		t.Fatalf("uncommitted writes published a version")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	cv := tx.CommitVersion()
	if cv != inmem.Txn(before+1) || inmem.Visible(db) != before+1 {
		t.Fatalf("commit version %v, visible %d; want Txn(%d)", cv, inmem.Visible(db), before+1)
	}
	var times []inmem.Timestamp
	for i, p := range confPrims {
		o := confMustRead(t, db, p, refs[i])
		if o.Name != "atom" {
			t.Fatalf("%s: %v is %+v", p.name, refs[i], o)
		}
		switch p.kind {
		case inmem.TxnVersion:
			if o.Version != cv {
				t.Errorf("%s: version %v, want the commit version %v", p.name, o.Version, cv)
			}
			times = append(times, o.Time)
		case inmem.SequenceVersion:
			if o.Version != inmem.Sequence(0) {
				t.Errorf("%s: version %v, want Sequence(0)", p.name, o.Version)
			}
		case inmem.CounterVersion:
			if o.Version != inmem.Counter(1) {
				t.Errorf("%s: version %v, want Counter(1)", p.name, o.Version)
			}
			times = append(times, o.Time)
		}
	}
	// Every write of one commit carries the commit's timestamp.
	for _, ts := range times {
		if ts != times[0] {
			t.Errorf("one commit, several timestamps: %v", times)
			break
		}
	}
}

var errConfBoom = errors.New("conformance: roll back")

// confRollback: an error returned from the closure rolls back all seven
// primitives, and consumes no version a reader can see.
func confRollback(t *testing.T, env *confEnv) {
	db := env.db
	// Existing entities of every primitive, which the failed transaction
	// also changes.
	var olds []inmem.EntityRef
	if err := db.Update(ctx, confRunA, func(tx *inmem.Tx) error {
		var err error
		olds, err = confAll(tx, "old")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	snap := make([]confObs, len(olds))
	lists := make([][]inmem.EntityRef, len(olds))
	for i, p := range confPrims {
		snap[i] = confMustRead(t, db, p, olds[i])
		lists[i] = confList(t, db, p, confRunA)
	}
	before := inmem.Visible(db)
	var refs []inmem.EntityRef
	calls := 0
	err := db.Update(ctx, confRunA, func(tx *inmem.Tx) error {
		calls++
		var err error
		if refs, err = confAll(tx, "doomed"); err != nil {
			return err
		}
		for i, p := range confPrims {
			if _, err := p.update(tx, olds[i], "old", 7); err != nil {
				return err
			}
			if p.remove != nil && !p.global {
				// Remove it too, so that deletes roll back as well.
				if err := p.remove(tx, olds[i]); err != nil {
					return err
				}
			}
		}
		return errConfBoom
	})
	if !errors.Is(err, errConfBoom) || calls != 1 {
		t.Fatalf("Update = %v after %d calls, want the closure's error after 1", err, calls)
	}
	// The same with Begin and Rollback.
	tx, err := db.Begin(ctx, confRunA, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := confAll(tx, "doomed2"); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if err := tx.Commit(); !errors.Is(err, inmem.ErrTxDone) {
		t.Fatalf("Commit after Rollback = %v, want ErrTxDone", err)
	}
	if v := inmem.Visible(db); v != before {
		t.Fatalf("rolled-back transactions moved the visible version from %d to %d", before, v)
	}
	for i, p := range confPrims {
		confAbsentOrOther(t, db, p, refs[i], "doomed")
		if got := confMustRead(t, db, p, olds[i]); got != snap[i] {
			t.Errorf("%s: %v changed by a rolled-back transaction: %+v, was %+v", p.name, olds[i], got, snap[i])
		}
		if got := confList(t, db, p, confRunA); !slices.Equal(got, lists[i]) {
			t.Errorf("%s: listing changed by a rolled-back transaction: %v, was %v", p.name, got, lists[i])
		}
	}
	// Nothing was consumed: the next commit takes the next version, and
	// the positions the rolled-back appends took are free again.
	var next []inmem.EntityRef
	tx, err = db.Begin(ctx, confRunA, true)
	if err != nil {
		t.Fatal(err)
	}
	if next, err = confAll(tx, "after"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if tx.CommitVersion() != inmem.Txn(before+1) {
		t.Fatalf("next commit got %v, want Txn(%d)", tx.CommitVersion(), before+1)
	}
	for i, p := range confPrims {
		if p.appendOnly && next[i] != refs[i] {
			t.Errorf("%s: next append got %v, want the position %v the rolled-back one had", p.name, next[i], refs[i])
		}
	}
}

// confConflict: two transactions read the same KV key and write all seven
// primitives; the first commits, the second fails with Conflict and none of
// its writes is visible.
func confConflict(t *testing.T, env *confEnv) {
	db := env.db
	if _, err := db.KV().Put(ctx, confRunA, "guard", inmem.Int(0)); err != nil {
		t.Fatal(err)
	}
	t1, err := db.Begin(ctx, confRunA, true)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := db.Begin(ctx, confRunA, true)
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Rollback()
	for _, tx := range []*inmem.Tx{t1, t2} {
		if _, err := tx.KV().Get("guard"); err != nil {
			t.Fatal(err)
		}
		if err := tx.KV().Put("guard", inmem.Int(1)); err != nil {
			t.Fatal(err)
		}
	}
	refs1, err := confAll(t1, "first")
	if err != nil {
		t.Fatal(err)
	}
	refs2, err := confAll(t2, "second")
	if err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	visible := inmem.Visible(db)
	err = t2.Commit()
	if !errors.Is(err, inmem.ErrConflict) || !inmem.IsRetryable(err) {
		t.Fatalf("second commit = %v, want a retryable Conflict", err)
	}
	if v := inmem.Visible(db); v != visible || t2.CommitVersion() != inmem.Txn(0) {
		t.Fatalf("aborted commit: visible %d (was %d), commit version %v", v, visible, t2.CommitVersion())
	}
	for i, p := range confPrims {
		if o := confMustRead(t, db, p, refs1[i]); o.Name != "first" {
			t.Errorf("%s: winner's %v is %+v", p.name, refs1[i], o)
		}
		confAbsentOrOther(t, db, p, refs2[i], "second")
		for _, r := range confList(t, db, p, confRunA) {
			if o := confMustRead(t, db, p, r); o.Name == "second" {
				t.Errorf("%s: the aborted transaction's %v is listed", p.name, r)
			}
		}
	}
	if _, err := db.Runs().GetByName(ctx, "second"); !errors.Is(err, inmem.ErrRunNotFound) {
		t.Errorf("the aborted transaction's run is registered: %v", err)
	}
}

// ---- 4. Lifecycle -----------------------------------------------------------

// confMutators are verbs of methods that would change an existing entry.
var confMutators = []string{"Set", "Put", "Update", "Delete", "Remove", "Destroy", "Patch", "Merge",
	"CAS", "Edit", "Replace", "Truncate", "Clear", "Upsert", "Rewrite", "Modify", "Transition", "Trim", "Drop"}

// confAppendOnlyAPI checks that none of the types of an append-only
// primitive has a method that could change an existing entry.
func confAppendOnlyAPI(t *testing.T, types ...any) {
	for _, x := range types {
		typ := reflect.TypeOf(x)
		for i := range typ.NumMethod() {
			m := typ.Method(i).Name
			for _, verb := range confMutators {
				if strings.HasPrefix(m, verb) {
					t.Errorf("%v.%s: an append-only primitive has a method that looks like it changes entries", typ, m)
				}
			}
		}
	}
}

// confLifecycle: create → read → update → delete (where the primitive can),
// or create → read → append → the entry never changes (append-only).
func confLifecycle(t *testing.T, env *confEnv, p confPrim) {
	db := env.db
	ref := confCreate(t, db, p, confRunA, "life")
	o := confMustRead(t, db, p, ref)
	if o.Name != "life" || !strings.Contains(o.Body, "life#0") {
		t.Fatalf("created entity reads %+v", o)
	}
	for i := 1; i <= 2; i++ {
		cur := confUpdate(t, db, p, ref, "life", i)
		o := confMustRead(t, db, p, cur)
		if !strings.Contains(o.Body, "life#"+strconv.Itoa(i)) {
			t.Fatalf("after write %d the entity reads %+v", i, o)
		}
	}
	if p.appendOnly {
		switch p.prim {
		case inmem.PrimitiveEvent:
			confAppendOnlyAPI(t, inmem.EventLog{}, inmem.EventLogTx{})
			// What a read returns is a copy.
			evs, err := db.Events().Range(ctx, ref.Run, 0, 1)
			if err != nil || len(evs) != 1 {
				t.Fatal(evs, err)
			}
			evs[0].Type, evs[0].Hash, evs[0].Payload = "changed", [32]byte{}, inmem.Null()
			rep, err := db.Events().VerifyChain(ctx, ref.Run)
			if err != nil || !rep.OK || rep.Checked != 3 {
				t.Fatalf("VerifyChain after appends = %v, %v", rep, err)
			}
		case inmem.PrimitiveTrace:
			confAppendOnlyAPI(t, inmem.TraceStore{}, inmem.TraceTx{})
			tr, err := db.Traces().Get(ctx, ref.Run, inmem.TraceID(seqOf(ref)))
			if err != nil {
				t.Fatal(err)
			}
			tr.Value.Tags[0] = "changed"
		default:
			t.Fatalf("no append-only check for %v", p.prim)
		}
		if again := confMustRead(t, db, p, ref); again != o {
			t.Fatalf("the first entry changed: %+v, was %+v", again, o)
		}
		return
	}
	if p.remove == nil {
		t.Fatalf("%s is neither append-only nor removable", p.name)
	}
	if err := db.Update(ctx, confTxRun(p, ref), func(tx *inmem.Tx) error { return p.remove(tx, ref) }); err != nil {
		t.Fatalf("remove: %v", err)
	}
	confWantAbsent(t, db, p, ref)
	if confExists(t, db, p, ref) {
		t.Fatalf("%v exists after removal", ref)
	}
	// Removing what is gone is an error and writes nothing.
	v := inmem.Visible(db)
	err := db.Update(ctx, confTxRun(p, ref), func(tx *inmem.Tx) error { return p.remove(tx, ref) })
	if inmem.CodeOf(err) != p.absent {
		t.Fatalf("second removal = %v, want %v", err, p.absent)
	}
	if inmem.Visible(db) != v {
		t.Fatalf("a failed removal committed")
	}
	// The name can be used again.
	again := confCreate(t, db, p, confRunA, "life")
	if o := confMustRead(t, db, p, again); !strings.Contains(o.Body, "life#0") {
		t.Fatalf("re-created entity reads %+v", o)
	}
}

// ---- 5. Run isolation -------------------------------------------------------

// confRunIsolation: the same names in two runs are independent.
func confRunIsolation(t *testing.T, env *confEnv, p confPrim) {
	db := env.db
	if p.global {
		// The run index is database-wide: a name means the same run
		// whatever run a transaction is bound to.
		a := confCreate(t, db, p, confRunA, "iso")
		err := db.Update(ctx, confRunB, func(tx *inmem.Tx) error { _, err := p.create(tx, "iso"); return err })
		if !errors.Is(err, inmem.ErrAlreadyExists) {
			t.Fatalf("the same run name from another run = %v, want AlreadyExists", err)
		}
		fromB, err := confView(db, confRunB, func(tx *inmem.Tx) (confObs, error) { return p.read(tx, a) })
		if err != nil || fromB != confMustRead(t, db, p, a) {
			t.Fatalf("the run index seen from another run: %+v, %v", fromB, err)
		}
		return
	}
	a := confCreate(t, db, p, confRunA, "iso")
	b := confCreate(t, db, p, confRunB, "iso")
	if a.Run != confRunA || b.Run != confRunB {
		t.Fatalf("refs %v and %v", a, b)
	}
	ob := confMustRead(t, db, p, b)
	listB := confList(t, db, p, confRunB)
	// Changing run A leaves run B as it was.
	a2 := confUpdate(t, db, p, a, "iso", 1)
	confUpdate(t, db, p, a, "iso", 2)
	if p.remove != nil {
		if err := db.Update(ctx, confRunA, func(tx *inmem.Tx) error { return p.remove(tx, a) }); err != nil {
			t.Fatal(err)
		}
		if confExists(t, db, p, a) {
			t.Fatalf("%v exists after removal", a)
		}
	}
	if got := confMustRead(t, db, p, b); got != ob {
		t.Fatalf("run B's entity changed with run A's: %+v, was %+v", got, ob)
	}
	if !confExists(t, db, p, b) {
		t.Fatalf("run B's entity is gone")
	}
	if got := confList(t, db, p, confRunB); !slices.Equal(got, listB) {
		t.Fatalf("run B's listing changed with run A's: %v, was %v", got, listB)
	}
	for _, r := range confList(t, db, p, confRunA) {
		if r.Run != confRunA {
			t.Fatalf("run A's listing holds %v", r)
		}
	}
	// Append-only primitives number each run from the start.
	if p.appendOnly && (a.Key != b.Key || a2 == b) {
		t.Fatalf("positions: run A %v then %v, run B %v", a, a2, b)
	}
	// A transaction bound to run B does not see run A's entity, even under
	// run A's key.
	if p.appendOnly {
		inB := a2
		inB.Run = confRunB
		confWantAbsent(t, db, p, inB)
	} else {
		// Run B keeps its own entity under the same name.
		inB := a
		inB.Run = confRunB
		if got := confMustRead(t, db, p, inB); got != ob {
			t.Fatalf("run B under run A's key: %+v", got)
		}
	}
}

// ---- 6. Introspectable ------------------------------------------------------

// confIntrospectable: existence is false before creation, true after, false
// after removal; listings follow.
func confIntrospectable(t *testing.T, env *confEnv, p confPrim) {
	db := env.db
	// Before: nothing of that name, and (except for the run index, where
	// the ref carries a random ID) the ref it will have does not exist.
	if !p.global {
		probe := inmem.EntityRef{Primitive: p.prim, Run: confRunA, Key: "intro"}
		switch {
		case p.appendOnly:
			probe.Key = "0"
			if p.prim == inmem.PrimitiveTrace {
				probe.Key = "1"
			}
		case p.prim == inmem.PrimitiveVector:
			probe.Key, probe.Sub = confColl, "intro"
		}
		if confExists(t, db, p, probe) {
			t.Fatalf("%v exists before creation", probe)
		}
		if got := confList(t, db, p, confRunA); len(got) != 0 {
			t.Fatalf("empty run lists %v", got)
		}
		ref := confCreate(t, db, p, confRunA, "intro")
		if ref != probe {
			t.Fatalf("created %v, expected %v", ref, probe)
		}
	}
	for _, r := range confList(t, db, p, confRunA) {
		if o := confMustRead(t, db, p, r); o.Name == "intro2" {
			t.Fatalf("%v is named intro2 before it is created", r)
		}
	}
	ref := confCreate(t, db, p, confRunA, "intro2")
	if !confExists(t, db, p, ref) {
		t.Fatalf("%v does not exist after creation", ref)
	}
	if !slices.Contains(confList(t, db, p, confRunA), ref) {
		t.Fatalf("%v is not listed", ref)
	}
	if p.remove == nil {
		return
	}
	if err := db.Update(ctx, confTxRun(p, ref), func(tx *inmem.Tx) error { return p.remove(tx, ref) }); err != nil {
		t.Fatal(err)
	}
	if confExists(t, db, p, ref) {
		t.Fatalf("%v exists after removal", ref)
	}
	if slices.Contains(confList(t, db, p, confRunA), ref) {
		t.Fatalf("%v is listed after removal", ref)
	}
}

// ---- 7. Read/write ----------------------------------------------------------

// confReadsDoNotWrite: reads do not change versions or publish commits.
func confReadsDoNotWrite(t *testing.T, env *confEnv, p confPrim) {
	db := env.db
	ref := confCreate(t, db, p, confRunA, "r")
	confUpdate(t, db, p, ref, "r", 1)
	o := confMustRead(t, db, p, ref)
	v, stats := inmem.Visible(db), db.Stats()
	dump := inmem.DumpState(db, v)
	for range 3 {
		if got := confMustRead(t, db, p, ref); got != o {
			t.Fatalf("re-read %+v, was %+v", got, o)
		}
		confExists(t, db, p, ref)
		confList(t, db, p, confRunA)
		// Reads inside a writable transaction that writes nothing commit
		// without a version either.
		if err := db.Update(ctx, confTxRun(p, ref), func(tx *inmem.Tx) error {
			_, err := p.read(tx, ref)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	after := db.Stats()
	if inmem.Visible(db) != v || after.CommitVersion != stats.CommitVersion || after.Commits != stats.Commits {
		t.Fatalf("reads committed: visible %d → %d, commits %d → %d", v, inmem.Visible(db), stats.Commits, after.Commits)
	}
	if got := inmem.DumpState(db, inmem.Visible(db)); got != dump {
		t.Fatalf("reads changed the state:\n%s\nwas\n%s", got, dump)
	}
}

// confReadYourWrites: inside one transaction, every primitive sees its own
// creations, updates and removals.
func confReadYourWrites(t *testing.T, env *confEnv, p confPrim) {
	db := env.db
	var final inmem.EntityRef
	err := db.Update(ctx, confRunA, func(tx *inmem.Tx) error {
		ref, err := p.create(tx, "ryw")
		if err != nil {
			return err
		}
		o, err := p.read(tx, ref)
		if err != nil || o.Name != "ryw" || !strings.Contains(o.Body, "ryw#0") {
			return fmt.Errorf("own creation reads %+v, %v", o, err)
		}
		if ok, err := p.exists(tx, ref); !ok || err != nil {
			return fmt.Errorf("own creation: exists = %v, %v", ok, err)
		}
		if refs, err := p.list(tx); err != nil || !slices.Contains(refs, ref) {
			return fmt.Errorf("own creation is not listed: %v, %v", refs, err)
		}
		cur, err := p.update(tx, ref, "ryw", 1)
		if err != nil {
			return err
		}
		if o, err := p.read(tx, cur); err != nil || !strings.Contains(o.Body, "ryw#1") {
			return fmt.Errorf("own update reads %+v, %v", o, err)
		}
		final = cur
		if p.remove == nil || p.global {
			return nil
		}
		if err := p.remove(tx, ref); err != nil {
			return err
		}
		if ok, err := p.exists(tx, ref); ok || err != nil {
			return fmt.Errorf("own removal: exists = %v, %v", ok, err)
		}
		if _, err := p.read(tx, ref); inmem.CodeOf(err) != p.absent {
			return fmt.Errorf("own removal: read = %v", err)
		}
		if refs, err := p.list(tx); err != nil || slices.Contains(refs, ref) {
			return fmt.Errorf("own removal is listed: %v, %v", refs, err)
		}
		// Create it again in the same transaction.
		final, err = p.create(tx, "ryw")
		if err != nil {
			return err
		}
		_, err = p.update(tx, final, "ryw", 2)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	o := confMustRead(t, db, p, final)
	want := "ryw#1"
	if p.remove != nil && !p.global {
		want = "ryw#2"
	}
	if !strings.Contains(o.Body, want) || o.Version.Kind != p.kind {
		t.Fatalf("after commit %v reads %+v, want %s", final, o, want)
	}
}

// confSnapshotIsolation: a transaction that began before another committed
// writes to all seven primitives sees none of them, and the newest snapshot
// sees all of them.
func confSnapshotIsolation(t *testing.T, env *confEnv) {
	db := env.db
	var olds []inmem.EntityRef
	if err := db.Update(ctx, confRunA, func(tx *inmem.Tx) error {
		var err error
		olds, err = confAll(tx, "old")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	oldObs := make([]confObs, len(olds))
	oldLists := make([][]inmem.EntityRef, len(olds))
	for i, p := range confPrims {
		oldObs[i] = confMustRead(t, db, p, olds[i])
		oldLists[i] = confList(t, db, p, confRunA)
	}
	early, err := db.Begin(ctx, confRunA, false)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback()
	// A writable transaction with the same snapshot, which only reads.
	earlyW, err := db.Begin(ctx, confRunA, true)
	if err != nil {
		t.Fatal(err)
	}
	defer earlyW.Rollback()

	var news, updated []inmem.EntityRef
	if err := db.Update(ctx, confRunA, func(tx *inmem.Tx) error {
		var err error
		if news, err = confAll(tx, "new"); err != nil {
			return err
		}
		updated = make([]inmem.EntityRef, len(olds))
		for i, p := range confPrims {
			if updated[i], err = p.update(tx, olds[i], "old", 5); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tx := range []*inmem.Tx{early, earlyW} {
		for i, p := range confPrims {
			if o, err := p.read(tx, olds[i]); err != nil || o != oldObs[i] {
				t.Errorf("%s: old snapshot reads %v as %+v, %v; want %+v", p.name, olds[i], o, err, oldObs[i])
			}
			for _, r := range []inmem.EntityRef{news[i], updated[i]} {
				if r == olds[i] {
					continue
				}
				if o, err := p.read(tx, r); err == nil && o.Name != "old" {
					t.Errorf("%s: old snapshot sees %v: %+v", p.name, r, o)
				} else if err == nil && p.appendOnly {
					t.Errorf("%s: old snapshot sees the appended %v: %+v", p.name, r, o)
				}
			}
			if p.global {
				if ok, err := p.exists(tx, news[i]); ok || err != nil {
					t.Errorf("%s: old snapshot: %v exists = %v, %v", p.name, news[i], ok, err)
				}
			}
			if refs, err := p.list(tx); err != nil || !slices.Equal(refs, oldLists[i]) {
				t.Errorf("%s: old snapshot lists %v, %v; want %v", p.name, refs, err, oldLists[i])
			}
		}
	}
	if err := earlyW.Commit(); err != nil {
		t.Fatalf("read-only use of a writable transaction: %v", err)
	}
	// The newest snapshot sees everything.
	for i, p := range confPrims {
		if o := confMustRead(t, db, p, news[i]); o.Name != "new" {
			t.Errorf("%s: %v reads %+v", p.name, news[i], o)
		}
		if o := confMustRead(t, db, p, updated[i]); !strings.Contains(o.Body, "old#5") {
			t.Errorf("%s: %v reads %+v", p.name, updated[i], o)
		}
	}
}

// ---- 8. Identical observable results across modes (rule 1) -----------------

// confScript is the deterministic workload of rule 1 and Reopen. It writes
// into the fixed runs and into registered runs, whose IDs are random: the
// rendering names every run symbolically, so that nothing random is
// compared.
type confScript struct {
	t    testing.TB
	db   *inmem.DB
	runs map[string]inmem.RunID // registered runs the script made, by name
	log  strings.Builder        // what each operation returned, in order
}

// note records the result of one operation.
func (s *confScript) note(what string) func(v any, err error) {
	return func(v any, err error) {
		fmt.Fprintf(&s.log, "%s -> %s\n", what, confResult(v, err))
	}
}

// noteErr records the result of an operation that returns only an error.
func (s *confScript) noteErr(what string, err error) { s.note(what)(nil, err) }

func confResult(v any, err error) string {
	switch {
	case errors.Is(err, errConfBoom):
		return "error boom"
	case err != nil:
		var e *inmem.Error
		if !errors.As(err, &e) {
			return "error " + err.Error()
		}
		return "error " + e.Code.String()
	case v == nil:
		return "ok"
	}
	return fmt.Sprint(v)
}

// create registers a run and remembers its ID.
func (s *confScript) create(name string, opts inmem.RunOptions) inmem.RunID {
	id, err := s.db.Runs().Create(ctx, name, opts)
	s.noteErr("runs.Create "+name, err)
	if err == nil {
		s.runs[name] = id
	}
	return id
}

// update runs fn in a transaction on run and records the outcome.
func (s *confScript) update(what string, run inmem.RunID, fn func(tx *inmem.Tx) error) {
	s.noteErr(what, s.db.Update(ctx, run, fn))
}

func confObj(kv ...any) inmem.Value {
	var fs []inmem.Field
	for i := 0; i < len(kv); i += 2 {
		fs = append(fs, inmem.Field{Key: kv[i].(string), Value: inmem.MustValue(kv[i+1])})
	}
	return inmem.ObjectOf(fs...)
}

func confIncrement(v inmem.Value) (inmem.Value, error) {
	n, _ := v.AsInt()
	return inmem.Int(n + 1), nil
}

// phase1 is the first part of the workload: every primitive, every kind of
// operation, successes and failures, cross-primitive commits, a rollback
// and a conflict.
func (s *confScript) phase1() {
	db, A, B := s.db, confRunA, confRunB
	kv, ev, st, tr, rn, js, vc := db.KV(), db.Events(), db.State(), db.Traces(), db.Runs(), db.JSON(), db.Vectors()

	// KV.
	s.note("kv.Put alpha")(kv.Put(ctx, A, "alpha", inmem.Int(1)))
	s.note("kv.Put beta")(kv.Put(ctx, A, "beta", inmem.String("b")))
	s.note("kv.Put alpha")(kv.Put(ctx, A, "alpha", inmem.Float(2.5)))
	cur, err := kv.Get(ctx, A, "alpha")
	s.note("kv.Get alpha")(cur.Version, err)
	s.note("kv.CAS alpha")(kv.CAS(ctx, A, "alpha", cur.Version, confObj("x", []any{1, nil})))
	s.note("kv.CAS alpha stale")(kv.CAS(ctx, A, "alpha", cur.Version, inmem.Null()))
	s.note("kv.CAS gamma absent")(kv.CAS(ctx, A, "gamma", inmem.Txn(0), inmem.Bool(true)))
	s.note("kv.CAS gamma absent again")(kv.CAS(ctx, A, "gamma", inmem.Txn(0), inmem.Bool(false)))
	s.note("kv.Delete beta")(kv.Delete(ctx, A, "beta"))
	s.note("kv.Delete beta again")(kv.Delete(ctx, A, "beta"))
	s.note("kv.Put beta")(kv.Put(ctx, A, "beta", inmem.Bytes([]byte{0, 1, 2, 255})))
	s.note("kv.Put ключ/1")(kv.Put(ctx, A, "ключ/1", inmem.Float(math.Copysign(0, -1))))
	s.note("kv.Put nan")(kv.Put(ctx, A, "nan", inmem.Array(inmem.Float(math.NaN()), inmem.Float(math.Inf(1)), inmem.Float(math.Inf(-1)))))
	s.note("kv.Put _system/x")(kv.Put(ctx, A, "_system/x", inmem.Null()))
	s.note("kv.Put B alpha")(kv.Put(ctx, B, "alpha", inmem.Null()))
	for i := range 10 {
		s.note("kv.Put bulk")(kv.Put(ctx, A, fmt.Sprintf("bulk/%d", i), inmem.String(strings.Repeat("v", 100*i))))
	}
	s.note("kv.Delete bulk/3")(kv.Delete(ctx, A, "bulk/3"))

	// Events.
	s.note("events.Append start")(ev.Append(ctx, A, "start", confObj("goal", "find", "budget", 3)))
	for i := 1; i <= 3; i++ {
		s.note("events.Append step")(ev.Append(ctx, A, "step", inmem.Int(int64(i))))
	}
	s.note("events.Append tool")(ev.Append(ctx, A, "tool", confObj("name", "search", "args", []any{"q", 1.5})))
	s.note("events.Append end")(ev.Append(ctx, A, "end", inmem.Null()))
	s.note("events.Append B start")(ev.Append(ctx, B, "start", inmem.Null()))
	s.note("events.Append bad type")(ev.Append(ctx, A, "", inmem.Null()))

	// State cells.
	s.note("state.Init phase")(st.Init(ctx, A, "phase", inmem.String("plan")))
	s.note("state.Init phase again")(st.Init(ctx, A, "phase", inmem.String("x")))
	s.note("state.CAS phase 1")(st.CAS(ctx, A, "phase", inmem.Counter(1), inmem.String("act")))
	s.note("state.CAS phase 1 stale")(st.CAS(ctx, A, "phase", inmem.Counter(1), inmem.String("x")))
	s.note("state.Set phase")(st.Set(ctx, A, "phase", inmem.String("reflect")))
	_, v, err := st.Transition(ctx, A, "count", confIncrement)
	s.note("state.Transition count")(v, err)
	for range 3 {
		val, v, err := st.TransitionOrInit(ctx, A, "count", inmem.Int(0), confIncrement)
		s.note("state.TransitionOrInit count")(fmt.Sprint(val, " ", v), err)
	}
	s.noteErr("state.Delete phase", st.Delete(ctx, A, "phase"))
	s.noteErr("state.Delete phase again", st.Delete(ctx, A, "phase"))
	s.note("state.Init phase after delete")(st.Init(ctx, A, "phase", inmem.String("again")))
	s.note("state.CAS lock absent")(st.CAS(ctx, A, "lock", inmem.Counter(0), inmem.Bool(true)))
	s.note("state.Init B phase")(st.Init(ctx, B, "phase", inmem.Int(7)))

	// Traces.
	root, err := tr.Record(ctx, A, inmem.TraceSpec{
		Body: inmem.ToolCallTrace{Tool: "search", Input: confObj("q", "x"), Output: inmem.MustValue([]any{1, "two"}), Duration: 1500 * time.Millisecond},
		Tags: []string{"io", "slow", "io"}, Metadata: confObj("cost", 0.25),
	})
	s.note("traces.Record tool")(root, err)
	c1, err := tr.RecordChild(ctx, A, root, inmem.TraceSpec{Body: inmem.DecisionTrace{Choice: "a", Options: []string{"a", "b"}, Reasoning: "cheaper"}, Tags: []string{"io"}})
	s.note("traces.RecordChild decision")(c1, err)
	s.note("traces.RecordChild thought")(tr.RecordChild(ctx, A, c1, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "hmm"}}))
	root2, err := tr.Record(ctx, A, inmem.TraceSpec{Body: &inmem.QueryTrace{Query: "q", Results: inmem.MustValue([]any{"r1"})}, Tags: []string{"db"}})
	s.note("traces.Record query")(root2, err)
	s.note("traces.RecordChild error")(tr.RecordChild(ctx, A, root2, inmem.TraceSpec{Body: inmem.ErrorTrace{Message: "oops", Code: "E1"}, Tags: []string{"slow"}}))
	s.note("traces.Record custom")(tr.Record(ctx, A, inmem.TraceSpec{Body: inmem.CustomTrace{Name: "plan", Data: confObj("steps", 3)}}))
	s.note("traces.RecordChild missing parent")(tr.RecordChild(ctx, A, 999, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "x"}}))
	s.note("traces.Record B")(tr.Record(ctx, B, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "b"}}))

	// Run index.
	main := s.create("main", inmem.RunOptions{Tags: []string{"prod", "x"}, Metadata: confObj("owner", "me")})
	child := s.create("child", inmem.RunOptions{Parent: &main, Tags: []string{"x"}})
	s.create("main", inmem.RunOptions{})
	s.note("runs.Pause child")(rn.Pause(ctx, child))
	s.note("runs.Resume child")(rn.Resume(ctx, child))
	s.note("runs.AddTags child")(rn.AddTags(ctx, child, "y", "x"))
	s.note("runs.RemoveTags child")(rn.RemoveTags(ctx, child, "x"))
	s.note("runs.SetMetadata child")(rn.SetMetadata(ctx, child, inmem.Int(5)))
	s.note("kv.Put child k")(kv.Put(ctx, child, "k", inmem.Int(1)))
	s.note("runs.Complete child")(rn.Complete(ctx, child))
	s.note("kv.Put child k closed")(kv.Put(ctx, child, "k", inmem.Int(2)))
	s.note("events.Append child closed")(ev.Append(ctx, child, "x", inmem.Null()))
	s.note("runs.Pause child completed")(rn.Pause(ctx, child))
	failing := s.create("failing", inmem.RunOptions{})
	s.note("runs.Fail failing")(rn.Fail(ctx, failing, "boom"))
	s.note("runs.Archive failing")(rn.Archive(ctx, failing))
	doomed := s.create("doomed", inmem.RunOptions{Tags: []string{"x"}})
	s.update("all seven in doomed", doomed, func(tx *inmem.Tx) error { _, err := confAll(tx, "in-doomed"); return err })
	s.note("runs.Delete main with child")(rn.Delete(ctx, main))
	s.note("runs.Delete doomed")(rn.Delete(ctx, doomed))
	s.note("runs.Delete doomed again")(rn.Delete(ctx, doomed))

	// JSON documents.
	s.note("json.Create doc")(js.Create(ctx, A, "doc", confObj("title", "t", "tags", []any{"a"}, "n", 1,
		"nested", map[string]any{"deep": map[string]any{"x": true}})))
	s.note("json.Create doc again")(js.Create(ctx, A, "doc", inmem.Null()))
	s.note("json.Set /n")(js.Set(ctx, A, "doc", "/n", inmem.Int(2)))
	s.note("json.Set tags[1]")(js.Set(ctx, A, "doc", "tags[1]", inmem.String("b")))
	s.note("json.Set $.nested.deep.y")(js.Set(ctx, A, "doc", "$.nested.deep.y", inmem.Null()))
	s.note("json.Set /a/b/c")(js.Set(ctx, A, "doc", "/a/b/c", inmem.Int(1)))
	s.note("json.Set tags[5]")(js.Set(ctx, A, "doc", "tags[5]", inmem.Int(1)))
	s.note("json.Delete /title")(js.Delete(ctx, A, "doc", "/title"))
	s.note("json.Patch")(js.Patch(ctx, A, "doc", []inmem.PatchOp{
		{Op: "add", Path: "/tags/-", Value: inmem.String("c")},
		{Op: "replace", Path: "/n", Value: inmem.Int(3)},
		{Op: "test", Path: "/n", Value: inmem.Int(3)},
		{Op: "move", From: "/nested/deep/x", Path: "/moved"},
		{Op: "copy", From: "/tags", Path: "/tags2"},
		{Op: "remove", Path: "/tags2/0"},
	}))
	s.note("json.Patch failing test")(js.Patch(ctx, A, "doc", []inmem.PatchOp{
		{Op: "add", Path: "/never", Value: inmem.Int(1)},
		{Op: "test", Path: "/n", Value: inmem.Int(4)},
	}))
	s.note("json.PatchJSON")(js.PatchJSON(ctx, A, "doc", []byte(`[{"op":"add","path":"/j","value":{"k":[1,2.5,"s"]}}]`)))
	s.note("json.Merge doc")(js.Merge(ctx, A, "doc", confObj("n", nil, "m", map[string]any{"a": 1})))
	s.note("json.Merge merged")(js.Merge(ctx, A, "merged", confObj("new", true)))
	s.note("json.Create gone")(js.Create(ctx, A, "gone", inmem.Int(1)))
	s.note("json.Destroy gone")(js.Destroy(ctx, A, "gone"))
	s.note("json.Destroy gone again")(js.Destroy(ctx, A, "gone"))
	s.note("json.Create gone again")(js.Create(ctx, A, "gone", inmem.String("back")))
	s.note("json.Create bytes")(js.Create(ctx, A, "bytes", inmem.Bytes([]byte("x"))))
	s.note("json.Create B doc")(js.Create(ctx, B, "doc", inmem.Array()))

	// Vectors.
	s.note("vectors.CreateCollection docs")(vc.CreateCollection(ctx, A, "docs", 3, inmem.Cosine))
	s.note("vectors.CreateCollection pts")(vc.CreateCollection(ctx, A, "pts", 2, inmem.Euclidean))
	s.note("vectors.CreateCollection dots")(vc.CreateCollection(ctx, A, "dots", 2, inmem.DotProduct))
	s.note("vectors.CreateCollection docs again")(vc.CreateCollection(ctx, A, "docs", 3, inmem.Cosine))
	for _, u := range []struct {
		coll, key string
		vec       []float32
		meta      inmem.Value
	}{
		{"docs", "a", []float32{1, 0, 0}, confObj("kind", "x", "n", 1)},
		{"docs", "b", []float32{0, 1, 0}, confObj("kind", "y")},
		{"docs", "c", []float32{1, 1, 0}, confObj("kind", "x", "n", 2)},
		{"docs", "d", []float32{0.5, 0.5, 0.7}, inmem.Null()},
		{"docs", "e", []float32{-1, 0, 0}, confObj("kind", "x")},
		{"docs", "a", []float32{0.9, 0.1, 0}, confObj("kind", "x", "n", 3)},
		{"docs", "bad", []float32{1, 2}, inmem.Null()},
		{"pts", "p1", []float32{0, 0}, inmem.Null()},
		{"pts", "p2", []float32{3, 4}, confObj("far", true)},
		{"pts", "p3", []float32{1, 1}, inmem.Null()},
		{"dots", "u", []float32{1, 2}, inmem.Null()},
		{"dots", "v", []float32{2, 1}, inmem.Null()},
		{"dots", "w", []float32{1, 2}, inmem.Null()},
		{"nope", "a", []float32{1}, inmem.Null()},
	} {
		s.note("vectors.Upsert " + u.coll + "/" + u.key)(vc.Upsert(ctx, A, u.coll, u.key, u.vec, u.meta))
	}
	s.note("vectors.Delete docs/b")(vc.Delete(ctx, A, "docs", "b"))
	s.note("vectors.Delete docs/b again")(vc.Delete(ctx, A, "docs", "b"))
	s.note("vectors.CreateCollection B docs")(vc.CreateCollection(ctx, B, "docs", 3, inmem.Cosine))
	s.note("vectors.Upsert B docs/a")(vc.Upsert(ctx, B, "docs", "a", []float32{0, 0, 1}, inmem.Null()))

	// Cross-primitive transactions: a commit, a rollback, a conflict.
	s.update("all seven", A, func(tx *inmem.Tx) error { _, err := confAll(tx, "cross"); return err })
	s.update("all seven rolled back", A, func(tx *inmem.Tx) error {
		if _, err := confAll(tx, "rolled"); err != nil {
			return err
		}
		return errConfBoom
	})
	t1, err1 := db.Begin(ctx, A, true)
	t2, err2 := db.Begin(ctx, A, true)
	if err1 != nil || err2 != nil {
		s.t.Fatal(err1, err2)
	}
	for i, tx := range []*inmem.Tx{t1, t2} {
		_, err := tx.KV().Get("alpha")
		s.noteErr("conflict: read", err)
		_, err = confAll(tx, fmt.Sprintf("t%d", i+1))
		s.noteErr("conflict: write", err)
	}
	s.noteErr("conflict: commit t1", t1.Commit())
	s.noteErr("conflict: commit t2", t2.Commit())
	s.note("conflict: versions")(fmt.Sprint(t1.CommitVersion(), " ", t2.CommitVersion()), nil)
}

// phase2 is the second part of the workload (after a checkpoint in
// Reopen).
func (s *confScript) phase2() {
	db, A, B := s.db, confRunA, confRunB
	kv, ev, st, tr, rn, js, vc := db.KV(), db.Events(), db.State(), db.Traces(), db.Runs(), db.JSON(), db.Vectors()
	s.note("kv.Put alpha")(kv.Put(ctx, A, "alpha", inmem.Int(99)))
	s.note("kv.Delete gamma")(kv.Delete(ctx, A, "gamma"))
	s.note("kv.Put late")(kv.Put(ctx, A, "late", inmem.String("late")))
	s.note("events.Append late")(ev.Append(ctx, A, "late", inmem.Int(1)))
	s.note("events.Append late")(ev.Append(ctx, A, "late", inmem.Int(2)))
	s.note("events.Append B late")(ev.Append(ctx, B, "late", inmem.Null()))
	s.note("state.CAS phase 4")(st.CAS(ctx, A, "phase", inmem.Counter(4), inmem.String("late")))
	s.note("state.Set lock")(st.Set(ctx, A, "lock", inmem.Bool(false)))
	s.note("traces.RecordChild late")(tr.RecordChild(ctx, A, 1, inmem.TraceSpec{Body: inmem.CustomTrace{Name: "late", Data: inmem.Null()}, Tags: []string{"slow"}}))
	s.note("traces.Record B late")(tr.Record(ctx, B, inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: "late"}}))
	s.note("runs.Archive child")(rn.Archive(ctx, s.runs["child"]))
	s.note("runs.AddTags main")(rn.AddTags(ctx, s.runs["main"], "late"))
	s.create("late-run", inmem.RunOptions{Parent: new(s.runs["main"])})
	s.note("json.Set /late")(js.Set(ctx, A, "doc", "/late", inmem.Bool(true)))
	s.note("json.Destroy merged")(js.Destroy(ctx, A, "merged"))
	s.note("vectors.Upsert docs/f")(vc.Upsert(ctx, A, "docs", "f", []float32{0, 0, 1}, confObj("kind", "y")))
	s.note("vectors.DeleteCollection dots")(vc.DeleteCollection(ctx, A, "dots"))
	s.note("vectors.Upsert pts/p2")(vc.Upsert(ctx, A, "pts", "p2", []float32{3, 3}, inmem.Null()))
	s.update("all seven again", A, func(tx *inmem.Tx) error { _, err := confAll(tx, "cross2"); return err })
}

// Names the rendering asks about even when they are not listed (deleted
// ones, missing ones).
var (
	confKVNames    = []string{"alpha", "beta", "gamma", "ключ/1", "nan", "bulk/3", "late", "k", "cross", "rolled", "t1", "t2", "in-doomed", "missing"}
	confCellNames  = []string{"phase", "count", "lock", "cross", "t1", "t2", "in-doomed", "missing"}
	confDocNames   = []string{"doc", "merged", "gone", "bytes", "cross", "t1", "in-doomed", "missing"}
	confVectorKeys = [][2]string{{"docs", "a"}, {"docs", "b"}, {"docs", "f"}, {"pts", "p2"}, {"dots", "u"},
		{confColl, "cross"}, {confColl, "t1"}, {confColl, "in-doomed"}, {"nope", "a"}}
	confRunNames = []string{"main", "child", "failing", "doomed", "late-run", "cross", "t1", "t2", "cross2", "in-doomed", "missing"}
)

// confRenderer renders everything observable through the API.
type confRenderer struct {
	t   testing.TB
	db  *inmem.DB
	b   strings.Builder
	sym map[inmem.RunID]string
}

func (r *confRenderer) line(format string, args ...any) {
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteByte('\n')
}

// run names a run symbolically.
func (r *confRenderer) run(id inmem.RunID) string {
	if n, ok := r.sym[id]; ok {
		return n
	}
	r.t.Errorf("rendering: unknown run %v", id)
	return "run?"
}

func (r *confRenderer) runPtr(id *inmem.RunID) string {
	if id == nil {
		return "-"
	}
	return r.run(*id)
}

func confV[T any](v inmem.Versioned[T], render func(T) string) string {
	s := fmt.Sprintf("%s@%s/%d", render(v.Value), v.Version, v.Timestamp)
	if v.Deleted {
		s += " (deleted)"
	}
	return s
}

func confVal2(v inmem.Value) string { return v.String() }

func (r *confRenderer) runInfo(i inmem.RunInfo) string {
	return fmt.Sprintf("%s name=%q parent=%s status=%s tags=%q meta=%s error=%q created=%d updated=%d version=%s",
		r.run(i.ID), i.Name, r.runPtr(i.Parent), i.Status, i.Tags, i.Metadata, i.Error, i.CreatedAt, i.UpdatedAt, i.Version)
}

func confTrace(tr inmem.Trace) string {
	return fmt.Sprintf("#%d parent=%d type=%s body=%T%+v tags=%q meta=%s at=%d", tr.ID, tr.Parent, tr.Type, tr.Body, tr.Body, tr.Tags, tr.Metadata, tr.RecordedAt)
}

func confEvent(e inmem.Event) string {
	return fmt.Sprintf("%d %q %s at=%d prev=%x hash=%x", e.Sequence, e.Type, e.Payload, e.Timestamp, e.PrevHash, e.Hash)
}

func confVectorEntry(e inmem.VectorEntry) string {
	return fmt.Sprintf("%q %v %s", e.Key, e.Embedding, e.Metadata)
}

// list renders a listing call.
func confList2[T any](r *confRenderer, what string, items []T, err error, render func(T) string) {
	if err != nil {
		r.line("%s: %s", what, confResult(nil, err))
		return
	}
	r.line("%s: %d", what, len(items))
	for _, it := range items {
		r.line("  %s", render(it))
	}
}

func confRender(t testing.TB, db *inmem.DB, s *confScript) string {
	t.Helper()
	return s.log.String() + confRenderState(t, db, s)
}

// confRenderState renders the database's state through the API (without
// the script's log).
func confRenderState(t testing.TB, db *inmem.DB, s *confScript) string {
	t.Helper()
	r := &confRenderer{t: t, db: db, sym: map[inmem.RunID]string{confRunA: "A", confRunB: "B", inmem.GlobalRun: "global"}}
	for name, id := range s.runs {
		r.sym[id] = "reg:" + name
	}
	runs, err := db.Runs().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ri := range runs {
		r.sym[ri.Value.ID] = "reg:" + ri.Value.Name
	}
	r.line("== database")
	r.line("visible %d commit version %d", inmem.Visible(db), db.Stats().CommitVersion)
	ids, err := db.RunIDs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range ids {
		names = append(names, r.run(id))
	}
	slices.Sort(names)
	r.line("runs with data: %q", names)

	r.renderRunIndex()
	var dataRuns []inmem.RunID
	for _, id := range ids {
		if !id.IsGlobal() {
			dataRuns = append(dataRuns, id)
		}
	}
	for _, id := range []inmem.RunID{confRunA, confRunB, s.runs["doomed"]} {
		if !slices.Contains(dataRuns, id) {
			dataRuns = append(dataRuns, id)
		}
	}
	slices.SortFunc(dataRuns, func(a, b inmem.RunID) int { return strings.Compare(r.run(a), r.run(b)) })
	for _, run := range dataRuns {
		r.line("== run %s", r.run(run))
		r.renderKV(run)
		r.renderEvents(run)
		r.renderState(run)
		r.renderTraces(run)
		r.renderJSON(run)
		r.renderVectors(run)
	}
	return r.b.String()
}

func (r *confRenderer) renderRunIndex() {
	db := r.db
	ri := func(v inmem.Versioned[inmem.RunInfo]) string { return confV(v, r.runInfo) }
	l, err := db.Runs().List(ctx)
	confList2(r, "runs.List", l, err, ri)
	n, err := db.Runs().Count(ctx)
	r.line("runs.Count: %s", confResult(n, err))
	for _, st := range inmem.RunStatuses {
		l, err := db.Runs().QueryByStatus(ctx, st)
		confList2(r, "runs.QueryByStatus "+string(st), l, err, ri)
	}
	for _, tag := range []string{"x", "y", "prod", "late", "none"} {
		l, err := db.Runs().QueryByTag(ctx, tag)
		confList2(r, "runs.QueryByTag "+tag, l, err, ri)
	}
	for _, name := range confRunNames {
		v, err := db.Runs().GetByName(ctx, name)
		if err != nil {
			r.line("runs.GetByName %s: %s", name, confResult(nil, err))
			continue
		}
		r.line("runs.GetByName %s: %s", name, ri(v))
		got, err := db.Runs().Get(ctx, v.Value.ID)
		r.line("runs.Get: %s", confResult(confV(got, r.runInfo), err))
		kids, err := db.Runs().Children(ctx, v.Value.ID)
		confList2(r, "runs.Children", kids, err, ri)
	}
}

func (r *confRenderer) renderKV(run inmem.RunID) {
	db, kv := r.db, r.db.KV()
	for e, err := range kv.Scan(ctx, run, "") {
		if err != nil {
			r.line("kv.Scan: %s", confResult(nil, err))
			break
		}
		r.line("kv %q = %s", e.Key, confV(e.Versioned, confVal2))
	}
	keys, err := kv.List(ctx, run, "bulk/")
	r.line("kv.List bulk/: %s", confResult(fmt.Sprintf("%q", keys), err))
	many, err := kv.GetMany(ctx, run, []string{"alpha", "beta", "missing"})
	if err != nil {
		r.line("kv.GetMany: %s", confResult(nil, err))
	}
	for i, m := range many {
		if m == nil {
			r.line("kv.GetMany %d: nil", i)
		} else {
			r.line("kv.GetMany %d: %s", i, confV(*m, confVal2))
		}
	}
	for _, k := range confKVNames {
		ok, err := kv.Exists(ctx, run, k)
		h, err2 := kv.History(ctx, run, k)
		if !ok && len(h) == 0 && err == nil && err2 == nil {
			continue
		}
		r.line("kv %q exists=%s", k, confResult(ok, err))
		confList2(r, "  history", h, err2, func(v inmem.Versioned[inmem.Value]) string { return confV(v, confVal2) })
	}
	for at := uint64(1); at <= inmem.Visible(db); at++ {
		v, err := kv.GetAt(ctx, run, "alpha", inmem.Txn(at))
		r.line("kv.GetAt alpha %d: %s", at, confResult(confV(v, confVal2), err))
	}
}

func (r *confRenderer) renderEvents(run inmem.RunID) {
	el := r.db.Events()
	n, err := el.Len(ctx, run)
	r.line("events.Len: %s", confResult(n, err))
	all, err := el.Range(ctx, run, 0, math.MaxUint64)
	confList2(r, "events.Range", all, err, confEvent)
	part, err := el.Range(ctx, run, 2, 4)
	confList2(r, "events.Range 2 4", part, err, confEvent)
	_, err = el.Range(ctx, run, 4, 2)
	r.line("events.Range 4 2: %s", confResult(nil, err))
	h, err := el.Head(ctx, run)
	r.line("events.Head: %s", confResult(confV(h, confEvent), err))
	for seq := range n + 1 {
		e, err := el.Read(ctx, run, seq)
		r.line("events.Read %d: %s", seq, confResult(confV(e, confEvent), err))
	}
	types, err := el.Types(ctx, run)
	r.line("events.Types: %s", confResult(fmt.Sprintf("%q", types), err))
	for _, typ := range append(types, "missing") {
		evs, err := el.ReadByType(ctx, run, typ)
		confList2(r, "events.ReadByType "+typ, evs, err, confEvent)
	}
	rep, err := el.VerifyChain(ctx, run)
	r.line("events.VerifyChain: %s", confResult(rep, err))
	if err != nil || !rep.OK {
		r.t.Errorf("run %s: VerifyChain = %v, %v", r.run(run), rep, err)
	}
}

func (r *confRenderer) renderState(run inmem.RunID) {
	st := r.db.State()
	cells, err := st.List(ctx, run, "")
	r.line("state.List: %s", confResult(fmt.Sprintf("%q", cells), err))
	for _, name := range confCellNames {
		v, err := st.Read(ctx, run, name)
		h, err2 := st.History(ctx, run, name)
		if inmem.CodeOf(err) == inmem.CodeNotFound && len(h) == 0 && err2 == nil {
			continue
		}
		r.line("state %q: %s", name, confResult(confV(v, confVal2), err))
		confList2(r, "  history", h, err2, func(v inmem.Versioned[inmem.Value]) string { return confV(v, confVal2) })
		for c := uint64(1); c <= 6; c++ {
			v, err := st.GetAt(ctx, run, name, inmem.Counter(c))
			r.line("  GetAt counter %d: %s", c, confResult(confV(v, confVal2), err))
		}
		for at := uint64(1); at <= inmem.Visible(r.db); at += 7 {
			v, err := st.GetAt(ctx, run, name, inmem.Txn(at))
			r.line("  GetAt txn %d: %s", at, confResult(confV(v, confVal2), err))
		}
	}
}

func (r *confRenderer) renderTraces(run inmem.RunID) {
	ts := r.db.Traces()
	vt := func(v inmem.Versioned[inmem.Trace]) string { return confV(v, confTrace) }
	n, err := ts.Count(ctx, run)
	r.line("traces.Count: %s", confResult(n, err))
	all, err := ts.List(ctx, run)
	confList2(r, "traces.List", all, err, vt)
	roots, err := ts.Roots(ctx, run)
	confList2(r, "traces.Roots", roots, err, vt)
	for _, root := range roots {
		tree, err := ts.Tree(ctx, run, root.Value.ID)
		confList2(r, fmt.Sprintf("traces.Tree %d", root.Value.ID), tree, err, func(n inmem.TraceNode) string {
			return fmt.Sprintf("%d %s", n.Depth, vt(n.Trace))
		})
	}
	for _, tr := range all {
		kids, err := ts.Children(ctx, run, tr.Value.ID)
		confList2(r, fmt.Sprintf("traces.Children %d", tr.Value.ID), kids, err, vt)
	}
	_, err = ts.Children(ctx, run, 999)
	r.line("traces.Children 999: %s", confResult(nil, err))
	for _, typ := range []inmem.TraceType{inmem.TraceTypeToolCall, inmem.TraceTypeDecision, inmem.TraceTypeQuery, inmem.TraceTypeThought,
		inmem.TraceTypeError, inmem.CustomTraceType("plan"), inmem.CustomTraceType("late"), inmem.CustomTraceType("cross"), "bogus"} {
		l, err := ts.QueryByType(ctx, run, typ)
		confList2(r, "traces.QueryByType "+string(typ), l, err, vt)
	}
	for _, tag := range []string{"io", "slow", "db", "cross", "none"} {
		l, err := ts.QueryByTag(ctx, run, tag)
		confList2(r, "traces.QueryByTag "+tag, l, err, vt)
	}
	if len(all) > 0 {
		from := all[0].Value.RecordedAt
		for _, to := range []inmem.Timestamp{from, from + 1, from + 3000, from + 1_000_000_000} {
			l, err := ts.QueryByTime(ctx, run, from, to)
			confList2(r, fmt.Sprintf("traces.QueryByTime +%d", to-from), l, err, vt)
		}
	}
}

func (r *confRenderer) renderJSON(run inmem.RunID) {
	js := r.db.JSON()
	for d, err := range js.Scan(ctx, run, "") {
		if err != nil {
			r.line("json.Scan: %s", confResult(nil, err))
			break
		}
		r.line("json %q = %s", d.Key, confV(d.Versioned, confVal2))
	}
	ids, err := js.List(ctx, run, "")
	r.line("json.List: %s", confResult(fmt.Sprintf("%q", ids), err))
	for _, path := range []string{"", "$", "/tags/0", "tags[1]", "$.nested.deep", "/moved", "/j/k/1", "/m", "/title", "/tags/9", "/tags/x", "/n/deeper", "[bad"} {
		v, err := js.Get(ctx, run, "doc", path)
		r.line("json.Get doc %q: %s", path, confResult(confV(v, confVal2), err))
	}
	for _, id := range confDocNames {
		ok, err := js.Exists(ctx, run, id)
		h, err2 := js.History(ctx, run, id)
		if !ok && len(h) == 0 && err == nil && err2 == nil {
			continue
		}
		r.line("json %q exists=%s", id, confResult(ok, err))
		confList2(r, "  history", h, err2, func(v inmem.Versioned[inmem.Value]) string { return confV(v, confVal2) })
	}
	for at := uint64(1); at <= inmem.Visible(r.db); at += 3 {
		v, err := js.GetAt(ctx, run, "doc", inmem.Txn(at))
		r.line("json.GetAt doc %d: %s", at, confResult(confV(v, confVal2), err))
	}
}

func (r *confRenderer) renderVectors(run inmem.RunID) {
	vs := r.db.Vectors()
	colls, err := vs.ListCollections(ctx, run)
	confList2(r, "vectors.ListCollections", colls, err, func(c inmem.CollectionInfo) string { return fmt.Sprintf("%+v", c) })
	hit := func(h inmem.VectorHit) string { return fmt.Sprintf("%q %v %s", h.Key, h.Score, h.Metadata) }
	for _, c := range colls {
		n, err := vs.Count(ctx, run, c.Name)
		r.line("vectors.Count %s: %s", c.Name, confResult(n, err))
		info, err := vs.Collection(ctx, run, c.Name)
		r.line("vectors.Collection %s: %s", c.Name, confResult(fmt.Sprintf("%+v", info), err))
		queries := [][]float32{{1, 0, 0}, {0, 0, 1}, {1, 1, 1}}
		if c.Dim == 2 {
			queries = [][]float32{{0, 0}, {1, 1}, {-1, 2}}
		}
		for _, q := range queries {
			for _, k := range []int{1, 2, 100} {
				hits, err := vs.Search(ctx, run, c.Name, q, k, nil)
				confList2(r, fmt.Sprintf("vectors.Search %s %v k=%d", c.Name, q, k), hits, err, hit)
			}
			hits, err := vs.Search(ctx, run, c.Name, q, 100, inmem.Filter{inmem.Eq("kind", inmem.String("x"))})
			confList2(r, fmt.Sprintf("vectors.Search %s %v kind=x", c.Name, q), hits, err, hit)
		}
		_, err = vs.Search(ctx, run, c.Name, []float32{1}, 1, nil)
		r.line("vectors.Search bad dimension: %s", confResult(nil, err))
	}
	for _, ck := range confVectorKeys {
		v, err := vs.Get(ctx, run, ck[0], ck[1])
		h, err2 := vs.History(ctx, run, ck[0], ck[1])
		if inmem.CodeOf(err) == inmem.CodeNotFound && len(h) == 0 && err2 == nil {
			continue
		}
		r.line("vectors %s/%s: %s", ck[0], ck[1], confResult(confV(v, confVectorEntry), err))
		confList2(r, "  history", h, err2, func(v inmem.Versioned[inmem.VectorEntry]) string { return confV(v, confVectorEntry) })
		for at := uint64(1); at <= inmem.Visible(r.db); at += 5 {
			v, err := vs.GetAt(ctx, run, ck[0], ck[1], inmem.Txn(at))
			r.line("  GetAt %d: %s", at, confResult(confV(v, confVectorEntry), err))
		}
	}
}

// confRendering is the rendering of the workload after each phase.
type confRendering struct{ phase1, phase2 string }

// confReference runs the workload in a fresh in-memory database: what
// every mode must reproduce byte for byte.
func confReference(t *testing.T) confRendering {
	t.Helper()
	db, err := inmem.Open("", &inmem.Options{Clock: new(confClock)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &confScript{t: t, db: db, runs: map[string]inmem.RunID{}}
	s.phase1()
	var out confRendering
	out.phase1 = confRender(t, db, s)
	s.phase2()
	out.phase2 = confRender(t, db, s)
	return out
}

// confSame fails the test if got differs from want, showing the first
// differing line.
func confSame(t testing.TB, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			col := 0
			for col < min(len(gl), len(wl)) && gl[col] == wl[col] {
				col++
			}
			cut := func(l string) string { return l[max(0, col-80):min(len(l), col+80)] }
			from := max(0, i-3)
			t.Fatalf("%s: differs at line %d, byte %d:\n got: …%q…\nwant: …%q…\nlines before (want):\n%s", what, i+1, col,
				cut(gl), cut(wl), strings.Join(w[from:i], "\n"))
		}
	}
}

// confIdentical: the workload gives the same rendering in this mode as in
// the reference in-memory database (rule 1).
func confIdentical(t *testing.T, m confMode, ref confRendering) {
	env := m.newEnv(t, new(confClock))
	s := &confScript{t: t, db: env.db, runs: map[string]inmem.RunID{}}
	s.phase1()
	confSame(t, m.name+" after phase 1", confRender(t, env.db, s), ref.phase1)
	s.phase2()
	confSame(t, m.name+" after phase 2", confRender(t, env.db, s), ref.phase2)
}

// ---- 9. Reopen --------------------------------------------------------------

// confReopen: Close and Open restore every primitive's state exactly,
// history included, also after a checkpoint and a WAL compaction followed
// by more writes.
func confReopen(t *testing.T, m confMode, ref confRendering) {
	clock := new(confClock)
	env := m.newEnv(t, clock)
	s := &confScript{t: t, db: env.db, runs: map[string]inmem.RunID{}}
	s.phase1()
	check := func(what, wantRender string) {
		t.Helper()
		v := inmem.Visible(env.db)
		dump, render := inmem.DumpState(env.db, v), confRender(t, env.db, s)
		confSame(t, what+": before Close", render, wantRender)
		env.reopen()
		s.db = env.db
		if got := inmem.Visible(env.db); got != v {
			t.Fatalf("%s: visible version %d after reopen, was %d", what, got, v)
		}
		confSame(t, what+": DumpState after reopen", inmem.DumpState(env.db, v), dump)
		confSame(t, what+": rendering after reopen", confRender(t, env.db, s), render)
	}
	check("phase 1", ref.phase1)
	var info inmem.CheckpointInfo
	var err error
	clock.unobserved(func() { info, err = env.db.Checkpoint(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	if info.Watermark != inmem.Txn(inmem.Visible(env.db)) {
		t.Fatalf("checkpoint watermark %v, visible %d", info.Watermark, inmem.Visible(env.db))
	}
	// Compaction is logically invisible too (rule 4).
	var ci inmem.CompactInfo
	clock.unobserved(func() { ci, err = env.db.Compact(ctx, inmem.WALOnly) })
	if err != nil {
		t.Fatal(err)
	}
	if env.opts.WALSegmentSize == confSegSize && ci.SegmentsRemoved == 0 {
		t.Fatalf("compaction after a checkpoint removed no segment: %+v", ci)
	}
	confSame(t, "after checkpoint and compaction", confRender(t, env.db, s), ref.phase1)
	s.phase2()
	check("checkpoint and phase 2", ref.phase2)
	// Recovery is idempotent: once more, without writes in between.
	check("second reopen", ref.phase2)
}

// confReopenVolatile: InMemory with a directory keeps nothing across Close
// except what an explicit Checkpoint wrote.
func confReopenVolatile(t *testing.T, m confMode, ref confRendering) {
	env := m.newEnv(t, new(confClock))
	if env.dir == "" {
		t.Skipf("%s has no directory to reopen", m.name)
	}
	s := &confScript{t: t, db: env.db, runs: map[string]inmem.RunID{}}
	s.phase1()
	env.opts.Clock = new(confClock)
	env.reopen()
	if ids, err := env.db.RunIDs(); err != nil || len(ids) != 0 || inmem.Visible(env.db) != 0 {
		t.Fatalf("after Close and Open without a checkpoint: runs %v, %v, visible %d", ids, err, inmem.Visible(env.db))
	}
	// The same workload on the fresh database, then a checkpoint.
	clock := env.opts.Clock.(*confClock)
	s = &confScript{t: t, db: env.db, runs: map[string]inmem.RunID{}}
	s.phase1()
	confSame(t, "phase 1 after reopen", confRender(t, env.db, s), ref.phase1)
	var err error
	clock.unobserved(func() { _, err = env.db.Checkpoint(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	v := inmem.Visible(env.db)
	dump, state := inmem.DumpState(env.db, v), confRenderState(t, env.db, s)
	s.phase2()
	confSame(t, "phase 2 after checkpoint", confRender(t, env.db, s), ref.phase2)
	// Reopening restores the checkpoint, not what came after it.
	env.reopen()
	s.db = env.db
	if got := inmem.Visible(env.db); got != v {
		t.Fatalf("visible version %d after reopen, the checkpoint was at %d", got, v)
	}
	confSame(t, "DumpState after reopen", inmem.DumpState(env.db, v), dump)
	confSame(t, "state after reopen", confRenderState(t, env.db, s), state)
}
