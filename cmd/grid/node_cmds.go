package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc/metadata"
)

// Bounds the CLI checks before calling a master (the master checks them again).
const (
	nodeMinPort     = 1024
	nodeMaxPort     = 65535
	nodeMinMemoryMB = 16
	nodeMaxMemoryMB = 65536
)

// spawnTimeout is the default --timeout of `grid spawn`: the leader gives an
// agent up to 30 s, so the client waits a little longer.
const spawnTimeout = 40 * time.Second

func spawnCommand() *cli.Command {
	return &cli.Command{
		Name:  "spawn",
		Usage: "start a storage node on an agent (placement picks one if --agent is not given)",
		Flags: withTimeoutDefault(spawnTimeout, clientFlags(
			&cli.StringFlag{Name: "agent", Aliases: []string{"a"}, Usage: "agent id to run the node on (default: the healthy agent with the most free slots)"},
			&cli.IntFlag{Name: "port", Aliases: []string{"p"}, DefaultText: "the agent picks a free one", Usage: "node gRPC port, 1024-65535 inside the agent's range"},
			&cli.StringFlag{Name: "storage-path", Usage: "data directory relative to the agent's data dir (default: nodes/<node_id>)"},
			&cli.Int64Flag{Name: "memory", DefaultText: "the agent's default", Usage: "memory limit in MB, 16-65536"},
			&cli.StringFlag{Name: "node-id", Usage: "node id, 1-128 chars of [A-Za-z0-9._-] (default: a fresh node-<12 hex>); retrying with the same id never starts a second process"},
		)),
		Action: func(c *cli.Context) error {
			req := &rpc.SpawnRequest{AgentId: c.String("agent"), StoragePath: c.String("storage-path"), NodeId: c.String("node-id")}
			if req.NodeId == "" {
				// Named here so that trying the next --master after an
				// UNAVAILABLE answer resumes the same order, never a second node.
				var b [6]byte
				if _, err := rand.Read(b[:]); err != nil {
					return cli.Exit("Error: node id: "+err.Error(), 1)
				}
				req.NodeId = "node-" + hex.EncodeToString(b[:])
			}
			if c.IsSet("port") {
				p := c.Int("port")
				if p < nodeMinPort || p > nodeMaxPort {
					return cli.Exit(fmt.Sprintf("Error: --port %d is out of range (%d-%d)", p, nodeMinPort, nodeMaxPort), 1)
				}
				req.Port = uint32(p)
			}
			if c.IsSet("memory") {
				mb := c.Int64("memory")
				if mb < nodeMinMemoryMB || mb > nodeMaxMemoryMB {
					return cli.Exit(fmt.Sprintf("Error: --memory %d MB is out of range (%d-%d MB; omit it for the agent's default)", mb, nodeMinMemoryMB, nodeMaxMemoryMB), 1)
				}
				req.MemoryLimitMb = uint64(mb)
			}
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				resp, err := client.SpawnStorageNode(ctx, req)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(resp)
				}
				if !resp.Success {
					return cli.Exit("Error: "+resp.ErrorMessage, 1)
				}
				fmt.Printf("spawned %s on %s (pid %d, endpoint %s)\n", resp.NodeId, resp.AgentId, resp.Pid, resp.Endpoint)
				return nil
			})
		},
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:  "stop",
		Usage: "stop a storage node (its record is kept with status stopped)",
		Flags: clientFlags(
			&cli.StringFlag{Name: "node", Aliases: []string{"n"}, Required: true, Usage: "node id"},
			&cli.StringFlag{Name: "agent", Aliases: []string{"a"}, Usage: "agent id the node must be on (a check; optional)"},
		),
		Action: func(c *cli.Context) error {
			req := &rpc.StopRequest{NodeId: c.String("node"), AgentId: c.String("agent")}
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				resp, err := client.StopStorageNode(ctx, req)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(resp)
				}
				if !resp.Success {
					return cli.Exit("Error: "+resp.ErrorMessage, 1)
				}
				fmt.Printf("stopped %s\n", req.NodeId)
				return nil
			})
		},
	}
}

func nodeStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "node-status",
		Usage: "show one storage node (refreshed from its agent when reachable)",
		Flags: clientFlags(
			&cli.StringFlag{Name: "node", Aliases: []string{"n"}, Required: true, Usage: "node id"},
		),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				n, err := client.GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: c.String("node")})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(n)
				}
				return printNodeDetail(n)
			})
		},
	}
}

func nodesCommand() *cli.Command {
	return &cli.Command{
		Name:  "nodes",
		Usage: "list storage nodes",
		Flags: clientFlags(
			&cli.StringFlag{Name: "agent", Aliases: []string{"a"}, Usage: "only the nodes of this agent"},
			&cli.BoolFlag{Name: "stale", Usage: "let any master answer from its own replica"},
		),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				if c.Bool("stale") {
					ctx = metadata.AppendToOutgoingContext(ctx, rpc.StaleMetadataKey, "true")
				}
				list, err := client.ListStorageNodes(ctx, &rpc.Empty{})
				if err != nil {
					return err
				}
				if agent := c.String("agent"); agent != "" {
					kept := list.Nodes[:0]
					for _, n := range list.Nodes {
						if n.AgentId == agent {
							kept = append(kept, n)
						}
					}
					list.Nodes = kept
				}
				if c.Bool("json") {
					return printJSON(list)
				}
				return printNodeTable(list.Nodes)
			})
		},
	}
}

// withTimeoutDefault changes the default of the shared --timeout flag.
func withTimeoutDefault(d time.Duration, flags []cli.Flag) []cli.Flag {
	for i, f := range flags {
		if df, ok := f.(*cli.DurationFlag); ok && df.Name == "timeout" {
			c := *df
			c.Value = d
			flags[i] = &c
		}
	}
	return flags
}

// printNodeTable writes nodes as an aligned table.
func printNodeTable(nodes []*rpc.NodeStatus) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tAGENT\tSTATUS\tDESIRED\tPID\tPORT\tENDPOINT\tRESTARTS\tLAST ERROR")
	for _, n := range nodes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.NodeId, n.AgentId, n.Status, n.DesiredState,
			nodeNum(n.Pid), nodeNum(n.Port), nodeText(n.Endpoint), n.RestartCount, nodeText(n.LastError))
	}
	if len(nodes) == 0 {
		fmt.Fprintln(w, "(no storage nodes)")
	}
	return w.Flush()
}

// printNodeDetail writes one node as aligned key/value lines.
func printNodeDetail(n *rpc.NodeStatus) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"node_id", n.NodeId},
		{"agent_id", n.AgentId},
		{"status", n.Status},
		{"desired_state", n.DesiredState},
		{"pid", nodeNum(n.Pid)},
		{"port", nodeNum(n.Port)},
		{"endpoint", nodeText(n.Endpoint)},
		{"storage_path", nodeText(n.StoragePath)},
		{"memory_limit_mb", nodeNum(uint32(n.MemoryLimitMb))},
		{"restart_count", strconv.Itoa(int(n.RestartCount))},
		{"last_exit_code", strconv.Itoa(int(n.LastExitCode))},
		{"last_signal", nodeText(n.LastSignal)},
		{"last_error", nodeText(n.LastError)},
		{"created_at", nodeTime(n.CreatedAt)},
		{"started_at", nodeTime(n.StartedAt)},
		{"updated_at", nodeTime(n.UpdatedAt)},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\n", r[0], r[1])
	}
	return w.Flush()
}

func nodeNum(v uint32) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(v), 10)
}

func nodeText(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nodeTime(us int64) string {
	if us == 0 {
		return "-"
	}
	return time.UnixMicro(us).UTC().Format(time.RFC3339)
}
