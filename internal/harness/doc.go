// Package harness is the crash harness run against a real directory: a
// seeded multi-primitive workload (Stress), a reference model that checks a
// reopened database against the commits the workload acknowledged (Model),
// and the driver that runs the workload in a child process, SIGKILLs it and
// checks every recovery (Crashtest).
//
// The workload is deterministic per writer: writer w of a session draws its
// transactions from a generator seeded with the writer's seed, so the
// checker can regenerate not only the acknowledged commits (one NDJSON
// record each) but also the one commit a writer may have had in flight when
// it was killed, and so check that commit for atomicity whether or not it
// survived. Each writer owns one run: its KV keys, state cell, event log,
// traces, JSON documents and vector collection live in that run, and its run
// index entries carry the writer's run in their names, so writers never
// conflict and the model of one writer is independent of the others.
//
// Only the public API of package inmem is used: the harness checks the
// product the way a user would, from the outside.
package harness
