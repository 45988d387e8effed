package nodes

import (
	"context"
	"slices"
	"testing"

	"github.com/gridctl/grid/rpc"
)

// TestOrphanSweepCoversEveryAgent checks that successive passes of the
// orphan sweep visit every nodeless agent in turn, wrapping around, and
// that a cursor whose agent went away still moves on.
func TestOrphanSweepCoversEveryAgent(t *testing.T) {
	ids := []string{"a1", "a2", "a3", "a4", "a5"}
	var s orphanSweep
	var got [][]string
	for range 3 {
		got = append(got, s.take(ids, 2))
	}
	want := [][]string{{"a1", "a2"}, {"a3", "a4"}, {"a5", "a1"}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("pass %d took %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	// The cursor's agent (a1) unregistered: the sweep continues after it.
	if next := s.take([]string{"a2", "a3", "a9"}, 2); !slices.Equal(next, []string{"a2", "a3"}) {
		t.Errorf("after a removed cursor took %v, want [a2 a3]", next)
	}
	// A budget covering everyone takes everyone.
	if all := s.take(ids, 10); !slices.Equal(all, ids) {
		t.Errorf("full budget took %v", all)
	}
	if none := s.take(nil, 3); len(none) != 0 {
		t.Errorf("empty list took %v", none)
	}
}

// TestOrphanSweepSkipsAgentsThatRunNoNodes: the sweep asks node-less
// agents for their nodes unless their last heartbeat said they run none;
// an agent whose beat counted a node (an orphan) or that this leader has
// not heard from is still asked, and its orphan stopped.
func TestOrphanSweepSkipsAgentsThatRunNoNodes(t *testing.T) {
	h := newHarness(t, "a1", "a2", "a3")
	said := map[string]bool{"a1": true} // a1's last beat: storage_node_count 0
	h.o.noNodes = func(id string) bool { return said[id] }
	h.agent("a2").nodes["orphan"] = &rpc.NodeStatus{NodeId: "orphan", AgentId: "a2", Status: rpc.NodeRunning, Pid: 7, Port: 50060}

	h.o.reconcilePass(context.Background(), &orphanSweep{})
	for id, want := range map[string]int{"a1": 0, "a2": 1, "a3": 1} {
		if got := h.agent(id).count("list"); got != want {
			t.Errorf("%s: ListNodes calls %d, want %d", id, got, want)
		}
	}
	if got := h.agent("a2").count("stop"); got != 1 {
		t.Errorf("a2's orphan: StopNode calls %d, want 1", got)
	}

	// a1 now reports a node: the next pass asks it.
	said["a1"] = false
	h.o.reconcilePass(context.Background(), &orphanSweep{})
	if got := h.agent("a1").count("list"); got != 1 {
		t.Errorf("a1 after reporting a node: ListNodes calls %d, want 1", got)
	}
}

// TestTriggeredReconcileSkipsAnAgentWithNothingToCompare: a triggered
// reconcile (registration, recovery) of an agent that said it runs no node
// and has none in the registry makes no call; one the registry places a
// node on is asked, whatever it said, and so is any agent reconciled
// explicitly.
func TestTriggeredReconcileSkipsAnAgentWithNothingToCompare(t *testing.T) {
	h := newHarness(t, "a1", "a2")
	h.o.noNodes = func(string) bool { return true }
	h.reg.putNode(node("n1", "a2", rpc.NodePending, rpc.DesiredRunning))
	if !h.o.nothingToCompare("a1") {
		t.Error("a1 (no node anywhere) is reconciled when triggered")
	}
	if h.o.nothingToCompare("a2") {
		t.Error("a2 (a node in the registry) is not reconciled when triggered")
	}
	h.o.ReconcileAgent(context.Background(), "a1")
	if got := h.agent("a1").count("list"); got != 1 {
		t.Errorf("a1 reconciled explicitly: ListNodes calls %d, want 1", got)
	}
}
