package peers

import "github.com/inmemdb/inmem/internal/benchkit"

// Specs returns every peer.
func Specs() []benchkit.Spec {
	return []benchkit.Spec{
		{Name: "Pebble", Kind: benchkit.KindPeer, Modes: map[benchkit.Mode]string{
			benchkit.Durable: "Sync", benchkit.Buffered: "NoSync", benchkit.Memory: "memtable"},
			New: func() benchkit.Engine { return &pebbleEngine{} }},
		{Name: "Badger", Kind: benchkit.KindPeer, Modes: map[benchkit.Mode]string{
			benchkit.Durable: "SyncWrites", benchkit.Memory: "InMemory"},
			New: func() benchkit.Engine { return &badgerEngine{} }},
		{Name: "bbolt", Kind: benchkit.KindPeer, Modes: map[benchkit.Mode]string{benchkit.Durable: ""},
			New: func() benchkit.Engine { return &boltEngine{} }},
		{Name: "SQLite", Kind: benchkit.KindPeer, Modes: map[benchkit.Mode]string{
			benchkit.Durable: "WAL FULL", benchkit.Buffered: "WAL NORMAL", benchkit.Memory: ":memory:"},
			New: func() benchkit.Engine { return &sqliteEngine{} }},
		{Name: "buntdb", Kind: benchkit.KindPeer, Modes: map[benchkit.Mode]string{
			benchkit.Durable: "SyncPolicy=Always", benchkit.Memory: ":memory:"},
			New: func() benchkit.Engine { return &buntEngine{} }},
	}
}
