// Command inmem inspects, maintains and demonstrates in-mem databases.
//
//	go run ./cmd/inmem demo          # an agent-like workload, persisted, recovered and verified
//	inmem info <dir>                 # what a database directory holds
//	inmem check <dir>                # verify every checksum and hash chain (exit 3 on damage)
//
// Run `inmem help` for every command.
package main

import (
	"os"

	"github.com/inmemdb/inmem/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
