// Package vector is the derived search structure of the vector store: an
// in-memory, exact (brute-force) k-nearest-neighbour index over float32
// embeddings.
//
// The transactional storage of embeddings lives elsewhere. An [Index] holds
// no state of its own worth persisting: the database rebuilds it from
// committed state, so nothing here is written to disk.
//
// # Metrics and scores
//
// Every metric produces a score where higher is better, so results from all
// metrics sort the same way (score descending, ties broken by key
// ascending; see [CompareHits]):
//
//   - [Cosine]: the cosine similarity a·b / (|a| |b|), clamped to [-1, 1].
//     A zero vector (on either side) scores 0 against anything.
//   - [DotProduct]: the dot product a·b.
//   - [Euclidean]: the negated Euclidean distance -sqrt(Σ (a_i - b_i)²), so
//     the closest vector has the highest (least negative) score and an
//     identical vector scores 0. (For vectors near the float32 limit the
//     squared distance can overflow, and the score saturates at -Inf.)
//
// Scores are computed in float32 by the kernels [Dot], [SquaredL2] and
// [Norm]; [ScoreOf] computes the score of one pair exactly as Search does,
// bit for bit, so a caller can score vectors that are not in the index (a
// transaction's own uncommitted writes) and merge them with [MergeHits].
// Vectors with NaN or infinite components, or whose squared length
// overflows float32, are rejected with [ErrNonFinite]; with that guarantee
// no score is ever NaN.
//
// # Layout
//
// An index holds one collection: a fixed dimension and metric. The vectors
// are stored contiguously in one []float32, slot i occupying
// data[i*dim:(i+1)*dim], beside parallel per-slot arrays of key, norm
// (precomputed at Upsert for cosine), version and an opaque payload the
// caller uses for metadata. A map from key to slot makes Upsert, Delete and
// Get O(1) (plus the O(dim) copy); Delete moves the last slot into the hole
// so the slots stay dense. A search is a linear scan of the slots feeding a
// bounded min-heap of size k, so it costs O(n·dim + n·log k) and never sorts
// all n candidates. When n·dim reaches a threshold (2^19 floats, about
// 1,400 vectors of dimension 384, chosen by measurement) the slots are cut
// into contiguous blocks scanned by GOMAXPROCS workers, the calling
// goroutine among them; each worker claims blocks from a shared counter
// and keeps its own heap, and the workers' winners are merged. Smaller
// collections are scanned on the calling goroutine alone.
//
// # Concurrency
//
// An Index is not safe for concurrent mutation: the caller guards it, for
// example with a sync.RWMutex held exclusively around Upsert, Delete, Clear
// and Grow. Methods that only read (Search, Get, Len, Keys, Dim, Metric)
// never mutate the index and may run concurrently with each other. Search may
// call the filter and exclude callbacks from several goroutines at once;
// they must be safe for concurrent use and must not mutate the index.
package vector
