package inmem

// SetDiffVisitHook sets a function told about every entity a diff
// compares (nil removes it), so tests can check what a diff reads.
func SetDiffVisitHook(f func(sp PrimitiveType, key string)) { diffVisit = f }
