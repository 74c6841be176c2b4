package engine

import (
	"slices"
	"strings"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/value"
)

// Txn is an optimistic snapshot-isolation transaction. It is not safe for
// concurrent use; the public layer guards it.
type Txn struct {
	e        *Engine
	run      core.RunID
	snap     uint64
	writable bool
	done     bool

	reads  []readRec
	writes []core.Mutation
	wchain []*chain       // chain of writes[i] if known (saves a lookup at install)
	windex map[wkey]int32 // index into writes, built once there are many
	buf    *txnBuf
	spare  *txnBuf // the buffer of the previous use of this Txn, for reuse

	// prov is the kind of each write (prov[i] for writes[i]); nil while
	// every write is normal. See Defer.
	prov   []writeKind
	nprov  int // number of provisional writes
	defers []Deferred
}

// txnBuf is the inline storage of a writable transaction: most
// transactions read and write a few keys, and one allocation then serves
// the read set, the write set and the commit handed to the log.
type txnBuf struct {
	commit core.Commit
	writes [1]core.Mutation
	wchain [1]*chain
	reads  [2]readRec
	prov   [8]writeKind
	defers [1]Deferred
}

type readRec struct {
	run   core.RunID
	space core.PrimitiveType
	key   string
	c     *chain // nil if the key had no chain when read
}

type wkey struct {
	run   core.RunID
	space core.PrimitiveType
	key   string
}

// linearWrites is the write-set size up to which lookups scan the slice
// instead of keeping a map: most transactions write a handful of keys.
const linearWrites = 8

// Begin starts a transaction bound to run at the current snapshot.
func (e *Engine) Begin(run core.RunID, writable bool) *Txn {
	t := new(Txn)
	e.BeginInto(t, run, writable)
	return t
}

// BeginInto is Begin into a Txn the caller allocated (so a wrapper can embed
// it and save an allocation). t must be zero or finished.
func (e *Engine) BeginInto(t *Txn, run core.RunID, writable bool) {
	spare := t.spare
	*t = Txn{e: e, run: run, writable: writable}
	t.snap = e.snaps.register(e, t)
	if writable {
		// A Txn reused after Commit or Rollback returned reuses its buffer:
		// the log is done with the commit in it by then.
		b := spare
		if b == nil {
			b = new(txnBuf)
		} else {
			*b = txnBuf{}
		}
		t.buf, t.writes, t.wchain, t.reads = b, b.writes[:0], b.wchain[:0], b.reads[:0]
	}
}

// Run returns the run the transaction is bound to.
func (t *Txn) Run() core.RunID { return t.run }

// Snapshot returns the version the transaction reads at.
func (t *Txn) Snapshot() uint64 { return t.snap }

// Writable reports whether the transaction may write.
func (t *Txn) Writable() bool { return t.writable }

// Done reports whether Commit or Rollback has been called.
func (t *Txn) Done() bool { return t.done }

// HasWrites reports whether the transaction has buffered writes.
func (t *Txn) HasWrites() bool { return len(t.writes) > 0 }

func (t *Txn) findWrite(run core.RunID, space core.PrimitiveType, key string) int {
	if t.windex != nil {
		if i, ok := t.windex[wkey{run, space, key}]; ok {
			return int(i)
		}
		return -1
	}
	for i := len(t.writes) - 1; i >= 0; i-- {
		w := &t.writes[i]
		if w.Key == key && w.Space == space && w.Run == run {
			return i
		}
	}
	return -1
}

func (t *Txn) track(run core.RunID, space core.PrimitiveType, key string, c *chain) {
	if t.writable {
		t.reads = append(t.reads, readRec{run: run, space: space, key: key, c: c})
	}
}

// Get reads (run, space, key): the transaction's own write if it has one,
// otherwise the newest version at the snapshot. The read joins the read set.
// It returns false for an absent or deleted key.
func (t *Txn) Get(run core.RunID, space core.PrimitiveType, key string) (Entry, bool) {
	if i := t.findWrite(run, space, key); i >= 0 {
		if t.isProvisional(i) {
			// The value depends on what is committed when the deferred
			// operations run: the caller now knows something that a
			// concurrent commit can change.
			t.track(run, space, key, t.wchain[i])
		}
		w := &t.writes[i]
		if w.Op == core.OpDelete {
			return Entry{Tombstone: true}, false
		}
		return Entry{Value: w.Value}, true
	}
	c := t.e.lookup(run, space, key)
	t.track(run, space, key, c)
	v := t.e.resolve(c, run, space, key, t.snap)
	if v == nil || v.tomb {
		return Entry{}, false
	}
	return entryOf(v), true
}

// GetRunRecord reads run's record in the run index (see RunRecordKey), like
// Get(GlobalRun, core.Run, RunRecordKey(run)) but without searching the
// global run's index.
func (t *Txn) GetRunRecord(run core.RunID) (Entry, bool) {
	var c *chain
	var key string
	if ri := t.e.runFor(run, false); ri != nil {
		c, key = ri.record.Load(), ri.recordKey
	} else {
		key = RunRecordKey(run)
	}
	if len(t.writes) > 0 {
		if i := t.findWrite(core.GlobalRun, core.Run, key); i >= 0 {
			if t.isProvisional(i) {
				t.track(core.GlobalRun, core.Run, key, t.wchain[i])
			}
			w := &t.writes[i]
			if w.Op == core.OpDelete {
				return Entry{Tombstone: true}, false
			}
			return Entry{Value: w.Value}, true
		}
	}
	// A nil chain means the record did not exist when the run was last
	// looked at; validation looks the key up again at commit.
	t.track(core.GlobalRun, core.Run, key, c)
	if c == nil {
		return Entry{}, false
	}
	v := c.at(t.snap)
	if v == nil || v.tomb {
		return Entry{}, false
	}
	return entryOf(v), true
}

// Latest returns the newest committed version at the snapshot even if it is
// a tombstone (Tombstone set), ignoring the transaction's own writes. The
// read joins the read set. It returns false if the key has no version at the
// snapshot at all.
func (t *Txn) Latest(run core.RunID, space core.PrimitiveType, key string) (Entry, bool) {
	c := t.e.lookup(run, space, key)
	t.track(run, space, key, c)
	v := t.e.resolve(c, run, space, key, t.snap)
	if v == nil {
		return Entry{}, false
	}
	return entryOf(v), true
}

// GetAt returns the version of (run, space, key) that was current at version
// at (clamped to the snapshot), including a tombstone. It returns false when
// the key had no version yet.
func (t *Txn) GetAt(run core.RunID, space core.PrimitiveType, key string, at uint64) (Entry, bool) {
	c := t.e.lookup(run, space, key)
	t.track(run, space, key, c)
	at = min(at, t.snap)
	if c != nil && c.at(at) == nil && at < t.e.Floor(run, space) {
		// The run's own versions that far back may have been trimmed:
		// falling through to a fork's parent would answer with a version
		// the run had overwritten (the caller answers HistoryTrimmed).
		return Entry{}, false
	}
	v := t.e.resolve(c, run, space, key, at)
	if v == nil {
		return Entry{}, false
	}
	return entryOf(v), true
}

// History returns the committed versions of (run, space, key) visible at the
// snapshot, newest first, tombstones included. Buffered writes of the
// transaction are not part of history.
func (t *Txn) History(run core.RunID, space core.PrimitiveType, key string) []Entry {
	c := t.e.lookup(run, space, key)
	t.track(run, space, key, c)
	var out []Entry
	if c != nil {
		for v := c.head.Load(); v != nil; v = v.next {
			if v.n <= t.snap {
				out = append(out, entryOf(v))
			}
		}
	}
	if t.e.forks.links.Load() != 0 {
		out = t.e.inheritedHistory(out, run, space, key, t.snap)
	}
	return out
}

func (t *Txn) write(op core.Op, run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	t.writeAs(op, run, space, key, v, writeNormal)
}

// writeAs buffers a write of the given kind, which replaces the kind of an
// earlier write of the key: a normal write over a provisional one is final.
func (t *Txn) writeAs(op core.Op, run core.RunID, space core.PrimitiveType, key string, v value.Value, kind writeKind) {
	if i := t.findWrite(run, space, key); i >= 0 {
		w := &t.writes[i]
		if w.Op == core.OpAppend && op == core.OpPut {
			op = core.OpAppend // still the first version of a stream entry
		}
		w.Op, w.Value = op, v
		if t.kindOf(i) != kind {
			t.setKind(i, kind)
		}
		return
	}
	t.writes = append(t.writes, core.Mutation{Op: op, Run: run, Space: space, Key: key, Value: v})
	if kind != writeNormal || t.prov != nil {
		t.setKind(len(t.writes)-1, kind)
	}
	// Find the chain now, outside the commit lock (the lookup takes no
	// lock): the commit lock's critical section stays short, and the cache
	// misses of a lookup in a big index are not paid under it. A key the
	// transaction just read already has its chain in the read set; a key
	// without a chain yet gets one at install.
	var c *chain
	for i := len(t.reads) - 1; i >= 0 && i >= len(t.reads)-8; i-- {
		if r := &t.reads[i]; r.key == key && r.space == space && r.run == run {
			c = r.c
			break
		}
	}
	if c == nil {
		c = t.e.lookup(run, space, key)
	}
	t.wchain = append(t.wchain, c)
	switch {
	case t.windex != nil:
		t.windex[wkey{run, space, key}] = int32(len(t.writes) - 1)
	case len(t.writes) > linearWrites:
		t.windex = make(map[wkey]int32, 2*len(t.writes))
		for i := range t.writes {
			w := &t.writes[i]
			t.windex[wkey{w.Run, w.Space, w.Key}] = int32(i)
		}
	}
}

// Put buffers a new version of (run, space, key).
func (t *Txn) Put(run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	t.write(core.OpPut, run, space, key, v)
}

// Append buffers the first version of a stream entry (events, traces).
func (t *Txn) Append(run core.RunID, space core.PrimitiveType, key string, v value.Value) {
	t.write(core.OpAppend, run, space, key, v)
}

// Delete buffers a tombstone for (run, space, key).
func (t *Txn) Delete(run core.RunID, space core.PrimitiveType, key string) {
	t.write(core.OpDelete, run, space, key, value.Value{})
}

// OwnWrites calls fn for each buffered write of (run, space) with a key in
// [start, end) (an empty end means no bound), in the order written.
func (t *Txn) OwnWrites(run core.RunID, space core.PrimitiveType, start, end string, fn func(m *core.Mutation)) {
	for i := range t.writes {
		w := &t.writes[i]
		if w.Run == run && w.Space == space && w.Key >= start && (end == "" || w.Key < end) {
			fn(w)
		}
	}
}

// Rollback discards the transaction. It is idempotent.
func (t *Txn) Rollback() {
	if !t.done && t.e != nil {
		t.e.snaps.unregister(t)
	}
	t.done = true
	if t.buf != nil {
		t.spare = t.buf
	}
	t.reads, t.writes, t.wchain, t.windex, t.buf = nil, nil, nil, nil, nil
	t.prov, t.nprov, t.defers = nil, 0, nil
}

// ErrClosed is returned by Commit once the engine is closed.
var ErrClosed = dberr.New(dberr.Closed, "commit", "database is closed")

// Commit validates and commits the transaction and returns its commit
// version (0 for a transaction without writes, which always commits).
func (t *Txn) Commit() (uint64, error) {
	if t.done {
		return 0, dberr.New(dberr.InvalidArgument, "commit", "transaction already finished")
	}
	t.done = true
	e := t.e
	e.snaps.unregister(t)
	if len(t.writes) == 0 {
		e.readOnly.Add(1)
		return 0, nil
	}
	if err := e.broken.Load(); err != nil {
		return 0, err
	}
	ts := e.now() // read the clock outside the lock
	e.commitMu.Lock()
	if e.closed {
		e.commitMu.Unlock()
		return 0, ErrClosed
	}
	if err := e.broken.Load(); err != nil {
		e.commitMu.Unlock()
		return 0, err
	}
	if err := t.validate(); err != nil {
		e.stats.Conflicts++
		e.commitMu.Unlock()
		return 0, err
	}
	if t.defers != nil {
		if err := t.resolveDeferred(); err != nil {
			e.commitMu.Unlock()
			t.Rollback()
			return 0, err
		}
		if len(t.writes) == 0 {
			e.commitMu.Unlock()
			t.Rollback()
			e.readOnly.Add(1)
			return 0, nil
		}
	}
	v := e.last + 1
	if ts < e.lastTime {
		ts = e.lastTime // commit timestamps never go backwards
	}
	for i := range t.writes {
		t.writes[i].Version = v
		e.install(&t.writes[i], t.wchain[i], ts)
	}
	e.last, e.lastTime = v, ts
	e.times.note(v, ts)
	e.stats.Commits++
	c := &t.buf.commit
	*c = core.Commit{Version: v, Run: t.run, Time: ts, Mutations: t.writes}
	t.spare = t.buf
	t.reads, t.wchain, t.windex, t.writes, t.buf = nil, nil, nil, nil, nil
	t.prov, t.nprov, t.defers = nil, 0, nil
	if e.log == nil {
		e.visible.Store(v)
		e.commitMu.Unlock()
		return v, nil
	}
	return e.awaitLog(c, v)
}

// validate checks the read set against every installed version, published
// or not. The caller holds the commit lock.
func (t *Txn) validate() error {
	for i := range t.reads {
		r := &t.reads[i]
		c := r.c
		if c == nil || c.purged() {
			if c = t.e.lookup(r.run, r.space, r.key); c == nil {
				continue // still absent
			}
		}
		if h := c.head.Load(); h != nil && h.n > t.snap {
			ref := core.EntityRef{Primitive: r.space, Run: r.run, Key: r.key}
			actual := core.Txn(h.n)
			return dberr.NewConflict("commit", &ref, "changed since the transaction's snapshot", nil, &actual)
		}
	}
	return nil
}

// Scan calls fn for each live key of (run, space) in [start, end) in
// ascending order, as seen by the transaction: committed versions at the
// snapshot merged with the transaction's own writes. An empty end means no
// upper bound. With track set, every yielded key joins the read set. Scan
// stops when fn returns false.
func (t *Txn) Scan(run core.RunID, space core.PrimitiveType, start, end string, track bool, fn func(key string, e Entry) bool) {
	// The callback may finish the transaction, unregistering its snapshot
	// while the scan goes on (readers.go).
	r := t.e.readers.enter()
	defer exitRead(r)
	// The transaction's own writes in range, sorted, to merge in.
	var own []int
	for i := range t.writes {
		w := &t.writes[i]
		if w.Run == run && w.Space == space && w.Key >= start && (end == "" || w.Key < end) {
			own = append(own, i)
		}
	}
	slices.SortFunc(own, func(a, b int) int { return strings.Compare(t.writes[a].Key, t.writes[b].Key) })
	oi := 0
	emitOwn := func(i int) bool {
		w := &t.writes[i]
		if w.Op == core.OpDelete {
			return true
		}
		return fn(w.Key, Entry{Value: w.Value})
	}
	stopped := false
	t.e.scanView(run, space, start, end, t.snap, func(key string, c *chain, v *version) bool {
		for oi < len(own) && t.writes[own[oi]].Key < key {
			if !emitOwn(own[oi]) {
				stopped = true
				return false
			}
			oi++
		}
		if oi < len(own) && t.writes[own[oi]].Key == key {
			i := own[oi]
			oi++
			if track {
				t.track(run, space, key, c)
			}
			if !emitOwn(i) {
				stopped = true
				return false
			}
			return true
		}
		if v == nil || v.tomb {
			return true
		}
		if track {
			t.track(run, space, key, c)
		}
		if !fn(key, entryOf(v)) {
			stopped = true
			return false
		}
		return true
	})
	for ; !stopped && oi < len(own); oi++ {
		if !emitOwn(own[oi]) {
			return
		}
	}
}

// scanChunk is how many tree items a scan copies under the run's read lock
// before it releases the lock and calls back. Callbacks never run under the
// lock, so they may read and write the database freely.
const scanChunk = 128

// scan calls fn for every chain of (run, space) with a key in [start, end),
// ascending.
func (e *Engine) scan(run core.RunID, space core.PrimitiveType, start, end string, fn func(key string, c *chain) bool) {
	ri := e.runFor(run, false)
	if ri == nil {
		return
	}
	s := ri.spaces[space].Load()
	if s == nil {
		return
	}
	buf := make([]item, 0, scanChunk)
	cursor, inclusive := start, true
	for {
		buf = buf[:0]
		s.treeMu.RLock()
		s.tree.Ascend(item{key: cursor}, func(it item) bool {
			if !inclusive && it.key == cursor {
				return true
			}
			if end != "" && it.key >= end {
				return false
			}
			buf = append(buf, it)
			return len(buf) < scanChunk
		})
		s.treeMu.RUnlock()
		for _, it := range buf {
			if !fn(it.key, it.c) {
				return
			}
		}
		if len(buf) < scanChunk {
			return
		}
		cursor, inclusive = buf[len(buf)-1].key, false
	}
}

// ScanSnapshot is Scan outside a transaction, at snapshot snap, over
// committed data only.
func (e *Engine) ScanSnapshot(run core.RunID, space core.PrimitiveType, start, end string, snap uint64, fn func(key string, e Entry) bool) {
	r := e.readers.enter()
	defer exitRead(r)
	e.scanView(run, space, start, end, snap, func(key string, _ *chain, v *version) bool {
		if v == nil || v.tomb {
			return true
		}
		return fn(key, entryOf(v))
	})
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, or "" if there is none (the prefix is empty or all 0xff).
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}
