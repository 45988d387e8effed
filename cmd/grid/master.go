package main

import "github.com/urfave/cli/v2"

func masterCommand() *cli.Command { return &cli.Command{Name: "master", Usage: "not built yet"} }
