package nodes

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
)

// rescheduleLost asks the silence of the agents holding nodes only (once
// each per pass), and still moves the nodes of one silent for too long.
func TestRescheduleLostAsksOnlyAgentsHoldingNodes(t *testing.T) {
	h := newHarness(t, "agent-1", "agent-2", "agent-3", "agent-4")
	ctx := context.Background()
	for _, id := range []string{"node-a", "node-b"} {
		if _, err := h.o.Spawn(ctx, &rpc.SpawnRequest{AgentId: "agent-1", NodeId: id}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var asked []string
	silent := time.Second
	h.o.silence = func(id string) (time.Duration, bool) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, id)
		if id == "agent-1" {
			return silent, true
		}
		return time.Second, true
	}
	h.o.rescheduleLost(ctx) // every agent heard from a second ago: nothing moves
	mu.Lock()
	if !slices.Equal(asked, []string{"agent-1"}) {
		t.Fatalf("silence asked for %v; want only agent-1 (the one agent holding nodes), once", asked)
	}
	silent = time.Hour
	mu.Unlock()
	h.o.rescheduleLost(ctx)
	for _, id := range []string{"node-a", "node-b"} {
		if n, _ := h.reg.Node(id); n.AgentId == "agent-1" || !slices.Contains(n.PreviousAgents, "agent-1") {
			t.Fatalf("%s after agent-1 went silent for an hour: %v; want it moved off agent-1", id, n)
		}
	}
}
