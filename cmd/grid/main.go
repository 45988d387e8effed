// Command grid is Grid's one binary: masters, agents, storage nodes, the dev
// cluster and the client commands. This package only wires urfave/cli flags
// to config structs and constructors; behaviour lives in the packages.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	app := &cli.App{
		Name:    "grid",
		Usage:   "a highly available control plane for fleets of storage processes",
		Version: version,
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
			tlsCommand(),
			keygenCommand(),
			simAgentsCommand(),
			monitorCommand(),
			debugCommand(),
			agentsCommand(),
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
