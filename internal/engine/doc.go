// Package engine is the MVCC core of in-mem: per-run ordered indexes of
// version chains, snapshot reads, optimistic (OCC) validation, global commit
// versions and ordered publication.
//
// # Data layout
//
// Every entity is addressed by (run, space, key), where space is the
// primitive that owns it. Each run has one ordered tree per space, mapping a
// key to a chain of versions, newest first. A version carries the global
// commit version that wrote it, the commit timestamp and either a value or a
// tombstone. Chains only ever grow at the head.
//
// # Commit path
//
// A transaction reads at a snapshot (the published watermark when it began)
// and buffers its writes. Commit takes the commit lock and, in order:
//
//  1. validates: every key in the read set (including keys read as absent)
//     must have no version newer than the snapshot — installed versions count
//     even if they are not yet published, so a commit still waiting for its
//     fsync cannot be overtaken by a lost update;
//  2. runs the deferred operations, which compute final writes from the
//     newest installed state, and drops the provisional writes (see Defer:
//     appends that never conflict with each other);
//  3. assigns the next commit version and a commit timestamp that never goes
//     backwards;
//  4. installs the new versions at the chain heads (invisible to readers,
//     whose snapshots are older);
//  5. hands the ordered writeset to the Sink (the WAL), still under the lock,
//     so the log order is the version order.
//
// It then releases the lock and waits on the log's ticket. Tickets complete
// in version order, each once its record is as durable as the mode
// requires; the committer then publishes its version, advancing the
// watermark that new snapshots read. So publication is in version order
// and nothing is visible before it is durable: a reader at snapshot S never
// later sees a new entry with version <= S. Members of one group commit
// publish concurrently; the watermark takes the highest. Without a log
// (InMemory) the commit publishes itself before releasing the lock.
//
// Many committers can wait on the same log acknowledgement: the lock is not
// held across I/O, which is what lets the WAL share one fsync among them
// (group commit).
//
// # Construction
//
// Everything a commit needs besides the engine's own state — the clock, the
// log and the observers of derived indexes — comes in one Env at New, as
// Pebble's commitEnv does, and never changes: there is no moment at which a
// commit could see half of it.
//
// Recovery looks circular: the engine must be loaded from the snapshot and
// the replayed log before the WAL appends anything, and the WAL is only told
// which segment to start once replay has read the existing ones. The cycle
// is broken in the WAL, not here: its writer is constructed before replay
// and does no I/O until it is started, after replay (wal.New, Writer.Start).
// Recovery installs through Load, Restore and Apply, which never touch the
// log, and the database is not handed to anyone who could commit before the
// writer starts; a commit that reached it earlier would fail, not block.
// The alternative, loading into a log-less engine and then attaching the
// log, would make the log a mutable field of every commit's path.
//
// # Retention and memory
//
// Trim (retain.go) removes old versions by the retention rules: it never
// cuts a chain in place but swaps in a copy of the kept versions, so a
// reader walking the old chain sees it whole; it is bounded by the oldest
// registered snapshot rather than waiting for it; and it raises a trim
// floor per run and primitive before any chain shrinks, so reads below the
// floor answer HistoryTrimmed. What a cut leaves behind — the chain's
// inline first version holding an old value, and the replaced nodes in
// their slabs — is reclaimed once no reader can reach it (readers.go):
// reads with a registered snapshot are bounded by it, and chain walks
// without one (point reads at the watermark, scans, the snapshot writer)
// count themselves in a two-phase reader epoch. A key trimmed to one
// version then costs what a key written once costs.
package engine
