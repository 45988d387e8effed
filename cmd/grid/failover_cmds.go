package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/gridctl/grid/api"
	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
)

// failoversCommand lists each change of leader, newest first.
func failoversCommand() *cli.Command {
	return &cli.Command{
		Name:  "failovers",
		Usage: "list each change of leader, newest first: term, new and previous leader, how long the cluster had no leader",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			var list *rpc.EventList
			err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				var err error
				list, err = client.QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_LEADER_ELECTED}, Limit: api.FailoverLimit})
				return err
			})
			if err != nil {
				return err
			}
			fs := api.Failovers(list.GetEvents())
			if c.Bool("json") {
				return printJSON(map[string]any{"failovers": fs})
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "AT\tTERM\tLEADER\tPREVIOUS\tLEADERLESS")
			for _, f := range fs {
				gap := "-"
				if f.LeaderlessMS >= 0 {
					gap = fmt.Sprintf("%dms", f.LeaderlessMS)
				}
				prev := f.PreviousLeaderID
				if prev == "" {
					prev = "-"
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", f.At, f.Term, f.LeaderID, prev, gap)
			}
			return w.Flush()
		},
	}
}
