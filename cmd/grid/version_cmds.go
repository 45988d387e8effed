package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/urfave/cli/v2"
)

// version and commit are set at build time:
// -ldflags "-X main.version=1.2.3 -X main.commit=abc1234".
var (
	version = "dev"
	commit  = "unknown"
)

// printVersion writes what `grid version` and `grid --version` print.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "grid %s\ncommit:   %s\ngo:       %s\nplatform: %s/%s\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, commit, Go version and platform",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("Error: unexpected argument %q", c.Args().First()), exitUsage)
			}
			if c.Bool("json") {
				return printJSON(map[string]string{"version": version, "commit": commit,
					"go_version": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH})
			}
			printVersion(c.App.Writer)
			return nil
		},
	}
}
