/*
Package inmem is an embedded, transactional state database for AI agents.

An agent framework links it in-process, opens a directory, and keeps every
agent run's working memory, event history, coordination cells, reasoning
traces, run metadata, JSON documents and embeddings in one place, with one
transaction model and one durability story. The working set lives in
memory; a write-ahead log and snapshots bring it back after a restart.

# Opening

	db, err := inmem.Open("./state", nil) // Strict durability, the defaults
	defer db.Close()

	mem, err := inmem.Open("", nil) // purely in memory: no files at all

Open recovers the directory before it returns: it loads the newest snapshot,
replays the WAL after it and starts a fresh WAL segment. A second Open of the
same directory — in this process or another — fails at once with ErrLocked.
Open refuses a non-empty directory that is not an in-mem database.
Options (nil means DefaultOptions) set the durability mode, WAL segment
size, flush interval of Buffered mode, a Codec for persisted payloads, a
Logger, a Clock, the file-system seam (FS), conflict retries and Limits;
Options.Validate reports bad settings.

# Runs and the seven primitives

Every piece of data belongs to a run, identified by a RunID (a UUID; the
zero RunID is the reserved global run). Runs need not be registered: any
RunID is usable as an implicitly active run. The seven primitives are
stateless facades over one engine; each call names its run:

  - KV (db.KV): working memory — Get, Put, Delete, Exists, GetMany, CAS,
    prefix Scan (an iter.Seq2 of Entry and error over one snapshot),
    List, ListPage, GetAt, History.
  - EventLog (db.Events): an append-only, hash-chained log per run —
    Append, Read, Range, Head, Len, ReadByType, Types, VerifyChain.
    Sequences start at 0 and are contiguous; each event carries the SHA-256
    of its predecessor.
  - StateCells (db.State): coordination cells with a monotonic counter —
    Init, Read, CAS, Set, Delete, Transition (retried; fn must be pure).
  - TraceStore (db.Traces): reasoning traces (tool calls, decisions,
    queries, thoughts, errors, custom) with parents, tags and time queries.
  - RunIndex (db.Runs): run metadata and the status lifecycle
    (Active → Completed/Failed/Cancelled/Paused/Archived …). Writes into a
    closed run fail with ErrRunClosed; Delete removes every primitive's data
    of a run in one atomic commit.
  - JSONStore (db.JSON): JSON documents addressed by JSON Pointer
    ("/a/b/0") or dotted paths ("a.b[0]"), with RFC 6902 Patch (JSON
    Pointers only, as the RFC requires) and RFC 7396 Merge.
  - VectorStore (db.Vectors): collections of embeddings with metadata and
    exact k-nearest-neighbour Search (cosine, Euclidean, dot product) with
    metadata filters.

Reads return Versioned values: the value, the Version that wrote it and its
commit Timestamp. Versions are tagged: Txn (the global commit version) for
most primitives, Sequence for events, Counter for state cells; versions of
different kinds do not compare. KV, State, JSON and Vector keep history:
GetAt reads as of a version, History lists versions newest first,
deletions included.

# Values

Value is one immutable type of exactly eight kinds: Null, Bool, Int, Float,
String, Bytes, Array and Object. Equality is structural and never coerces
(Int(1) != Float(1), NaN != NaN). Because Values are immutable, nothing a
caller does to a slice or map it passed in or got back changes what is
stored, and reads hand out stored values without copying. Build values with
the constructors (Int, String, Object …), ValueOf for plain Go data, or
ValueFromJSON.

# Listing and iteration

A listing either delivers everything it promises or says why not. Scan
(KV and JSON, on the store and in a transaction) is an iter.Seq2[Entry,
error]: when the database closes, the context ends or the transaction
finishes, the error (Closed, Canceled, DeadlineExceeded, ErrTxDone) comes
as the last pair, so a loop that stops without one has seen every key:

	for e, err := range db.KV().Scan(ctx, run, "task/") {
		if err != nil {
			return err
		}
		fmt.Println(e.Key, e.Value)
	}

Listings that return a slice (List, Range, QueryByTag …) are all or
nothing: an error and no items, or every item.

Listings that can grow large are paged with a cursor: ListPage on KV,
JSON, StateCells, RunIndex and TraceStore takes ListOptions{After, Limit}
and returns a Page whose Next is the After of the following page, "" after
the last. A page is read at one snapshot; across pages every item present
throughout is returned exactly once and in order, while other writers
insert and delete. EventLog.ListPage takes EventListOptions{From, Limit}
and returns an EventPage whose Next is the From of the following page, so
a reader can follow a log as it grows. Limit 0 means DefaultListLimit; a
negative limit or a cursor the listing did not make is InvalidArgument.

# Transactions

Transactions are optimistic and snapshot-isolated. One transaction is bound
to one run and reaches every primitive (tx.KV(), tx.Events(), tx.State(),
tx.Traces(), tx.JSON(), tx.Vectors(), tx.Runs()); its writes commit or
abort as a unit:

	err := db.Update(ctx, run, func(tx *inmem.Tx) error {
		if _, err := tx.Events().Append("tool_result", result); err != nil {
			return err
		}
		_, err := tx.State().CAS("phase", inmem.Counter(3), inmem.String("observing"))
		return err
	})

A transaction reads the snapshot taken when it began plus its own writes.
At commit it fails with ErrConflict if a key it read — including a key it
found absent — or a CAS target changed since its snapshot; nothing is
written then. Update retries the closure on Conflict (so the closure must
be safe to re-run); View runs a read-only transaction; Begin, Commit and
Rollback serve long-lived work. Update and View own their transaction:
inside the closure Commit and Rollback return ErrTxManaged and change
nothing — return nil to commit, an error to roll back. A panic in the
closure rolls the transaction back and propagates. Blind writes never conflict (the last writer
wins) and read-only transactions always commit. Ranges a transaction scans
are not protected against keys inserted into them, so write skew through
such predicates is possible under snapshot isolation.

Appends never conflict with each other. Appending an event, recording a
trace and registering a child run only advance a per-run head or counter,
so their sequence numbers (and an event's hash-chain link) are assigned at
commit, under the commit lock, in commit order — not read at the snapshot.
Any number of goroutines appending to one log all succeed, and the chain
stays exact and gap-free. Inside a transaction, tx.Events().Append and
tx.Traces().Record return provisional numbers (the next ones as the
transaction sees the log), under which the transaction reads its own
appends; after the commit, tx.Events().FinalSequence and
tx.Traces().FinalID give the final ones. The DB-level calls
(db.Events().Append, db.Traces().Record) return final numbers directly.
Reading the log (its length, head or events) is still a read: a
transaction that reads and then appends conflicts with a concurrent append,
as any CAS or read-modify-write does.

# Durability

The mode decides when a commit returns:

  - Strict (default): after an fsync covering its WAL record. Concurrent
    committers share fsyncs (group commit). No reader sees a commit before
    it is durable; every acknowledged commit survives a power cut.
  - Buffered: once the record is written to the WAL file; a background
    flusher fsyncs every BufferedFlushInterval. A process kill loses
    nothing acknowledged; a power cut loses at most the unsynced suffix of
    the commit order, never a hole or half a transaction. Flush forces a
    sync.
  - InMemory: nothing is written.

Any WAL write or fsync failure poisons the database: the failing commit
returns an error, later writes return ErrPoisoned, reads keep working, and
reopening recovers. Checkpoint writes a snapshot while writers continue;
Compact(ctx, WALOnly) then deletes the WAL segments it covers; Export
writes a verified copy elsewhere. See docs/DURABILITY.md and docs/FORMAT.md.

# Errors

Every error is an *Error with a stable Code and context (the entity, the
versions involved, or the file and offset of corruption). Test codes with
errors.Is and the sentinels (ErrNotFound, ErrConflict, ErrCorruption …) and
reach the context with errors.As. Only Conflict is retryable. Bad input is
always a typed error, never a panic and never a partial write.

Codes form one small hierarchy: ErrNotFound also matches RunNotFound (a
missing run is a missing entity; test ErrRunNotFound to tell them apart).
A cancelled or expired context is an *Error of code Canceled or
DeadlineExceeded whose cause is the context's error, so errors.Is(err,
context.Canceled) holds too. Keys and names are non-empty, valid UTF-8
without NUL bytes, at most Limits.MaxKeyBytes long, and outside the
reserved "_system/" namespace; anything else is InvalidKey.
*/
package inmem
