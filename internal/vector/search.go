package vector

import (
	"runtime"
	"slices"
	"sync/atomic"
)

// parallelThreshold is the collection size, in stored floats (Len()*Dim()),
// from which Search scans in parallel. Below it, waking a second thread
// costs more than it saves. Measured on the reference machine (2-core AMD
// EPYC VM, top-10 cosine, dim 384, sequential and parallel searches
// interleaved, median): 2^18 floats 66µs sequential / 78µs parallel,
// 2^19 131µs / 128µs, 2^20 264µs / 205µs, 2^21 523µs / 345µs.
// BenchmarkSearchThreshold repeats the comparison. Tests lower it to
// exercise the parallel path.
var parallelThreshold = 1 << 19

// streamThreshold is the collection size, in stored floats, from which a
// filtered scan scores whole runs in which at least a third of the slots
// qualify, instead of skipping the others (see scan). 2^23 floats is 32 MiB, the L3 cache of
// the reference machine; tests lower it to exercise both paths.
var streamThreshold = 1 << 23

// scanRun is the number of slots a filtered scan selects at a time.
const scanRun = 256

// blocksPerWorker is how many blocks per worker a parallel search cuts
// the slots into, for load balancing.
const blocksPerWorker = 8

// searchWorkers, when positive, overrides GOMAXPROCS as the number of
// workers of a parallel search. Tests use it to exercise uneven splits.
var searchWorkers = 0

// cand is a heap entry: a score and the slot it belongs to.
type cand struct {
	score float32
	slot  int
}

// topK is a bounded min-heap holding the best k candidates seen so far;
// its root is the worst of them, so a newcomer is compared against the
// root only.
type topK struct {
	k    int
	keys []string
	c    []cand
}

// worse reports whether a ranks after b: lower score, or equal score and
// greater key.
func (h *topK) worse(a, b cand) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return h.keys[a.slot] > h.keys[b.slot]
}

// offer considers slot with the given score. The common case, a full heap
// and a candidate scoring below its root, is decided inline.
func (h *topK) offer(score float32, slot int) {
	if len(h.c) == h.k && score < h.c[0].score {
		return
	}
	h.push(score, slot)
}

func (h *topK) push(score float32, slot int) {
	x := cand{score, slot}
	if len(h.c) < h.k {
		h.c = append(h.c, x)
		h.up(len(h.c) - 1)
		return
	}
	if !h.worse(h.c[0], x) {
		return
	}
	h.c[0] = x
	h.down(0)
}

func (h *topK) up(i int) {
	c := h.c
	for i > 0 {
		p := (i - 1) / 2
		if !h.worse(c[i], c[p]) {
			break
		}
		c[i], c[p] = c[p], c[i]
		i = p
	}
}

func (h *topK) down(i int) {
	c := h.c
	n := len(c)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.worse(c[r], c[l]) {
			m = r
		}
		if !h.worse(c[m], c[i]) {
			return
		}
		c[i], c[m] = c[m], c[i]
		i = m
	}
}

// Search returns the k stored vectors scoring highest against query,
// ordered by CompareHits (score descending, then key ascending). Fewer
// than k hits are returned when fewer vectors qualify, and nil when none
// do or k <= 0.
//
// A slot qualifies unless exclude (if non-nil) reports true for its key or
// filter (if non-nil) reports false for its key and payload. exclude lets
// the caller hide keys it supplies itself, such as a transaction's own
// uncommitted writes, which it then merges in with MergeHits. exclude is
// called once per slot and filter once per slot exclude keeps, in no
// particular order and possibly from several goroutines at once; a panic
// in a callback is re-raised on the caller's goroutine after the scan has
// stopped.
//
// Search returns an error wrapping ErrDimension if len(query) is not the
// index dimension, or ErrNonFinite if query has a NaN or infinite
// component or its squared length overflows float32. Search does not
// modify the index.
func (ix *Index) Search(query []float32, k int, filter func(key string, payload any) bool, exclude func(key string) bool) ([]Hit, error) {
	qn, err := checkVector(query, ix.dim)
	if err != nil {
		return nil, err
	}
	n := len(ix.keys)
	if k <= 0 || n == 0 {
		return nil, nil
	}
	k = min(k, n)

	var best []cand
	if workers := ix.workers(); workers <= 1 {
		h := topK{k: k, keys: ix.keys, c: make([]cand, 0, k)}
		ix.scan(&h, query, qn, 0, n, filter, exclude)
		best = h.c
	} else {
		best = ix.parallelScan(workers, k, query, qn, filter, exclude)
	}
	if len(best) == 0 {
		return nil, nil
	}

	keys := ix.keys
	slices.SortFunc(best, func(a, b cand) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		case keys[a.slot] < keys[b.slot]:
			return -1
		case keys[a.slot] > keys[b.slot]:
			return 1
		}
		return 0
	})
	best = best[:min(k, len(best))]
	hits := make([]Hit, len(best))
	for i, c := range best {
		hits[i] = Hit{Key: keys[c.slot], Score: c.score, Payload: ix.payloads[c.slot], Version: ix.versions[c.slot]}
	}
	return hits, nil
}

// workers returns the number of workers a search scans with: 1 for
// collections below parallelThreshold, otherwise GOMAXPROCS (or the
// searchWorkers override), at most one per slot.
func (ix *Index) workers() int {
	n := len(ix.keys)
	if n*ix.dim < parallelThreshold {
		return 1
	}
	w := searchWorkers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return min(w, n)
}

// parallelScan scans the slots with up to workers goroutines (the
// caller's among them), each feeding its own heap, and returns the
// concatenated winners (at most workers*k, unsorted).
//
// The slots are cut into contiguous blocks, several per worker, claimed in
// order from a shared counter, and the caller waits only for blocks that
// were claimed, never for a helper to start. Waking an idle thread can take
// longer than scanning a mid-sized collection (about 70-100µs measured on
// the reference VM), so a helper that starts late simply claims fewer
// blocks, or none, and one that shares its core with another process does
// not hold back the whole search. A helper that finds no block left exits
// without touching the index, so Search may return before it has run.
func (ix *Index) parallelScan(workers, k int, query []float32, qn float32, filter func(string, any) bool, exclude func(string) bool) []cand {
	n := len(ix.keys)
	keys := ix.keys
	block := max((n+workers*blocksPerWorker-1)/(workers*blocksPerWorker), 1)
	total := int64((n + block - 1) / block)
	var (
		next     atomic.Int64 // first slot of the next unclaimed block
		finished atomic.Int64 // claimed blocks whose worker is done
		stop     atomic.Bool  // a callback panicked: skip remaining blocks
		done     = make(chan struct{})
		parts    = make([][]cand, workers)
		panics   = make([]any, workers)
	)
	work := func(w int) {
		h := topK{k: k, keys: keys} // c is allocated by the first offer
		var claimed int64
		defer func() {
			if claimed == 0 {
				return // nothing scanned; the caller is not waiting for us
			}
			if r := recover(); r != nil {
				panics[w] = r
				stop.Store(true)
			}
			parts[w] = h.c
			if finished.Add(claimed) == total {
				close(done)
			}
		}()
		for {
			lo := int(next.Add(int64(block))) - block
			if lo >= n {
				return
			}
			claimed++
			if !stop.Load() {
				ix.scan(&h, query, qn, lo, min(lo+block, n), filter, exclude)
			}
		}
	}
	for w := 1; w < workers; w++ {
		go work(w)
	}
	work(0)
	<-done
	for _, r := range panics {
		if r != nil {
			panic(r)
		}
	}
	return slices.Concat(parts...)
}

// scan offers the slots in [lo, hi) that pass exclude and filter to h.
//
// With a callback, slots are taken in runs of scanRun: the callbacks pick
// the qualifying slots of a run, then only those are scored. Skipping
// slots breaks the sequential stream the hardware prefetchers rely on,
// though, and once the vectors no longer fit in the CPU caches
// (streamThreshold) a run with gaps can take longer than a whole one.
// BenchmarkSearchFilterDensity, 100,000 x 384 on the reference machine,
// filters passing a random 50% / 75% of the slots: 9.0 / 10.1 ms skipping,
// 6.1 / 5.9 ms scoring whole runs; at 10,000 x 384 (in cache) skipping
// wins, 0.39 / 0.52 ms against 0.66 / 0.65 ms. So in a large collection a
// run in which at least a third of the slots qualify is scored whole and
// the scores of the others are dropped; the callbacks are called the same
// way either way.
func (ix *Index) scan(h *topK, q []float32, qn float32, lo, hi int, filter func(string, any) bool, exclude func(string) bool) {
	if filter == nil && exclude == nil {
		for i := lo; i < hi; i++ {
			h.offer(ix.score(q, qn, i), i)
		}
		return
	}
	keys, payloads := ix.keys, ix.payloads
	stream := len(ix.data) >= streamThreshold
	var sel [scanRun]int
	for b := lo; b < hi; b += scanRun {
		e := min(b+scanRun, hi)
		ns := 0
		for i := b; i < e; i++ {
			if exclude != nil && exclude(keys[i]) {
				continue
			}
			if filter != nil && !filter(keys[i], payloads[i]) {
				continue
			}
			sel[ns] = i
			ns++
		}
		if stream && 3*ns >= e-b {
			j := 0
			for i := b; i < e; i++ {
				s := ix.score(q, qn, i)
				if j < ns && sel[j] == i {
					h.offer(s, i)
					j++
				}
			}
			continue
		}
		for _, i := range sel[:ns] {
			h.offer(ix.score(q, qn, i), i)
		}
	}
}

// score returns the score of slot i for the query q of norm qn.
func (ix *Index) score(q []float32, qn float32, i int) float32 {
	v := ix.data[i*ix.dim : (i+1)*ix.dim]
	switch ix.metric {
	case Cosine:
		return cosineScore(Dot(q, v), qn, ix.norms[i])
	case Euclidean:
		return euclideanScore(SquaredL2(q, v))
	default: // DotProduct
		return dotScore(Dot(q, v))
	}
}
