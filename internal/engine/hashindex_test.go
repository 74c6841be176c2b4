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
