package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
)

// agentsCommand is `grid agents`: day-two operations on one agent.
func agentsCommand() *cli.Command {
	return &cli.Command{
		Name:  "agents",
		Usage: "operate on one agent: show it, take it out of placement, drain it, remove it",
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "show one agent: status, eligibility, drain and nodes",
				ArgsUsage: "AGENT_ID",
				Flags:     clientFlags(staleFlag),
				Action: func(c *cli.Context) error {
					id, err := oneAgentArg(c)
					if err != nil {
						return err
					}
					var a *rpc.AgentRecord
					if err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
						a, err = client.GetAgent(readContext(c, ctx), &rpc.AgentId{AgentId: id})
						return err
					}); err != nil {
						return err
					}
					return printAgent(c, a)
				},
			},
			{
				Name:      "eligibility",
				Usage:     "turn placement of new nodes on an agent off (--disable) or on (--enable)",
				ArgsUsage: "AGENT_ID",
				Flags: clientFlags(
					&cli.BoolFlag{Name: "disable", Usage: "placement skips the agent"},
					&cli.BoolFlag{Name: "enable", Usage: "placement may use the agent again"},
				),
				Action: func(c *cli.Context) error {
					id, err := oneAgentArg(c)
					if err != nil {
						return err
					}
					if c.Bool("disable") == c.Bool("enable") {
						return cli.Exit("Error: give exactly one of --disable and --enable", 2)
					}
					var a *rpc.AgentRecord
					if err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
						a, err = client.SetAgentEligibility(ctx, &rpc.AgentEligibilityRequest{AgentId: id, Eligible: c.Bool("enable")})
						return err
					}); err != nil {
						return err
					}
					return printAgent(c, a)
				},
			},
			{
				Name:      "drain",
				Usage:     "move every node off an agent (start elsewhere, then stop here), copying each node's data unless --no-migrate",
				ArgsUsage: "AGENT_ID",
				Flags: clientFlags(
					&cli.DurationFlag{Name: "deadline", Value: time.Hour, Usage: "the drain fails if nodes are left after this long"},
					&cli.BoolFlag{Name: "no-migrate", Usage: "start nodes with an empty data directory instead of copying it"},
					&cli.BoolFlag{Name: "disable", Usage: "cancel a drain under way (the agent stays ineligible)"},
				),
				Action: func(c *cli.Context) error {
					id, err := oneAgentArg(c)
					if err != nil {
						return err
					}
					d := c.Duration("deadline")
					if d < time.Second {
						return cli.Exit(fmt.Sprintf("Error: --deadline %s: give at least 1s, e.g. --deadline 10m", d), 2)
					}
					req := &rpc.DrainAgentRequest{AgentId: id, Enable: !c.Bool("disable"), DeadlineS: int64(d / time.Second), MigrateData: !c.Bool("no-migrate")}
					var a *rpc.AgentRecord
					if err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
						a, err = client.DrainAgent(ctx, req)
						return err
					}); err != nil {
						return err
					}
					return printAgent(c, a)
				},
			},
			{
				Name:      "remove",
				Usage:     "unregister an agent; a healthy one, or one with running nodes, needs --force",
				ArgsUsage: "AGENT_ID",
				Flags:     clientFlags(&cli.BoolFlag{Name: "force", Usage: "also a healthy agent or one with running nodes"}),
				Action: func(c *cli.Context) error {
					id, err := oneAgentArg(c)
					if err != nil {
						return err
					}
					if err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
						_, err := client.RemoveAgent(ctx, &rpc.RemoveAgentRequest{AgentId: id, Force: c.Bool("force")})
						return err
					}); err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(map[string]any{"success": true, "agent_id": id})
					}
					fmt.Printf("agent %s removed\n", id)
					return nil
				},
			},
		},
	}
}

// oneAgentArg is the single AGENT_ID argument.
func oneAgentArg(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", cli.Exit("Error: give exactly one AGENT_ID (grid list-agents shows them)", 2)
	}
	id := c.Args().First()
	if err := rpc.ValidateID("agent_id", id); err != nil {
		return "", cli.Exit("Error: "+err.Error(), 2)
	}
	return id, nil
}

// printAgent prints one agent record (JSON with --json).
func printAgent(c *cli.Context, a *rpc.AgentRecord) error {
	if c.Bool("json") {
		return printJSON(a)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "agent\t%s\nstatus\t%s\neligible\t%t\nendpoint\t%s\n", a.AgentId, a.Status, !a.Ineligible, a.Endpoint)
	if d := a.GetDrain(); d != nil {
		line := d.Status
		if d.MigrateData {
			line += ", migrating data"
		}
		if d.Deadline > 0 {
			line += ", deadline " + time.UnixMicro(d.Deadline).UTC().Format(time.RFC3339)
		}
		if d.Error != "" {
			line += ": " + d.Error
		}
		fmt.Fprintf(w, "drain\t%s\n", line)
	}
	var nodes []string
	for _, n := range a.StorageNodes {
		nodes = append(nodes, n.NodeId+" ("+n.Status+")")
	}
	fmt.Fprintf(w, "nodes\t%s\n", strings.Join(nodes, ", "))
	return w.Flush()
}
