package vector

import (
	"fmt"
	"testing"
)

func TestShrinkReleasesDeletedSlots(t *testing.T) {
	ix := New(4, Cosine)
	for i := range 1000 {
		if err := ix.Upsert(fmt.Sprint(i), []float32{1, float32(i), 2, 3}, uint64(i), i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 990 {
		ix.Delete(fmt.Sprint(i))
	}
	if freed := ix.Shrink(); freed <= 0 {
		t.Fatalf("Shrink freed %d bytes after deleting 99%% of the vectors", freed)
	}
	if cap(ix.keys) != 10 || ix.Len() != 10 {
		t.Fatalf("after Shrink cap %d len %d, want 10", cap(ix.keys), ix.Len())
	}
	for i := 990; i < 1000; i++ {
		vec, v, p, ok := ix.Get(fmt.Sprint(i))
		if !ok || v != uint64(i) || p != i || vec[1] != float32(i) {
			t.Fatalf("Get(%d) after Shrink = %v %d %v %v", i, vec, v, p, ok)
		}
	}
	if freed := ix.Shrink(); freed != 0 {
		t.Fatalf("a second Shrink freed %d", freed)
	}
	hits, err := ix.Search([]float32{1, 995, 2, 3}, 1, nil, nil)
	if err != nil || len(hits) != 1 {
		t.Fatalf("Search after Shrink = %v, %v", hits, err)
	}
}
