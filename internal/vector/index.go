package vector

import "slices"

// Index is an exact nearest-neighbour index over one collection of
// vectors sharing a dimension and a metric. Create it with New; the zero
// value is not usable.
//
// An Index is not safe for concurrent mutation; see the package
// documentation for the concurrency contract.
type Index struct {
	dim    int
	metric Metric

	// Slot i: vector data[i*dim:(i+1)*dim], key keys[i], and so on. All
	// per-slot slices have length Len(); data has length Len()*dim.
	data     []float32
	keys     []string
	norms    []float32
	versions []uint64
	payloads []any
	slots    map[string]int // key -> slot
}

// New returns an empty index for vectors of dimension dim scored by
// metric. It panics if dim <= 0 or metric is not valid.
func New(dim int, metric Metric) *Index {
	if dim <= 0 {
		panic("vector: New with non-positive dimension")
	}
	if !metric.Valid() {
		panic("vector: New with invalid metric " + metric.String())
	}
	return &Index{dim: dim, metric: metric, slots: make(map[string]int)}
}

// Dim returns the dimension of the index's vectors.
func (ix *Index) Dim() int { return ix.dim }

// Metric returns the index's metric.
func (ix *Index) Metric() Metric { return ix.metric }

// Len returns the number of vectors in the index.
func (ix *Index) Len() int { return len(ix.keys) }

// Grow ensures room for n more vectors without reallocation, which saves
// copying when the caller rebuilds an index of known size.
func (ix *Index) Grow(n int) {
	if n <= 0 {
		return
	}
	ix.data = slices.Grow(ix.data, n*ix.dim)
	ix.keys = slices.Grow(ix.keys, n)
	ix.norms = slices.Grow(ix.norms, n)
	ix.versions = slices.Grow(ix.versions, n)
	ix.payloads = slices.Grow(ix.payloads, n)
}

// Upsert stores a copy of vec under key with the given version and
// payload, replacing in place the vector, version and payload of an
// existing key. It returns an error wrapping ErrDimension if len(vec) is
// not the index dimension, or ErrNonFinite if vec has a NaN or infinite
// component or its squared length overflows float32; on error the index
// is unchanged.
func (ix *Index) Upsert(key string, vec []float32, version uint64, payload any) error {
	norm, err := checkVector(vec, ix.dim)
	if err != nil {
		return err
	}
	if i, ok := ix.slots[key]; ok {
		copy(ix.data[i*ix.dim:(i+1)*ix.dim], vec)
		ix.norms[i] = norm
		ix.versions[i] = version
		ix.payloads[i] = payload
		return nil
	}
	ix.slots[key] = len(ix.keys)
	ix.data = append(ix.data, vec...)
	ix.keys = append(ix.keys, key)
	ix.norms = append(ix.norms, norm)
	ix.versions = append(ix.versions, version)
	ix.payloads = append(ix.payloads, payload)
	return nil
}

// Delete removes key and reports whether it was present. The last slot is
// moved into the freed one, so slots stay dense.
func (ix *Index) Delete(key string) bool {
	i, ok := ix.slots[key]
	if !ok {
		return false
	}
	delete(ix.slots, key)
	last := len(ix.keys) - 1
	if i != last {
		d := ix.dim
		copy(ix.data[i*d:(i+1)*d], ix.data[last*d:(last+1)*d])
		moved := ix.keys[last]
		ix.keys[i] = moved
		ix.norms[i] = ix.norms[last]
		ix.versions[i] = ix.versions[last]
		ix.payloads[i] = ix.payloads[last]
		ix.slots[moved] = i
	}
	// Drop references held by the vacated slot before shrinking.
	ix.keys[last] = ""
	ix.payloads[last] = nil
	ix.data = ix.data[:last*ix.dim]
	ix.keys = ix.keys[:last]
	ix.norms = ix.norms[:last]
	ix.versions = ix.versions[:last]
	ix.payloads = ix.payloads[:last]
	return true
}

// Clear removes every vector, keeping the allocated capacity.
func (ix *Index) Clear() {
	clear(ix.keys)
	clear(ix.payloads)
	ix.data = ix.data[:0]
	ix.keys = ix.keys[:0]
	ix.norms = ix.norms[:0]
	ix.versions = ix.versions[:0]
	ix.payloads = ix.payloads[:0]
	clear(ix.slots)
}

// Get returns a copy of the vector stored under key with its version and
// payload; ok is false if key is absent.
func (ix *Index) Get(key string) (vec []float32, version uint64, payload any, ok bool) {
	i, ok := ix.slots[key]
	if !ok {
		return nil, 0, nil, false
	}
	vec = slices.Clone(ix.data[i*ix.dim : (i+1)*ix.dim])
	return vec, ix.versions[i], ix.payloads[i], true
}

// Keys returns the keys of all vectors in ascending order, in a new slice.
func (ix *Index) Keys() []string {
	keys := slices.Clone(ix.keys)
	slices.Sort(keys)
	return keys
}
