package vector

// Shrink releases the memory deletions left behind: Delete keeps the
// capacity of the slot slices and Go maps never give buckets back, so an
// index that once held many more vectors than it does now keeps their
// room. Shrink copies the slots into right-sized slices and rebuilds the
// key map when at least half of the capacity is unused. It returns the
// bytes of slot storage released (an estimate that leaves out the map).
func (ix *Index) Shrink() int64 {
	n, c := len(ix.keys), cap(ix.keys)
	if c < 64 || n > c/2 {
		return 0
	}
	before := ix.slotBytes()
	ix.data = append(make([]float32, 0, n*ix.dim), ix.data...)
	ix.keys = append(make([]string, 0, n), ix.keys...)
	ix.norms = append(make([]float32, 0, n), ix.norms...)
	ix.versions = append(make([]uint64, 0, n), ix.versions...)
	ix.payloads = append(make([]any, 0, n), ix.payloads...)
	slots := make(map[string]int, n)
	for k, i := range ix.slots {
		slots[k] = i
	}
	ix.slots = slots
	return before - ix.slotBytes()
}

// slotBytes is the capacity of the slot slices in bytes.
func (ix *Index) slotBytes() int64 {
	return int64(cap(ix.data))*4 + int64(cap(ix.keys))*16 + int64(cap(ix.norms))*4 +
		int64(cap(ix.versions))*8 + int64(cap(ix.payloads))*16
}
