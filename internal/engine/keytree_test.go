package engine

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// keyCorpus returns keys that stress the prefix words: empty, NUL bytes,
// keys that are zero-padded forms of each other, keys of exactly 16 bytes,
// and longer keys sharing their first 16 bytes.
func keyCorpus() []string {
	keys := []string{"", "\x00", "\x00\x00", "a", "a\x00", "a\x00\x00", "a\x01", "b",
		"0123456789abcdef", "0123456789abcdef\x00", "0123456789abcdeg",
		"0123456789abcdefX", "0123456789abcdefY", "0123456789abcde", "0123456789abcde\x00",
		"\xff\xff\xff\xff\xff\xff\xff\xff\xff", "w000000000000001", "w000000000000010"}
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := "\x00\x01ab\xff"
	for range 400 {
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func TestTreeItemLessIsKeyOrder(t *testing.T) {
	keys := keyCorpus()
	for _, a := range keys {
		for _, b := range keys {
			if got, want := treeItemLess(pivot(a), pivot(b)), a < b; got != want {
				t.Fatalf("treeItemLess(%q, %q) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func TestKeyTreeAscendsInKeyOrder(t *testing.T) {
	keys := keyCorpus()
	var h hashIndex
	tr := newKeyTree()
	for _, i := range rand.New(rand.NewPCG(5, 6)).Perm(len(keys)) {
		tr.set(h.addEntry(keys[i]))
	}
	for _, from := range []string{"", "a", "a\x00", "0123456789abcdef", "0123456789abcdefX"} {
		var got []string
		tr.Ascend(item{key: from}, func(it item) bool {
			got = append(got, it.key)
			return true
		})
		i, _ := slices.BinarySearch(keys, from)
		if want := keys[i:]; !slices.Equal(got, want) {
			t.Fatalf("Ascend from %q: got %d keys %q..., want %d", from, len(got), got[:min(3, len(got))], len(want))
		}
	}
	tr.Delete(item{key: "a\x00"})
	tr.Ascend(item{key: "a"}, func(it item) bool {
		if it.key == "a\x00" {
			t.Fatal("deleted key still in the tree")
		}
		return strings.HasPrefix(it.key, "a")
	})
}

func TestHashIndexTellsPaddedKeysApart(t *testing.T) {
	keys := keyCorpus()
	var h hashIndex
	chains := map[string]*chain{}
	for _, k := range keys {
		chains[k] = h.add(k)
	}
	for _, k := range keys {
		if got := h.get(k); got != chains[k] {
			t.Fatalf("get(%q) returned another key's chain", k)
		}
	}
	if h.get("a\x00\x00\x00") != nil || h.get("0123456789abcdefZ") != nil {
		t.Fatal("get found a key never added")
	}
}

func TestHashEntryMatchesOnlyItsKey(t *testing.T) {
	keys := keyCorpus()
	for _, a := range keys {
		p0, p1 := keyPrefix(a)
		en := &hashEntry{p0: p0, p1: p1, key: a}
		for _, b := range keys {
			q0, q1 := keyPrefix(b)
			if got := en.matches(q0, q1, b); got != (a == b) {
				t.Fatalf("entry %q matches(%q) = %v", a, b, got)
			}
		}
	}
}
