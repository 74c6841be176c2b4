/*
Package wal is in-mem's write-ahead log: the Writer appends every commit to
it before the commit is acknowledged, and Replay reads it back at Open.
This comment is the log's specification; the byte layouts live in
internal/format (wal.go) and docs/FORMAT.md, the promises to users in
docs/DURABILITY.md.

# Segments

The log is a sequence of segment files in one directory (the database's
WAL/). Segment n is named wal-<n>.seg, n written in decimal zero-padded to
ten digits (SegmentName); readers accept any width, but two names for one
number are an error (List). Numbers start at 1 and are contiguous: a gap
is corruption, except before the first record a snapshot does not cover,
where compaction may have deleted segments in any order.

Every segment starts with a 40-byte header: magic, format version, segment
number, database UUID, CRC-32C. Replay checks each against the file name
and the MANIFEST's UUID. The format version fixes the record version: a
version 2 segment (all a Writer creates) holds version 2 records, a version
1 segment (older databases, still replayed) version 1 records.

# Framing

Records lie back to back after the header and never span segments. Each
is self-delimiting: a 4-byte length, then the record header (format
version, flags, commit version, run, timestamp and, in version 2, the seal
below), the codec-encoded writeset, and a CRC-32C of everything after the
length. A reader bounds the length by the bytes left and by MaxRecordSize
before it allocates, and trusts no field before the checksum holds. The
commit version in each record is the engine's; versions in the log
increase by exactly one, and Replay refuses a gap or a step back.

A version 2 record is sealed with
  - the segment tag, CRC-32C(database UUID ‖ segment number): bytes that
    belong to another segment or database — stale blocks a file system
    exposes after a crash — fail it even if their own checksum holds;
  - the synced offset: how many bytes of its segment the last completed
    fsync had made durable when the record was written (see Recovery).

# Group commit and the leader hand-off

The engine calls Submit under its commit lock, in version order; Submit
only appends the commit to the queue and returns the Ticket of the queue's
group, so the commit lock is never held across I/O. The committer then
calls Ticket.Wait outside the lock, on its own group. A waiter whose
group is queued, when no write (and in Strict mode no fsync) is in
progress, becomes the write leader: it takes the whole queue (a new, empty
group starts for later Submits) and writes the batch with one write call.
In Buffered mode the group is then acknowledged; in Strict mode it waits
for an fsync, which the same goroutine leads at once unless one runs. The
fsync leader syncs, then acknowledges every group it covers, in order.
Acknowledging broadcasts on the group's condition variable: its members'
Waits return and their committers publish (the engine does, see
core.Ticket). A finishing stage hands the next one over by signalling one
group's condition variable, which wakes one member of that group, not
every waiter (each member looks at the state under the writer's mutex
before it sleeps, so a signal nobody hears loses nothing): the next
queued group after a write or an fsync, the next written group after
an fsync. A lone committer leads its own batch, with no hand-off to
another goroutine; concurrent committers share one write and one fsync.
Groups complete in version order (one write leader at a time, one fsync
at a time), and never before the batch is as durable as the mode
promises: that is the Ticket contract the engine's publication relies on.
After the first failure nothing more is acknowledged: a leader that finds
the writer poisoned, before or after its own I/O, fails its groups.

A Strict batch is not written while the previous batch's fsync runs. That
would overlap the next write with the fsync (as some logs do), but the
earlier fsync could then make the later batch durable before its own
fsync decides its fate, which the power-cut tests rule out. Buffered
mode's background fsync (and Sync) run without the file lock, so batches
keep being written while it runs; rotation and Close wait for a running
fsync before they touch the file, and fsyncs of one file never overlap
(the kernel reports a writeback error to one fsync only).

# Rotation

Before a record is added to a batch the leader checks whether it still
fits the segment: a segment may grow to exactly SegmentSize bytes, and a
record that would pass it goes to the next segment — unless the segment
holds no record yet, so that a record larger than a segment gets a segment
of its own. Step by step:
 1. write the part of the batch that fits;
 2. cut the segment to the bytes written (dropping preallocated zeros) and
    fsync it, data and size: a closed segment ends with its last record
    and is never written again;
 3. create wal-<n+1>.seg exclusively, preallocate it, write its header and
    fsync it — its synced offset is now 40;
 4. fsync the directory, so the new name is durable;
 5. call OnSegment(n+1), where the database records the active segment in
    its MANIFEST;
 6. reseal the record that did not fit (new tag, synced offset 40) and
    continue the batch in the new segment.

A failure at any step poisons the writer.

A checkpoint also rotates (Rotate), before it picks its watermark, when the
active segment holds a record: otherwise the active segment, which
compaction never deletes, would keep up to SegmentSize bytes of records a
snapshot already covers. That rotation takes steps 2 to 4 and skips step 5:
the checkpoint's MANIFEST rewrite, which follows, names the new segment
together with the snapshot. Until then the MANIFEST names the closed
segment, which stays on disk (compaction deletes segments only after that
rewrite), and records already go into the new one: its header was fsynced
first, so a crash cannot tear it under them. Failures that leave the files
as they were — the truncation, or creating or writing the new file, which is
then removed — are returned and appending continues in the old segment, so
that a checkpoint's failure does not poison the database; a failed fsync
still does. New does no I/O (the database
builds the writer before recovery, to hand it to the engine at
construction); Start, called once replay has chosen the number, creates
the first segment by steps 3 to 5. A commit submitted before Start fails.

# Buffered flushing

In Buffered mode the leader writes without fsyncing and completes the
group at once:
a commit is acknowledged once its record is in the file (the page cache).
A background flusher fsyncs every FlushInterval, when a write leaves
FlushBytes or more unsynced, and on Sync (the database's Flush, Checkpoint)
and Close. In Strict mode Sync has nothing to do.

# Poisoning

The first failure of a write, fsync, preallocation, truncation, segment
creation, OnSegment call or record encoding poisons the writer: the
batch's commits get an error of code Poisoned wrapping the cause, Poison
is called once, every later Submit fails at once, and Sync and Close do
no I/O but closing the file. A failed fsync is never retried: the kernel
may already have dropped the dirty pages and reported the loss, so a retry
could succeed over missing data. Only a new Open, which runs recovery,
continues the log. Poison is a callback, not only the tickets' error,
because a failure may come with no commit waiting (the background flush,
Sync).

# Recovery and the synced-offset rule

Replay reads the segments in order, verifies every header and record, and
hands the commits newer than the snapshot's watermark to the caller in
batches. Damage outside the last segment, which rotation fsynced whole
before the next one existed, is corruption. In the last segment a power
cut can damage only what no fsync had made durable — but page writeback is
unordered, so it may lose an unsynced block and keep a later one, leaving
damage with valid records after it. The synced offsets tell the cases
apart: damage at offset o is a torn tail when o is at or past the highest
synced offset that any valid record of the segment (right tag, synced
offset between 40 and its own offset) attests. The tail is cut at o with
every record after it, intact or not: none of them was synced, and the log
must stay a prefix. Damage below an attested synced offset is corruption.
Version 1 segments attest nothing; there damage is a torn tail only if no
valid, newer record follows it. A torn header of a newest segment the
MANIFEST does not name as active is a torn tail too (the file is removed
and its number reused).

With Repair, Replay saves the cut bytes to wal-<n>.seg.torn-<offset>
(fsynced, unless they are all zeros), then truncates the segment and
fsyncs it; each step is durable before the next, so a crash in between is
repaired again by the next recovery. Without Repair it only reports. On
corruption it modifies nothing and returns a Corruption error naming the
file and offset.
*/
package wal
