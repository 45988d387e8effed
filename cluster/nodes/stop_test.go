package nodes

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStopNode(t *testing.T) {
	h := newHarness(t, "a1")
	resp, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1", NodeId: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.o.Stop(context.Background(), &rpc.StopRequest{NodeId: resp.NodeId}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	rec, _ := h.reg.Node("n1")
	if rec.Status != rpc.NodeStopped || rec.DesiredState != rpc.DesiredStopped || rec.Pid != 0 {
		t.Fatalf("record %v", rec)
	}
	want := []rpc.EventType{rpc.EventType_SPAWN_REQUESTED, rpc.EventType_SPAWN_SUCCEEDED,
		rpc.EventType_STOP_REQUESTED, rpc.EventType_STOP_SUCCEEDED}
	if got := h.events.types(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// Stopping a stopped node is a no-op success.
	if _, err := h.o.Stop(context.Background(), &rpc.StopRequest{NodeId: "n1"}); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if n := h.agent("a1").count("stop"); n != 1 {
		t.Fatalf("agent stopped %d times", n)
	}
}

func TestStopRefusals(t *testing.T) {
	h := newHarness(t, "a1")
	if _, err := h.o.Stop(context.Background(), &rpc.StopRequest{NodeId: "nope"}); rpc.StatusCode(err) != codes.NotFound {
		t.Fatalf("unknown node: %v", err)
	}
	if _, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1", NodeId: "n1"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.o.Stop(context.Background(), &rpc.StopRequest{NodeId: "n1", AgentId: "a2"})
	if !errors.Is(err, rpc.ErrInvalid) {
		t.Fatalf("wrong agent: %v", err)
	}
}

func TestStopAgentUnreachableStaysRecorded(t *testing.T) {
	h := newHarness(t, "a1")
	if _, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1", NodeId: "n1"}); err != nil {
		t.Fatal(err)
	}
	h.agent("a1").stopErr = status.Error(codes.Unavailable, "down")
	_, err := h.o.Stop(context.Background(), &rpc.StopRequest{NodeId: "n1"})
	if !errors.Is(err, ErrAgentUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if n := h.agent("a1").count("stop"); n != 3 {
		t.Fatalf("stop tried %d times, want 3", n)
	}
	rec, _ := h.reg.Node("n1")
	if rec.DesiredState != rpc.DesiredStopped || rec.Status != rpc.NodeStopping {
		t.Fatalf("record %v: the stop must stay recorded for the reconciler", rec)
	}
}
