package main

import "github.com/urfave/cli/v2"

func agentCommand() *cli.Command { return &cli.Command{Name: "agent", Usage: "not built yet"} }

func storageNodeCommand() *cli.Command { return &cli.Command{Name: "storageNode", Usage: "not built yet"} }
