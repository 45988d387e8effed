package main

import (
	"fmt"

	"github.com/gridctl/grid/cluster"
	"github.com/urfave/cli/v2"
)

// dayTwoFlags are the master's flags for rescheduling, garbage collection
// and scheduled snapshots.
func dayTwoFlags(def cluster.Config) []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "reschedule-after", Value: def.Nodes.RescheduleAfter, Usage: "agent silence after which its nodes are marked lost and placed on other agents (0: never)"},
		&cli.IntFlag{Name: "reschedule-attempts", Value: def.Nodes.RescheduleAttempts, Usage: "reschedules per hour of a node whose restart budget is spent"},
		&cli.DurationFlag{Name: "agent-gc-after", Value: def.Nodes.AgentGCAfter, Usage: "remove agents offline this long (0: never)"},
		&cli.DurationFlag{Name: "node-gc-after", Value: def.Nodes.NodeGCAfter, Usage: "remove node records stopped or failed this long (0: never)"},
		&cli.DurationFlag{Name: "snapshot-interval", Value: def.Snapshots.Interval, Usage: "take a snapshot of the cluster state this often (0: off)"},
		&cli.IntFlag{Name: "snapshot-retain", Value: def.Snapshots.Retain, Usage: "scheduled snapshots to keep"},
		&cli.StringFlag{Name: "snapshot-dir", Usage: "where scheduled snapshots go (default <data-dir>/snapshots)"},
	}
}

// dayTwoConfig reads dayTwoFlags into cfg.
func dayTwoConfig(c *cli.Context, cfg *cluster.Config) error {
	for _, name := range []string{"reschedule-after", "agent-gc-after", "node-gc-after", "snapshot-interval"} {
		if c.Duration(name) < 0 {
			return fmt.Errorf("--%s must not be negative", name)
		}
	}
	if c.Int("reschedule-attempts") < 0 {
		return fmt.Errorf("--reschedule-attempts must not be negative")
	}
	if c.Int("snapshot-retain") < 1 {
		return fmt.Errorf("--snapshot-retain must be at least 1")
	}
	cfg.Nodes.RescheduleAfter = c.Duration("reschedule-after")
	cfg.Nodes.RescheduleAttempts = c.Int("reschedule-attempts")
	cfg.Nodes.AgentGCAfter = c.Duration("agent-gc-after")
	cfg.Nodes.NodeGCAfter = c.Duration("node-gc-after")
	cfg.Snapshots.Interval = c.Duration("snapshot-interval")
	cfg.Snapshots.Retain = c.Int("snapshot-retain")
	cfg.Snapshots.Dir = c.String("snapshot-dir")
	return nil
}
