package main

import "github.com/urfave/cli/v2"

func statusCommand() *cli.Command { return &cli.Command{Name: "status", Usage: "not built yet"} }

func listAgentsCommand() *cli.Command { return &cli.Command{Name: "listAgents", Usage: "not built yet"} }

func membersCommand() *cli.Command { return &cli.Command{Name: "members", Usage: "not built yet"} }

func operatorCommand() *cli.Command { return &cli.Command{Name: "operator", Usage: "not built yet"} }
