package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/inmemdb/inmem"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitError     = 1
	ExitUsage     = 2
	ExitIntegrity = 3
)

// Version is the tool's version.
const Version = "0.1.0"

// usageError marks errors in how the command was called.
type usageError struct{ error }

// integrityError marks a failed integrity check.
type integrityError struct{ error }

type app struct {
	stdout, stderr io.Writer
	output         string
	verbose        bool
}

// Main runs the tool with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return execute(context.Background(), args, stdout, stderr)
}

func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "inmem:", strings.TrimPrefix(err.Error(), "inmem: "))
	var ue usageError
	var ie integrityError
	switch {
	case errors.As(err, &ie), errors.Is(err, inmem.ErrCorruption):
		return ExitIntegrity
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command "):
		// cobra reports an unknown command at the top level itself.
		return ExitUsage
	}
	return ExitError
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "inmem",
		Short:         "in-mem: an embedded transactional state database for AI agents",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "table", "output format: table, json or ndjson")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log to stderr")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		switch a.output {
		case "table", "json", "ndjson":
			return nil
		}
		return usageError{fmt.Errorf("unknown output format %q (want table, json or ndjson)", a.output)}
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  a.args(cobra.NoArgs),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.emit(map[string]string{"version": Version}, func(w io.Writer) { fmt.Fprintln(w, "inmem", Version) })
			},
		},

		a.infoCommand(),
		a.manifestCommand(),
		a.statsCommand(),
		a.walCommand(),
		a.tailCommand(),
		a.watchCommand(),

		a.checkpointCommand(),
		a.compactCommand(),
		a.retentionCommand(),
		a.exportCommand(),
		a.importCommand(),
		a.checkCommand(),

		a.demoCommand(),
		a.kvCommand(),
		a.eventsCommand(),
		a.stateCommand(),
		a.tracesCommand(),
		a.runsCommand(),
		a.jsonCommand(),
		a.vectorsCommand(),
	)
	root.AddCommand(a.benchCommand())
	root.AddCommand(a.stressCommand(), a.crashtestCommand())
	root.AddCommand(a.serveCommands()...)
	a.strictGroups(root)
	return root
}

// strictGroups makes every command that only holds subcommands refuse to
// run without one (cobra would print help and succeed): a missing or
// unknown subcommand is a usage error.
func (a *app) strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		a.strictGroups(sub)
	}
	if c.HasParent() && c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return nil
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			return usageError{fmt.Errorf("%s needs a subcommand (see %s --help)", cmd.CommandPath(), cmd.CommandPath())}
		}
	}
}

// args wraps a cobra argument validator so that its errors are usage errors.
func (a *app) args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func (a *app) logger() *slog.Logger {
	if !a.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(a.stderr, nil))
}

// emit writes v as JSON (json, ndjson) or calls table for the human form.
func (a *app) emit(v any, table func(w io.Writer)) error {
	switch a.output {
	case "json":
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "ndjson":
		return json.NewEncoder(a.stdout).Encode(v)
	}
	table(a.stdout)
	return nil
}

// openDir opens an existing database directory (never creating one).
func (a *app) openDir(dir string, opts inmem.Options) (*inmem.DB, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", dir, err)}
	}
	if opts.Logger == nil {
		opts.Logger = a.logger()
	}
	return inmem.Open(dir, &opts)
}
