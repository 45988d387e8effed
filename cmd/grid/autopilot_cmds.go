package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
)

// autopilotCommand is `grid operator autopilot`.
func autopilotCommand() *cli.Command {
	return &cli.Command{
		Name:  "autopilot",
		Usage: "see and tune autopilot (dead-master cleanup, promotion) and each master's health",
		Subcommands: []*cli.Command{
			{
				Name:  "get-config",
				Usage: "print autopilot's configuration (set-config's, stored in Raft, or the masters' flags)",
				Flags: clientFlags(staleFlag),
				Action: func(c *cli.Context) error {
					var cfg *rpc.AutopilotConfig
					if err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
						var err error
						cfg, err = client.GetAutopilotConfig(readContext(c, ctx), &rpc.Empty{})
						return err
					}); err != nil {
						return err
					}
					return printAutopilotConfig(c, cfg)
				},
			},
			{
				Name:  "set-config",
				Usage: "change autopilot's configuration (flags not given keep their current value); stored in Raft",
				Flags: clientFlags(
					&cli.BoolFlag{Name: "cleanup-dead-servers", Usage: "remove masters gossip reports dead or left"},
					&cli.DurationFlag{Name: "last-contact-threshold", Usage: "a master without leader contact this long is unhealthy"},
					&cli.Uint64Flag{Name: "max-trailing-logs", Usage: "a master this many entries behind is unhealthy"},
					&cli.UintFlag{Name: "min-quorum", Usage: "cleanup never leaves fewer voters"},
					&cli.DurationFlag{Name: "server-stabilization-time", Usage: "a new master must be healthy this long before it votes"},
				),
				Action: func(c *cli.Context) error {
					var cfg *rpc.AutopilotConfig
					return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
						cur, err := client.GetAutopilotConfig(ctx, &rpc.Empty{})
						if err != nil {
							return err
						}
						if c.IsSet("cleanup-dead-servers") {
							cur.CleanupDeadServers = c.Bool("cleanup-dead-servers")
						}
						if c.IsSet("last-contact-threshold") {
							cur.LastContactThresholdMs = c.Duration("last-contact-threshold").Milliseconds()
						}
						if c.IsSet("max-trailing-logs") {
							cur.MaxTrailingLogs = c.Uint64("max-trailing-logs")
						}
						if c.IsSet("min-quorum") {
							cur.MinQuorum = uint32(c.Uint("min-quorum"))
						}
						if c.IsSet("server-stabilization-time") {
							cur.ServerStabilizationTimeMs = c.Duration("server-stabilization-time").Milliseconds()
						}
						cur.FromRaft = false
						if cfg, err = client.SetAutopilotConfig(ctx, cur); err != nil {
							return err
						}
						return printAutopilotConfig(c, cfg)
					})
				},
			},
			{
				Name:  "health",
				Usage: "each master's health, last contact and last index, and whether the failure tolerance holds; exits 1 when unhealthy",
				Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					var h *rpc.AutopilotHealthResponse
					if err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
						var err error
						h, err = client.AutopilotHealth(ctx, &rpc.Empty{})
						return err
					}); err != nil {
						return err
					}
					if c.Bool("json") {
						if err := printJSON(h); err != nil {
							return err
						}
					} else {
						w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
						fmt.Fprintln(w, "ID\tADDRESS\tSTATUS\tRAFT\tHEALTHY\tLAST CONTACT\tLAST INDEX\tLAST TERM")
						for _, s := range h.Servers {
							contact := "-"
							if s.LastContactMs >= 0 {
								contact = fmt.Sprintf("%dms", s.LastContactMs)
							}
							fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\t%s\t%d\t%d\n", s.Id, s.Address, s.Status, s.RaftState, s.Healthy, contact, s.LastIndex, s.LastTerm)
						}
						w.Flush()
						fmt.Printf("healthy: %t, leader: %s, failure tolerance: %d (holds: %t)\n", h.Healthy, h.LeaderId, h.FailureTolerance, h.FailureToleranceHolds)
					}
					if !h.Healthy {
						return cli.Exit("", 1)
					}
					return nil
				},
			},
		},
	}
}

func printAutopilotConfig(c *cli.Context, cfg *rpc.AutopilotConfig) error {
	if c.Bool("json") {
		return printJSON(cfg)
	}
	source := "the masters' flags"
	if cfg.FromRaft {
		source = "set-config (Raft)"
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "cleanup_dead_servers\t%t\nlast_contact_threshold\t%s\nmax_trailing_logs\t%d\nmin_quorum\t%d\nserver_stabilization_time\t%s\nsource\t%s\n",
		cfg.CleanupDeadServers, time.Duration(cfg.LastContactThresholdMs)*time.Millisecond, cfg.MaxTrailingLogs, cfg.MinQuorum,
		time.Duration(cfg.ServerStabilizationTimeMs)*time.Millisecond, source)
	return w.Flush()
}
