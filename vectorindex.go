package inmem

import (
	"sync"
	"sync/atomic"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/vector"
)

// vectorIndexes is the derived search structure of the vector store: one
// vector.Index per collection, following committed state.
//
// The engine calls observe for every installed vector mutation, under its
// commit lock and in version order (also during recovery, which is how the
// index is rebuilt). observe only queues the mutation; a search — or the
// background applier once enough have queued — applies the queue. Applying
// mutations that are installed but not yet published (or never will be,
// after a failed fsync) is harmless because the index remembers the version
// of every vector and every deletion, and answers a search at snapshot S
// exactly:
//
//   - a vector whose indexed version is at or below S is what S sees;
//   - a vector indexed at a version above S, or deleted above S, is read
//     from its version chain at S instead ("rechecked");
//   - a collection whose config changed above S, or whose deletion markers
//     above S may have been forgotten (prunedUpTo > S), or that hit an
//     anomaly, is searched by scanning its chains at S (exact, slower).
//
// The transaction's own writes are excluded from the index results and
// scored separately.
type vectorIndexes struct {
	db *DB

	mu    sync.Mutex
	colls map[collID]*collIndex

	// indexed and scanned count searches answered from the index and by
	// scanning chains.
	indexed, scanned atomic.Uint64

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type collID struct {
	run  RunID
	name string
}

// collIndex is one collection's index and the mutations queued for it.
type collIndex struct {
	pendMu  sync.Mutex
	pending []core.Mutation

	mu            sync.RWMutex
	ix            *vector.Index // nil while the collection has no live config
	configVersion uint64        // version of the last config change applied
	deleted       map[string]uint64
	prunedUpTo    uint64
	maxApplied    uint64 // newest version applied (published or not)
	broken        bool   // an anomaly: searches scan chains instead
	scratch       []float32
}

// applyBatch is how many queued mutations make observe wake the applier.
const applyBatch = 512

func newVectorIndexes(db *DB) *vectorIndexes {
	return &vectorIndexes{db: db, colls: map[collID]*collIndex{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (vi *vectorIndexes) coll(run RunID, name string, create bool) *collIndex {
	vi.mu.Lock()
	defer vi.mu.Unlock()
	id := collID{run, name}
	c := vi.colls[id]
	if c == nil && create {
		c = &collIndex{deleted: map[string]uint64{}}
		vi.colls[id] = c
	}
	return c
}

// observe queues an installed vector mutation. It runs under the engine's
// commit lock: it must stay cheap.
func (vi *vectorIndexes) observe(m *core.Mutation) {
	name, _, _, ok := parseVectorKey(m.Key)
	if !ok {
		return
	}
	c := vi.coll(m.Run, name, true)
	c.pendMu.Lock()
	c.pending = append(c.pending, *m)
	n := len(c.pending)
	c.pendMu.Unlock()
	if n >= applyBatch {
		vi.once.Do(func() { go vi.applier() })
		select {
		case vi.kick <- struct{}{}:
		default:
		}
	}
}

// applier drains queues in the background so they stay short even when no
// one searches.
func (vi *vectorIndexes) applier() {
	defer close(vi.done)
	for {
		select {
		case <-vi.stop:
			return
		case <-vi.kick:
		}
		vi.mu.Lock()
		colls := make([]*collIndex, 0, len(vi.colls))
		for _, c := range vi.colls {
			colls = append(colls, c)
		}
		vi.mu.Unlock()
		for _, c := range colls {
			c.mu.Lock()
			c.drain()
			c.mu.Unlock()
		}
	}
}

// close stops the applier.
func (vi *vectorIndexes) close() {
	started := true
	vi.once.Do(func() { started = false })
	if started {
		close(vi.stop)
		<-vi.done
	}
}

// drain applies the queued mutations in order. The caller holds c.mu.
func (c *collIndex) drain() {
	c.pendMu.Lock()
	batch := c.pending
	c.pending = nil
	c.pendMu.Unlock()
	for i := range batch {
		c.apply(&batch[i])
		c.maxApplied = max(c.maxApplied, batch[i].Version)
	}
	// Forget deletion markers once there are many; a search at a snapshot
	// older than the newest mutation applied then scans chains instead.
	if len(c.deleted) > 1024 && (c.ix == nil || len(c.deleted) > c.ix.Len()/4) {
		clear(c.deleted)
		c.prunedUpTo = c.maxApplied
	}
}

func (c *collIndex) apply(m *core.Mutation) {
	_, key, config, _ := parseVectorKey(m.Key)
	if config {
		c.configVersion = m.Version
		c.ix = nil
		clear(c.deleted)
		if m.Op != core.OpDelete {
			dim, metric, ok := decodeConfig(Value(m.Value))
			if !ok {
				c.broken = true
				return
			}
			c.ix = vector.New(dim, vector.Metric(metric))
		}
		return
	}
	if c.ix == nil {
		if m.Op != core.OpDelete {
			c.broken = true // a vector without a collection: cannot happen
		}
		return
	}
	if m.Op == core.OpDelete {
		c.ix.Delete(key)
		c.deleted[key] = m.Version
		return
	}
	e, ok := m.Value.Get(fieldEmbedding)
	if ok {
		c.scratch, ok = decodeEmbedding(c.scratch, Value(e))
	}
	meta, _ := m.Value.Get(fieldMetadata)
	if !ok || c.ix.Upsert(key, c.scratch, m.Version, indexedMeta{Value(meta), m.Version}) != nil {
		c.broken = true
		return
	}
	delete(c.deleted, key)
}

// indexedMeta is the payload of an indexed vector: its metadata and the
// version that wrote it.
type indexedMeta struct {
	meta    Value
	version uint64
}

// search answers a search of collection info for the transaction tx.
func (vi *vectorIndexes) search(tx *Tx, coll string, info CollectionInfo, query []float32, k int, filter Filter) []vector.Hit {
	snap := tx.txn.Snapshot()
	run := tx.run
	// The transaction's own writes to the collection, by key.
	prefix := vectorPrefix(coll)
	own := map[string]*core.Mutation{}
	tx.txn.OwnWrites(run, core.Vector, prefix, engine.PrefixEnd(prefix), func(m *core.Mutation) {
		own[m.Key[len(prefix):]] = m
	})
	var extra []vector.Hit
	for key, m := range own {
		if m.Op == core.OpDelete {
			continue
		}
		if h, ok := scoreRecord(info.Metric, query, key, Value(m.Value), filter); ok {
			extra = append(extra, h)
		}
	}

	c := vi.coll(run, coll, false)
	if c != nil {
		c.mu.Lock()
		c.drain()
		c.mu.Unlock()
		c.mu.RLock()
		defer c.mu.RUnlock()
	}
	// A fork's index holds only the fork's own vectors; what it inherits
	// is found by scanning, which reads through the fork link.
	_, _, isFork := vi.db.eng.ForkOf(run, snap)
	if isFork || c == nil || c.ix == nil || c.broken || c.configVersion > snap || c.prunedUpTo > snap ||
		c.ix.Dim() != info.Dim || Metric(c.ix.Metric()) != info.Metric {
		return vi.scanSearch(tx, coll, info, query, k, filter, own, extra)
	}
	vi.indexed.Add(1)
	// Vectors indexed or deleted after the snapshot are read from their
	// chains at the snapshot instead.
	var recheckMu sync.Mutex
	recheck := map[string]bool{}
	for key, v := range c.deleted {
		if v > snap {
			recheck[key] = true
		}
	}
	hits, err := c.ix.Search(query, k, func(key string, payload any) bool {
		p := payload.(indexedMeta)
		if p.version > snap {
			recheckMu.Lock()
			recheck[key] = true
			recheckMu.Unlock()
			return false
		}
		return filter.Matches(p.meta)
	}, func(key string) bool {
		_, mine := own[key]
		return mine
	})
	if err != nil {
		return vi.scanSearch(tx, coll, info, query, k, filter, own, extra)
	}
	for key := range recheck {
		if _, mine := own[key]; mine {
			continue
		}
		e, ok := tx.txn.Get(run, core.Vector, prefix+key)
		if !ok {
			continue
		}
		if h, ok := scoreRecord(info.Metric, query, key, Value(e.Value), filter); ok {
			extra = append(extra, h)
		}
	}
	for i := range hits {
		hits[i].Payload = hits[i].Payload.(indexedMeta).meta
	}
	return vector.MergeHits(k, hits, extra)
}

// scanSearch is the exact fallback: score every vector the transaction sees.
func (vi *vectorIndexes) scanSearch(tx *Tx, coll string, info CollectionInfo, query []float32, k int, filter Filter, own map[string]*core.Mutation, extra []vector.Hit) []vector.Hit {
	vi.scanned.Add(1)
	prefix := vectorPrefix(coll)
	var hits []vector.Hit
	tx.txn.Scan(tx.run, core.Vector, prefix, engine.PrefixEnd(prefix), false, func(k string, e engine.Entry) bool {
		key := k[len(prefix):]
		if _, mine := own[key]; mine {
			return true // scored already
		}
		if h, ok := scoreRecord(info.Metric, query, key, Value(e.Value), filter); ok {
			hits = append(hits, h)
		}
		return true
	})
	return vector.MergeHits(k, hits, extra)
}

// scoreRecord scores one stored record against query, if it passes filter.
func scoreRecord(metric Metric, query []float32, key string, rec Value, filter Filter) (vector.Hit, bool) {
	vec, meta, ok := decodeVectorRecord(rec)
	if !ok || len(vec) != len(query) || !filter.Matches(meta) {
		return vector.Hit{}, false
	}
	return vector.Hit{Key: key, Score: vector.ScoreOf(vector.Metric(metric), query, vec), Payload: meta}, true
}

// compact shrinks the index after retention: deletion markers at or below
// bound (the oldest snapshot any reader can still use) answer no search
// any more, so they go, and prunedUpTo rises to the newest one dropped so
// a search at an older snapshot (a historical view) scans chains instead;
// indexes that lost most of their vectors give their room back. It returns
// the markers dropped and an estimate of the bytes released.
func (vi *vectorIndexes) compact(bound uint64) (markers int, bytes int64) {
	vi.mu.Lock()
	colls := make([]*collIndex, 0, len(vi.colls))
	for _, c := range vi.colls {
		colls = append(colls, c)
	}
	vi.mu.Unlock()
	for _, c := range colls {
		c.mu.Lock()
		c.drain()
		n := 0
		for key, v := range c.deleted {
			if v <= bound {
				delete(c.deleted, key)
				c.prunedUpTo = max(c.prunedUpTo, v)
				n++
				bytes += int64(len(key)) + 8
			}
		}
		if n > 0 && len(c.deleted) == 0 {
			c.deleted = map[string]uint64{} // a map never returns its buckets
		}
		markers += n
		if c.ix != nil {
			bytes += c.ix.Shrink()
		}
		c.mu.Unlock()
	}
	return markers, bytes
}

// deletionMarkers counts the deletion markers held (for tests).
func (vi *vectorIndexes) deletionMarkers() int {
	vi.mu.Lock()
	defer vi.mu.Unlock()
	n := 0
	for _, c := range vi.colls {
		c.mu.RLock()
		n += len(c.deleted)
		c.mu.RUnlock()
	}
	return n
}
