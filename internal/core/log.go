package core

import "github.com/inmemdb/inmem/internal/value"

// Log is where the engine hands every commit before it is published: the
// WAL, or a test's stand-in. It lives here, not in the engine, so that the
// WAL implements it without importing the engine.
type Log interface {
	// Submit takes the next commit. It is called with the engine's commit
	// lock held, strictly in version order, and must not wait for I/O. The
	// log owns c from now on. The returned ticket completes once c is as
	// durable as the log promises (or has failed); the engine publishes c
	// then.
	Submit(c *Commit) Ticket
}

// Ticket is a log's promise for one submitted commit.
type Ticket interface {
	// Wait blocks until the commit is durable as promised (nil) or failed.
	// Tickets complete in version order: when Wait returns nil for version
	// v, every commit before v is as durable as v.
	Wait() error
}

// VersionRec is one version of an entity, as snapshots hold it and the
// engine hands it to a snapshot writer.
type VersionRec struct {
	Version   uint64
	Time      int64
	Tombstone bool
	Value     value.Value
}
