package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/inmemdb/inmem"
)

// notifier wakes change-feed followers after commits. A follower takes
// the current channel before it reads, so a commit that lands between its
// read and its wait still wakes it: the channel it holds is closed by that
// commit's notify.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next notify.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// notify wakes every current waiter.
func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// feedBatch bounds how many events a follower reads per snapshot.
const feedBatch = 256

// handleEvents lists a run's events; with follow=1 it then keeps the
// response open and streams every event as it commits, as NDJSON (one
// event object a line) or, when the client accepts text/event-stream, as
// Server-Sent Events whose id is the sequence.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) (any, int, error) {
	op := Op{Op: "event.list"}
	if err := queryFill(r, &op); err != nil {
		return nil, 0, err
	}
	run, err := resolveRun(r.Context(), s.db, r.PathValue("run"))
	if err != nil {
		return nil, 0, err
	}
	at, err := asOfQuery(r)
	if err != nil {
		return nil, 0, err
	}
	if f := r.URL.Query().Get("follow"); f != "1" && f != "true" {
		if at != nil {
			res, err := s.applyAt(r.Context(), run, *at, []Op{op})
			if err != nil {
				return nil, 0, unwrapOp(err)
			}
			return res[0], http.StatusOK, nil
		}
		res, err := s.apply1(r.Context(), run, op)
		return res, http.StatusOK, err
	}
	if at != nil {
		return nil, 0, newErr(inmem.CodeInvalidArgument, "event.follow", "follow reads new events; it takes no as_of")
	}
	if op.Type != "" {
		return nil, 0, newErr(inmem.CodeInvalidArgument, "event.follow", "follow does not filter by type")
	}
	// An SSE client reconnecting resumes after the last id it saw.
	from := op.From
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := parseUintParam(id, "Last-Event-ID")
		if err != nil {
			return nil, 0, err
		}
		from = n + 1
	}
	// Check the run before committing to a 200 stream.
	if _, err := eventsFrom(r.Context(), s.db, run, from, 0); err != nil {
		return nil, 0, err
	}
	sse := wantSSE(r)
	rc := http.NewResponseController(w)
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	ctx := r.Context()
	for {
		changed := s.changes.wait()
		evs, err := eventsFrom(ctx, s.db, run, from, feedBatch)
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if err != nil {
			// The headers are gone; end the stream with an error record.
			_, d := errorDetailOf(err)
			b, _ := json.Marshal(errorBody{Error: d})
			if sse {
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
			} else {
				fmt.Fprintf(w, "%s\n", b)
			}
			rc.Flush()
			return nil, 0, nil
		}
		for _, e := range evs {
			seq := e["sequence"].(uint64)
			from = seq + 1
			b, err := json.Marshal(e)
			if err != nil {
				continue // a payload JSON cannot carry; the event stays readable by sequence
			}
			if sse {
				_, err = fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", seq, b)
			} else {
				_, err = fmt.Fprintf(w, "%s\n", b)
			}
			if err != nil {
				return nil, 0, nil
			}
		}
		if len(evs) > 0 {
			if err := rc.Flush(); err != nil {
				return nil, 0, nil
			}
		}
		if len(evs) == feedBatch {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, 0, nil
		case <-s.stop:
			return nil, 0, nil
		}
	}
}
