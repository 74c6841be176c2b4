package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestHashIndexGetPut(t *testing.T) {
	var h hashIndex
	if h.get("missing") != nil {
		t.Fatal("empty index found a key")
	}
	chains := map[string]*chain{}
	for i := range 5000 {
		k := fmt.Sprint("k", i)
		chains[k] = h.add(k)
	}
	for k, c := range chains {
		if h.get(k) != c {
			t.Fatalf("get(%q) returned another chain", k)
		}
	}
	if h.get("k5000") != nil || h.get("") != nil {
		t.Fatal("found an absent key")
	}
}

// Readers racing with inserts and table growth always find every key that
// was inserted before they started looking.
func TestHashIndexConcurrentGrowth(t *testing.T) {
	var h hashIndex
	var inserted atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := inserted.Load()
				if n == 0 {
					continue
				}
				k := int64(i) % n
				if h.get(fmt.Sprint("k", k)) == nil {
					t.Errorf("key k%d inserted before the lookup is missing", k)
					return
				}
			}
		}()
	}
	for i := range 20000 {
		h.add(fmt.Sprint("k", i))
		inserted.Store(int64(i + 1))
	}
	close(stop)
	wg.Wait()
}

// getOrAdd inserts a key once and afterwards returns the same entry, also
// across table growth; the tag in a slot never changes the entry it yields.
func TestHashIndexGetOrAdd(t *testing.T) {
	var h hashIndex
	entries := map[string]*hashEntry{}
	for i := range 3000 {
		k := fmt.Sprint("key-", i)
		e, added := h.getOrAdd(k)
		if !added || e.key != k {
			t.Fatalf("getOrAdd(%q) = %q, added %v on first insert", k, e.key, added)
		}
		entries[k] = e
		if again, added := h.getOrAdd(k); added || again != e {
			t.Fatalf("second getOrAdd(%q) added %v or returned another entry", k, added)
		}
	}
	if h.n != len(entries) {
		t.Fatalf("index counts %d entries, want %d", h.n, len(entries))
	}
	tb := h.table.Load()
	found := 0
	for i := range tb.slots {
		if e := tb.slots[i].Load(); e != nil {
			if entries[e.key] != e {
				t.Fatalf("slot %d holds an entry for %q that getOrAdd did not return", i, e.key)
			}
			found++
		}
	}
	if found != len(entries) {
		t.Fatalf("table holds %d entries, want %d", found, len(entries))
	}
	for k, e := range entries {
		if h.get(k) != &e.c {
			t.Fatalf("get(%q) returned another chain", k)
		}
	}
}
