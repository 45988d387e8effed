// Command grid is Grid's one binary: masters, agents, storage nodes, the dev
// cluster and the client commands. This package only wires urfave/cli flags
// to config structs and constructors; behaviour lives in the packages.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	_ "time/tzdata" // `grid query` zones work in a FROM scratch image

	"github.com/urfave/cli/v2"
)

// Exit codes, documented in `grid --help` and docs/operations.md.
const (
	exitOK    = 0 // success
	exitError = 1 // the command ran and failed (no master, refused, not found, no leader)
	exitUsage = 2 // bad flags, arguments or configuration
)

const exitCodesHelp = `EXIT CODES:
   0  success
   1  error: the command ran and failed (no master reachable, refused, not found, no leader)
   2  usage: bad flags, arguments or configuration`

func main() {
	app := newApp()
	err := app.Run(os.Args)
	os.Exit(exitCode(err))
}

// newApp is the command tree.
func newApp() *cli.App {
	cli.VersionPrinter = func(c *cli.Context) { printVersion(c.App.Writer) }
	app := &cli.App{
		Name:                 "grid",
		Usage:                "a highly available control plane for fleets of storage processes",
		Version:              version,
		EnableBashCompletion: true,
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitCodesHelp + "\n\n" +
			"Client commands take --master host:port, http://host:port or a comma-separated list (GRID_MASTER).\n",
		Commands: []*cli.Command{
			masterCommand(),
			agentCommand(),
			storageNodeCommand(),
			devCommand(),
			statusCommand(),
			listAgentsCommand(),
			membersCommand(),
			operatorCommand(),
			spawnCommand(),
			stopCommand(),
			nodeStatusCommand(),
			nodesCommand(),
			eventsCommand(),
			queryCommand(),
			alertsCommand(),
			webhooksCommand(),
			tlsCommand(),
			aclCommand(),
			keygenCommand(),
			simAgentsCommand(),
			monitorCommand(),
			debugCommand(),
			agentsCommand(),
			versionCommand(),
			completionCommand(),
			healthCommand(),
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "Error: unknown command %q; see grid --help\n", name)
			cli.OsExiter(exitUsage)
		},
		OnUsageError: usageError,
		// Errors are printed by exitCode, once.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		setUsageErrors(cmd)
	}
	return app
}

// setUsageErrors makes a flag error of cmd and its subcommands exit 2.
func setUsageErrors(cmd *cli.Command) {
	cmd.OnUsageError = usageError
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub)
	}
}

func usageError(c *cli.Context, err error, _ bool) error {
	return cli.Exit("Error: "+err.Error()+" (see --help)", exitUsage)
}

// exitCode prints err (once) and maps it to the process's exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := strings.TrimSpace(ec.Error()); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		return ec.ExitCode()
	}
	msg := err.Error()
	fmt.Fprintln(os.Stderr, "Error:", msg)
	// urfave/cli's own parse errors are not ExitCoders.
	for _, p := range []string{"Required flag", "Required flags", "flag provided but not defined", "invalid value", "flag needs an argument"} {
		if strings.Contains(msg, p) {
			return exitUsage
		}
	}
	return exitError
}
