package test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
)

// Issue 13: SIGKILL an agent and its nodes; with --reschedule-after 3s each
// node runs on another agent within 10 s (node_lost, node_rescheduled, the
// same node id), and the old agent, back, does not keep its stale copies.
func TestMachineLossReschedulesNodes(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built yet")
	}
	c := harness.NewCluster(t, harness.Options{MasterArgs: append(append([]string{}, nodeLiveness...), "--reschedule-after", "3s")})
	a1 := c.AddAgent("agent-001", harness.AgentOptions{})
	a2 := c.AddAgent("agent-002", harness.AgentOptions{})
	waitStatus(t, c, a1.ID, "healthy")
	waitStatus(t, c, a2.ID, "healthy")
	var ids []string
	for i := 0; i < 2; i++ {
		r := spawnCLI(t, c, "--agent", a1.ID)
		waitNodeOnAll(t, c, r.NodeID, "running", func(n *rpc.NodeStatus) bool { return n.Status == "running" })
		ids = append(ids, r.NodeID)
	}

	// The machine dies: the agent and its nodes.
	procs := a1.NodeProcs()
	if err := a1.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, pids := range procs {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	killed := time.Now()
	for _, id := range ids {
		waitfor.Until(t, 30*time.Second, id+" running on agent-002", func() (bool, string) {
			recs, err := c.Live()[0].NodeRecords()
			if err != nil {
				return false, err.Error()
			}
			n := recs[id]
			if n == nil {
				return false, "no record"
			}
			return n.AgentId == a2.ID && n.Status == "running" && len(a2.NodeProcs()[id]) == 1,
				fmt.Sprintf("agent %s status %s", n.AgentId, n.Status)
		})
	}
	took := time.Since(killed)
	t.Logf("nodes rescheduled %s after the machine died", took)
	if took > 20*time.Second {
		t.Fatalf("rescheduled after %s, want within about 10 s", took)
	}
	leader := c.WaitLeader(30 * time.Second)
	for _, id := range ids {
		waitfor.Until(t, 10*time.Second, id+": node_lost then node_rescheduled", func() (bool, string) {
			evs := entityEventTypes(t, leader, id)
			return inOrder(evs, []string{"node_lost", "spawn_requested", "spawn_succeeded", "node_rescheduled"}), fmt.Sprint(evs)
		})
		n := waitNodeOnAll(t, c, id, "rescheduled once", func(n *rpc.NodeStatus) bool {
			return n.RescheduleCount == 1 && len(n.PreviousAgents) == 1 && n.PreviousAgents[0] == a1.ID
		})
		_ = n
	}

	// The machine comes back: the agent finds its nodes dead and the leader
	// has them elsewhere; no copy keeps running on agent-001.
	if err := a1.Start(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, a1.ID, "healthy")
	waitfor.Until(t, 30*time.Second, "no stale copy on agent-001", func() (bool, string) {
		p := a1.NodeProcs()
		n := 0
		for _, id := range ids {
			n += len(p[id])
		}
		return n == 0, fmt.Sprint(p)
	})
	for _, id := range ids {
		if got := len(a2.NodeProcs()[id]); got != 1 {
			t.Fatalf("%s: %d processes on agent-002", id, got)
		}
	}
}

// Issue 13: agents offline for --agent-gc-after and node records stopped
// for --node-gc-after are removed by the leader, each with an event.
func TestGarbageCollection(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built yet")
	}
	c := harness.NewCluster(t, harness.Options{MasterArgs: append(append([]string{}, nodeLiveness...),
		"--agent-gc-after", "2s", "--node-gc-after", "2s", "--reschedule-after", "0")})
	a1 := c.AddAgent("agent-001", harness.AgentOptions{})
	waitStatus(t, c, a1.ID, "healthy")
	r := spawnCLI(t, c, "--agent", a1.ID)
	waitNodeOnAll(t, c, r.NodeID, "running", func(n *rpc.NodeStatus) bool { return n.Status == "running" })
	grid(t, c, "stop", "--node", r.NodeID)
	waitfor.Until(t, 30*time.Second, "the stopped node's record collected", func() (bool, string) {
		recs, err := c.Live()[0].NodeRecords()
		if err != nil {
			return false, err.Error()
		}
		if n := recs[r.NodeID]; n != nil {
			return false, n.Status
		}
		return true, ""
	})
	// A registered agent that never heartbeats goes offline, then is removed.
	register(t, c.WaitLeader(30*time.Second), "agent-ghost")
	waitStatus(t, c, "agent-ghost", "offline")
	waitfor.Until(t, 30*time.Second, "agent-ghost removed", func() (bool, string) {
		out, err := gridErr(c, "agents", "show", "agent-ghost")
		return err != nil, out
	})
	leader := c.WaitLeader(30 * time.Second)
	if evs := entityEventTypes(t, leader, r.NodeID); !inOrder(evs, []string{"stop_succeeded", "node_removed"}) {
		t.Fatalf("node events: %v", evs)
	}
	if evs := entityEventTypes(t, leader, "agent-ghost"); !inOrder(evs, []string{"agent_offline", "agent_unregistered"}) {
		t.Fatalf("agent events: %v", evs)
	}
	// The live agent stays.
	if a := showAgent(t, c, a1.ID); a.AgentID != a1.ID {
		t.Fatalf("agent-001: %+v", a)
	}
}
