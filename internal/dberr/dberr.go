package dberr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/inmemdb/inmem/internal/core"
)

// Code classifies an error. The numeric values and names are stable.
type Code uint8

const (
	Internal Code = iota
	NotFound
	AlreadyExists
	WrongType
	InvalidKey
	InvalidPath
	InvalidArgument
	ConstraintViolation
	Conflict
	RunNotFound
	RunClosed
	HistoryTrimmed
	Closed
	Locked
	Corruption
	CodecMismatch
	Poisoned
	// Canceled and DeadlineExceeded report a context that ended; the error
	// wraps context.Canceled or context.DeadlineExceeded.
	Canceled
	DeadlineExceeded
)

var codeNames = [...]string{
	Internal:            "Internal",
	NotFound:            "NotFound",
	AlreadyExists:       "AlreadyExists",
	WrongType:           "WrongType",
	InvalidKey:          "InvalidKey",
	InvalidPath:         "InvalidPath",
	InvalidArgument:     "InvalidArgument",
	ConstraintViolation: "ConstraintViolation",
	Conflict:            "Conflict",
	RunNotFound:         "RunNotFound",
	RunClosed:           "RunClosed",
	HistoryTrimmed:      "HistoryTrimmed",
	Closed:              "Closed",
	Locked:              "Locked",
	Corruption:          "Corruption",
	CodecMismatch:       "CodecMismatch",
	Poisoned:            "Poisoned",
	Canceled:            "Canceled",
	DeadlineExceeded:    "DeadlineExceeded",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// Error is the one error type of in-mem. Only Code is always set; the other
// fields carry context where it exists.
type Error struct {
	Code Code
	// Op is the operation that failed, e.g. "kv.Put".
	Op string
	// Ref is the entity the error is about, when there is one.
	Ref *core.EntityRef
	// Msg is a human explanation.
	Msg string

	// Expected and Actual describe a version mismatch (Conflict).
	Expected, Actual *core.Version

	// Requested and EarliestRetained describe HistoryTrimmed.
	Requested, EarliestRetained core.Version

	// File, Offset and Reason describe Corruption. Offset is -1 when the
	// damage is not at one place in the file.
	File   string
	Offset int64
	Reason string

	// Err is the underlying cause, if any.
	Err error

	sentinel bool
}

// Error renders "inmem: <Code>: <op>: <ref>: <msg> (...)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("inmem: ")
	b.WriteString(e.Code.String())
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Ref != nil {
		b.WriteString(": ")
		b.WriteString(e.Ref.String())
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	switch e.Code {
	case HistoryTrimmed:
		fmt.Fprintf(&b, " (requested %s, earliest retained %s)", e.Requested, e.EarliestRetained)
	case Corruption:
		if e.File != "" {
			fmt.Fprintf(&b, " (file %s", e.File)
			if e.Offset >= 0 {
				fmt.Fprintf(&b, " at offset %d", e.Offset)
			}
			b.WriteString(")")
		}
		if e.Reason != "" {
			b.WriteString(": ")
			b.WriteString(e.Reason)
		}
	case Conflict:
		if e.Expected != nil && e.Actual != nil {
			fmt.Fprintf(&b, " (expected %s, found %s)", e.Expected, e.Actual)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches any *Error with the same Code when target is a sentinel, and
// the identical error otherwise. Codes form a small hierarchy: RunNotFound
// is a kind of NotFound, so errors.Is(err, ErrNotFound) holds for both.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.sentinel {
		return t.Code == e.Code || parent(e.Code) == t.Code
	}
	return t == e
}

// parent is the broader code a code refines, or the code itself.
func parent(c Code) Code {
	if c == RunNotFound {
		return NotFound
	}
	return c
}

// Retryable reports whether the operation may succeed if retried: true only
// for Conflict.
func (e *Error) Retryable() bool { return e.Code == Conflict }

func sentinel(c Code) *Error { return &Error{Code: c, sentinel: true} }

// Sentinels, one per code, for errors.Is.
var (
	ErrInternal            = sentinel(Internal)
	ErrNotFound            = sentinel(NotFound)
	ErrAlreadyExists       = sentinel(AlreadyExists)
	ErrWrongType           = sentinel(WrongType)
	ErrInvalidKey          = sentinel(InvalidKey)
	ErrInvalidPath         = sentinel(InvalidPath)
	ErrInvalidArgument     = sentinel(InvalidArgument)
	ErrConstraintViolation = sentinel(ConstraintViolation)
	ErrConflict            = sentinel(Conflict)
	ErrRunNotFound         = sentinel(RunNotFound)
	ErrRunClosed           = sentinel(RunClosed)
	ErrHistoryTrimmed      = sentinel(HistoryTrimmed)
	ErrClosed              = sentinel(Closed)
	ErrLocked              = sentinel(Locked)
	ErrCorruption          = sentinel(Corruption)
	ErrCodecMismatch       = sentinel(CodecMismatch)
	ErrPoisoned            = sentinel(Poisoned)
	ErrCanceled            = sentinel(Canceled)
	ErrDeadlineExceeded    = sentinel(DeadlineExceeded)
)

// New returns an *Error with a formatted message.
func New(c Code, op, format string, args ...any) *Error {
	return &Error{Code: c, Op: op, Msg: fmt.Sprintf(format, args...), Offset: -1}
}

// Wrap returns an *Error with a cause.
func Wrap(c Code, op string, cause error, format string, args ...any) *Error {
	return &Error{Code: c, Op: op, Msg: fmt.Sprintf(format, args...), Err: cause, Offset: -1}
}

// WithRef returns e with its entity reference set (for chaining).
func (e *Error) WithRef(ref core.EntityRef) *Error {
	e.Ref = &ref
	return e
}

// NewCorruption returns a Corruption error about a file.
func NewCorruption(file string, offset int64, reason string, args ...any) *Error {
	return &Error{Code: Corruption, File: file, Offset: offset, Reason: fmt.Sprintf(reason, args...)}
}

// NewConflict returns a Conflict error with the versions involved, if known.
func NewConflict(op string, ref *core.EntityRef, msg string, expected, actual *core.Version) *Error {
	return &Error{Code: Conflict, Op: op, Ref: ref, Msg: msg, Expected: expected, Actual: actual, Offset: -1}
}

// NewHistoryTrimmed reports that a requested version was removed by retention.
func NewHistoryTrimmed(op string, ref core.EntityRef, requested, earliest core.Version) *Error {
	return &Error{Code: HistoryTrimmed, Op: op, Ref: &ref, Requested: requested, EarliestRetained: earliest, Offset: -1}
}

// FromContext turns the error of an ended context into an *Error of code
// Canceled or DeadlineExceeded that still matches errors.Is(err,
// context.Canceled) (or context.DeadlineExceeded) through its cause.
func FromContext(op string, err error) *Error {
	c := Canceled
	if errors.Is(err, context.DeadlineExceeded) {
		c = DeadlineExceeded
	}
	return &Error{Code: c, Op: op, Msg: "context ended", Err: err, Offset: -1}
}

// CodeOf returns the Code of err if it is (or wraps) an *Error, and Internal
// otherwise.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
