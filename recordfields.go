package inmem

// recordFields reads the fields of a record Value a primitive stored (a run,
// a trace): each accessor returns false, or the null Value, for a field
// that is missing or of another kind, and the decoder reports the record
// as malformed.
type recordFields struct{ rec Value }

func (r recordFields) str(key string) (string, bool) {
	v, _ := r.rec.Get(key)
	return v.AsString()
}

func (r recordFields) integer(key string) (int64, bool) {
	v, _ := r.rec.Get(key)
	return v.AsInt()
}

func (r recordFields) field(key string) Value {
	v, _ := r.rec.Get(key)
	return v
}
