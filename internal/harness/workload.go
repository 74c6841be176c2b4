package harness

import (
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/inmemdb/inmem"
)

// Primitive and action names used in records.
const (
	PKV     = "kv"
	PState  = "state"
	PEvent  = "event"
	PTrace  = "trace"
	PRun    = "run"
	PJSON   = "json"
	PVector = "vector"
)

// vectorCollection is the collection each writer creates in its run with
// its first commit.
const (
	vectorCollection = "c"
	vectorDim        = 4
	stateCell        = "last"
	eventType        = "harness"
)

// Op is one write of a commit, as printed in its record. N and H (the size
// and FNV-64a hash of the value's bytes) let an outside tool check a value
// without regenerating it.
type Op struct {
	P string `json:"p"`           // primitive
	A string `json:"a"`           // action
	K string `json:"k,omitempty"` // key, cell, document, vector key or run name
	N int    `json:"n,omitempty"`
	H string `json:"h,omitempty"`

	seq uint64 // the commit that wrote it
	idx int    // its position in the commit
}

// Record is one NDJSON line of the stress output.
type Record struct {
	Kind string `json:"kind"` // "opening", "retain", "start", "commit", "maint"

	// retain: the KeepLast policy about to be set as the database default
	Keep int `json:"keep,omitempty"`

	// start
	Seed       uint64       `json:"seed,omitempty"`
	Durability string       `json:"durability,omitempty"`
	MinValue   int          `json:"min_value,omitempty"`
	MaxValue   int          `json:"max_value,omitempty"`
	Writers    []WriterInfo `json:"writers,omitempty"`

	// commit
	Writer  string `json:"writer,omitempty"` // the writer's run
	Seq     uint64 `json:"seq,omitempty"`    // from 1 per writer
	Version uint64 `json:"version,omitempty"`
	Ops     []Op   `json:"ops,omitempty"`

	// maint
	Op    string `json:"op,omitempty"`    // "checkpoint", "compact" or "compact-full"
	Phase string `json:"phase,omitempty"` // "begin" or "end"
	Error string `json:"error,omitempty"`
}

// WriterInfo names a writer of a session: its run and its generator seed.
type WriterInfo struct {
	Run  string `json:"run"`
	Seed uint64 `json:"wseed"`
}

// generator draws the transactions of one writer. It depends on nothing
// but its seed and the value sizes, so the checker replays it exactly.
type generator struct {
	run      string
	seed     uint64
	min, max int
	rng      *rand.Rand
	seq      uint64
	liveX    []uint64 // extra KV keys not yet deleted
	liveDocs []uint64
	liveVecs []uint64
}

func newGenerator(w WriterInfo, minValue, maxValue int) *generator {
	return &generator{run: w.Run, seed: w.Seed, min: minValue, max: maxValue,
		rng: rand.New(rand.NewPCG(w.Seed, 0x6861726e657373))}
}

func (g *generator) size() int {
	if g.max <= g.min {
		return g.min
	}
	return g.min + g.rng.IntN(g.max-g.min+1)
}

func (g *generator) takeRandom(live *[]uint64) uint64 {
	i := g.rng.IntN(len(*live))
	q := (*live)[i]
	*live = slices.Delete(*live, i, i+1)
	return q
}

// next returns the ops of the writer's next commit. Every commit writes its
// marker key m/<seq>, sets the state cell and appends one event; the other
// primitives join at random.
func (g *generator) next() []Op {
	g.seq++
	q := g.seq
	qs := strconv.FormatUint(q, 10)
	var ops []Op
	add := func(op Op) {
		op.seq, op.idx = q, len(ops)
		if op.N > 0 {
			op.H = hashHex(valueBytes(g.seed, q, op.idx, op.N))
		}
		ops = append(ops, op)
	}
	if q == 1 {
		add(Op{P: PVector, A: "collection", K: vectorCollection})
	}
	add(Op{P: PKV, A: "put", K: "m/" + qs, N: g.size()})
	add(Op{P: PState, A: "set", K: stateCell})
	add(Op{P: PEvent, A: "append", N: g.size()})
	if g.rng.IntN(2) == 0 {
		add(Op{P: PKV, A: "put", K: "x/" + qs, N: g.size()})
		g.liveX = append(g.liveX, q)
	}
	if len(g.liveX) > 1 && g.rng.IntN(3) == 0 {
		add(Op{P: PKV, A: "delete", K: "x/" + strconv.FormatUint(g.takeRandom(&g.liveX), 10)})
	}
	if g.rng.IntN(5) < 2 {
		add(Op{P: PTrace, A: "record", K: "q:" + qs, N: g.size()})
	}
	if g.rng.IntN(5) < 2 {
		add(Op{P: PJSON, A: "create", K: "d/" + qs, N: g.size()})
		g.liveDocs = append(g.liveDocs, q)
	}
	if len(g.liveDocs) > 1 && g.rng.IntN(5) == 0 {
		add(Op{P: PJSON, A: "destroy", K: "d/" + strconv.FormatUint(g.takeRandom(&g.liveDocs), 10)})
	}
	if g.rng.IntN(2) == 0 {
		add(Op{P: PVector, A: "upsert", K: "v/" + qs})
		g.liveVecs = append(g.liveVecs, q)
	}
	if len(g.liveVecs) > 1 && g.rng.IntN(8) == 0 {
		add(Op{P: PVector, A: "delete", K: "v/" + strconv.FormatUint(g.takeRandom(&g.liveVecs), 10)})
	}
	if g.rng.IntN(5) == 0 {
		add(Op{P: PRun, A: "create", K: runName(g.run, q)})
	}
	return ops
}

// runName is the run-index name a writer's commit registers: unique across
// writers because it holds the writer's run.
func runName(writer string, q uint64) string { return "h/" + writer + "/" + strconv.FormatUint(q, 10) }

// valueBytes derives the bytes of op idx of commit q of the writer with
// seed: the checker recomputes them instead of reading them from a record.
func valueBytes(seed, q uint64, idx, n int) []byte {
	r := rand.New(rand.NewPCG(seed^q*0x9e3779b97f4a7c15, uint64(idx)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func hashHex(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// embedding is the vector commit q upserts: exact in float32, so a
// recovered vector compares equal.
func embedding(q uint64) []float32 {
	return []float32{float32(q%1000) + 1, 1, float32(q % 7), 0.5}
}

// Values the ops write; the checker compares recovered values with them.

func opValue(seed uint64, op Op) inmem.Value {
	switch op.P {
	case PKV:
		return inmem.Bytes(valueBytes(seed, op.seq, op.idx, op.N))
	case PState:
		return inmem.Int(int64(op.seq))
	case PEvent:
		return inmem.Object(map[string]inmem.Value{
			"q":    inmem.Int(int64(op.seq)),
			"data": inmem.Bytes(valueBytes(seed, op.seq, op.idx, op.N)),
		})
	case PJSON:
		return inmem.Object(map[string]inmem.Value{
			"q":    inmem.Int(int64(op.seq)),
			"data": inmem.String(hex.EncodeToString(valueBytes(seed, op.seq, op.idx, op.N))),
		})
	case PTrace:
		return inmem.String(hex.EncodeToString(valueBytes(seed, op.seq, op.idx, op.N)))
	}
	return inmem.Null()
}

// apply performs ops in tx.
func apply(tx *inmem.Tx, seed uint64, ops []Op) error {
	for _, op := range ops {
		var err error
		switch op.P + "." + op.A {
		case "kv.put":
			err = tx.KV().Put(op.K, opValue(seed, op))
		case "kv.delete":
			err = tx.KV().Delete(op.K)
		case "state.set":
			_, err = tx.State().Set(op.K, opValue(seed, op))
		case "event.append":
			_, err = tx.Events().Append(eventType, opValue(seed, op))
		case "trace.record":
			s, _ := opValue(seed, op).AsString()
			_, err = tx.Traces().Record(inmem.TraceSpec{Body: inmem.ThoughtTrace{Content: s}, Tags: []string{op.K}})
		case "json.create":
			err = tx.JSON().Create(op.K, opValue(seed, op))
		case "json.destroy":
			err = tx.JSON().Destroy(op.K)
		case "vector.collection":
			err = tx.Vectors().CreateCollection(op.K, vectorDim, inmem.Cosine)
		case "vector.upsert":
			err = tx.Vectors().Upsert(vectorCollection, op.K, embedding(op.seq), inmem.Null())
		case "vector.delete":
			err = tx.Vectors().Delete(vectorCollection, op.K)
		case "run.create":
			_, err = tx.Runs().Create(op.K, inmem.RunOptions{})
		default:
			err = fmt.Errorf("unknown op %s.%s", op.P, op.A)
		}
		if err != nil {
			return fmt.Errorf("%s.%s %s: %w", op.P, op.A, op.K, err)
		}
	}
	return nil
}
