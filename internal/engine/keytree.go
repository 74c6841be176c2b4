package engine

import (
	"encoding/binary"

	"github.com/tidwall/btree"
)

// keyTree is a space's ordered index of keys, for scans. Point lookups go
// through the hash index; the tree's items point at the same entries.
//
// An item carries the first 16 bytes of its key, big-endian in two words,
// and compares those before it touches the key: a search in a tree of a
// million keys then mostly compares integers that are already in the node,
// instead of following a pointer to the key bytes at every comparison, a
// cache miss each. Only keys that agree on their first 16 bytes (after
// zero padding) compare the key itself.
type keyTree struct {
	t *btree.BTreeG[treeItem]
}

type treeItem struct {
	p0, p1 uint64 // the key's first 16 bytes, zero padded
	e      *hashEntry
}

func newKeyTree() *keyTree {
	return &keyTree{t: btree.NewBTreeGOptions(treeItemLess, btree.Options{NoLocks: true, Degree: 32})}
}

func keyPrefix(k string) (p0, p1 uint64) {
	var b [16]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// treeItemLess orders items as their keys. Two keys whose zero-padded
// first 16 bytes differ are ordered by the first difference: where one key
// has already ended, its padding zero is below the other's byte unless that
// byte is also zero, and then the words do not differ there.
func treeItemLess(a, b treeItem) bool {
	if a.p0 != b.p0 {
		return a.p0 < b.p0
	}
	if a.p1 != b.p1 {
		return a.p1 < b.p1
	}
	return a.e.key < b.e.key
}

// pivot is a search item for key, with no chain.
func pivot(key string) treeItem {
	p0, p1 := keyPrefix(key)
	return treeItem{p0: p0, p1: p1, e: &hashEntry{p0: p0, p1: p1, key: key}}
}

// set inserts en's key.
func (k *keyTree) set(en *hashEntry) { k.t.Set(treeItem{p0: en.p0, p1: en.p1, e: en}) }

// get returns the entry of key, if the tree holds it.
func (k *keyTree) get(key string) (*hashEntry, bool) {
	it, ok := k.t.Get(pivot(key))
	return it.e, ok
}

// Delete removes it.key (the chain is ignored).
func (k *keyTree) Delete(it item) { k.t.Delete(pivot(it.key)) }

// Ascend calls fn for every item from pivot.key upwards, until fn returns
// false.
func (k *keyTree) Ascend(from item, fn func(it item) bool) {
	k.t.Ascend(pivot(from.key), func(ti treeItem) bool {
		return fn(item{key: ti.e.key, c: &ti.e.c})
	})
}
