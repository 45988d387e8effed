package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gridctl/grid/cluster"
	"github.com/urfave/cli/v2"
)

// snapshotInspectCommand reads a snapshot file offline.
func snapshotInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "print a snapshot file's index, term, size, checksum and counts (no cluster needed)",
		ArgsUsage: "FILE",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("Error: snapshot inspect needs exactly one FILE argument", 2)
			}
			info, err := cluster.InspectSnapshotFile(c.Args().First())
			if err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			if c.Bool("json") {
				return printJSON(info)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "file\t%s\ncluster_id\t%s\nindex\t%d\nterm\t%d\nsize\t%d\nsha256\t%s\nagents\t%d\nnodes\t%d\nevents\t%d\nlast_seq\t%d\nmasters\t%s\n",
				info.File, info.ClusterID, info.Index, info.Term, info.Size, info.SHA256, info.Agents, info.Nodes, info.Events, info.LastSeq, strings.Join(info.Masters, ", "))
			return w.Flush()
		},
	}
}
