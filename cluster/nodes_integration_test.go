package cluster

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gridctl/grid/fsm"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSpawnStopEndToEnd(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-e2e", 3)
	waitAgentHealthy(t, masters, ag.id)

	// Through a follower: the order is forwarded to the leader.
	client := masterClient(t, nodesFollower(masters, leader))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := client.SpawnStorageNode(ctx, &rpc.SpawnRequest{MemoryLimitMb: 128})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if !resp.Success || resp.AgentId != ag.id || resp.Pid == 0 || resp.Endpoint == "" || !strings.HasPrefix(resp.NodeId, "node-") {
		t.Fatalf("spawn response %v", resp)
	}
	if err := storageHealthy(resp.Endpoint); err != nil {
		t.Fatalf("spawned node does not serve at %s: %v", resp.Endpoint, err)
	}
	waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid == resp.Pid && n.DesiredState == rpc.DesiredRunning && n.MemoryLimitMb == 128
	})
	if pids := processesServing(t, resp.NodeId); len(pids) != 1 || pids[0] != int(resp.Pid) {
		t.Fatalf("processes for %s: %v, want exactly [%d]", resp.NodeId, pids, resp.Pid)
	}

	st, err := client.GetStorageNodeStatus(ctx, &rpc.NodeId{NodeId: resp.NodeId})
	if err != nil || st.Status != rpc.NodeRunning || st.Pid != resp.Pid {
		t.Fatalf("node status = %v, %v", st, err)
	}
	list, err := client.ListStorageNodes(ctx, &rpc.Empty{})
	if err != nil || len(list.Nodes) != 1 || list.Nodes[0].NodeId != resp.NodeId {
		t.Fatalf("list = %v, %v", list, err)
	}

	// A retried order with the same id never makes a second process.
	_, err = client.SpawnStorageNode(ctx, &rpc.SpawnRequest{NodeId: resp.NodeId})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate node id: err = %v, want AlreadyExists", err)
	}
	if pids := processesServing(t, resp.NodeId); len(pids) != 1 {
		t.Fatalf("after a duplicate order: processes %v", pids)
	}

	// Stop: process gone, record kept as stopped.
	if _, err := client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: resp.NodeId}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if pids := processesServing(t, resp.NodeId); len(pids) != 0 {
		t.Fatalf("after stop: processes %v", pids)
	}
	waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeStopped && n.DesiredState == rpc.DesiredStopped
	})
	if _, err := client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: resp.NodeId}); err != nil {
		t.Fatalf("second stop is not idempotent: %v", err)
	}
	_, err = client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: "node-nope"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "node-nope") {
		t.Fatalf("unknown node stop: err = %v, want NotFound naming the id", err)
	}
}

func TestSpawnValidationAndPlacementErrors(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-small", 1)
	waitAgentHealthy(t, masters, ag.id)
	// Agents that exist only in the registry, in a state the leader's
	// timers do not change.
	for _, st := range []string{"degraded", rpc.AgentOffline} {
		rec := &rpc.AgentRecord{AgentId: "agent-" + st, Status: st, MaxStorageNodes: 5, Endpoint: "127.0.0.1:1", RegisteredAt: time.Now().Unix()}
		if _, err := leader.raftApply(fsm.RegisterAgentType, rec); err != nil {
			t.Fatalf("register %s: %v", rec.AgentId, err)
		}
	}
	client := masterClient(t, nodesFollower(masters, leader))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	cases := []struct {
		name string
		req  *rpc.SpawnRequest
		code codes.Code
		msg  string
	}{
		{"unknown agent", &rpc.SpawnRequest{AgentId: "agent-ghost"}, codes.NotFound, "agent-ghost"},
		{"degraded agent", &rpc.SpawnRequest{AgentId: "agent-degraded"}, codes.FailedPrecondition, "degraded"},
		{"offline agent", &rpc.SpawnRequest{AgentId: "agent-offline"}, codes.FailedPrecondition, "offline"},
		{"bad port", &rpc.SpawnRequest{Port: 22}, codes.InvalidArgument, "port 22"},
		{"bad memory", &rpc.SpawnRequest{MemoryLimitMb: 1 << 30}, codes.InvalidArgument, "memory_limit_mb"},
		{"escaping path", &rpc.SpawnRequest{StoragePath: "../../etc"}, codes.InvalidArgument, "storage_path"},
		{"absolute path", &rpc.SpawnRequest{StoragePath: "/etc"}, codes.InvalidArgument, "storage_path"},
		{"bad node id", &rpc.SpawnRequest{NodeId: "a b"}, codes.InvalidArgument, "node_id"},
	}
	for _, c := range cases {
		_, err := client.SpawnStorageNode(ctx, c.req)
		if status.Code(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %s mentioning %q", c.name, err, c.code, c.msg)
		}
	}
	if n := len(leader.fsm.Nodes()); n != 0 {
		t.Fatalf("refused orders left %d node records", n)
	}

	// The agent's one slot: the first order takes it, the next is refused.
	resp, err := client.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if err != nil {
		t.Fatalf("spawn on %s: %v", ag.id, err)
	}
	_, err = client.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("full agent: err = %v, want ResourceExhausted", err)
	}
	_, err = client.SpawnStorageNode(ctx, &rpc.SpawnRequest{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("no agent with a slot: err = %v, want ResourceExhausted", err)
	}
	if _, err := client.StopStorageNode(ctx, &rpc.StopRequest{NodeId: resp.NodeId, AgentId: "agent-degraded"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("stop naming the wrong agent: err = %v, want InvalidArgument", err)
	}
}

func TestSpawnRefusedByAgentRollsBack(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-refuse", 3)
	waitAgentHealthy(t, masters, ag.id)
	client := masterClient(t, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// A port inside the agent's range that something else holds.
	var taken net.Listener
	for p := ag.cfg.PortRangeStart; p <= ag.cfg.PortRangeEnd && taken == nil; p++ {
		taken, _ = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	}
	if taken == nil {
		t.Fatal("no free port in the agent's range")
	}
	defer taken.Close()
	port := uint32(taken.Addr().(*net.TCPAddr).Port)

	// The port taken on the agent's host is refused by the agent; the port
	// outside the agent's range by the leader, which knows the range from
	// the agent's registration, before anything is recorded.
	for _, c := range []struct {
		req  *rpc.SpawnRequest
		want string
	}{
		{&rpc.SpawnRequest{AgentId: ag.id, NodeId: "node-port-taken", Port: port}, "agent " + ag.id + " refused"},
		{&rpc.SpawnRequest{AgentId: ag.id, NodeId: "node-port-outside", Port: uint32(ag.cfg.PortRangeEnd + 1)}, "outside the port range"},
	} {
		req := c.req
		_, err := client.SpawnStorageNode(ctx, req)
		code := status.Code(err)
		if err == nil || code == codes.Unavailable || code == codes.Internal || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: err = %v, want one containing %q", req.NodeId, err, c.want)
		}
		t.Logf("%s refused: %v", req.NodeId, err)
		for _, m := range masters {
			waitfor.Until(t, 10*time.Second, "rollback on "+m.ID(), func() (bool, string) {
				n, ok := m.fsm.Node(req.NodeId)
				return !ok, fmt.Sprint(n)
			})
		}
		if pids := processesServing(t, req.NodeId); len(pids) != 0 {
			t.Fatalf("%s: refused order left processes %v", req.NodeId, pids)
		}
	}
}
