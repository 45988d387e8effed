package test

import (
	"fmt"
	"os"
	"strings"
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
	// The agent held its dead nodes until registration told it they were
	// moved, and dropped them without a restart.
	var after string
	waitfor.Until(t, 30*time.Second, "agent-001 re-registered and dropped its stale copies", func() (bool, string) {
		log, err := os.ReadFile(a1.Log)
		if err != nil {
			return false, err.Error()
		}
		after = string(log)[max(strings.LastIndex(string(log), "==== agent-001 start"), 0):]
		for _, id := range ids {
			if !strings.Contains(after, "not restarting a stale copy: the registry placed the node elsewhere: node_id="+id) {
				return false, id + " not dropped yet"
			}
		}
		return true, ""
	})
	for _, id := range ids {
		if strings.Contains(after, "restarted node: node_id="+id) || strings.Contains(after, "spawned node: node_id="+id) {
			t.Errorf("%s: agent-001 restarted its stale copy", id)
		}
		if n := len(a1.NodeProcs()[id]); n != 0 {
			t.Errorf("%s: %d processes on agent-001", id, n)
		}
	}
}

// Issue 13: a node whose restart budget is spent (node_failed) is placed on
// another agent under the same id (node_rescheduled).
func TestFailedNodeRescheduled(t *testing.T) {
	if !agentBuilt(t) {
		t.Skip("grid agent is not built yet")
	}
	c := harness.NewCluster(t, harness.Options{MasterArgs: nodeLiveness})
	a1 := c.AddAgent("agent-001", harness.AgentOptions{})
	a2 := c.AddAgent("agent-002", harness.AgentOptions{})
	waitStatus(t, c, a1.ID, "healthy")
	waitStatus(t, c, a2.ID, "healthy")
	// agent-002 takes no new node until agent-001's budget is spent.
	grid(t, c, "agents", "eligibility", "--disable", a2.ID)
	r := spawnCLI(t, c, "--agent", a1.ID)
	rec := waitNodeOnAll(t, c, r.NodeID, "running", func(n *rpc.NodeStatus) bool { return n.Status == "running" })
	pid := r.Pid
	for kill := 1; kill <= 3; kill++ { // 3 restarts allowed
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		pid = waitNewPid(t, a1, r.NodeID, rec.Port, pid)
	}
	grid(t, c, "agents", "eligibility", "--enable", a2.ID)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	moved := waitNodeOnAll(t, c, r.NodeID, "running on agent-002", func(n *rpc.NodeStatus) bool {
		return n.AgentId == a2.ID && n.Status == "running" && n.Pid != 0
	})
	if moved.RescheduleCount != 1 || len(moved.PreviousAgents) != 1 || moved.PreviousAgents[0] != a1.ID {
		t.Fatalf("moved record: reschedule_count %d previous_agents %v", moved.RescheduleCount, moved.PreviousAgents)
	}
	leader := c.WaitLeader(30 * time.Second)
	waitfor.Until(t, 10*time.Second, "node_failed then node_rescheduled", func() (bool, string) {
		evs := entityEventTypes(t, leader, r.NodeID)
		return inOrder(evs, []string{"node_failed", "spawn_requested", "spawn_succeeded", "node_rescheduled"}), fmt.Sprint(evs)
	})
	waitfor.True(t, 20*time.Second, "no copy left on agent-001", func() bool { return len(a1.NodeProcs()[r.NodeID]) == 0 })
}
