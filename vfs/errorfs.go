// ErrorFS: an FS wrapper that injects I/O errors.
//
// # Model
//
// ErrorFS forwards every operation to an inner FS, except the operations a
// Rule selects, which fail with an injected error instead. Operations are
// classified by OpKind. The mutating kinds (OpCreate, OpWrite, OpSync,
// OpTruncate, OpRename, OpRemove, OpMkdir, OpDirSync, OpLock, OpClose) are
// counted exactly as MemFS counts them: each call gets the next index,
// starting at zero, whether it succeeds or not. The other kinds (OpRead,
// OpOpen, OpList, OpStat) are not counted and have no index; a rule selects
// them only by naming them in OpKinds, with Index -1.
//
// A failed operation is not applied to the inner FS, with one exception: a
// Write failing under a rule with PartialWrite first writes half of its
// bytes, as a real ENOSPC can. So a failed Sync leaves the inner file
// unsynced, a failed Rename leaves both names as they were, and a failed
// Close leaves the handle open (it may be closed again).
//
// Injected errors are *fs.PathError values naming the operation and the
// file, wrapping the rule's error (syscall.EIO by default), so that
// errors.Is(err, syscall.EIO) and errors.As(err, **fs.PathError) work.
//
// Releasing a lock (closing the io.Closer returned by Lock) is passed
// through: it is neither counted nor injectable.

package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Ready-made errors for Rule.Err.
var (
	// ErrEIO is an I/O error, the default of Rule.Err.
	ErrEIO error = syscall.EIO
	// ErrENOSPC is a full disk.
	ErrENOSPC error = syscall.ENOSPC
)

// OpKind is a bit set of operation kinds.
type OpKind uint32

// Operation kinds. The first ten are mutating and counted; the last four are
// not.
const (
	OpCreate   OpKind = 1 << iota // FS.Create
	OpWrite                       // File.Write
	OpSync                        // File.Sync and File.SyncData
	OpTruncate                    // File.Truncate and File.Preallocate
	OpRename                      // FS.Rename
	OpRemove                      // FS.Remove
	OpMkdir                       // FS.MkdirAll
	OpDirSync                     // FS.SyncDir
	OpLock                        // FS.Lock
	OpClose                       // File.Close
	OpRead                        // File.Read and File.ReadAt (not counted)
	OpOpen                        // FS.Open and FS.OpenReadWrite (not counted)
	OpList                        // FS.List (not counted)
	OpStat                        // FS.Stat and File.Stat (not counted)
)

// MutatingOps is the set of counted kinds, which a Rule with OpKinds 0
// selects.
const MutatingOps = OpCreate | OpWrite | OpSync | OpTruncate | OpRename |
	OpRemove | OpMkdir | OpDirSync | OpLock | OpClose

var opKindNames = [...]string{
	"Create", "Write", "Sync", "Truncate", "Rename", "Remove", "Mkdir",
	"DirSync", "Lock", "Close", "Read", "Open", "List", "Stat",
}

// String returns the kinds' names joined by "|".
func (k OpKind) String() string {
	if k == 0 {
		return "0"
	}
	var parts []string
	for k != 0 {
		i := bits.TrailingZeros32(uint32(k))
		if i < len(opKindNames) {
			parts = append(parts, opKindNames[i])
		} else {
			parts = append(parts, fmt.Sprintf("OpKind(1<<%d)", i))
		}
		k &^= 1 << i
	}
	return strings.Join(parts, "|")
}

// Rule selects operations to fail. An operation matches when all of
// OpKinds, Path and Index match; the first matching rule decides.
type Rule struct {
	// OpKinds is the set of kinds to fail; 0 means any mutating kind.
	// Non-mutating kinds must be named explicitly.
	OpKinds OpKind
	// Path is a filepath.Match pattern, tested against the cleaned path
	// and against its base name ("" matches any). A rename matches if
	// either of its names does.
	Path string
	// Index is the index of the operation to fail (see OpCount); -1 (or
	// any negative value) means any index. Uncounted kinds match only with Index -1. Note that the
	// zero Rule selects operation 0.
	Index int
	// Err is the error to inject; nil means ErrEIO.
	Err error
	// Sticky makes the rule fail every later operation matching OpKinds and
	// Path once it has matched, whatever its index.
	Sticky bool
	// PartialWrite makes a failing Write first write half of its bytes (as
	// a real ENOSPC can) and report that count with the error.
	PartialWrite bool
}

type ruleState struct {
	Rule
	fired bool
}

// ErrorFS wraps an FS and injects errors into the operations its rules
// select. It is safe for concurrent use if the inner FS is. Create one with
// NewErrorFS.
//
// Mutating operations are numbered as MemFS numbers them (OpCount). An
// operation a rule selects fails with a *fs.PathError wrapping the rule's
// error and is not applied to the inner FS, except for the half-write of a
// Rule with PartialWrite. A failed Close leaves the handle open. Releasing
// a lock is passed through, neither counted nor injectable.
type ErrorFS struct {
	inner FS

	mu       sync.Mutex
	rules    []*ruleState
	ops      int
	injected int
}

// NewErrorFS returns an ErrorFS over inner with the given rules.
func NewErrorFS(inner FS, rules ...Rule) *ErrorFS {
	e := &ErrorFS{inner: inner}
	for _, r := range rules {
		e.AddRule(r)
	}
	return e
}

// AddRule adds a rule, after the existing ones.
func (e *ErrorFS) AddRule(r Rule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules = append(e.rules, &ruleState{Rule: r})
}

// ClearRules removes every rule: later operations all pass through, as when
// a full disk has been given space again.
func (e *ErrorFS) ClearRules() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules = nil
}

// OpCount returns the number of mutating operations seen so far, failed or
// not. It is also the index the next one will get.
func (e *ErrorFS) OpCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ops
}

// Injected returns the number of errors injected so far.
func (e *ErrorFS) Injected() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.injected
}

// Inner returns the wrapped FS.
func (e *ErrorFS) Inner() FS { return e.inner }

// check counts the operation and returns the matching rule, if any, with
// the error to return.
func (e *ErrorFS) check(kind OpKind, op string, paths ...string) (*ruleState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	idx := -1
	if kind&MutatingOps != 0 {
		idx = e.ops
		e.ops++
	}
	for _, r := range e.rules {
		kinds := r.OpKinds
		if kinds == 0 {
			kinds = MutatingOps
		}
		if kinds&kind == 0 {
			continue
		}
		matched, ok := "", false
		for _, p := range paths {
			if pathMatches(r.Path, p) {
				matched, ok = p, true
				break
			}
		}
		if !ok {
			continue
		}
		if !(r.Sticky && r.fired) && r.Index >= 0 && r.Index != idx {
			continue
		}
		r.fired = true
		e.injected++
		err := r.Err
		if err == nil {
			err = ErrEIO
		}
		return r, &fs.PathError{Op: op, Path: matched, Err: err}
	}
	return nil, nil
}

func pathMatches(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	clean := filepath.Clean(name)
	if ok, _ := filepath.Match(pattern, clean); ok {
		return true
	}
	ok, _ := filepath.Match(pattern, filepath.Base(clean))
	return ok
}

// Create implements FS.
func (e *ErrorFS) Create(name string) (File, error) {
	if _, err := e.check(OpCreate, "open", name); err != nil {
		return nil, err
	}
	f, err := e.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, name: name, f: f}, nil
}

// Open implements FS.
func (e *ErrorFS) Open(name string) (File, error) {
	if _, err := e.check(OpOpen, "open", name); err != nil {
		return nil, err
	}
	f, err := e.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, name: name, f: f}, nil
}

// OpenReadWrite implements FS.
func (e *ErrorFS) OpenReadWrite(name string) (File, error) {
	if _, err := e.check(OpOpen, "open", name); err != nil {
		return nil, err
	}
	f, err := e.inner.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, name: name, f: f}, nil
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if _, err := e.check(OpRemove, "remove", name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

// Rename implements FS. An injected error names the path that matched the
// rule.
func (e *ErrorFS) Rename(oldname, newname string) error {
	if _, err := e.check(OpRename, "rename", oldname, newname); err != nil {
		return err
	}
	return e.inner.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(dir string) error {
	if _, err := e.check(OpMkdir, "mkdir", dir); err != nil {
		return err
	}
	return e.inner.MkdirAll(dir)
}

// List implements FS.
func (e *ErrorFS) List(dir string) ([]string, error) {
	if _, err := e.check(OpList, "readdirent", dir); err != nil {
		return nil, err
	}
	return e.inner.List(dir)
}

// Stat implements FS.
func (e *ErrorFS) Stat(name string) (fs.FileInfo, error) {
	if _, err := e.check(OpStat, "stat", name); err != nil {
		return nil, err
	}
	return e.inner.Stat(name)
}

// SyncDir implements FS.
func (e *ErrorFS) SyncDir(dir string) error {
	if _, err := e.check(OpDirSync, "sync", dir); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

// Lock implements FS.
func (e *ErrorFS) Lock(name string) (io.Closer, error) {
	if _, err := e.check(OpLock, "lock", name); err != nil {
		return nil, err
	}
	return e.inner.Lock(name)
}

type errorFile struct {
	fs   *ErrorFS
	name string
	f    File
}

func (f *errorFile) Read(p []byte) (int, error) {
	if _, err := f.fs.check(OpRead, "read", f.name); err != nil {
		return 0, err
	}
	return f.f.Read(p)
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.check(OpRead, "read", f.name); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	r, err := f.fs.check(OpWrite, "write", f.name)
	if err != nil {
		n := 0
		if r.PartialWrite && len(p) > 1 {
			n, _ = f.f.Write(p[:len(p)/2])
		}
		return n, err
	}
	return f.f.Write(p)
}

func (f *errorFile) Sync() error {
	if _, err := f.fs.check(OpSync, "sync", f.name); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errorFile) SyncData() error {
	if _, err := f.fs.check(OpSync, "fdatasync", f.name); err != nil {
		return err
	}
	return f.f.SyncData()
}

func (f *errorFile) Truncate(size int64) error {
	if _, err := f.fs.check(OpTruncate, "truncate", f.name); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

// Preallocate counts as a truncate.
func (f *errorFile) Preallocate(size int64) error {
	if _, err := f.fs.check(OpTruncate, "fallocate", f.name); err != nil {
		return err
	}
	return f.f.Preallocate(size)
}

func (f *errorFile) Stat() (fs.FileInfo, error) {
	if _, err := f.fs.check(OpStat, "stat", f.name); err != nil {
		return nil, err
	}
	return f.f.Stat()
}

func (f *errorFile) Close() error {
	if _, err := f.fs.check(OpClose, "close", f.name); err != nil {
		return err
	}
	return f.f.Close()
}
