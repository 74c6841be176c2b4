// MemFS: an in-memory file system that simulates power cuts.
//
// # Model
//
// MemFS keeps, for every inode, two states: the current one (what reads
// see) and the durable one (what a power cut would leave if the disk only
// kept what was explicitly synced).
//
//   - A file inode has current bytes and durable bytes, plus the set of byte
//     ranges written (or exposed by growing the file) since its last sync:
//     the dirty ranges. Write and Truncate change the current bytes and the
//     dirty ranges only. File.Sync and File.SyncData copy the current bytes,
//     size included, to the durable bytes and clear the dirty ranges.
//   - A directory inode has current entries and durable entries (name to
//     inode; subdirectories are entries like files). Create, Rename, Remove,
//     MkdirAll and Lock (which may create its file) change current entries
//     only, and append the change to the directory's log of unsynced entry
//     changes. SyncDir copies the current entries to the durable entries and
//     clears the log.
//   - An inode removed while open keeps working through its handles; it
//     only leaves the current view.
//
// Paths are cleaned with path/filepath; a relative path is relative to "/".
//
// # Crashes
//
// Crash returns a new, independent MemFS holding an image a power cut could
// leave; the receiver is not changed. The image is built by walking the
// tree from the root:
//
//   - Directories keep their durable entries (CrashKeepAll keeps the
//     current entries; CrashRandom with RandomEntries keeps a random prefix
//     of the logged changes on top of the durable entries). Unsynced
//     creates, renames and unlinks are therefore undone: a file whose entry
//     was never durable disappears, and a name whose unlink was not durable
//     reappears with its inode, including whatever that inode's handles
//     synced after the unlink.
//   - Each surviving file keeps its durable bytes (CrashDropUnsynced), its
//     current bytes (CrashKeepAll), or (CrashRandom) a per-block mix chosen
//     from the seed; see CrashMode. Bytes that were synced and not modified
//     since are never damaged.
//
// Everything in an image is durable (the image is the disk after reboot),
// the image has no locks, no open files and an operation count of zero.
// Inode numbers are kept, so crashing an image is deterministic too.
//
// # Crash points
//
// Every mutating operation (Create, Write, Sync, SyncData, Truncate, Rename,
// Remove, MkdirAll, SyncDir, Lock and file Close) has an index, counting
// from zero, whether it succeeds or not. CrashAt(k, opts) arms a crash point:
// just before operation k would execute, the file system captures
// Crash(opts) as its crash image and from then on every operation, reads
// included, fails with an error satisfying errors.Is(err, ErrCrashed) and
// changes nothing. A test can then run its workload once per k, open the
// crash image and check that recovery works.

package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrCrashed is returned by every operation of a MemFS after its armed crash
// point (see MemFS.CrashAt) has been reached.
var ErrCrashed = errors.New("vfs: simulated crash: file system is gone")

// DefaultBlockSize is the block size a crash decides at when
// CrashOptions.BlockSize is zero.
const DefaultBlockSize = 4096

// CrashMode says what a simulated power cut does with unsynced state.
type CrashMode int

const (
	// CrashDropUnsynced keeps only durable state: synced bytes and synced
	// directory entries. It is the worst case a correct storage layer must
	// survive without losing acknowledged data, and the zero value.
	CrashDropUnsynced CrashMode = iota
	// CrashKeepAll keeps every byte written and every directory change, as
	// after the process was killed while the machine stayed up.
	CrashKeepAll
	// CrashRandom decides unsynced state at random, deterministically from
	// CrashOptions.Seed. For each file, the length is one of: the durable
	// length, the current length, or a multiple of the block size between
	// them. Then each block holding unsynced bytes is, at random:
	//   - dropped: its unsynced bytes revert to the durable content (zeros
	//     past the durable length),
	//   - kept: its unsynced bytes take the current content,
	//   - torn: a random-length prefix of its unsynced bytes takes the
	//     current content and the rest reverts,
	//   - zero-filled: its unsynced bytes become zero,
	//   - garbage: its unsynced bytes become random bytes.
	// Synced bytes that were not modified since are never touched: a power
	// cut does not destroy data the disk already acknowledged. Directory
	// entries revert to their durable state unless
	// CrashOptions.RandomEntries is set.
	CrashRandom
)

// String returns the mode's name.
func (m CrashMode) String() string {
	switch m {
	case CrashDropUnsynced:
		return "CrashDropUnsynced"
	case CrashKeepAll:
		return "CrashKeepAll"
	case CrashRandom:
		return "CrashRandom"
	}
	return fmt.Sprintf("CrashMode(%d)", int(m))
}

// CrashOptions configures a simulated crash.
type CrashOptions struct {
	// Mode says what happens to unsynced state.
	Mode CrashMode
	// Seed drives every random choice of CrashRandom. The same seed and the
	// same file-system state give a byte-identical image.
	Seed uint64
	// BlockSize is the granularity of CrashRandom decisions; zero means
	// DefaultBlockSize.
	BlockSize int
	// RandomEntries, with CrashRandom, lets unsynced directory changes
	// survive too: each directory keeps its durable entries plus a random
	// prefix (possibly empty, possibly all) of the entry changes made since
	// its last SyncDir, in order, as a journaling file system that committed
	// some of them would. A rename within one directory is one change, so it
	// stays atomic; a rename across directories is one change in each and
	// may survive in one, both or neither.
	RandomEntries bool
	// Fate, with CrashRandom, lets a test choose the outcome of chosen
	// blocks: it is called with the file's path and the block's index
	// (offset / BlockSize) for every block holding unsynced bytes, and any
	// result but BlockRandom replaces the seed's choice; the blocks it
	// leaves to the seed still decide at random. It runs while the file
	// system is locked and must not call it.
	Fate func(path string, block int) BlockFate
}

// BlockFate is the outcome of one block's unsynced bytes in a CrashRandom
// crash (see CrashOptions.Fate).
type BlockFate int

const (
	// BlockRandom leaves the choice to the seed.
	BlockRandom BlockFate = iota
	// BlockDrop reverts the unsynced bytes to the durable content.
	BlockDrop
	// BlockKeep keeps the current content.
	BlockKeep
	// BlockZero zero-fills the unsynced bytes.
	BlockZero
	// BlockGarbage fills the unsynced bytes with random bytes.
	BlockGarbage
)

// MemFS is an in-memory FS that can simulate power cuts. It is safe for
// concurrent use. Create one with NewMem.
//
// Every inode has a current state (what reads see) and a durable state:
// File.Sync and File.SyncData make a file's current bytes durable, SyncDir
// makes a directory's current entries durable, and nothing else does.
// Crash returns a new MemFS holding what a power cut could leave (see
// CrashMode); CrashAt arms a crash just before the k-th mutating operation,
// after which every operation fails with ErrCrashed and CrashImage returns
// the image.
//
// Mutating operations (Create, Write, Sync, SyncData, Truncate, Rename,
// Remove, MkdirAll, SyncDir, Lock and File.Close, even of a read-only
// handle) are numbered from zero, whether they succeed or not; reads, Open,
// Stat, List and releasing a lock are not. Lock uses a lock table private to
// the MemFS. Opening a directory fails with EISDIR. Relative paths are
// relative to "/".
type MemFS struct {
	mu      sync.Mutex
	root    *memNode
	nextIno uint64
	locks   map[*memNode]bool

	ops       int
	crashAt   int // -1: no crash point armed
	crashOpts CrashOptions
	crashed   bool
	image     *MemFS
}

// memNode is an inode: a file or a directory.
type memNode struct {
	ino   uint64
	isDir bool

	// Files.
	data    []byte // current bytes
	durable []byte // durable bytes; len is the durable size
	dirty   []span // sorted, disjoint, non-adjacent ranges within [0, len(data))

	// Directories.
	entries        map[string]*memNode
	durableEntries map[string]*memNode
	log            [][]entryChange // unsynced entry changes, in order
}

// span is the byte range [lo, hi).
type span struct{ lo, hi int }

// entryChange sets a directory entry (node != nil) or removes it.
type entryChange struct {
	name string
	node *memNode
}

// NewMem returns an empty MemFS holding only the root directory "/".
func NewMem() *MemFS {
	m := &MemFS{locks: map[*memNode]bool{}, crashAt: -1}
	m.root = m.newDir()
	return m
}

func (m *MemFS) newDir() *memNode {
	m.nextIno++
	return &memNode{
		ino:            m.nextIno,
		isDir:          true,
		entries:        map[string]*memNode{},
		durableEntries: map[string]*memNode{},
	}
}

func (m *MemFS) newFile() *memNode {
	m.nextIno++
	return &memNode{ino: m.nextIno}
}

// ---- operation counting and crash points ----

// OpCount returns the number of mutating operations executed so far. It is
// also the index the next mutating operation will get.
func (m *MemFS) OpCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// CrashAt arms a crash point: just before the mutating operation with index
// k would execute, the file system captures Crash(opts) (see CrashImage) and
// from then on every operation fails with ErrCrashed. A negative k disarms
// the crash point. It panics if k is smaller than OpCount (that point has
// passed).
func (m *MemFS) CrashAt(k int, opts CrashOptions) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k >= 0 && k < m.ops {
		panic(fmt.Sprintf("vfs: CrashAt(%d): operation %d already executed", k, k))
	}
	if k < 0 {
		k = -1
	}
	m.crashAt = k
	m.crashOpts = opts
}

// CrashImage returns the image captured at the crash point armed by
// CrashAt, or nil if the crash point was not reached.
func (m *MemFS) CrashImage() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.image
}

// Crashed reports whether the crash point armed by CrashAt was reached.
func (m *MemFS) Crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashed
}

// begin starts an operation; m.mu is held. It returns ErrCrashed if the file
// system has crashed or crashes now; mutating operations are counted.
func (m *MemFS) begin(mutating bool) error {
	if m.crashed {
		return ErrCrashed
	}
	if !mutating {
		return nil
	}
	if m.crashAt >= 0 && m.ops == m.crashAt {
		m.image = m.crashLocked(m.crashOpts)
		m.crashed = true
		return ErrCrashed
	}
	m.ops++
	return nil
}

// ---- paths ----

// memClean returns the cleaned, absolute, slash-separated form of name.
func memClean(name string) string {
	return path.Clean("/" + filepath.ToSlash(filepath.Clean(name)))
}

func memErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// lookup returns the node at the cleaned path p in the current view.
func (m *MemFS) lookup(p string) (*memNode, error) {
	n := m.root
	if p == "/" {
		return n, nil
	}
	for _, c := range strings.Split(p[1:], "/") {
		if !n.isDir {
			return nil, syscall.ENOTDIR
		}
		child, ok := n.entries[c]
		if !ok {
			return nil, syscall.ENOENT
		}
		n = child
	}
	return n, nil
}

// lookupParent returns the directory holding the cleaned path p and p's
// base name. The root has no parent.
func (m *MemFS) lookupParent(p string) (*memNode, string, error) {
	if p == "/" {
		return nil, "", syscall.EBUSY
	}
	dir, base := path.Split(p)
	d, err := m.lookup(path.Clean(dir))
	if err != nil {
		return nil, "", err
	}
	if !d.isDir {
		return nil, "", syscall.ENOTDIR
	}
	return d, base, nil
}

// apply changes d's current entries and logs the change as one unit.
func (d *memNode) apply(changes ...entryChange) {
	for _, c := range changes {
		if c.node == nil {
			delete(d.entries, c.name)
		} else {
			d.entries[c.name] = c.node
		}
	}
	d.log = append(d.log, changes)
}

// ---- FS ----

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(true); err != nil {
		return nil, memErr("open", name, err)
	}
	p := memClean(name)
	d, base, err := m.lookupParent(p)
	if err != nil {
		if p == "/" {
			err = syscall.EEXIST
		}
		return nil, memErr("open", name, err)
	}
	if _, ok := d.entries[base]; ok {
		return nil, memErr("open", name, syscall.EEXIST)
	}
	n := m.newFile()
	d.apply(entryChange{base, n})
	return &memFile{fs: m, name: name, node: n, writable: true}, nil
}

// Open implements FS. Opening a directory fails with EISDIR.
func (m *MemFS) Open(name string) (File, error) {
	return m.open(name, false)
}

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	return m.open(name, true)
}

func (m *MemFS) open(name string, writable bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(false); err != nil {
		return nil, memErr("open", name, err)
	}
	n, err := m.lookup(memClean(name))
	if err != nil {
		return nil, memErr("open", name, err)
	}
	if n.isDir {
		return nil, memErr("open", name, syscall.EISDIR)
	}
	f := &memFile{fs: m, name: name, node: n, writable: writable}
	if writable {
		f.off = int64(len(n.data))
	}
	return f, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(true); err != nil {
		return memErr("remove", name, err)
	}
	p := memClean(name)
	d, base, err := m.lookupParent(p)
	if err != nil {
		return memErr("remove", name, err)
	}
	n, ok := d.entries[base]
	if !ok {
		return memErr("remove", name, syscall.ENOENT)
	}
	if n.isDir && len(n.entries) > 0 {
		return memErr("remove", name, syscall.ENOTEMPTY)
	}
	d.apply(entryChange{base, nil})
	return nil
}

// Rename implements FS. As with the operating system, errors are
// *os.LinkError values, and a directory may replace only an empty directory.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if err := m.begin(true); err != nil {
		return fail(err)
	}
	op, np := memClean(oldname), memClean(newname)
	od, obase, err := m.lookupParent(op)
	if err != nil {
		return fail(err)
	}
	n, ok := od.entries[obase]
	if !ok {
		return fail(syscall.ENOENT)
	}
	nd, nbase, err := m.lookupParent(np)
	if err != nil {
		return fail(err)
	}
	if op == np {
		return nil
	}
	if n.isDir && strings.HasPrefix(np, op+"/") {
		return fail(syscall.EINVAL)
	}
	if target, ok := nd.entries[nbase]; ok {
		if target == n {
			return nil // hard links to one inode: POSIX does nothing
		}
		switch {
		case target.isDir && !n.isDir:
			return fail(syscall.EISDIR)
		case !target.isDir && n.isDir:
			return fail(syscall.ENOTDIR)
		case target.isDir && len(target.entries) > 0:
			return fail(syscall.ENOTEMPTY)
		}
	}
	if od == nd {
		od.apply(entryChange{nbase, n}, entryChange{obase, nil})
	} else {
		nd.apply(entryChange{nbase, n})
		od.apply(entryChange{obase, nil})
	}
	return nil
}

// MkdirAll implements FS. It counts as one operation however many
// directories it creates.
func (m *MemFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(true); err != nil {
		return memErr("mkdir", dir, err)
	}
	p := memClean(dir)
	n := m.root
	if p == "/" {
		return nil
	}
	for _, c := range strings.Split(p[1:], "/") {
		child, ok := n.entries[c]
		if !ok {
			child = m.newDir()
			n.apply(entryChange{c, child})
		} else if !child.isDir {
			return memErr("mkdir", dir, syscall.ENOTDIR)
		}
		n = child
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(false); err != nil {
		return nil, memErr("open", dir, err)
	}
	n, err := m.lookup(memClean(dir))
	if err != nil {
		return nil, memErr("open", dir, err)
	}
	if !n.isDir {
		return nil, memErr("readdirent", dir, syscall.ENOTDIR)
	}
	return sortedNames(n.entries), nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(false); err != nil {
		return nil, memErr("stat", name, err)
	}
	p := memClean(name)
	n, err := m.lookup(p)
	if err != nil {
		return nil, memErr("stat", name, err)
	}
	return n.info(path.Base(p)), nil
}

// SyncDir implements FS: the directory's current entries become durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(true); err != nil {
		return memErr("sync", dir, err)
	}
	n, err := m.lookup(memClean(dir))
	if err != nil {
		return memErr("open", dir, err)
	}
	if !n.isDir {
		return memErr("sync", dir, syscall.ENOTDIR)
	}
	n.durableEntries = cloneEntries(n.entries)
	n.log = nil
	return nil
}

// Lock implements FS with a lock table private to this MemFS, keyed by
// inode. It creates the file (a current entry only) if needed.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(true); err != nil {
		return nil, memErr("lock", name, err)
	}
	p := memClean(name)
	n, err := m.lookup(p)
	if errors.Is(err, syscall.ENOENT) {
		d, base, perr := m.lookupParent(p)
		if perr != nil {
			return nil, memErr("open", name, perr)
		}
		n = m.newFile()
		d.apply(entryChange{base, n})
	} else if err != nil {
		return nil, memErr("open", name, err)
	}
	if n.isDir {
		return nil, memErr("open", name, syscall.EISDIR)
	}
	if m.locks[n] {
		return nil, memErr("lock", name, ErrLocked)
	}
	m.locks[n] = true
	return &memLock{fs: m, name: name, node: n}, nil
}

type memLock struct {
	fs       *MemFS
	name     string
	node     *memNode
	released bool
}

// Close releases the lock. Closing twice is a no-op; after a crash it fails
// with ErrCrashed.
func (l *memLock) Close() error {
	m := l.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.begin(false); err != nil {
		return memErr("unlock", l.name, err)
	}
	if !l.released {
		l.released = true
		delete(m.locks, l.node)
	}
	return nil
}

// ---- files ----

type memFile struct {
	fs       *MemFS
	name     string
	node     *memNode
	off      int64
	writable bool
	closed   bool
}

// start begins an operation on the file; f.fs.mu is held.
func (f *memFile) start(op string, mutating bool) error {
	if err := f.fs.begin(mutating); err != nil {
		return memErr(op, f.name, err)
	}
	if f.closed {
		return memErr(op, f.name, fs.ErrClosed)
	}
	return nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start("read", false); err != nil {
		return 0, err
	}
	if f.off >= int64(len(f.node.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.node.data[f.off:])
	f.off += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, memErr("read", f.name, syscall.EINVAL)
	}
	if off >= int64(len(f.node.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start("write", true); err != nil {
		return 0, err
	}
	if !f.writable {
		return 0, memErr("write", f.name, syscall.EBADF)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := f.node
	end := int(f.off) + len(p)
	lo := int(f.off)
	if old := len(n.data); old < lo {
		lo = old // the hole between the old end and the offset is new too
	}
	if end > len(n.data) {
		n.data = slices.Grow(n.data, end-len(n.data))
		n.data = n.data[:end]
		clear(n.data[lo:f.off])
	}
	copy(n.data[f.off:], p)
	n.markDirty(lo, end)
	f.off = int64(end)
	return len(p), nil
}

func (f *memFile) Sync() error     { return f.sync("sync") }
func (f *memFile) SyncData() error { return f.sync("fdatasync") }

func (f *memFile) sync(op string) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start(op, true); err != nil {
		return err
	}
	n := f.node
	n.durable = slices.Clone(n.data)
	if n.durable == nil {
		n.durable = []byte{}
	}
	n.dirty = nil
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start("truncate", true); err != nil {
		return err
	}
	if !f.writable || size < 0 {
		return memErr("truncate", f.name, syscall.EINVAL)
	}
	n := f.node
	s, old := int(size), len(n.data)
	switch {
	case s < old:
		n.data = n.data[:s]
		n.clipDirty(s)
	case s > old:
		n.data = slices.Grow(n.data, s-old)[:s]
		clear(n.data[old:])
		n.markDirty(old, s)
	}
	return nil
}

// Preallocate extends the file with zeros like Truncate (MemFS has no disk
// space to reserve); it never shrinks it.
func (f *memFile) Preallocate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start("fallocate", true); err != nil {
		return err
	}
	if !f.writable || size < 0 {
		return memErr("fallocate", f.name, syscall.EINVAL)
	}
	n := f.node
	if s, old := int(size), len(n.data); s > old {
		n.data = slices.Grow(n.data, s-old)[:s]
		clear(n.data[old:])
		n.markDirty(old, s)
	}
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start("stat", false); err != nil {
		return nil, err
	}
	return f.node.info(path.Base(memClean(f.name))), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.start("close", true); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// markDirty adds [lo, hi) to the dirty ranges.
func (n *memNode) markDirty(lo, hi int) {
	if lo >= hi {
		return
	}
	out := make([]span, 0, len(n.dirty)+1)
	i := 0
	for ; i < len(n.dirty) && n.dirty[i].hi < lo; i++ {
		out = append(out, n.dirty[i])
	}
	for ; i < len(n.dirty) && n.dirty[i].lo <= hi; i++ {
		lo = min(lo, n.dirty[i].lo)
		hi = max(hi, n.dirty[i].hi)
	}
	out = append(out, span{lo, hi})
	n.dirty = append(out, n.dirty[i:]...)
}

// clipDirty drops dirty ranges at or beyond size.
func (n *memNode) clipDirty(size int) {
	out := n.dirty[:0]
	for _, s := range n.dirty {
		if s.lo >= size {
			break
		}
		s.hi = min(s.hi, size)
		out = append(out, s)
	}
	n.dirty = out
}

// ---- file info ----

type memInfo struct {
	name  string
	size  int64
	isDir bool
}

func (n *memNode) info(name string) fs.FileInfo {
	return memInfo{name: name, size: int64(len(n.data)), isDir: n.isDir}
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.isDir {
		return fs.ModeDir | 0o700
	}
	return 0o600
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.isDir }
func (i memInfo) Sys() any           { return nil }

// ---- crashes ----

// Crash returns a new, independent MemFS holding an image a power cut could
// leave now (see the package documentation of MemFS and CrashMode). The
// receiver is not changed and stays usable. Crash is not an operation: it
// is not counted and works after a crash point too.
func (m *MemFS) Crash(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashLocked(opts)
}

// Stream constants separate the random streams of files and directories.
const (
	fileStream = 0x9e3779b97f4a7c15
	dirStream  = 0xc2b2ae3d27d4eb4f
)

func (m *MemFS) crashLocked(opts CrashOptions) *MemFS {
	bs := opts.BlockSize
	if bs <= 0 {
		bs = DefaultBlockSize
	}
	img := &MemFS{locks: map[*memNode]bool{}, crashAt: -1, nextIno: m.nextIno}
	copies := map[*memNode]*memNode{}
	var copyDir func(src *memNode, dir string) *memNode
	copyDir = func(src *memNode, dir string) *memNode {
		dst := &memNode{ino: src.ino, isDir: true, entries: map[string]*memNode{}}
		copies[src] = dst
		entries := crashEntries(src, opts)
		for _, name := range sortedNames(entries) {
			child := entries[name]
			if c, ok := copies[child]; ok {
				// A file reachable by two names (a rename across
				// directories that is durable in one only) stays one
				// inode. A directory can have only one name: a second
				// one, or a cycle, is dropped.
				if !c.isDir {
					dst.entries[name] = c
				}
				continue
			}
			if child.isDir {
				dst.entries[name] = copyDir(child, path.Join(dir, name))
			} else {
				data := crashData(child, path.Join(dir, name), opts, bs)
				c := &memNode{ino: child.ino, data: data, durable: slices.Clone(data)}
				copies[child] = c
				dst.entries[name] = c
			}
		}
		dst.durableEntries = cloneEntries(dst.entries)
		return dst
	}
	img.root = copyDir(m.root, "/")
	return img
}

// crashEntries returns the entries of directory d after a crash.
func crashEntries(d *memNode, opts CrashOptions) map[string]*memNode {
	switch {
	case opts.Mode == CrashKeepAll:
		return d.entries
	case opts.Mode == CrashRandom && opts.RandomEntries && len(d.log) > 0:
		rng := rand.New(rand.NewPCG(opts.Seed, dirStream^d.ino))
		k := rng.IntN(len(d.log) + 1)
		e := cloneEntries(d.durableEntries)
		for _, batch := range d.log[:k] {
			for _, c := range batch {
				if c.node == nil {
					delete(e, c.name)
				} else {
					e[c.name] = c.node
				}
			}
		}
		return e
	}
	return d.durableEntries
}

// Block outcomes of CrashRandom.
const (
	blockDrop = iota
	blockKeep
	blockTorn
	blockZero
	blockGarbage
	numBlockOutcomes
)

// crashData returns the content of file n after a crash.
func crashData(n *memNode, name string, opts CrashOptions, bs int) []byte {
	switch opts.Mode {
	case CrashKeepAll:
		return cloneBytes(n.data)
	case CrashRandom:
	default:
		return cloneBytes(n.durable)
	}
	dlen, clen := len(n.durable), len(n.data)
	if dlen == clen && len(n.dirty) == 0 {
		return cloneBytes(n.data)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, fileStream^n.ino))
	size := crashLength(rng, dlen, clen, bs)

	// Start from the durable bytes (zeros past the durable length); clean
	// positions below the current length hold the same bytes in both
	// states, and positions past it are the durable bytes the unsynced
	// truncation may not have removed.
	out := make([]byte, size)
	copy(out, n.durable)

	// Visit the blocks holding dirty bytes below size, in order.
	dirty := n.dirty
	for len(dirty) > 0 && dirty[0].lo < size {
		start := dirty[0].lo / bs * bs
		end := min(start+bs, size)
		var parts []span // the dirty parts of this block
		for _, d := range dirty {
			if d.lo >= end {
				break
			}
			parts = append(parts, span{max(d.lo, start), min(d.hi, end)})
		}
		fate := BlockRandom
		if opts.Fate != nil {
			fate = opts.Fate(name, start/bs)
		}
		applyBlock(rng, out, n.data, parts, fate)
		for len(dirty) > 0 && dirty[0].hi <= end {
			dirty = dirty[1:]
		}
		if len(dirty) > 0 && dirty[0].lo < end {
			// This range continues into the next block.
			dirty = append([]span{{end, dirty[0].hi}}, dirty[1:]...)
		}
	}
	return out
}

// applyBlock decides one block: parts are its dirty ranges (sorted, within
// len(out) and len(cur)); out holds the reverted content. fate, unless
// BlockRandom, overrides the random outcome.
func applyBlock(rng *rand.Rand, out, cur []byte, parts []span, fate BlockFate) {
	outcome := rng.IntN(numBlockOutcomes)
	switch fate {
	case BlockDrop:
		outcome = blockDrop
	case BlockKeep:
		outcome = blockKeep
	case BlockZero:
		outcome = blockZero
	case BlockGarbage:
		outcome = blockGarbage
	}
	lo, hi := parts[0].lo, parts[len(parts)-1].hi
	if outcome == blockTorn && hi-lo < 2 {
		outcome = blockKeep // nothing to tear
	}
	switch outcome {
	case blockDrop:
	case blockKeep:
		for _, p := range parts {
			copy(out[p.lo:p.hi], cur[p.lo:p.hi])
		}
	case blockTorn:
		cut := lo + 1 + rng.IntN(hi-lo-1)
		for _, p := range parts {
			e := min(p.hi, cut)
			if p.lo < e {
				copy(out[p.lo:e], cur[p.lo:e])
			}
		}
	case blockZero:
		for _, p := range parts {
			clear(out[p.lo:p.hi])
		}
	case blockGarbage:
		for _, p := range parts {
			for k := p.lo; k < p.hi; k++ {
				out[k] = byte(rng.Uint32())
			}
		}
	}
}

// crashLength picks the length of a file after a crash: the durable length,
// the current length, or a multiple of bs strictly between them.
func crashLength(rng *rand.Rand, dlen, clen, bs int) int {
	if dlen == clen {
		return dlen
	}
	lo, hi := min(dlen, clen), max(dlen, clen)
	first := (lo/bs + 1) * bs // first multiple of bs above lo
	cuts := 0
	if first < hi {
		cuts = (hi-1-first)/bs + 1
	}
	switch r := rng.IntN(4); {
	case r == 0 || cuts == 0 && r == 2:
		return dlen
	case r == 1 || cuts == 0:
		return clen
	default:
		return first + rng.IntN(cuts)*bs
	}
}

// ---- debugging ----

// Dump writes a listing of the file system to w, one line per name: the
// current tree first, each file with its current size, durable size and
// number of dirty ranges, and each name marked when its entry is not
// durable; then names that exist only in the durable view (unsynced
// removals and renames), which a crash would bring back.
func (m *MemFS) Dump(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	if m.crashed {
		b.WriteString("(crashed)\n")
	}
	fmt.Fprintf(&b, "/ dir ino=%d\n", m.root.ino)
	var walk func(d *memNode, prefix string)
	walk = func(d *memNode, prefix string) {
		for _, name := range sortedNames(d.entries) {
			n := d.entries[name]
			p := prefix + "/" + name
			mark := ""
			if d.durableEntries[name] != n {
				mark = " (entry not durable)"
			}
			if n.isDir {
				fmt.Fprintf(&b, "%s dir ino=%d%s\n", p, n.ino, mark)
				walk(n, p)
				continue
			}
			lock := ""
			if m.locks[n] {
				lock = " locked"
			}
			fmt.Fprintf(&b, "%s file ino=%d size=%d durable=%d dirty=%d%s%s\n",
				p, n.ino, len(n.data), len(n.durable), len(n.dirty), lock, mark)
		}
		for _, name := range sortedNames(d.durableEntries) {
			n := d.durableEntries[name]
			if d.entries[name] == n {
				continue
			}
			kind := "file"
			if n.isDir {
				kind = "dir"
			}
			fmt.Fprintf(&b, "%s/%s %s ino=%d (durable entry only: unsynced removal or rename)\n",
				prefix, name, kind, n.ino)
		}
	}
	walk(m.root, "")
	_, err := io.WriteString(w, b.String())
	return err
}

// String returns the Dump listing.
func (m *MemFS) String() string {
	var b strings.Builder
	m.Dump(&b)
	return b.String()
}

// ---- helpers ----

func sortedNames(e map[string]*memNode) []string {
	names := make([]string, 0, len(e))
	for name := range e {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func cloneEntries(e map[string]*memNode) map[string]*memNode {
	out := make(map[string]*memNode, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
}

func cloneBytes(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}
