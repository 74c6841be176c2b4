package inmem

import (
	"errors"

	"github.com/inmemdb/inmem/internal/dberr"
)

// Error is the one error type of in-mem. Use errors.Is with the sentinels
// below to test the code, and errors.As to reach the context: Op, Ref (the
// entity), Expected/Actual (Conflict), Requested/EarliestRetained
// (HistoryTrimmed), File/Offset/Reason (Corruption). Its fields:
//
//	Code Code
//	Op   string     // the operation that failed, e.g. "kv.Put"
//	Ref  *EntityRef // the entity the error is about, when there is one
//	Msg  string     // a human explanation
//	Expected, Actual *Version          // a version mismatch (Conflict)
//	Requested, EarliestRetained Version // HistoryTrimmed
//	File   string // Corruption: the damaged file,
//	Offset int64  // where (-1 when the damage is not at one place),
//	Reason string // and what is wrong
//	Err    error  // the underlying cause, if any
//
// Error is an alias of the type every internal layer returns, so that
// errors.As works on any error of the database; go doc does not list its
// methods by itself. They are:
//
//	func (e *Error) Error() string
//	func (e *Error) Is(target error) bool // matches the sentinel of its code (and its cause)
//	func (e *Error) Unwrap() error        // the cause
//	func (e *Error) Retryable() bool      // true only for Conflict
//	func (e *Error) WithRef(ref EntityRef) *Error
type Error = dberr.Error

// Code classifies an error. Codes are stable.
//
// It is an alias of the type the engine, the WAL and the error model share,
// so go doc does not list its methods by itself; they are:
//
//	func (c Code) String() string // "NotFound", "Conflict", ...
type Code = dberr.Code

// Error codes.
const (
	CodeInternal            = dberr.Internal
	CodeNotFound            = dberr.NotFound
	CodeAlreadyExists       = dberr.AlreadyExists
	CodeWrongType           = dberr.WrongType
	CodeInvalidKey          = dberr.InvalidKey
	CodeInvalidPath         = dberr.InvalidPath
	CodeInvalidArgument     = dberr.InvalidArgument
	CodeConstraintViolation = dberr.ConstraintViolation
	CodeConflict            = dberr.Conflict
	CodeRunNotFound         = dberr.RunNotFound
	CodeRunClosed           = dberr.RunClosed
	CodeHistoryTrimmed      = dberr.HistoryTrimmed
	CodeClosed              = dberr.Closed
	CodeLocked              = dberr.Locked
	CodeCorruption          = dberr.Corruption
	CodeCodecMismatch       = dberr.CodecMismatch
	CodePoisoned            = dberr.Poisoned
	// CodeCanceled and CodeDeadlineExceeded report the caller's context
	// ending; such errors also match context.Canceled and
	// context.DeadlineExceeded with errors.Is.
	CodeCanceled         = dberr.Canceled
	CodeDeadlineExceeded = dberr.DeadlineExceeded
)

// Sentinels for errors.Is: each matches every error of its code.
var (
	ErrInternal = dberr.ErrInternal
	// ErrNotFound also matches RunNotFound errors: a missing run is a kind
	// of missing entity. Test ErrRunNotFound to tell the two apart.
	ErrNotFound            = dberr.ErrNotFound
	ErrAlreadyExists       = dberr.ErrAlreadyExists
	ErrWrongType           = dberr.ErrWrongType
	ErrInvalidKey          = dberr.ErrInvalidKey
	ErrInvalidPath         = dberr.ErrInvalidPath
	ErrInvalidArgument     = dberr.ErrInvalidArgument
	ErrConstraintViolation = dberr.ErrConstraintViolation
	// ErrConflict: an optimistic transaction lost a race (a key it read
	// changed before it committed) or a CAS saw another version. It is the
	// only retryable error.
	ErrConflict       = dberr.ErrConflict
	ErrRunNotFound    = dberr.ErrRunNotFound
	ErrRunClosed      = dberr.ErrRunClosed
	ErrHistoryTrimmed = dberr.ErrHistoryTrimmed
	// ErrClosed: the database is closed.
	ErrClosed = dberr.ErrClosed
	// ErrLocked: the directory is held by another opener.
	ErrLocked        = dberr.ErrLocked
	ErrCorruption    = dberr.ErrCorruption
	ErrCodecMismatch = dberr.ErrCodecMismatch
	// ErrPoisoned: a write or fsync failed earlier; the database refuses
	// writes until it is reopened.
	ErrPoisoned = dberr.ErrPoisoned
	// ErrCanceled and ErrDeadlineExceeded: the context passed to the call
	// ended. errors.Is(err, context.Canceled) holds as well.
	ErrCanceled         = dberr.ErrCanceled
	ErrDeadlineExceeded = dberr.ErrDeadlineExceeded
)

// ErrTxDone is returned by every operation on a transaction after Commit or
// Rollback. It has code InvalidArgument.
var ErrTxDone = &Error{Code: dberr.InvalidArgument, Msg: "transaction already committed or rolled back", Offset: -1}

// IsRetryable reports whether err is worth retrying: true only for Conflict.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable()
}

// CodeOf returns the code of err, or CodeInternal for foreign errors.
func CodeOf(err error) Code { return dberr.CodeOf(err) }

func errorf(c Code, op, format string, args ...any) *Error { return dberr.New(c, op, format, args...) }
