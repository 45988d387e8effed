package cluster

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/agent"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Reconciliation after a leader change, an orphan process or an agent gone
// offline, with in-process masters and real agents (nodes_helpers_test.go).

func TestReconcileFinishesHalfDoneSpawnAfterLeaderChange(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-failover", 3)
	waitAgentHealthy(t, masters, ag.id)

	// The leader commits the pending record and then "dies" before it
	// calls the agent.
	hooked := make(chan string, 1)
	leader.nodes.SetTestHookAfterPending(func(nodeID string) error {
		hooked <- nodeID
		return errors.New("test: leader dies before calling the agent")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const nodeID = "node-half-done"
	if _, err := masterClient(t, leader).SpawnStorageNode(ctx, &rpc.SpawnRequest{NodeId: nodeID}); err == nil {
		t.Fatal("spawn succeeded through the aborting hook")
	}
	select {
	case <-hooked:
	default:
		t.Fatal("the hook did not run")
	}
	waitNodeEverywhere(t, masters, nodeID, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodePending && n.DesiredState == rpc.DesiredRunning
	})
	if pids := processesServing(t, nodeID); len(pids) != 0 {
		t.Fatalf("the agent was called: processes %v", pids)
	}

	shutdownCtx, shutdownCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer shutdownCancel()
	if err := leader.Shutdown(shutdownCtx); err != nil {
		t.Logf("leader shutdown: %v", err)
	}
	var rest []*Master
	for _, m := range masters {
		if m != leader {
			rest = append(rest, m)
		}
	}
	newLeader := waitForLeader(t, rest)
	t.Logf("new leader %s", newLeader.ID())

	rec := waitNodeEverywhere(t, rest, nodeID, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid != 0
	})
	pids := processesServing(t, nodeID)
	if len(pids) != 1 || pids[0] != int(rec.Pid) {
		t.Fatalf("processes for %s: %v, want exactly [%d]", nodeID, pids, rec.Pid)
	}
	if err := storageHealthy(rec.Endpoint); err != nil {
		t.Fatalf("node does not serve at %s: %v", rec.Endpoint, err)
	}
	// Another reconcile pass changes nothing: still one process.
	newLeader.nodes.ReconcileAgent(ctx, ag.id)
	if pids := processesServing(t, nodeID); len(pids) != 1 {
		t.Fatalf("after a second reconcile: processes %v", pids)
	}
}

func TestReconcileStopsOrphanAndRecordsCrash(t *testing.T) {
	masters := newTestCluster(t, 3)
	leader := waitForLeader(t, masters)
	ag := startTestAgent(t, masters, "agent-orphan", 3)
	waitAgentHealthy(t, masters, ag.id)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// A node started on the agent behind the masters' back is an orphan.
	conn, err := grpc.NewClient(ag.AdvertiseAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const orphan = "node-orphan"
	if _, err := rpc.NewGridAgentClient(conn).SpawnNode(ctx, &rpc.SpawnNodeRequest{NodeId: orphan}); err != nil {
		t.Fatalf("direct spawn: %v", err)
	}
	if pids := processesServing(t, orphan); len(pids) != 1 {
		t.Fatalf("orphan processes %v", pids)
	}
	leader.nodes.ReconcileAgent(ctx, ag.id)
	waitfor.Until(t, 10*time.Second, "orphan stopped", func() (bool, string) {
		pids := processesServing(t, orphan)
		return len(pids) == 0, fmt.Sprint(pids)
	})
	if _, ok := leader.fsm.Node(orphan); ok {
		t.Fatal("the orphan was added to the registry")
	}

	// A crash the agent restarts is reported and merged into the record.
	client := masterClient(t, nodesFollower(masters, leader))
	resp, err := client.SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if err := syscall.Kill(int(resp.Pid), syscall.SIGKILL); err != nil {
		t.Fatalf("kill node: %v", err)
	}
	rec := waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid != 0 && n.Pid != resp.Pid && n.RestartCount >= 1
	})
	if pids := processesServing(t, resp.NodeId); len(pids) != 1 || pids[0] != int(rec.Pid) {
		t.Fatalf("after restart: processes %v, registry pid %d", pids, rec.Pid)
	}

	// Reports about unknown nodes or from the wrong agent are refused.
	_, err = client.ReportNodeStatus(ctx, &rpc.NodeStatus{NodeId: "node-unknown", AgentId: ag.id, Status: rpc.NodeRunning})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("report of an unknown node: err = %v, want NotFound", err)
	}
	_, err = client.ReportNodeStatus(ctx, &rpc.NodeStatus{NodeId: resp.NodeId, AgentId: "agent-other", Status: rpc.NodeRunning})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("report from the wrong agent: err = %v, want FailedPrecondition", err)
	}
}

func TestAgentOfflineMarksNodesLostThenReconciles(t *testing.T) {
	masters := startTestCluster(t, 3, func(c *Config) {
		c.HeartbeatInterval = 100 * time.Millisecond
		c.DegradedAfter = 500 * time.Millisecond
		c.OfflineAfter = time.Second
	}).masters
	leader := waitForLeader(t, masters)
	dataDir := t.TempDir()
	keepNodes := func(c *agent.Config) {
		c.DataDir = dataDir
		c.StopNodesOnShutdown = false
	}
	ag := startTestAgentWith(t, masters, "agent-away", 3, keepNodes)
	waitAgentHealthy(t, masters, ag.id)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := masterClient(t, leader).SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: ag.id})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(int(resp.Pid), syscall.SIGKILL) })

	// The agent goes away (its node keeps running): offline, node lost, not deleted.
	ag.shutdown()
	waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeLost && n.DesiredState == rpc.DesiredRunning
	})

	// Back with the same data dir: it re-adopts the node, the leader
	// reconciles it to running with the same process.
	ag2 := startTestAgentWith(t, masters, "agent-away", 3, func(c *agent.Config) {
		keepNodes(c)
		c.StopNodesOnShutdown = true
	})
	waitAgentHealthy(t, masters, ag2.id)
	rec := waitNodeEverywhere(t, masters, resp.NodeId, func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid != 0
	})
	pids := processesServing(t, resp.NodeId)
	if len(pids) != 1 || pids[0] != int(rec.Pid) {
		t.Fatalf("processes for %s: %v, registry pid %d", resp.NodeId, pids, rec.Pid)
	}
	if rec.Pid != resp.Pid {
		t.Logf("node restarted rather than re-adopted: pid %d -> %d", resp.Pid, rec.Pid)
	}
}
