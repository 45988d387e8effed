package nodes

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/waitfor"
)

func node(id, agent, st, desired string) *rpc.NodeStatus {
	return &rpc.NodeStatus{NodeId: id, AgentId: agent, Status: st, DesiredState: desired, Port: 50060}
}

func TestReconcileDecisions(t *testing.T) {
	cases := []struct {
		name      string
		agentSt   string
		rec       *rpc.NodeStatus // registry record of node n1 (nil: none)
		agentRuns bool            // the agent runs n1
		spawns    int             // SpawnNode calls wanted
		stops     int             // StopNode calls wanted
		want      string          // n1's status after ("" = no record)
	}{
		{"half-done spawn is ordered again", rpc.AgentHealthy, node("n1", "a1", rpc.NodePending, rpc.DesiredRunning), false, 1, 0, rpc.NodeRunning},
		{"running node that vanished is ordered again", rpc.AgentHealthy, node("n1", "a1", rpc.NodeRunning, rpc.DesiredRunning), false, 1, 0, rpc.NodeRunning},
		{"unreachable failure is ordered again", rpc.AgentHealthy, &rpc.NodeStatus{NodeId: "n1", AgentId: "a1", Status: rpc.NodeFailed,
			DesiredState: rpc.DesiredRunning, LastError: unreachablePrefix + "x"}, false, 1, 0, rpc.NodeRunning},
		{"refused failure is left alone", rpc.AgentHealthy, &rpc.NodeStatus{NodeId: "n1", AgentId: "a1", Status: rpc.NodeFailed,
			DesiredState: rpc.DesiredRunning, LastError: "port taken"}, false, 0, 0, rpc.NodeFailed},
		{"node that should be stopped is stopped", rpc.AgentHealthy, node("n1", "a1", rpc.NodeStopping, rpc.DesiredStopped), true, 0, 1, rpc.NodeStopped},
		{"stopped and gone is recorded stopped", rpc.AgentHealthy, node("n1", "a1", rpc.NodeStopping, rpc.DesiredStopped), false, 0, 0, rpc.NodeStopped},
		{"agent's view is recorded", rpc.AgentHealthy, node("n1", "a1", rpc.NodeStarting, rpc.DesiredRunning), true, 0, 0, rpc.NodeRunning},
		{"orphan is stopped", rpc.AgentHealthy, nil, true, 0, 1, ""},
		{"offline agent's nodes are lost", rpc.AgentOffline, node("n1", "a1", rpc.NodeRunning, rpc.DesiredRunning), true, 0, 0, rpc.NodeLost},
		{"degraded agent is left alone", rpc.AgentDegraded, node("n1", "a1", rpc.NodePending, rpc.DesiredRunning), false, 0, 0, rpc.NodePending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			ag := h.addAgent("a1", c.agentSt, 3)
			if c.rec != nil {
				h.reg.putNode(c.rec)
			}
			if c.agentRuns {
				ag.nodes["n1"] = &rpc.NodeStatus{NodeId: "n1", AgentId: "a1", Status: rpc.NodeRunning, Pid: 7, Port: 50060}
			}
			h.o.ReconcileAgent(context.Background(), "a1")
			if got := ag.count("spawn"); got != c.spawns {
				t.Errorf("SpawnNode calls %d, want %d", got, c.spawns)
			}
			if got := ag.count("stop"); got != c.stops {
				t.Errorf("StopNode calls %d, want %d", got, c.stops)
			}
			got := ""
			if rec, ok := h.reg.Node("n1"); ok {
				got = rec.Status
			}
			if got != c.want {
				t.Errorf("status after reconcile %q, want %q", got, c.want)
			}
		})
	}
}

func TestReconcilePassMarksNodesOfUnknownAgentsLost(t *testing.T) {
	h := newHarness(t)
	h.reg.putNode(node("n1", "gone", rpc.NodeRunning, rpc.DesiredRunning))
	h.o.reconcilePass(context.Background(), &orphanSweep{})
	if rec, _ := h.reg.Node("n1"); rec.Status != rpc.NodeLost {
		t.Fatalf("record %v, want lost", rec)
	}
}

// TestRunLeaderReconcilesOnTriggerAndStops checks the leader-only work: an
// agent that changes in the registry is reconciled at once, and RunLeader
// returns (closing the agent connections) when its context ends.
func TestRunLeaderReconcilesOnTriggerAndStops(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.o.RunLeader(ctx) }()

	ag := h.addAgent("a1", rpc.AgentHealthy, 3) // the watcher sees a new agent
	h.reg.putNode(node("n1", "a1", rpc.NodePending, rpc.DesiredRunning))
	h.o.RequestReconcile("a1")
	waitfor.Until(t, 10*time.Second, "n1 reconciled", func() (bool, string) {
		rec, ok := h.reg.Node("n1")
		return ok && rec.Status == rpc.NodeRunning, fmt.Sprintf("record %v, spawn calls %d", rec, ag.count("spawn"))
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunLeader: %v", err)
	}
	h.dialer.mu.Lock()
	closed := h.dialer.closed
	h.dialer.mu.Unlock()
	if closed != 1 {
		t.Fatalf("agent connections closed %d times, want 1", closed)
	}
	h.o.RequestReconcile("a1") // not leader any more: a no-op, never blocks
}
