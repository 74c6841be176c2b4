package inmem

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inmemdb/inmem/internal/core"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/engine"
	"github.com/inmemdb/inmem/internal/value"
)

// RetentionPolicy says which versions Compact(ctx, Full) may remove. The
// zero value is KeepAll. Policies are database entries (see
// SetRetentionPolicy); the newest version of every entity is always
// retained, whatever the policy.
type RetentionPolicy struct {
	kind      retentionKind
	n         int
	d         time.Duration
	overrides map[PrimitiveType]RetentionPolicy
}

type retentionKind uint8

const (
	keepAll retentionKind = iota
	keepLast
	keepFor
)

// KeepAll retains every version (the default).
func KeepAll() RetentionPolicy { return RetentionPolicy{} }

// KeepLast retains the newest n versions of each entity; n must be at least
// 1 (SetRetentionPolicy returns InvalidArgument otherwise).
func KeepLast(n int) RetentionPolicy { return RetentionPolicy{kind: keepLast, n: n} }

// KeepFor retains the versions committed within d of the compaction's now,
// plus the newest version of each entity; d must be positive.
func KeepFor(d time.Duration) RetentionPolicy { return RetentionPolicy{kind: keepFor, d: d} }

// Composite is def with per-primitive overrides. Overrides must be simple
// policies (not composites) of user-facing primitives.
func Composite(def RetentionPolicy, overrides map[PrimitiveType]RetentionPolicy) RetentionPolicy {
	p := def
	if len(overrides) > 0 {
		p.overrides = make(map[PrimitiveType]RetentionPolicy, len(overrides))
		for k, v := range overrides {
			p.overrides[k] = v
		}
	}
	return p
}

// IsKeepAll reports whether p retains everything for every primitive.
func (p RetentionPolicy) IsKeepAll() bool {
	if p.kind != keepAll {
		return false
	}
	for _, o := range p.overrides {
		if o.kind != keepAll {
			return false
		}
	}
	return true
}

// For returns the simple policy p applies to primitive t.
func (p RetentionPolicy) For(t PrimitiveType) RetentionPolicy {
	if o, ok := p.overrides[t]; ok {
		return o
	}
	return RetentionPolicy{kind: p.kind, n: p.n, d: p.d}
}

// Validate returns InvalidArgument for a policy SetRetentionPolicy refuses.
func (p RetentionPolicy) Validate() error {
	if err := p.validateSimple(); err != nil {
		return err
	}
	for t, o := range p.overrides {
		if !t.Valid() || t == core.System {
			return errorf(CodeInvalidArgument, "RetentionPolicy", "override for %s: not a primitive", t)
		}
		if len(o.overrides) > 0 {
			return errorf(CodeInvalidArgument, "RetentionPolicy", "override for %s is itself a composite", t)
		}
		if err := o.validateSimple(); err != nil {
			return err
		}
	}
	return nil
}

func (p RetentionPolicy) validateSimple() error {
	switch p.kind {
	case keepAll:
	case keepLast:
		if p.n < 1 {
			return errorf(CodeInvalidArgument, "RetentionPolicy", "KeepLast(%d): n must be at least 1", p.n)
		}
	case keepFor:
		if p.d <= 0 || p.d < time.Microsecond {
			return errorf(CodeInvalidArgument, "RetentionPolicy", "KeepFor(%s): the duration must be at least 1µs", p.d)
		}
	default:
		return errorf(CodeInvalidArgument, "RetentionPolicy", "unknown policy kind %d", p.kind)
	}
	return nil
}

// String returns the policy in the form ParseRetentionPolicy reads: "all",
// "last:N", "for:DURATION", and for a composite the default followed by
// ";primitive=policy" overrides in primitive order.
func (p RetentionPolicy) String() string {
	var b strings.Builder
	b.WriteString(p.simpleString())
	ts := make([]PrimitiveType, 0, len(p.overrides))
	for t := range p.overrides {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	for _, t := range ts {
		b.WriteString(";" + t.String() + "=" + p.overrides[t].simpleString())
	}
	return b.String()
}

func (p RetentionPolicy) simpleString() string {
	switch p.kind {
	case keepLast:
		return "last:" + strconv.Itoa(p.n)
	case keepFor:
		return "for:" + p.d.String()
	}
	return "all"
}

// ParseRetentionPolicy reads the form String writes, e.g. "last:10",
// "for:24h", "all", "last:1;event=for:168h". A malformed policy is
// InvalidArgument.
func ParseRetentionPolicy(s string) (RetentionPolicy, error) {
	parts := strings.Split(s, ";")
	p, err := parseSimplePolicy(parts[0])
	if err != nil {
		return RetentionPolicy{}, err
	}
	for _, o := range parts[1:] {
		name, rest, ok := strings.Cut(o, "=")
		t, known := core.ParsePrimitiveType(name)
		if !ok || !known || t == core.System {
			return RetentionPolicy{}, errorf(CodeInvalidArgument, "ParseRetentionPolicy", "override %q: want primitive=policy", o)
		}
		op, err := parseSimplePolicy(rest)
		if err != nil {
			return RetentionPolicy{}, err
		}
		if p.overrides == nil {
			p.overrides = map[PrimitiveType]RetentionPolicy{}
		}
		if _, dup := p.overrides[t]; dup {
			return RetentionPolicy{}, errorf(CodeInvalidArgument, "ParseRetentionPolicy", "two overrides for %s", t)
		}
		p.overrides[t] = op
	}
	return p, p.Validate()
}

func parseSimplePolicy(s string) (RetentionPolicy, error) {
	switch {
	case s == "all":
		return KeepAll(), nil
	case strings.HasPrefix(s, "last:"):
		n, err := strconv.Atoi(s[len("last:"):])
		if err != nil {
			return RetentionPolicy{}, errorf(CodeInvalidArgument, "ParseRetentionPolicy", "%q: bad count", s)
		}
		p := KeepLast(n)
		return p, p.validateSimple()
	case strings.HasPrefix(s, "for:"):
		d, err := time.ParseDuration(s[len("for:"):])
		if err != nil {
			return RetentionPolicy{}, errorf(CodeInvalidArgument, "ParseRetentionPolicy", "%q: bad duration", s)
		}
		p := KeepFor(d)
		return p, p.validateSimple()
	}
	return RetentionPolicy{}, errorf(CodeInvalidArgument, "ParseRetentionPolicy", "%q: want all, last:N or for:DURATION", s)
}

// keep converts the simple policy p into the engine's rule.
func (p RetentionPolicy) keep() engine.Keep {
	switch p.kind {
	case keepLast:
		return engine.Keep{Last: p.n}
	case keepFor:
		return engine.Keep{For: p.d.Microseconds()}
	}
	return engine.Keep{}
}

// SetRetentionPolicy stores p as the retention policy of run; for the
// global run (GlobalRun) it is the database-wide default, which applies to
// every run without a policy of its own. It returns the commit version:
// policies are versioned entries, WAL-logged and in snapshots. An invalid
// policy is InvalidArgument.
func (db *DB) SetRetentionPolicy(ctx context.Context, run RunID, p RetentionPolicy) (Version, error) {
	n, err := db.update(ctx, run, func(tx *Tx) error { return tx.SetRetentionPolicy(p) })
	return core.Txn(n), err
}

// RetentionPolicy returns run's own policy with the version that set it
// (for the global run: the database-wide default). A run that never had one
// gives KeepAll with a zero Version.
func (db *DB) RetentionPolicy(ctx context.Context, run RunID) (Versioned[RetentionPolicy], error) {
	return viewGet(db, ctx, run, func(tx *Tx) (Versioned[RetentionPolicy], error) { return tx.RetentionPolicy() })
}

// SetRetentionPolicy buffers p as the policy of the transaction's run (the
// database default in the global run); it commits atomically with the
// transaction's other writes.
func (tx *Tx) SetRetentionPolicy(p RetentionPolicy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := tx.checkWrite("SetRetentionPolicy", tx.run); err != nil {
		return err
	}
	tx.txn.Put(tx.run, core.System, retentionKey, value.String(p.String()))
	return nil
}

// RetentionPolicy returns the policy of the transaction's run as of its
// snapshot (or its own buffered write).
func (tx *Tx) RetentionPolicy() (Versioned[RetentionPolicy], error) {
	if err := tx.checkRead(); err != nil {
		return Versioned[RetentionPolicy]{}, err
	}
	e, ok := tx.txn.Get(tx.run, core.System, retentionKey)
	if !ok {
		return Versioned[RetentionPolicy]{Value: KeepAll(), Version: core.Txn(0)}, nil
	}
	p, err := policyOf(Value(e.Value))
	if err != nil {
		return Versioned[RetentionPolicy]{}, err
	}
	return Versioned[RetentionPolicy]{Value: p, Version: core.Txn(e.Version), Timestamp: Timestamp(e.Time)}, nil
}

// policyOf decodes a stored policy; a damaged entry is Corruption rather
// than a silent KeepAll.
func policyOf(v Value) (RetentionPolicy, error) {
	s, ok := v.AsString()
	if !ok {
		return RetentionPolicy{}, errorf(CodeCorruption, "RetentionPolicy", "stored retention policy is a %s, not a string", v.Kind())
	}
	p, err := ParseRetentionPolicy(s)
	if err != nil {
		return RetentionPolicy{}, errorf(CodeCorruption, "RetentionPolicy", "stored retention policy %q: %v", s, err)
	}
	return p, nil
}

// retentionRules reads every run's policy at snapshot snap and returns the
// engine rule per (run, space); runs without a policy take the global
// default. A stored policy that does not parse keeps everything for its run
// (trimming on a guess would lose data).
func (db *DB) retentionRules(snap uint64) (func(core.RunID, core.PrimitiveType) engine.Keep, bool) {
	get := func(run core.RunID) (RetentionPolicy, bool, bool) {
		e, ok := db.eng.Get(run, core.System, retentionKey, snap)
		if !ok {
			return RetentionPolicy{}, false, true
		}
		p, err := policyOf(Value(e.Value))
		return p, true, err == nil
	}
	def, _, defOK := get(core.GlobalRun)
	if !defOK {
		def = KeepAll()
	}
	policies := map[core.RunID]RetentionPolicy{}
	any := !def.IsKeepAll()
	db.eng.Runs(func(run core.RunID) bool {
		p, has, ok := get(run)
		switch {
		case !ok:
			p = KeepAll()
		case !has:
			p = def
		}
		policies[run] = p
		if !p.IsKeepAll() {
			any = true
		}
		return true
	})
	return func(run core.RunID, sp core.PrimitiveType) engine.Keep {
		p, ok := policies[run]
		if !ok {
			p = def
		}
		return p.For(sp).keep()
	}, any
}

// trimmedErr returns HistoryTrimmed if a read of key at version at that
// found nothing must say the history was trimmed, nil otherwise.
func (tx *Tx) trimmedErr(op string, space PrimitiveType, key string, at uint64, ref EntityRef) error {
	at = min(at, tx.txn.Snapshot())
	earliest, trimmed := tx.db.eng.Trimmed(tx.run, space, key, at)
	if !trimmed {
		return nil
	}
	return newHistoryTrimmed(op, ref, at, earliest)
}

// historyTrimmedErr returns the HistoryTrimmed error a History of an
// entity whose oldest returned version is oldest (0 for none) carries.
//
// The rule: once the (run, space) has a trim floor, every History in it
// carries HistoryTrimmed. Versions below the floor may have been removed
// from any key of the space, and an entity purged by retention (a
// tombstone whose older versions were all trimmed) leaves no trace once
// its chain is gone — keeping one per purged key is the memory leak the
// per-space floor exists to avoid. A key written again after its purge
// starts a fresh chain above the floor, indistinguishable from a key that
// never existed before, so "the oldest returned version is above the
// floor" proves nothing; only the absence of any floor does. This is the
// same conservatism GetAt applies below the floor. A fork's history
// includes its ancestors' versions up to the fork point, so their floors
// count too (inheritedFloor).
//
// EarliestRetained is min(oldest, floor), the version GetAt reports below
// it for the same key (engine.Trimmed): every version of the entity newer
// than the floor is in the history, since a removed version always stopped
// being current at or below the floor.
func (tx *Tx) historyTrimmedErr(op string, space PrimitiveType, oldest uint64, ref EntityRef) error {
	f := max(tx.db.eng.Floor(tx.run, space), tx.inheritedFloor(space))
	if f == 0 {
		return nil
	}
	earliest := f
	if oldest != 0 && oldest < f {
		earliest = oldest
	}
	return newHistoryTrimmed(op, ref, 0, earliest)
}

// inheritedFloor returns, for a fork, the highest trim floor of space
// among the runs it reads through at the transaction's snapshot, each
// capped at the point read through (0 for a run that is no fork). A fork
// pins its source only from the fork point on: retention may still remove
// source versions that stopped being current before it, and History lists
// the source's versions up to the point (point reads of a fork fall
// through only at versions where the link exists, which read the source
// at the pinned point, so GetAt needs no such floor). The System and Run
// spaces never fall through.
func (tx *Tx) inheritedFloor(space PrimitiveType) uint64 {
	if space == core.System || space == core.Run {
		return 0
	}
	var f uint64
	run, snap := tx.run, tx.txn.Snapshot()
	for range engine.MaxForkDepth {
		p, at, ok := tx.db.eng.ForkOf(run, snap)
		if !ok {
			break
		}
		run, snap = p, min(snap, at)
		f = max(f, min(tx.db.eng.Floor(run, space), snap))
	}
	return f
}

func newHistoryTrimmed(op string, ref EntityRef, requested, earliest uint64) error {
	return dberr.NewHistoryTrimmed(op, ref, core.Txn(requested), core.Txn(earliest))
}

// oldestOf returns the version of the last (oldest) entry of a history, or
// 0 for an empty one.
func oldestOf(es []engine.Entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].Version
}
