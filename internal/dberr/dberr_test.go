package dberr

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestCodeNamesAreComplete(t *testing.T) {
	for c := Internal; c <= DeadlineExceeded; c++ {
		if n := c.String(); n == "" || n == fmt.Sprintf("Code(%d)", c) {
			t.Errorf("code %d has no name (%q)", c, n)
		}
	}
	if got := Code(200).String(); got != "Code(200)" {
		t.Errorf("unknown code renders %q", got)
	}
}

func TestIs_SentinelsAndHierarchy(t *testing.T) {
	rnf := New(RunNotFound, "runs.Get", "run is not registered")
	wrapped := fmt.Errorf("outer: %w", rnf)
	if !errors.Is(wrapped, ErrRunNotFound) || !errors.Is(wrapped, ErrNotFound) {
		t.Fatal("RunNotFound must match ErrRunNotFound and ErrNotFound")
	}
	nf := New(NotFound, "kv.Get", "missing")
	if errors.Is(nf, ErrRunNotFound) {
		t.Fatal("NotFound must not match ErrRunNotFound")
	}
	if errors.Is(nf, ErrConflict) {
		t.Fatal("codes must not match other codes")
	}
	other := New(NotFound, "kv.Get", "missing")
	if errors.Is(nf, other) {
		t.Fatal("two distinct non-sentinel errors must not match each other")
	}
	if CodeOf(wrapped) != RunNotFound || CodeOf(errors.New("x")) != Internal {
		t.Fatal("CodeOf")
	}
}

func TestFromContext(t *testing.T) {
	for _, tc := range []struct {
		cause error
		code  Code
		sent  *Error
	}{
		{context.Canceled, Canceled, ErrCanceled},
		{context.DeadlineExceeded, DeadlineExceeded, ErrDeadlineExceeded},
		{fmt.Errorf("ctx: %w", context.DeadlineExceeded), DeadlineExceeded, ErrDeadlineExceeded},
	} {
		e := FromContext("Update", tc.cause)
		if e.Code != tc.code || !errors.Is(e, tc.cause) || !errors.Is(e, tc.sent) || e.Retryable() {
			t.Errorf("FromContext(%v) = %v (code %v)", tc.cause, e, e.Code)
		}
	}
}
