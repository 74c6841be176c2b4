package engine

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// TestTimeIndex_MatchesLinearSearch checks the chunked index against a
// plain list, across chunk boundaries forced by size, by version gaps and by
// time gaps that overflow a uint32 delta.
func TestTimeIndex_MatchesLinearSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x timeIndex
	var vs []uint64
	var ts []int64
	v, now := uint64(0), int64(1000)
	for range 3 * timeChunkLen {
		v += 1
		switch rng.IntN(100) {
		case 0:
			v += 1 << 33 // a gap no delta holds
		case 1:
			now += 1 << 33
		case 2, 3, 4:
			v += uint64(rng.IntN(5))
		}
		now += int64(rng.IntN(3)) // repeated times too
		x.note(v, now)
		vs, ts = append(vs, v), append(ts, now)
	}
	x.note(v, now+5) // a repeated version is ignored
	if len(x.chunks) < 4 {
		t.Fatalf("%d chunks, want the size and gap limits to split more", len(x.chunks))
	}
	for range 5000 {
		q := ts[0] - 2 + rng.Int64N(ts[len(ts)-1]-ts[0]+4)
		if rng.IntN(4) == 0 {
			q = ts[rng.IntN(len(ts))]
		}
		i := sort.Search(len(ts), func(i int) bool { return ts[i] > q })
		got, ok := x.atOrBefore(q)
		if i == 0 {
			if ok {
				t.Fatalf("atOrBefore(%d) = %d, want none", q, got)
			}
			continue
		}
		if !ok || got != vs[i-1] {
			t.Fatalf("atOrBefore(%d) = %d %v, want %d", q, got, ok, vs[i-1])
		}
		j := rng.IntN(len(vs))
		if tm, ok := x.timeOf(vs[j]); !ok || tm != ts[j] {
			t.Fatalf("timeOf(%d) = %d %v, want %d", vs[j], tm, ok, ts[j])
		}
	}
}

// TestTimeIndex_EightBytesPerCommit pins the documented memory cost.
func TestTimeIndex_EightBytesPerCommit(t *testing.T) {
	var x timeIndex
	const n = 100 * timeChunkLen
	for v := range uint64(n) {
		x.note(v+1, int64(v*3))
	}
	if b := x.bytes(); b > n*8+64*(n/timeChunkLen+1) {
		t.Errorf("%d bytes for %d commits (%.2f per commit)", b, n, float64(b)/n)
	}
}
