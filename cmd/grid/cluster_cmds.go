package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/urfave/cli/v2"
	"google.golang.org/grpc/metadata"
)

// staleFlag lets a read be answered by the contacted master's replica.
var staleFlag = &cli.BoolFlag{Name: "stale", Usage: "answer from the contacted master's replica (may lag the leader)"}

// readContext adds x-grid-stale when --stale is set.
func readContext(c *cli.Context, ctx context.Context) context.Context {
	if c.Bool("stale") {
		return metadata.AppendToOutgoingContext(ctx, rpc.StaleMetadataKey, "true")
	}
	return ctx
}

// table starts an aligned table on stdout.
func table(header ...string) *tabwriter.Writer {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	return w
}

func row(w io.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// unixTime formats unix seconds for tables ("-" for zero).
func unixTime(sec int64) string {
	if sec == 0 {
		return "-"
	}
	return time.Unix(sec, 0).Local().Format("2006-01-02 15:04:05")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show cluster health, leader, masters and agent counts",
		Flags: clientFlags(staleFlag),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				st, err := client.GetClusterStatus(readContext(c, ctx), &rpc.Empty{})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					if err := printJSON(st); err != nil {
						return err
					}
					return noLeader(st)
				}
				leader := "none"
				if st.Leader != nil {
					leader = fmt.Sprintf("%s (%s)", st.Leader.Id, st.Leader.GrpcAddr)
				}
				fmt.Printf("Status:             %s (%s)\n", st.Status, st.Reason)
				fmt.Printf("Leader:             %s\n", leader)
				fmt.Printf("Failure tolerance:  %d\n", st.FailureTolerance)
				fmt.Printf("Agents:             %d healthy of %d\n", st.HealthyAgents, st.TotalAgents)
				fmt.Printf("Storage nodes:      %d running of %d\n", st.RunningStorageNodes, st.TotalStorageNodes)
				fmt.Printf("Commit index:       %d   Last event seq: %d\n\n", st.CommitIndex, st.LastEventSeq)
				printMasters(st.Masters)
				return noLeader(st)
			})
		},
	}
}

// noLeader is `grid status`'s exit 1 when the cluster has no leader.
func noLeader(st *rpc.ClusterStatus) error {
	if st.GetLeader().GetId() != "" {
		return nil
	}
	return cli.Exit("Error: the cluster has no leader: writes are refused until a quorum of masters is up", exitError)
}

// printMasters prints the masters table.
func printMasters(masters []*rpc.MasterInfo) {
	w := table("ID", "STATE", "SUFFRAGE", "HEALTHY", "RAFT", "GRPC", "HTTP", "LAST CONTACT")
	for _, mi := range masters {
		lc := "-"
		if mi.LastContactMs >= 0 {
			lc = (time.Duration(mi.LastContactMs) * time.Millisecond).String()
		}
		row(w, mi.Id, mi.State, mi.Suffrage, mi.Healthy, mi.RaftAddr, dash(mi.GrpcAddr), dash(mi.HttpAddr), lc)
	}
	w.Flush()
}

func listAgentsCommand() *cli.Command {
	return &cli.Command{
		Name:  "list-agents",
		Usage: "list registered agents and their storage nodes",
		Flags: clientFlags(staleFlag),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				list, err := client.ListAgents(readContext(c, ctx), &rpc.Empty{})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(list)
				}
				if len(list.Agents) == 0 {
					fmt.Println("No agents registered.")
					return nil
				}
				w := table("AGENT", "STATUS", "HOSTNAME", "PLATFORM", "NODES", "ENDPOINT", "LAST HEARTBEAT")
				for _, a := range list.Agents {
					row(w, a.AgentId, a.Status, dash(a.Hostname), dash(a.Platform),
						fmt.Sprintf("%d/%d", a.CurrentStorageNodes, a.MaxStorageNodes), dash(a.Endpoint), unixTime(int64(a.LastHeartbeat)))
					for _, n := range a.StorageNodes {
						pid := "-"
						if n.Pid != 0 {
							pid = fmt.Sprint(n.Pid)
						}
						row(w, "  └ "+n.NodeId, n.Status, "pid "+pid, "", "", dash(n.Endpoint), "")
					}
				}
				return w.Flush()
			})
		},
	}
}

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list gossip members as the contacted master sees them",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				list, err := client.ListMembers(ctx, &rpc.Empty{})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(list)
				}
				w := table("NAME", "ADDRESS", "STATUS", "ROLE", "TAGS")
				for _, mb := range list.Members {
					keys := make([]string, 0, len(mb.Tags))
					for k := range mb.Tags {
						if k != "role" && k != "id" && k != "started" {
							keys = append(keys, k)
						}
					}
					sort.Strings(keys)
					tags := make([]string, len(keys))
					for i, k := range keys {
						tags[i] = k + "=" + mb.Tags[k]
					}
					row(w, mb.Name, mb.Addr, mb.Status, dash(mb.Role), strings.Join(tags, ","))
				}
				return w.Flush()
			})
		},
	}
}

func operatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "operator",
		Usage: "cluster operations: raft peers, leadership, snapshots, replica verification",
		Subcommands: []*cli.Command{
			{
				Name:  "raft",
				Usage: "inspect and change the Raft configuration",
				Subcommands: []*cli.Command{
					listPeersCommand(), removePeerCommand(), transferLeadershipCommand(),
				},
			},
			verifyCommand(),
			failoversCommand(),
			autopilotCommand(),
			{
				Name:        "snapshot",
				Usage:       "save or restore the cluster state",
				Subcommands: []*cli.Command{snapshotSaveCommand(), snapshotRestoreCommand(), snapshotInspectCommand()},
			},
			keyringCommand(),
		},
	}
}

func listPeersCommand() *cli.Command {
	return &cli.Command{
		Name:  "list-peers",
		Usage: "list the masters in the Raft configuration",
		Flags: clientFlags(staleFlag),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				list, err := client.ListMasters(readContext(c, ctx), &rpc.Empty{})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(list)
				}
				printMasters(list.Masters)
				fmt.Printf("\nLeader: %s   Term: %d   Failure tolerance: %d\n", dash(list.LeaderId), list.Term, list.FailureTolerance)
				return nil
			})
		},
	}
}

func removePeerCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove-peer",
		Usage:     "remove a master from the Raft configuration (refused if it would lose quorum, unless --force); it stays out until --undo",
		ArgsUsage: "[ID]",
		Flags: clientFlags(
			&cli.StringFlag{Name: "id", Usage: "id of the master to remove (or give it as the argument)"},
			&cli.BoolFlag{Name: "force", Usage: "remove even if that loses quorum"},
			&cli.BoolFlag{Name: "undo", Usage: "clear an earlier removal of ID so that the master may rejoin"},
		),
		Action: func(c *cli.Context) error {
			id := c.String("id")
			if id == "" {
				id = c.Args().First()
			}
			if id == "" || c.NArg() > 1 || (c.String("id") != "" && c.NArg() > 0) {
				return cli.Exit("Error: give the master id once: remove-peer [--undo] ID", 2)
			}
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				req := &rpc.RemovePeerRequest{Id: id, Force: c.Bool("force"), Undo: c.Bool("undo")}
				if _, err := client.RemovePeer(ctx, req); err != nil {
					return err
				}
				if c.Bool("json") {
					if req.Undo {
						return printJSON(map[string]any{"success": true, "undone": id})
					}
					return printJSON(map[string]any{"success": true, "removed": id})
				}
				if req.Undo {
					fmt.Printf("Removal of master %s cleared: it may rejoin.\n", id)
					return nil
				}
				fmt.Printf("Removed master %s from the Raft configuration.\n", id)
				return nil
			})
		},
	}
}

// verifyCommand compares every master's state digest at one index.
func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "compare every master's registry and event graph digest at one Raft index; exits 1 on a difference or an unreachable master",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			var res *rpc.VerifyResponse
			err := withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				var err error
				res, err = client.VerifyReplicas(ctx, &rpc.Empty{})
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if err := printJSON(res); err != nil {
					return err
				}
			} else {
				printVerify(res)
			}
			if !res.Match {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
}

// printVerify prints one row per master and the verdict.
func printVerify(res *rpc.VerifyResponse) {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tINDEX\tDIGEST\tEVENTS\tAGENTS\tNODES\tSTATUS")
	var first string
	for _, r := range res.Replicas {
		if r.Id == res.LeaderId && r.Hash != nil {
			first = r.Hash.Digest
		}
	}
	for _, r := range res.Replicas {
		if r.Hash == nil {
			fmt.Fprintf(w, "%s\t%d\t-\t-\t-\t-\t%s\n", r.Id, res.Index, dash(r.Error))
			continue
		}
		st := "ok"
		if r.Hash.Digest != first {
			st = "DIFFERS"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%d\t%d\t%s\n", r.Id, r.Hash.AppliedIndex, shortDigest(r.Hash.Digest),
			r.Hash.Events, r.Hash.Agents, r.Hash.Nodes, st)
	}
	_ = w.Flush()
	if res.Match {
		fmt.Printf("\nAll %d masters agree at index %d.\n", len(res.Replicas), res.Index)
	} else {
		fmt.Printf("\nMasters DIFFER or did not answer at index %d (leader %s).\n", res.Index, res.LeaderId)
	}
}

func shortDigest(d string) string {
	if len(d) > 16 {
		return d[:16]
	}
	return d
}

func transferLeadershipCommand() *cli.Command {
	return &cli.Command{
		Name:  "transfer-leadership",
		Usage: "hand leadership to another voter (--id) or one Raft picks",
		Flags: clientFlags(&cli.StringFlag{Name: "id", Usage: "id of the master that should lead"}),
		Action: func(c *cli.Context) error {
			return withMaster(c, func(ctx context.Context, client rpc.GridMasterClient) error {
				resp, err := client.TransferLeadership(ctx, &rpc.TransferLeadershipRequest{Id: c.String("id")})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(resp)
				}
				fmt.Printf("Leadership transferred to %s.\n", resp.NewLeaderId)
				return nil
			})
		},
	}
}

func snapshotSaveCommand() *cli.Command {
	return &cli.Command{
		Name:      "save",
		Usage:     "save a snapshot of the cluster state to FILE (streamed; --timeout is an idle timeout)",
		ArgsUsage: "FILE",
		Flags:     clientFlags(staleFlag),
		Action: func(c *cli.Context) error {
			path := c.Args().First()
			if path == "" || c.NArg() != 1 {
				return cli.Exit("Error: snapshot save needs exactly one FILE argument", 2)
			}
			return withMasterStreaming(c, func(ctx context.Context, client rpc.GridMasterClient, touch func(int)) error {
				stream, err := client.SaveSnapshot(readContext(c, ctx), &rpc.Empty{})
				if err != nil {
					return err
				}
				tmp := path + ".part"
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				var n int64
				for {
					chunk, err := stream.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						f.Close()
						os.Remove(tmp)
						return err
					}
					w, err := f.Write(chunk.Data)
					n += int64(w)
					touch(w)
					if err != nil {
						f.Close()
						os.Remove(tmp)
						return err
					}
				}
				if err := f.Close(); err != nil {
					return err
				}
				if n == 0 {
					os.Remove(tmp)
					return errors.New("the master sent an empty snapshot")
				}
				if err := os.Rename(tmp, path); err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(map[string]any{"success": true, "file": path, "bytes": n})
				}
				fmt.Printf("Saved snapshot to %s (%d bytes).\n", path, n)
				return nil
			})
		},
	}
}

func snapshotRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "replace the cluster state with a snapshot FILE (disaster recovery; --timeout is an idle timeout)",
		ArgsUsage: "FILE",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			path := c.Args().First()
			if path == "" || c.NArg() != 1 {
				return cli.Exit("Error: snapshot restore needs exactly one FILE argument", 2)
			}
			f, err := os.Open(path)
			if err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			defer f.Close()
			return withMasterStreaming(c, func(ctx context.Context, client rpc.GridMasterClient, touch func(int)) error {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				stream, err := client.RestoreSnapshot(ctx)
				if err != nil {
					return err
				}
				buf := make([]byte, 256<<10)
				for {
					n, rerr := f.Read(buf)
					if n > 0 {
						if err := stream.Send(&rpc.SnapshotChunk{Data: append([]byte(nil), buf[:n]...)}); err != nil {
							break // the real error comes from CloseAndRecv
						}
						touch(n)
					}
					if errors.Is(rerr, io.EOF) {
						break
					}
					if rerr != nil {
						return rerr
					}
				}
				touch(-1)
				if _, err := stream.CloseAndRecv(); err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(map[string]any{"success": true, "file": path})
				}
				fmt.Printf("Restored cluster state from %s.\n", path)
				return nil
			})
		},
	}
}
