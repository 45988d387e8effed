package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/gridctl/grid/agent/sim"
	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
)

func simAgentsCommand() *cli.Command {
	def := sim.DefaultConfig()
	return &cli.Command{
		Name:   "sim-agents",
		Usage:  "simulate many agents registering and heartbeating over gRPC (benchmarks)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "masters", Required: true, Usage: "masters' gRPC addresses, comma-separated"},
			&cli.IntFlag{Name: "n", Value: def.Agents, Usage: "agents to simulate"},
			&cli.DurationFlag{Name: "interval", Value: def.Interval, Usage: "heartbeat interval until the leader answers one"},
			&cli.DurationFlag{Name: "duration", Value: def.Duration, Usage: "heartbeat window after registration"},
			&cli.IntFlag{Name: "conns", Value: def.Conns, Usage: "gRPC connections shared by the agents"},
			&cli.IntFlag{Name: "register-workers", Value: def.RegisterWorkers, Usage: "concurrent registrations"},
			&cli.BoolFlag{Name: "unpaced", Usage: "heartbeat back to back from --workers callers (maximum rate)"},
			&cli.IntFlag{Name: "workers", Value: def.Workers, Usage: "concurrent callers with --unpaced"},
			&cli.BoolFlag{Name: "unary", Usage: "heartbeat with one unary Heartbeat call per beat instead of one HeartbeatStream per agent (comparison)"},
			&cli.BoolFlag{Name: "fixed-interval", Usage: "beat every --interval whatever the leader returns (diagnostics)"},
			&cli.StringFlag{Name: "prefix", Value: def.Prefix, Usage: "agent id prefix"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace|debug|info|warn|error"},
			logJSONFlag("GRID_LOG_JSON"),
			&cli.StringFlag{Name: "api-token", EnvVars: []string{"GRID_API_TOKEN"}, Usage: "bearer token sent on every call"},
			tlsFlags()[0], tlsFlags()[1], tlsFlags()[2],
		},
		Action: func(c *cli.Context) error {
			cfg := def
			var err error
			if cfg.TLS, cfg.APIToken, err = securityFromFlags(c); err != nil {
				return err
			}
			for _, a := range strings.Split(c.String("masters"), ",") {
				if a = strings.TrimSpace(a); a != "" {
					cfg.Masters = append(cfg.Masters, a)
				}
			}
			cfg.Agents, cfg.Interval, cfg.Duration = c.Int("n"), c.Duration("interval"), c.Duration("duration")
			cfg.Conns, cfg.RegisterWorkers, cfg.Workers = c.Int("conns"), c.Int("register-workers"), c.Int("workers")
			cfg.Unpaced, cfg.Prefix, cfg.Unary = c.Bool("unpaced"), c.String("prefix"), c.Bool("unary")
			cfg.FixedInterval = c.Bool("fixed-interval")
			if err := cfg.Validate(); err != nil {
				return cli.Exit("Error: "+err.Error(), 2)
			}
			logger := hclog.New(&hclog.LoggerOptions{Name: "sim-agents", Level: hclog.LevelFromString(c.String("log-level")), Output: os.Stderr, JSONFormat: c.Bool("log-json")})
			rep, err := sim.Run(c.Context, cfg, logger)
			if err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			if c.Bool("json") {
				return printJSON(rep)
			}
			fmt.Printf("%s: %d agents via %s, registered in %.2fs\n", rep.Mode, rep.Agents, rep.Target, rep.RegisterSeconds)
			fmt.Printf("heartbeats: %d in %.1fs (%.0f/s), errors %d\n", rep.Heartbeats, rep.WindowSeconds, rep.PerSecond, rep.Errors)
			fmt.Printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", rep.P50Ms, rep.P90Ms, rep.P99Ms, rep.MaxMs)
			return nil
		},
	}
}
