package rpc

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestNodeStatusResponseRoundTrip(t *testing.T) {
	n := &NodeStatus{NodeId: "n1", Status: "running", Pid: 42, Port: 50051, StoragePath: "/data/n1",
		RestartCount: 2, StartedAt: 1_700_000_000_123_456, MemoryLimitMb: 64, AgentId: "agent-1"}
	r := NewNodeStatusResponse(n)
	if r.NodeId != "n1" || r.Status != "running" || r.Pid != 42 || r.Port != 50051 || r.StoragePath != "/data/n1" ||
		r.RestartCount != 2 || r.StartedAt != 1_700_000_000 || r.Node != n {
		t.Fatalf("NewNodeStatusResponse = %v", r)
	}
	if got := r.NodeRecord(); got != n {
		t.Fatalf("NodeRecord with a node field = %v, want the same record", got)
	}
	// A seed agent sends no node record: it is built from the seed fields.
	seed := &NodeStatusResponse{NodeId: "n1", Status: "running", Pid: 42, Port: 50051, StoragePath: "/data/n1", StartedAt: 1_700_000_000, RestartCount: 2}
	want := &NodeStatus{NodeId: "n1", Status: "running", Pid: 42, Port: 50051, StoragePath: "/data/n1", StartedAt: 1_700_000_000_000_000, RestartCount: 2}
	if got := seed.NodeRecord(); !proto.Equal(got, want) {
		t.Fatalf("NodeRecord from seed fields = %v, want %v", got, want)
	}
	if NewNodeStatusResponse(&NodeStatus{NodeId: "n2"}).StartedAt != 0 || NewNodeStatusResponse(nil) != nil || (*NodeStatusResponse)(nil).NodeRecord() != nil {
		t.Fatal("zero and nil cases")
	}
}
