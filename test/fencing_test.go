package test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
	"github.com/gridctl/grid/test/waitfor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A leader paused (SIGSTOP) in the middle of a stop order, and resumed
// after a new leader spawned the same node again, does not stop that node:
// its order carries its old term, the agent has seen the new leader's term,
// refuses it with FAILED_PRECONDITION, logs it and records a
// request_refused event.
//
// To make the old leader really send its order after the new leader's, the
// stop is held in its retry back-off (the agent is down, so the first try
// fails at once, and --agent-retry-backoff is long) when the leader is
// paused; --stop-timeout outlasts the pause, so the next try goes out on
// resume. Without the fence that try stops the new node.
func TestPausedOldLeaderCannotStopNewLeadersNode(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{MasterArgs: append(slices.Clone(nodeLiveness),
		"--stop-timeout", "3m", "--agent-retry-backoff", "15s")})
	a := c.AddAgent("agent-f1", harness.AgentOptions{})
	old := c.WaitLeader(30 * time.Second)
	waitAgentHealthyOn(t, old, a.ID)
	const nodeID = "fence-n1"

	ctx, cancel := harness.Ctx(time.Minute)
	first, err := old.Client().SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: a.ID, NodeId: nodeID})
	cancel()
	if err != nil || !first.Success {
		t.Fatalf("spawn through the first leader: %v, %v", first, err)
	}

	// The agent goes down (its node keeps running); the leader is told to
	// stop the node: it records the stop, fails to reach the agent and
	// waits before trying again. It is paused there.
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	stopDone := make(chan error, 1)
	go func() {
		ctx, cancel := harness.Ctx(4 * time.Minute)
		defer cancel()
		_, err := old.Client().StopStorageNode(ctx, &rpc.StopRequest{NodeId: nodeID})
		stopDone <- err
	}()
	others := c.Followers(old)
	waitfor.Until(t, 30*time.Second, "the stop order recorded on the followers", func() (bool, string) {
		for _, m := range others {
			recs, err := m.NodeRecords()
			if err != nil {
				return false, err.Error()
			}
			if n := recs[nodeID]; n == nil || n.DesiredState != rpc.DesiredStopped {
				return false, m.ID + " has no stop recorded"
			}
		}
		return true, ""
	})
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			_ = old.Resume()
		}
	}()

	// A new leader among the others; the agent comes back and the new
	// leader stops the node (the recorded stop) and spawns it again.
	leader := waitLeaderAmong(t, others, 30*time.Second)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	waitAgentHealthyOn(t, leader, a.ID)
	// The new leader's reconciler may be finishing the recorded stop
	// itself (ABORTED: busy) — either way it ends stopped.
	waitfor.Until(t, time.Minute, "the node stopped by the new leader", func() (bool, string) {
		ctx, cancel := harness.Ctx(30 * time.Second)
		defer cancel()
		_, err := leader.Client().StopStorageNode(ctx, &rpc.StopRequest{NodeId: nodeID})
		return err == nil, fmt.Sprint(err)
	})
	var second *rpc.SpawnResponse
	waitfor.Until(t, time.Minute, "the node spawned again by the new leader", func() (bool, string) {
		ctx, cancel := harness.Ctx(30 * time.Second)
		defer cancel()
		r, err := leader.Client().SpawnStorageNode(ctx, &rpc.SpawnRequest{AgentId: a.ID, NodeId: nodeID})
		if err != nil || !r.Success {
			return false, fmt.Sprint(r, err)
		}
		second = r
		return true, ""
	})
	if second.Pid == first.Pid {
		t.Fatalf("the new leader's spawn kept pid %d: the node was not stopped and spawned again", first.Pid)
	}

	// The old leader wakes up and sends its stop (old term): refused.
	if err := old.Resume(); err != nil {
		t.Fatal(err)
	}
	paused = false
	select {
	case err := <-stopDone:
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "deposed leader") {
			t.Fatalf("the old leader's stop ended with %v; want the agent's FAILED_PRECONDITION refusal", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the old leader's stop order never ended")
	}
	waitfor.Until(t, 30*time.Second, "the agent logs the refused order", func() (bool, string) {
		b, err := os.ReadFile(a.Log)
		if err != nil {
			return false, err.Error()
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "order refused") && strings.Contains(line, nodeID) && strings.Contains(line, "StopNode") {
				return true, ""
			}
		}
		return false, "no 'order refused' line for " + nodeID
	})
	waitfor.Until(t, 30*time.Second, "a request_refused event for the node", func() (bool, string) {
		ctx, cancel := harness.Ctx(5 * time.Second)
		defer cancel()
		l, err := leader.Client().QueryEvents(ctx, &rpc.EventFilter{Types: []rpc.EventType{rpc.EventType_REQUEST_REFUSED},
			EntityIds: []string{nodeID}, Limit: 100})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range l.Events {
			if e.Source == a.ID && e.Details["method"] == rpc.GridAgent_StopNode_FullMethodName && e.Details["leader_term"] != "" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d request_refused events, none from the agent for the stop", len(l.Events))
	})

	// The node the new leader spawned still runs, and every master says so.
	if err := syscall.Kill(int(second.Pid), 0); err != nil {
		t.Fatalf("the new leader's node (pid %d) is gone: %v", second.Pid, err)
	}
	c.WaitLeader(30 * time.Second)
	waitNodeOnAll(t, c, nodeID, "running with the new pid", func(n *rpc.NodeStatus) bool {
		return n.Status == rpc.NodeRunning && n.Pid == second.Pid && n.DesiredState == rpc.DesiredRunning
	})
	if err := syscall.Kill(int(second.Pid), 0); err != nil {
		t.Fatalf("the new leader's node (pid %d) is gone: %v", second.Pid, err)
	}
}

// waitLeaderAmong waits until one of ms leads and the others name it.
func waitLeaderAmong(t *testing.T, ms []*harness.Master, timeout time.Duration) *harness.Master {
	t.Helper()
	var leader *harness.Master
	waitfor.Until(t, timeout, "a leader among the running masters", func() (bool, string) {
		leader = nil
		views := map[string]string{}
		for _, m := range ms {
			ctx, cancel := harness.Ctx(2 * time.Second)
			r, err := m.Client().Ready(ctx, &rpc.Empty{})
			cancel()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", m.ID, err)
			}
			views[m.ID] = r.LeaderId
			if r.LeaderId == m.ID {
				leader = m
			}
		}
		if leader == nil {
			return false, fmt.Sprintf("no leader among them: %v", views)
		}
		for id, v := range views {
			if v != leader.ID {
				return false, fmt.Sprintf("%s names %q", id, v)
			}
		}
		return true, ""
	})
	return leader
}

// waitAgentHealthyOn waits until m's replica has the agent healthy.
func waitAgentHealthyOn(t *testing.T, m *harness.Master, agentID string) {
	t.Helper()
	waitfor.Until(t, 30*time.Second, agentID+" healthy on "+m.ID, func() (bool, string) {
		ctx, cancel := harness.Ctx(3 * time.Second)
		defer cancel()
		l, err := m.Client().ListAgents(harness.Stale(ctx), &rpc.Empty{})
		if err != nil {
			return false, err.Error()
		}
		for _, ag := range l.Agents {
			if ag.AgentId == agentID {
				return ag.Status == rpc.AgentHealthy, "status " + ag.Status
			}
		}
		return false, "not registered"
	})
}
