package inmem

type storage struct{}

func openStorage(db *DB) (*storage, error) {
	return nil, errorf(CodeInvalidArgument, "Open", "directories are not supported yet")
}
func (s *storage) close() error    { return nil }
func (s *storage) flush() error    { return nil }
func (s *storage) stats() WALStats { return WALStats{} }
