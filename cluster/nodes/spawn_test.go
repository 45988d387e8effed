package nodes

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSpawnHappyPath(t *testing.T) {
	h := newHarness(t, "a1")
	resp, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1", MemoryLimitMb: 128})
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if !resp.Success || !strings.HasPrefix(resp.NodeId, "node-") || resp.AgentId != "a1" || resp.Pid == 0 || resp.Endpoint != "127.0.0.1:50051" {
		t.Fatalf("response %v", resp)
	}
	rec, ok := h.reg.Node(resp.NodeId)
	if !ok || rec.Status != rpc.NodeRunning || rec.DesiredState != rpc.DesiredRunning || rec.Pid != resp.Pid || rec.MemoryLimitMb != 128 {
		t.Fatalf("record %v", rec)
	}
	want := []rpc.EventType{rpc.EventType_SPAWN_REQUESTED, rpc.EventType_SPAWN_SUCCEEDED}
	if got := h.events.types(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if n := h.agent("a1").count("spawn"); n != 1 {
		t.Fatalf("agent called %d times", n)
	}
}

func TestSpawnPlacesOnTheAgentWithMostFreeSlots(t *testing.T) {
	h := newHarness(t, "a1")
	h.addAgent("a2", rpc.AgentHealthy, 5)
	resp, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{})
	if err != nil || resp.AgentId != "a2" {
		t.Fatalf("spawn = %v, %v; want it placed on a2", resp, err)
	}
}

func TestSpawnAgentUnreachableIsTriedThreeTimes(t *testing.T) {
	h := newHarness(t, "a1")
	ag := h.agent("a1")
	down := status.Error(codes.Unavailable, "connection refused")
	ag.spawnErrs = []error{down, down, down, down}
	_, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1", NodeId: "n1"})
	// FAILED_PRECONDITION, not UNAVAILABLE: a dead agent is not a dead leader.
	if !errors.Is(err, ErrAgentUnreachable) || rpc.StatusCode(err) != codes.FailedPrecondition {
		t.Fatalf("err = %v (code %s), want ErrAgentUnreachable / FAILED_PRECONDITION", err, rpc.StatusCode(err))
	}
	if n := ag.count("spawn"); n != 3 {
		t.Fatalf("agent tried %d times, want 3", n)
	}
	// The order stays recorded for the reconciler.
	rec, ok := h.reg.Node("n1")
	if !ok || rec.Status != rpc.NodeFailed || !strings.HasPrefix(rec.LastError, unreachablePrefix) {
		t.Fatalf("record %v", rec)
	}
	want := []rpc.EventType{rpc.EventType_SPAWN_REQUESTED, rpc.EventType_SPAWN_FAILED}
	if got := h.events.types(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestSpawnSucceedsOnTheThirdTry(t *testing.T) {
	h := newHarness(t, "a1")
	ag := h.agent("a1")
	ag.spawnErrs = []error{status.Error(codes.Unavailable, "down"), status.Error(codes.DeadlineExceeded, "slow")}
	resp, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1"})
	if err != nil || !resp.Success {
		t.Fatalf("spawn = %v, %v", resp, err)
	}
	if n := ag.count("spawn"); n != 3 {
		t.Fatalf("agent tried %d times, want 3", n)
	}
}

func TestSpawnRefusedByAgentRollsBack(t *testing.T) {
	h := newHarness(t, "a1")
	ag := h.agent("a1")
	ag.spawnErrs = []error{status.Error(codes.AlreadyExists, "port 50051 is used by node \"x\"")}
	_, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1", NodeId: "n1", Port: 50051})
	var refusal *AgentRefusal
	if !errors.As(err, &refusal) || rpc.StatusCode(err) != codes.AlreadyExists {
		t.Fatalf("err = %v, want the agent's refusal with its code", err)
	}
	if n := ag.count("spawn"); n != 1 {
		t.Fatalf("a refusal was retried: %d calls", n)
	}
	if _, ok := h.reg.Node("n1"); ok {
		t.Fatal("refused node kept its record")
	}
}

func TestSpawnIsIdempotentByNodeID(t *testing.T) {
	h := newHarness(t, "a1")
	ag := h.agent("a1")
	down := status.Error(codes.Unavailable, "down")
	ag.spawnErrs = []error{down, down, down}
	req := &rpc.SpawnRequest{AgentId: "a1", NodeId: "n1", MemoryLimitMb: 64}
	if _, err := h.o.Spawn(context.Background(), req); !errors.Is(err, ErrAgentUnreachable) {
		t.Fatalf("first try: %v", err)
	}
	// The client retries the same order: it resumes, one node.
	resp, err := h.o.Spawn(context.Background(), req)
	if err != nil || resp.NodeId != "n1" {
		t.Fatalf("retry = %v, %v", resp, err)
	}
	// And once more: the node exists now.
	_, err = h.o.Spawn(context.Background(), req)
	if !errors.Is(err, ErrNodeExists) || rpc.StatusCode(err) != codes.AlreadyExists {
		t.Fatalf("third order: %v, want ErrNodeExists", err)
	}
	if n := len(ag.nodes); n != 1 {
		t.Fatalf("agent runs %d nodes, want 1", n)
	}
}

func TestSpawnAdmissionRefusalsRecordNothing(t *testing.T) {
	h := newHarness(t, "a1")
	h.addAgent("sick", rpc.AgentDegraded, 3)
	h.addAgent("full", rpc.AgentHealthy, 0)
	cases := []struct {
		req  *rpc.SpawnRequest
		want error
		code codes.Code
	}{
		{&rpc.SpawnRequest{AgentId: "nope"}, rpc.ErrNotFound, codes.NotFound},
		{&rpc.SpawnRequest{AgentId: "sick"}, ErrAgentNotHealthy, codes.FailedPrecondition},
		{&rpc.SpawnRequest{AgentId: "full"}, ErrAgentFull, codes.ResourceExhausted},
		{&rpc.SpawnRequest{AgentId: "a1", Port: 60000}, rpc.ErrInvalid, codes.InvalidArgument},
	}
	for _, c := range cases {
		_, err := h.o.Spawn(context.Background(), c.req)
		if !errors.Is(err, c.want) || rpc.StatusCode(err) != c.code {
			t.Errorf("%v: err = %v (code %s), want %v / %s", c.req, err, rpc.StatusCode(err), c.want, c.code)
		}
	}
	if n := len(h.reg.Nodes()); n != 0 || len(h.events.types()) != 0 || h.agent("a1").count("spawn") != 0 {
		t.Fatalf("refused orders left %d records, events %v", n, h.events.types())
	}
}

func TestSpawnInterruptedByLostLeadership(t *testing.T) {
	h := newHarness(t, "a1")
	h.o.SetTestHookAfterPending(func(string) error {
		h.reg.mu.Lock()
		h.reg.failApply = errNotLeader
		h.reg.mu.Unlock()
		return nil
	})
	_, err := h.o.Spawn(context.Background(), &rpc.SpawnRequest{AgentId: "a1", NodeId: "n1"})
	if !errors.Is(err, ErrOrderInterrupted) || rpc.StatusCode(err) != codes.Aborted {
		t.Fatalf("err = %v, want ErrOrderInterrupted", err)
	}
}
