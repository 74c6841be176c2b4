package server

// Reads as of a past commit: any read route takes as_of=<commit version>
// or as_of_time=<RFC 3339 time>, and a read-only batch takes the same two
// fields, and then runs in DB.ViewAt, a snapshot of the whole run at that
// point. This differs from the at= of point reads, which picks one
// entity's version in that entity's own numbering (a state cell's counter).

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/inmemdb/inmem"
)

// parseAsOf builds the point in time of as_of / as_of_time; nil when
// neither is given.
func parseAsOf(asOf *uint64, asOfTime string) (*inmem.At, error) {
	switch {
	case asOf != nil && asOfTime != "":
		return nil, newErr(inmem.CodeInvalidArgument, "as_of", "as_of and as_of_time exclude each other")
	case asOf != nil:
		at := inmem.AtVersion(inmem.Txn(*asOf))
		return &at, nil
	case asOfTime != "":
		t, err := time.Parse(time.RFC3339Nano, asOfTime)
		if err != nil {
			return nil, newErr(inmem.CodeInvalidArgument, "as_of_time", "%q is not an RFC 3339 time", asOfTime)
		}
		at := inmem.AtTime(t)
		return &at, nil
	}
	return nil, nil
}

// asOfQuery reads as_of / as_of_time from a request's query string.
func asOfQuery(r *http.Request) (*inmem.At, error) {
	n, ok, err := queryUint(r, "as_of")
	if err != nil {
		return nil, err
	}
	var p *uint64
	if ok {
		p = &n
	}
	return parseAsOf(p, r.URL.Query().Get("as_of_time"))
}

// applyAt runs read-only ops in one snapshot of run as of at.
func (s *Server) applyAt(ctx context.Context, run inmem.RunID, at inmem.At, ops []Op) ([]Result, error) {
	if isWrite(ops) {
		return nil, newErr(inmem.CodeInvalidArgument, "as_of", "a read as of a past version cannot write")
	}
	var results []Result
	err := s.db.ViewAt(ctx, run, at, func(tx *inmem.Tx) error {
		results = make([]Result, 0, len(ops))
		for i, op := range ops {
			r, err := applyOp(tx, op)
			if err != nil {
				return &OpError{Index: i, Err: err}
			}
			results = append(results, r)
		}
		return nil
	})
	return results, err
}

// unwrapOp drops the operation index of a single-operation request.
func unwrapOp(err error) error {
	var oe *OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}
