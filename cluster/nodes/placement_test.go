package nodes

import (
	"errors"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
)

func agentRec(id, status string, max uint32) *rpc.AgentRecord {
	return &rpc.AgentRecord{AgentId: id, Status: status, MaxStorageNodes: max, Endpoint: "127.0.0.1:1"}
}

func nodeRec(id, agent, status, desired string) *rpc.NodeStatus {
	return &rpc.NodeStatus{NodeId: id, AgentId: agent, Status: status, DesiredState: desired}
}

func TestPlaceNodePicksMostFreeSlotsTiesByID(t *testing.T) {
	agents := []*rpc.AgentRecord{
		agentRec("agent-c", rpc.AgentHealthy, 3),
		agentRec("agent-a", rpc.AgentHealthy, 3),
		agentRec("agent-b", rpc.AgentHealthy, 5),
		agentRec("agent-d", "degraded", 50),
		agentRec("agent-e", rpc.AgentOffline, 50),
	}
	nodes := []*rpc.NodeStatus{
		nodeRec("n1", "agent-b", rpc.NodeRunning, rpc.DesiredRunning),
		nodeRec("n2", "agent-b", rpc.NodePending, rpc.DesiredRunning),
		nodeRec("n3", "agent-b", rpc.NodeStarting, rpc.DesiredRunning),
		// Ended nodes free their slot.
		nodeRec("n4", "agent-a", rpc.NodeStopped, rpc.DesiredStopped),
		nodeRec("n5", "agent-a", rpc.NodeFailed, rpc.DesiredRunning),
		nodeRec("n6", "agent-a", rpc.NodeLost, rpc.DesiredRunning),
	}
	// b has 2 free, a and c 3 each: a wins the tie by id.
	got, err := placeNode(agents, nodes)
	if err != nil {
		t.Fatalf("placeNode: %v", err)
	}
	if got.AgentId != "agent-a" {
		t.Fatalf("placed on %s, want agent-a", got.AgentId)
	}

	// Fill a: c now has the most free slots.
	nodes = append(nodes, nodeRec("n7", "agent-a", rpc.NodeRunning, rpc.DesiredRunning))
	got, err = placeNode(agents, nodes)
	if err != nil || got.AgentId != "agent-c" {
		t.Fatalf("placed on %v (err %v), want agent-c", got, err)
	}
}

func TestPlaceNodeNoHealthyAgentWithSlot(t *testing.T) {
	agents := []*rpc.AgentRecord{
		agentRec("agent-a", rpc.AgentHealthy, 1),
		agentRec("agent-b", "degraded", 5),
	}
	nodes := []*rpc.NodeStatus{nodeRec("n1", "agent-a", rpc.NodeRunning, rpc.DesiredRunning)}
	_, err := placeNode(agents, nodes)
	if !errors.Is(err, ErrNoAgentAvailable) {
		t.Fatalf("err = %v, want ErrNoAgentAvailable", err)
	}
	if _, err := placeNode(nil, nil); !errors.Is(err, ErrNoAgentAvailable) {
		t.Fatalf("no agents: err = %v, want ErrNoAgentAvailable", err)
	}
}

func TestCheckAgentTakesNode(t *testing.T) {
	nodes := []*rpc.NodeStatus{
		nodeRec("n1", "agent-a", rpc.NodeRunning, rpc.DesiredRunning),
		nodeRec("n2", "agent-a", rpc.NodeCrashed, rpc.DesiredRunning),
	}
	if err := checkAgentTakesNode(agentRec("agent-a", rpc.AgentHealthy, 3), nodes); err != nil {
		t.Fatalf("agent with a free slot refused: %v", err)
	}
	err := checkAgentTakesNode(agentRec("agent-a", rpc.AgentHealthy, 2), nodes)
	if !errors.Is(err, ErrAgentFull) || !strings.Contains(err.Error(), "2 of 2") {
		t.Fatalf("full agent: err = %v, want ErrAgentFull naming 2 of 2", err)
	}
	for _, st := range []string{"degraded", rpc.AgentOffline} {
		err := checkAgentTakesNode(agentRec("agent-a", st, 9), nil)
		if !errors.Is(err, ErrAgentNotHealthy) || !strings.Contains(err.Error(), st) {
			t.Fatalf("%s agent: err = %v, want ErrAgentNotHealthy naming the status", st, err)
		}
	}
}

func TestNeedsRespawn(t *testing.T) {
	cases := []struct {
		status, lastError string
		agentHas          *rpc.NodeStatus
		want              bool
	}{
		{rpc.NodePending, "", nil, true},
		{rpc.NodeRunning, "", nil, true},
		{rpc.NodeLost, "agent offline", nil, true},
		{rpc.NodeRunning, "", &rpc.NodeStatus{Status: rpc.NodeStopped}, true},
		{rpc.NodeFailed, unreachablePrefix + "x", nil, true},
		{rpc.NodeFailed, "agent agent-1 refused: port taken", nil, false},
		{rpc.NodeFailed, unreachablePrefix + "x", &rpc.NodeStatus{Status: rpc.NodeStopped}, false},
		{rpc.NodeStopped, "", nil, false},
	}
	for _, c := range cases {
		rec := &rpc.NodeStatus{NodeId: "n", Status: c.status, LastError: c.lastError, DesiredState: rpc.DesiredRunning}
		if got := needsRespawn(rec, c.agentHas); got != c.want {
			t.Errorf("needsRespawn(status=%s, last_error=%q, agent=%v) = %v, want %v", c.status, c.lastError, c.agentHas, got, c.want)
		}
	}
}

func TestMergeActualKeepsDesiredState(t *testing.T) {
	rec := &rpc.NodeStatus{NodeId: "n", AgentId: "a", Status: rpc.NodePending, DesiredState: rpc.DesiredStopped, CreatedAt: 7, Port: 50051}
	actual := &rpc.NodeStatus{NodeId: "n", AgentId: "a", Status: rpc.NodeRunning, Pid: 42, RestartCount: 2, DesiredState: rpc.DesiredRunning, CreatedAt: 9}
	got, changed := mergeChanged(rec, actual)
	if !changed {
		t.Fatal("merge reported no change")
	}
	if got.DesiredState != rpc.DesiredStopped || got.CreatedAt != 7 || got.Port != 50051 {
		t.Fatalf("master-owned fields changed: %v", got)
	}
	if got.Status != rpc.NodeRunning || got.Pid != 42 || got.RestartCount != 2 {
		t.Fatalf("agent-owned fields not merged: %v", got)
	}
	if _, changed := mergeChanged(got, actual); changed {
		t.Fatal("merging the same view twice reported a change")
	}
}
