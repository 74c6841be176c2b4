package engine

import "github.com/inmemdb/inmem/internal/core"

// awaitLog hands commit c (version v) to the log, releases the commit lock
// the caller holds, and waits for the log's ticket; it publishes v once the
// ticket completes.
//
// The commit lock is taken once per commit, not again after the wait: the
// in-flight count is atomic, and only the last commit out after Close has
// begun takes the lock, to wake Close. Close sets closing before it reads
// the count and waits holding the lock, so a committer that brings the
// count to zero after Close read it non-zero sees closing, and its
// Broadcast waits for Close to be inside Wait.
func (e *Engine) awaitLog(c *core.Commit, v uint64) (uint64, error) {
	tk := e.log.Submit(c)
	e.inflight.Add(1)
	e.commitMu.Unlock()
	err := tk.Wait()
	if err == nil {
		// Tickets complete in version order, so every commit before v is
		// as durable as v: publishing v publishes them all.
		e.publish(v)
	}
	if e.inflight.Add(-1) == 0 && e.closing.Load() {
		e.commitMu.Lock()
		e.inflightDone.Broadcast()
		e.commitMu.Unlock()
	}
	if err != nil {
		return 0, err
	}
	return v, nil
}
