package engine

import (
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"
	"unsafe"
)

// hashIndex maps keys to chains for point lookups. Lookups take no lock and
// never write shared memory, so readers on several cores do not slow each
// other down; inserts come from one writer at a time (the engine's commit
// lock) and nothing is ever removed.
//
// It is an open-addressing table of pointers to immutable entries, kept at
// most half full. Growing builds a new table holding the same entries and
// publishes it with one atomic store; a reader still probing the old table
// finds every key that was in it. A key inserted after a reader took its
// snapshot only holds versions newer than that snapshot, so missing it is
// harmless; a key inserted before is in whatever table the reader loads,
// because the insert happens before the commit that created it is
// published, and the reader loads the table after its snapshot.
type hashIndex struct {
	table atomic.Pointer[hashTable]
	n     int // entries (writer only)
}

type hashTable struct {
	slots []slot
	mask  uint64
}

// slot holds a pointer to an entry with a tag of the entry's hash in its
// low bits (entries are 8-byte aligned, so the pointer still points into
// the entry and keeps it alive). A probe passes over a slot whose tag
// differs without loading the entry: in a big index each entry loaded is
// a cache miss, and at the table's load factor about a third of the
// lookups of present keys, and most of absent ones, probe a slot of
// another key first.
type slot struct{ p unsafe.Pointer }

const tagMask = 7

// tagOf is the tag of hash hv: bits that the slot index (the low bits)
// does not use.
func tagOf(hv uint64) uintptr { return uintptr(hv>>61) & tagMask }

// Load returns the slot's entry, or nil.
func (s *slot) Load() *hashEntry {
	p := atomic.LoadPointer(&s.p)
	return (*hashEntry)(unsafe.Pointer(uintptr(p) &^ tagMask))
}

// load returns the slot's tagged pointer: nil for an empty slot.
func (s *slot) load() unsafe.Pointer { return atomic.LoadPointer(&s.p) }

// entryAt returns the entry of tagged pointer p if its tag is tag.
func entryAt(p unsafe.Pointer, tag uintptr) *hashEntry {
	if uintptr(p)&tagMask != tag {
		return nil
	}
	return (*hashEntry)(unsafe.Pointer(uintptr(p) &^ tagMask))
}

func (s *slot) store(e *hashEntry, tag uintptr) {
	atomic.StorePointer(&s.p, unsafe.Add(unsafe.Pointer(e), tag))
}

// hashEntry holds the chain itself, so a lookup reaches the newest version
// with one pointer less to follow. It also holds the key's first 16 bytes,
// zero padded (see keyPrefix): a key of up to 16 bytes is then compared,
// and rehashed when the table grows, without following the pointer to its
// bytes, which in a big index is a cache miss.
type hashEntry struct {
	p0, p1 uint64
	key    string
	c      chain
}

// matches reports whether en holds key, whose prefix words are p0 and p1.
func (en *hashEntry) matches(p0, p1 uint64, key string) bool {
	// Equal lengths up to 16 and equal zero-padded prefixes mean equal keys.
	return en.p0 == p0 && en.p1 == p1 && len(en.key) == len(key) && (len(key) <= 16 || en.key == key)
}

// hashKey hashes a key from its prefix words and length alone when it is
// at most 16 bytes long.
func hashKey(p0, p1 uint64, key string) uint64 {
	if len(key) > 16 {
		return maphash.String(indexSeed, key)
	}
	var b [17]byte
	binary.LittleEndian.PutUint64(b[:8], p0)
	binary.LittleEndian.PutUint64(b[8:16], p1)
	b[16] = byte(len(key))
	return maphash.Bytes(indexSeed, b[:])
}

var indexSeed = maphash.MakeSeed()

func newHashTable(size int) *hashTable {
	return &hashTable{slots: make([]slot, size), mask: uint64(size - 1)}
}

// get returns the chain of key, or nil.
func (h *hashIndex) get(key string) *chain {
	t := h.table.Load()
	if t == nil {
		return nil
	}
	p0, p1 := keyPrefix(key)
	hv := hashKey(p0, p1, key)
	tag := tagOf(hv)
	for i := hv & t.mask; ; i = (i + 1) & t.mask {
		p := t.slots[i].load()
		if p == nil {
			return nil
		}
		if e := entryAt(p, tag); e != nil && e.matches(p0, p1, key) {
			return &e.c
		}
	}
}

// add inserts key (which must be absent) with an empty chain and returns
// the chain. The caller is the only writer.
func (h *hashIndex) add(key string) *chain {
	e, _ := h.getOrAdd(key)
	return &e.c
}

// addEntry is add returning the whole entry.
func (h *hashIndex) addEntry(key string) *hashEntry {
	e, _ := h.getOrAdd(key)
	return e
}

// getOrAdd returns the entry of key, inserting one with an empty chain if
// there is none (then added is true), with one probe sequence for both.
// The caller is the only writer.
func (h *hashIndex) getOrAdd(key string) (e *hashEntry, added bool) {
	t := h.table.Load()
	if t == nil {
		t = newHashTable(16)
		h.table.Store(t)
	}
	p0, p1 := keyPrefix(key)
	hv := hashKey(p0, p1, key)
	tag := tagOf(hv)
	i := hv & t.mask
	for ; ; i = (i + 1) & t.mask {
		p := t.slots[i].load()
		if p == nil {
			break
		}
		if e := entryAt(p, tag); e != nil && e.matches(p0, p1, key) {
			return e, false
		}
	}
	e = &hashEntry{p0: p0, p1: p1, key: key}
	if 2*(h.n+1) > len(t.slots) {
		bigger := newHashTable(2 * len(t.slots))
		for i := range t.slots {
			if e := t.slots[i].Load(); e != nil {
				bigger.insert(e)
			}
		}
		bigger.insert(e)
		h.table.Store(bigger)
	} else {
		// i is the empty slot that ended the probe: key's place.
		t.slots[i].store(e, tag)
	}
	h.n++
	return e, true
}

func (t *hashTable) insert(e *hashEntry) {
	hv := hashKey(e.p0, e.p1, e.key)
	for i := hv & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].load() == nil {
			t.slots[i].store(e, tagOf(hv))
			return
		}
	}
}
