package main

import "github.com/urfave/cli/v2"

func eventsCommand() *cli.Command { return &cli.Command{Name: "events", Usage: "not built yet"} }

func queryCommand() *cli.Command { return &cli.Command{Name: "query", Usage: "not built yet"} }
