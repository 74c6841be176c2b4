package engine

import "testing"

// trimBelow keeps exactly the pairs at and above the bound: a time whose
// commit is kept resolves to it, an older one resolves to nothing (never to
// another version), across chunk boundaries and time jumps that start new
// chunks, and the newest pair always stays.
func TestTimeIndexTrimBelow(t *testing.T) {
	const n = 3 * timeChunkLen
	build := func() *timeIndex {
		x := &timeIndex{}
		ts := int64(1000)
		for v := uint64(1); v <= n; v++ {
			ts += int64(v % 3) // repeated times too
			if v == n/2 {
				ts += 1 << 33 // a delta that does not fit: a new chunk
			}
			x.note(v, ts)
		}
		return x
	}
	ref := build()
	for _, bound := range []uint64{1, 2, timeChunkLen - 1, timeChunkLen, timeChunkLen + 1, n / 2, n/2 + 7, n - 1, n, n + 100} {
		x := build()
		freed := x.trimBelow(bound)
		keep := min(bound, n)
		if x.first() != keep {
			t.Fatalf("bound %d: first = %d, want %d", bound, x.first(), keep)
		}
		if bound > 1 && freed <= 0 {
			t.Fatalf("bound %d: freed %d bytes", bound, freed)
		}
		for v := uint64(1); v <= n; v++ {
			ts, _ := ref.timeOf(v)
			want, _ := ref.atOrBefore(ts)
			got, ok := x.atOrBefore(ts)
			switch {
			case want >= keep && (!ok || got != want):
				t.Fatalf("bound %d: time of %d resolves to %d %v, want %d", bound, v, got, ok, want)
			case want < keep && ok:
				t.Fatalf("bound %d: time of trimmed %d resolves to %d", bound, v, got)
			}
		}
		x.note(n+1, 1<<40) // appending goes on
		if got, ok := x.atOrBefore(1 << 40); !ok || got != n+1 {
			t.Fatalf("bound %d: after note, %d %v", bound, got, ok)
		}
	}
}
