package fsm

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// mixedLog is a run of registry and event entries of every groupable kind,
// with changes that are refused (unknown ids, stale status) among them.
// With poison, one AppendEvents entry in the middle is refused by the store
// (see TestApplyBatchDecidesPerEntry), which makes a group fall back.
func mixedLog(t *testing.T, poison bool) []*raft.Log {
	ev := func(id string, typ rpc.EventType, entity string, ts int64) []*rpc.Event {
		return []*rpc.Event{lifecycleEvent(id, typ, entity, ts)}
	}
	var prep []*rpc.Event
	for i := 1; i <= 65; i++ {
		name := "event-node_crashed-5"
		switch {
		case i == 65:
			name += "-s70" // the poison entry gets seq 70
		case i > 1:
			name += fmt.Sprintf("-%d", i)
		}
		prep = append(prep, lifecycleEvent(fmt.Sprintf("prep-%d", i), rpc.EventType_AGENT_REGISTERED, name, 1))
	}
	status := func(id, from, to, e string) *rpc.AgentStatusCommand {
		return &rpc.AgentStatusCommand{AgentId: id, Status: to, ExpectedStatus: from, LastHeartbeat: 9,
			Events: ev(e, rpc.EventType_AGENT_DEGRADED, id, 2_000_000)}
	}
	es := []entry{
		{AppendEventsType, &rpc.EmitEventsRequest{Events: prep}},
		{RegisterAgentEventsType, &rpc.RegisterAgentCommand{Agent: &rpc.AgentRecord{AgentId: "a1", Status: rpc.AgentHealthy, RegisteredAt: 5},
			Events: ev("reg-a1", rpc.EventType_AGENT_REGISTERED, "a1", 1_000_000)}},
		{RegisterAgentType, &rpc.AgentRecord{AgentId: "a2", Status: rpc.AgentHealthy, RegisteredAt: 6}},
		{AppendEventsType, &rpc.EmitEventsRequest{}},
		{AgentStatusBatchType, &rpc.AgentStatusBatch{Changes: []*rpc.AgentStatusCommand{
			status("a1", rpc.AgentHealthy, rpc.AgentDegraded, "deg-a1"),
			status("a1", rpc.AgentHealthy, rpc.AgentOffline, "stale-a1"),
			status("ghost", "", rpc.AgentOffline, "ghost"),
		}}},
		{UpsertNodeEventsType, &rpc.UpsertNodeCommand{Node: &rpc.NodeStatus{NodeId: "n1", AgentId: "a1", Status: "running"},
			Events: ev("spawn-n1", rpc.EventType_SPAWN_SUCCEEDED, "n1", 3_000_000)}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: ev("good-1", rpc.EventType_NODE_RESTARTED, "node-a", 7)}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: ev("good-1", rpc.EventType_NODE_RESTARTED, "node-a", 7)}},
		{UpsertNodeType, &rpc.NodeStatus{NodeId: "n2", AgentId: "a2", Status: "pending"}},
		{AgentStatusType, &rpc.AgentStatusCommand{AgentId: "a2", Status: rpc.AgentDegraded, LastHeartbeat: 11}},
		{DeleteNodeEventsType, &rpc.DeleteNodeCommand{NodeId: "n2", Events: ev("del-n2", rpc.EventType_STOP_SUCCEEDED, "n2", 3_000_001)}},
		{DeleteNodeType, &rpc.NodeId{NodeId: "n-ghost"}},
		{RegisterAgentEventsType, &rpc.RegisterAgentCommand{Agent: &rpc.AgentRecord{AgentId: "a1", Status: rpc.AgentHealthy, RegisteredAt: 50},
			Events: ev("rereg-a1", rpc.EventType_AGENT_REGISTERED, "a1", 4_000_000)}},
		{UnregisterAgentEventsType, &rpc.UnregisterAgentCommand{AgentId: "a2", Events: ev("unreg-a2", rpc.EventType_AGENT_UNREGISTERED, "a2", 4_000_001)}},
		{UnregisterAgentType, &rpc.AgentId{AgentId: "ghost"}},
		{RegisterAgentEventsType, &rpc.RegisterAgentCommand{Agent: &rpc.AgentRecord{},
			Events: ev("reg-bad", rpc.EventType_AGENT_REGISTERED, "x", 1_000_000)}},
		{UpsertNodeEventsType, &rpc.UpsertNodeCommand{Node: &rpc.NodeStatus{NodeId: "n3", AgentId: "a1"},
			Events: ev("spawn-n3", rpc.EventType_SPAWN_SUCCEEDED, "n3", 5_000_000)}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: ev("good-2", rpc.EventType_NODE_RESTARTED, "node-a", 8)}},
	}
	if poison {
		// In the middle of the run: its group is undone and applied again
		// one entry at a time.
		es = append(es[:9], append([]entry{{AppendEventsType, &rpc.EmitEventsRequest{Events: ev("poison", rpc.EventType_NODE_CRASHED, "node-a", 5)}}}, es[9:]...)...)
	}
	return logOf(t, es)
}

// TestApplyBatchGroupsMatchApply applies mixed runs of registry and event
// entries one by one and as batches cut at random places (so groups start
// and end everywhere): every response, the state digest, the stored events
// in seq order, the registry and its version must be the same, also when
// the store refuses an entry inside a group.
func TestApplyBatchGroupsMatchApply(t *testing.T) {
	for _, poison := range []bool{false, true} {
		for seed := uint64(1); seed <= 12; seed++ {
			t.Run(fmt.Sprintf("poison=%v/seed=%d", poison, seed), func(t *testing.T) {
				logs := mixedLog(t, poison)
				one, batch := newTestFSM(t), newTestFSM(t)
				want := applyAll(t, one, logs)
				r := rand.New(rand.NewPCG(seed, 7))
				var got []any
				for i := 0; i < len(logs); {
					n := 1 + r.IntN(len(logs)-i)
					if seed == 1 {
						n = len(logs) - i // the whole log as one batch
					}
					got = append(got, batch.ApplyBatch(logs[i:i+n])...)
					i += n
				}
				compareFSMs(t, one, batch, want, got)
				if poison {
					if err, ok := want[9].(error); !ok || !strings.Contains(err.Error(), "append events") {
						t.Fatalf("poisoned entry one by one: %v, want a refusal", want[9])
					}
				}
			})
		}
	}
}

// compareFSMs fails unless two FSMs that applied the same log agree.
func compareFSMs(t *testing.T, one, batch *FSM, want, got []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d responses, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameGroupResponse(want[i], got[i]) {
			t.Errorf("entry %d: batch %v, one by one %v", i+1, got[i], want[i])
		}
	}
	if a, b := one.StateHash(), batch.StateHash(); !proto.Equal(a, b) {
		t.Fatalf("state hashes differ:\n%v\n%v", a, b)
	}
	if a, b := strings.Join(eventIDs(t, one), ","), strings.Join(eventIDs(t, batch), ","); a != b {
		t.Fatalf("stored events differ:\n%s\n%s", a, b)
	}
	for _, a := range one.Agents() {
		b, ok := batch.Agent(a.AgentId)
		if !ok || !proto.Equal(a, b) {
			t.Fatalf("agent %s: %v, want %v", a.AgentId, b, a)
		}
	}
	if len(one.Agents()) != len(batch.Agents()) || len(one.Nodes()) != len(batch.Nodes()) {
		t.Fatalf("registry sizes differ")
	}
	if one.Version() != batch.Version() || one.AppliedIndex() != batch.AppliedIndex() {
		t.Fatalf("version %d/%d, applied %d/%d", one.Version(), batch.Version(), one.AppliedIndex(), batch.AppliedIndex())
	}
}

// sameGroupResponse is sameResponse that also compares []error results.
func sameGroupResponse(a, b any) bool {
	ea, okA := a.([]error)
	eb, okB := b.([]error)
	if okA || okB {
		if !okA || !okB || len(ea) != len(eb) {
			return false
		}
		for i := range ea {
			if (ea[i] == nil) != (eb[i] == nil) || (ea[i] != nil && ea[i].Error() != eb[i].Error()) {
				return false
			}
		}
		return true
	}
	return sameResponse(a, b)
}
