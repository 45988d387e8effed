package main

import "github.com/urfave/cli/v2"

func devCommand() *cli.Command { return &cli.Command{Name: "dev", Usage: "not built yet"} }
