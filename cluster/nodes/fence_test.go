package nodes

import (
	"context"
	"slices"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// Every order (spawn, stop, reconcile's list, respawn and orphan stop)
// carries the leader's term.
func TestOrdersCarryLeaderTerm(t *testing.T) {
	h := newHarness(t, "a1")
	h.fence.term.Store(7)
	ag := h.agent("a1")
	if _, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{NodeId: "n1", AgentId: "a1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.o.Stop(context.Background(), &rpc.StopRequest{NodeId: "n1"}); err != nil {
		t.Fatal(err)
	}
	// A record that vanished from the agent is ordered again; an unknown
	// node the agent runs is stopped as an orphan.
	h.reg.putNode(node("n2", "a1", rpc.NodeRunning, rpc.DesiredRunning))
	ag.mu.Lock()
	ag.nodes["orphan"] = &rpc.NodeStatus{NodeId: "orphan", AgentId: "a1", Status: rpc.NodeRunning, Pid: 9, Port: 50070}
	ag.mu.Unlock()
	h.fence.term.Store(8)
	h.o.ReconcileAgent(context.Background(), "a1")

	for op, want := range map[string][]uint64{"spawn": {7, 8}, "stop": {7, 8}, "list": {8}} {
		if got := ag.termsOf(op); !slices.Equal(got, want) {
			t.Errorf("%s orders carried terms %v, want %v", op, got, want)
		}
	}
}

// An apparent orphan is stopped only after VerifyLeader confirms that this
// master still leads: a deposed leader's replica does not know what its
// successor spawned.
func TestOrphanStopNeedsConfirmedLeadership(t *testing.T) {
	h := newHarness(t, "a1")
	ag := h.agent("a1")
	ag.nodes["n1"] = &rpc.NodeStatus{NodeId: "n1", AgentId: "a1", Status: rpc.NodeRunning, Pid: 7, Port: 50060}

	h.fence.setVerifyErr(errNotLeader)
	h.o.ReconcileAgent(context.Background(), "a1")
	if n := ag.count("stop"); n != 0 {
		t.Fatalf("StopNode called %d times without confirmed leadership", n)
	}

	h.fence.setVerifyErr(nil)
	h.o.ReconcileAgent(context.Background(), "a1")
	if n := ag.count("stop"); n != 1 {
		t.Fatalf("StopNode called %d times with confirmed leadership, want 1", n)
	}
}

// A status read commits the agent's newer view only on a verified leader;
// elsewhere it answers that view and writes nothing.
func TestStatusCommitsOnlyOnVerifiedLeader(t *testing.T) {
	h := newHarness(t, "a1")
	h.reg.putNode(node("n1", "a1", rpc.NodeStarting, rpc.DesiredRunning))
	ag := h.agent("a1")
	ag.nodes["n1"] = &rpc.NodeStatus{NodeId: "n1", AgentId: "a1", Status: rpc.NodeRunning, Pid: 7, Port: 50060}

	h.fence.setVerifyErr(errNotLeader)
	got, err := h.o.Status(context.Background(), "n1")
	if err != nil || got.Status != rpc.NodeRunning {
		t.Fatalf("status = %v, %v; want the agent's running view", got, err)
	}
	if rec, _ := h.reg.Node("n1"); rec.Status != rpc.NodeStarting || h.reg.applies != 0 {
		t.Fatalf("a status read without leadership committed: record %s, %d applies", rec.Status, h.reg.applies)
	}

	h.fence.setVerifyErr(nil)
	if _, err := h.o.Status(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	if rec, _ := h.reg.Node("n1"); rec.Status != rpc.NodeRunning {
		t.Fatalf("record %s after a leader's status read, want running", rec.Status)
	}
}
