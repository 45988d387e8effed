package nodes

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
)

func TestPlacementSkipsIneligibleAgents(t *testing.T) {
	agents := []*rpc.AgentRecord{
		{AgentId: "a", Status: rpc.AgentHealthy, MaxStorageNodes: 9, Ineligible: true},
		{AgentId: "b", Status: rpc.AgentHealthy, MaxStorageNodes: 1},
	}
	if a, err := placeNode(agents, nil); err != nil || a.AgentId != "b" {
		t.Fatalf("placed on %v (%v), want b", a, err)
	}
	agents[1].Ineligible = true
	if _, err := placeNode(agents, nil); !errors.Is(err, ErrNoAgentAvailable) {
		t.Fatalf("all ineligible: %v", err)
	}
	if err := checkAgentTakesNode(agents[0], nil); !errors.Is(err, ErrAgentIneligible) {
		t.Fatalf("named ineligible agent: %v", err)
	}
}

// A drain without migration starts the node on the other agent, then stops
// it on the drained one, and completes; bad drains are refused unchanged.
func TestDrainMovesNodesStartBeforeStop(t *testing.T) {
	h := newHarness(t, "agent-1", "agent-2")
	ctx := context.Background()
	if _, err := h.o.Spawn(ctx, &rpc.SpawnRequest{AgentId: "agent-1", NodeId: "node-x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.o.Drain(&rpc.DrainAgentRequest{AgentId: "agent-404", Enable: true}); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
	// No other eligible agent: refused, nothing changed.
	if _, err := h.o.SetEligibility("agent-2", false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.o.Drain(&rpc.DrainAgentRequest{AgentId: "agent-1", Enable: true}); !errors.Is(err, ErrNoDrainTarget) {
		t.Fatalf("drain with no target: %v", err)
	}
	if a, _ := h.reg.Agent("agent-1"); a.Ineligible || a.Drain != nil {
		t.Fatalf("refused drain changed agent-1: %v", a)
	}
	if _, err := h.o.SetEligibility("agent-2", true); err != nil {
		t.Fatal(err)
	}
	if _, err := h.o.Drain(&rpc.DrainAgentRequest{AgentId: "agent-1", Enable: true, DeadlineS: 60}); err != nil {
		t.Fatal(err)
	}
	h.o.runDrains(ctx)
	n, _ := h.reg.Node("node-x")
	if n.AgentId != "agent-2" || n.Status != rpc.NodeRunning || !slices.Equal(n.PreviousAgents, []string{"agent-1"}) || n.RescheduleCount != 0 {
		t.Fatalf("after the move: %v", n)
	}
	a1 := h.dialer.agents["agent-1"]
	if a1.count("stop") != 1 || len(a1.nodes) != 0 {
		t.Fatalf("old copy: %d stops, nodes %v", a1.count("stop"), a1.nodes)
	}
	h.o.runDrains(ctx)
	if a, _ := h.reg.Agent("agent-1"); a.GetDrain().GetStatus() != DrainComplete || !a.Ineligible {
		t.Fatalf("drain not complete: %v", a)
	}
	types := h.events.types()
	want := []rpc.EventType{rpc.EventType_AGENT_DRAIN_STARTED, rpc.EventType_SPAWN_REQUESTED, rpc.EventType_SPAWN_SUCCEEDED,
		rpc.EventType_NODE_MIGRATED, rpc.EventType_AGENT_DRAIN_COMPLETE}
	i := 0
	for _, ty := range types {
		if i < len(want) && ty == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Fatalf("events %v, want in order %v", types, want)
	}
}

// Past its deadline a drain fails with the reason.
func TestDrainFailsAtDeadline(t *testing.T) {
	h := newHarness(t, "agent-1", "agent-2")
	ctx := context.Background()
	if _, err := h.o.Spawn(ctx, &rpc.SpawnRequest{AgentId: "agent-1", NodeId: "node-x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.o.Drain(&rpc.DrainAgentRequest{AgentId: "agent-1", Enable: true, DeadlineS: 1}); err != nil {
		t.Fatal(err)
	}
	a, _ := h.reg.Agent("agent-1")
	a.Drain.Deadline = time.Now().Add(-time.Second).UnixMicro()
	h.reg.addAgent(a)
	h.o.runDrains(ctx)
	if a, _ := h.reg.Agent("agent-1"); a.GetDrain().GetStatus() != DrainFailed || a.GetDrain().GetError() == "" {
		t.Fatalf("drain past its deadline: %v", a.GetDrain())
	}
	if !slices.Contains(h.events.types(), rpc.EventType_AGENT_DRAIN_FAILED) {
		t.Fatal("no agent_drain_failed")
	}
}

// A healthy agent, or one with running nodes, is removed only with force.
func TestRemoveAgentNeedsForce(t *testing.T) {
	h := newHarness(t, "agent-1")
	forgot := ""
	h.o.forget = func(id string) { forgot = id }
	if err := h.o.RemoveAgent("agent-1", false, "test"); !errors.Is(err, ErrAgentInUse) {
		t.Fatalf("healthy agent without force: %v", err)
	}
	if err := h.o.RemoveAgent("agent-1", true, "test"); err != nil || forgot != "agent-1" {
		t.Fatalf("with force: %v (forgot %q)", err, forgot)
	}
	if _, ok := h.reg.Agent("agent-1"); ok {
		t.Fatal("agent still registered")
	}
	if err := h.o.RemoveAgent("agent-1", true, "test"); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
}
