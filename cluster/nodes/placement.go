package nodes

import (
	"fmt"

	"github.com/gridctl/grid/rpc"
)

// nodeHoldsSlot reports whether a node record occupies a slot on its agent:
// it is meant to run and has not ended (stopped, failed or lost nodes free
// their slot; the agent re-checks its own count).
func nodeHoldsSlot(n *rpc.NodeStatus) bool {
	if n.DesiredState == rpc.DesiredStopped {
		return false
	}
	switch n.Status {
	case rpc.NodeStopped, rpc.NodeFailed, rpc.NodeLost:
		return false
	}
	return true
}

// usedSlots counts the slots agent a's nodes hold among the registry's node
// records (all of them; only a's are counted).
func usedSlots(a *rpc.AgentRecord, nodes []*rpc.NodeStatus) int {
	used := 0
	for _, n := range nodes {
		if n.AgentId == a.AgentId && nodeHoldsSlot(n) {
			used++
		}
	}
	return used
}

// freeSlots is how many more nodes agent a can take.
func freeSlots(a *rpc.AgentRecord, nodes []*rpc.NodeStatus) int {
	if free := int(a.MaxStorageNodes) - usedSlots(a, nodes); free > 0 {
		return free
	}
	return 0
}

// checkAgentTakesNode says whether a named agent may take one more node:
// ErrAgentNotHealthy (naming its status) or ErrAgentFull otherwise.
func checkAgentTakesNode(a *rpc.AgentRecord, nodes []*rpc.NodeStatus) error {
	if a.Status != rpc.AgentHealthy {
		return fmt.Errorf("agent %s is %s: %w", a.AgentId, a.Status, ErrAgentNotHealthy)
	}
	if a.Ineligible {
		return fmt.Errorf("agent %s is ineligible for placement (grid agents eligibility --enable %s): %w", a.AgentId, a.AgentId, ErrAgentIneligible)
	}
	if freeSlots(a, nodes) == 0 {
		return fmt.Errorf("agent %s runs %d of %d storage nodes: %w", a.AgentId, usedSlots(a, nodes), a.MaxStorageNodes, ErrAgentFull)
	}
	return nil
}

// placeNode picks the agent for a node when the order names none: the
// healthy, eligible agent with the most free slots, ties broken by the
// lowest id. It
// is a pure function of the registry so that it can be tested alone.
func placeNode(agents []*rpc.AgentRecord, nodes []*rpc.NodeStatus) (*rpc.AgentRecord, error) {
	var best *rpc.AgentRecord
	bestFree := 0
	for _, a := range agents {
		if a.Status != rpc.AgentHealthy || a.Ineligible {
			continue
		}
		free := freeSlots(a, nodes)
		if free == 0 {
			continue
		}
		if best == nil || free > bestFree || (free == bestFree && a.AgentId < best.AgentId) {
			best, bestFree = a, free
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%d agents registered, none healthy and eligible with a free slot: %w", len(agents), ErrNoAgentAvailable)
	}
	return best, nil
}
