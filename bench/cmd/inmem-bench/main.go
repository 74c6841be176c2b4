// Command inmem-bench is `inmem bench` with the peers: Pebble, Badger,
// bbolt, SQLite and buntdb, measured in the same run by the same
// workloads as in-mem, its Go-map floor and the raw fsync baselines.
//
//	cd bench && go run ./cmd/inmem-bench --help
package main

import (
	"os"

	"github.com/inmemdb/inmem/bench/peers"
	"github.com/inmemdb/inmem/internal/cli"
)

func main() {
	os.Exit(cli.BenchMain(os.Args[1:], os.Stdout, os.Stderr, peers.Specs()))
}
