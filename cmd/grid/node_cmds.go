package main

import "github.com/urfave/cli/v2"

func spawnCommand() *cli.Command { return &cli.Command{Name: "spawn", Usage: "not built yet"} }

func stopCommand() *cli.Command { return &cli.Command{Name: "stop", Usage: "not built yet"} }

func nodeStatusCommand() *cli.Command { return &cli.Command{Name: "nodeStatus", Usage: "not built yet"} }

func nodesCommand() *cli.Command { return &cli.Command{Name: "nodes", Usage: "not built yet"} }
