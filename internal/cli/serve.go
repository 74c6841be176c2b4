package cli

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/server"
	"github.com/spf13/cobra"
)

// serveCommands are `inmem serve` (HTTP/JSON, the change feed, metrics and
// MCP at /mcp) and `inmem mcp` (MCP over stdio).
func (a *app) serveCommands() []*cobra.Command {
	var (
		addr, tokenFile, tlsCert, tlsKey, durability string
		maxBody                                      int64
	)
	serve := &cobra.Command{
		Use:   "serve <dir>",
		Short: "Serve a database over HTTP/JSON and MCP (creates the directory if needed)",
		Long: `serve opens <dir> (creating a new database there if it does not exist) and
serves it until SIGINT or SIGTERM, then finishes in-flight requests and closes
the database cleanly. It prints "listening on <url>" on stdout once it accepts
connections. It listens on loopback unless told otherwise; any other address
requires --token-file, whose token clients send as "Authorization: Bearer".
The API is described at /openapi.json; MCP is at /mcp.`,
		Args: a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := server.Config{Addr: addr, TLSCert: tlsCert, TLSKey: tlsKey, MaxBodyBytes: maxBody, Logger: a.logger()}
			if tokenFile != "" {
				t, err := server.ReadToken(tokenFile)
				if err != nil {
					return usageError{err}
				}
				cfg.Token = t
			}
			if err := server.CheckConfig(cfg); err != nil {
				return usageError{err}
			}
			db, err := a.openForServe(args[0], durability)
			if err != nil {
				return err
			}
			defer db.Close()
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return err
			}
			scheme := "http"
			if tlsCert != "" {
				scheme = "https"
			}
			fmt.Fprintf(a.stdout, "listening on %s://%s\n", scheme, ln.Addr())
			if f, ok := a.stdout.(*os.File); ok {
				f.Sync()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := server.New(db, cfg).Serve(ctx, ln); err != nil {
				db.Close()
				return err
			}
			return db.Close()
		},
	}
	serve.Flags().StringVar(&addr, "addr", server.DefaultAddr, "listen address host:port (port 0 picks a free one)")
	serve.Flags().StringVar(&tokenFile, "token-file", "", "file holding the bearer token clients must send (required off loopback)")
	serve.Flags().StringVar(&tlsCert, "tls-cert", "", "TLS certificate file (with --tls-key)")
	serve.Flags().StringVar(&tlsKey, "tls-key", "", "TLS key file (with --tls-cert)")
	serve.Flags().StringVar(&durability, "durability", "strict", "strict, buffered or inmemory")
	serve.Flags().Int64Var(&maxBody, "max-body", 32<<20, "largest request body in bytes")

	var mcpDurability string
	mcp := &cobra.Command{
		Use:   "mcp <dir>",
		Short: "Serve a database to an MCP client over stdio",
		Args:  a.args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openForServe(args[0], mcpDurability)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := server.New(db, server.Config{Logger: a.logger()}).ServeMCPStdio(ctx); err != nil && ctx.Err() == nil {
				return err
			}
			return db.Close()
		},
	}
	mcp.Flags().StringVar(&mcpDurability, "durability", "strict", "strict, buffered or inmemory")
	return []*cobra.Command{serve, mcp}
}

func (a *app) openForServe(dir, durability string) (*inmem.DB, error) {
	d, err := inmem.ParseDurability(durability)
	if err != nil {
		return nil, usageError{err}
	}
	return inmem.Open(dir, &inmem.Options{Durability: d, Logger: a.logger()})
}
