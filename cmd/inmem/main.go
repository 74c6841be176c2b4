// Command inmem inspects, maintains and demonstrates in-mem databases.
//
//	go run ./cmd/inmem demo          # an agent-like workload, persisted, recovered and verified
//	inmem info <dir>                 # what a database directory holds
//	inmem check <dir>                # verify every checksum and hash chain (exit 3 on damage)
//	inmem tail <dir>                 # print commits as a live writer makes them
//
// Run `inmem help` for every command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/inmemdb/inmem/internal/cli"
)

func main() {
	// An interrupt ends `tail` and `events list --follow` cleanly; other
	// commands finish what they do or stop at their next context check.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.MainContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
