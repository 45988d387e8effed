package fsm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gridctl/grid/eventstore"
	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
)

func lifecycleEvent(id string, typ rpc.EventType, entity string, ts int64) *rpc.Event {
	return &rpc.Event{Id: id, Type: typ, EntityId: entity, Timestamp: ts, Source: "m1"}
}

// eventIDs lists the stored event ids in seq order.
func eventIDs(t *testing.T, f *FSM) []string {
	t.Helper()
	evs, err := f.Events().Events(eventstoreFilterAll())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.Id)
	}
	return ids
}

// TestEventsExistExactlyWithTheirChange: a command's events are stored when
// its change is applied and never when it is refused.
func TestEventsExistExactlyWithTheirChange(t *testing.T) {
	f := newTestFSM(t)
	status := func(id, from, to, ev string) *rpc.AgentStatusCommand {
		return &rpc.AgentStatusCommand{AgentId: id, Status: to, ExpectedStatus: from,
			Events: []*rpc.Event{lifecycleEvent(ev, rpc.EventType_AGENT_DEGRADED, id, 2_000_000)}}
	}
	resps := applyAll(t, f, logOf(t, []entry{
		{RegisterAgentEventsType, &rpc.RegisterAgentCommand{Agent: &rpc.AgentRecord{AgentId: "a1", Status: rpc.AgentHealthy},
			Events: []*rpc.Event{lifecycleEvent("reg-a1", rpc.EventType_AGENT_REGISTERED, "a1", 1_000_000)}}},
		{RegisterAgentEventsType, &rpc.RegisterAgentCommand{Agent: &rpc.AgentRecord{},
			Events: []*rpc.Event{lifecycleEvent("reg-bad", rpc.EventType_AGENT_REGISTERED, "x", 1_000_000)}}},
		// Two changes chained in one entry, a stale one and an unknown agent.
		{AgentStatusBatchType, &rpc.AgentStatusBatch{Changes: []*rpc.AgentStatusCommand{
			status("a1", rpc.AgentHealthy, rpc.AgentDegraded, "deg-a1"),
			status("a1", rpc.AgentDegraded, rpc.AgentOffline, "off-a1"),
			status("a1", rpc.AgentHealthy, rpc.AgentDegraded, "stale-a1"),
			status("ghost", rpc.AgentHealthy, rpc.AgentDegraded, "ghost"),
		}}},
		// A retry of a change that already committed is refused: no second event.
		{AgentStatusBatchType, &rpc.AgentStatusBatch{Changes: []*rpc.AgentStatusCommand{status("a1", rpc.AgentHealthy, rpc.AgentDegraded, "deg-a1-retry")}}},
		{UpsertNodeEventsType, &rpc.UpsertNodeCommand{Node: &rpc.NodeStatus{NodeId: "n1", AgentId: "a1"},
			Events: []*rpc.Event{lifecycleEvent("spawn-n1", rpc.EventType_SPAWN_SUCCEEDED, "n1", 3_000_000)}}},
		{DeleteNodeEventsType, &rpc.DeleteNodeCommand{NodeId: "n2",
			Events: []*rpc.Event{lifecycleEvent("del-n2", rpc.EventType_STOP_SUCCEEDED, "n2", 3_000_001)}}},
		{UnregisterAgentEventsType, &rpc.UnregisterAgentCommand{AgentId: "ghost",
			Events: []*rpc.Event{lifecycleEvent("unreg-ghost", rpc.EventType_AGENT_UNREGISTERED, "ghost", 4_000_000)}}},
	}))
	if resps[0] != nil || !errors.Is(resps[1].(error), ErrInvalid) {
		t.Fatalf("register responses %v, %v", resps[0], resps[1])
	}
	batch := resps[2].([]error)
	if batch[0] != nil || batch[1] != nil || !errors.Is(batch[2], ErrStaleStatus) || !errors.Is(batch[3], ErrNotFound) {
		t.Fatalf("batch results %v", batch)
	}
	if retry := resps[3].([]error); !errors.Is(retry[0], ErrStaleStatus) {
		t.Fatalf("retried change: %v, want stale", retry)
	}
	if resps[4] != nil || !errors.Is(resps[5].(error), ErrNotFound) || !errors.Is(resps[6].(error), ErrNotFound) {
		t.Fatalf("node/unregister responses %v %v %v", resps[4], resps[5], resps[6])
	}
	if got, want := strings.Join(eventIDs(t, f), ","), "reg-a1,deg-a1,off-a1,spawn-n1"; got != want {
		t.Errorf("stored events %s, want %s", got, want)
	}
	if st, _ := f.AgentStatus("a1"); st != rpc.AgentOffline {
		t.Errorf("a1 status %s, want offline", st)
	}
}

// TestApplyBatchDecidesPerEntry: entries the store refuses deterministically
// get their own verdict inside a batch, the same as one by one, whatever the
// batch boundaries.
func TestApplyBatchDecidesPerEntry(t *testing.T) {
	// A NODE_CRASHED event at timestamp 5 with seq 67 has no free concept
	// name once "event-node_crashed-5", its -2..-64 variants and -s67 are
	// taken (here as entities of a preparing entry of 65 events): the store
	// refuses that entry deterministically.
	var prep []*rpc.Event
	for i := 1; i <= 65; i++ {
		name := "event-node_crashed-5"
		switch {
		case i == 65:
			name += "-s67"
		case i > 1:
			name += fmt.Sprintf("-%d", i)
		}
		prep = append(prep, lifecycleEvent(fmt.Sprintf("prep-%d", i), rpc.EventType_AGENT_REGISTERED, name, 1))
	}
	logs := logOf(t, []entry{
		{AppendEventsType, &rpc.EmitEventsRequest{Events: prep}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{lifecycleEvent("good-1", rpc.EventType_NODE_RESTARTED, "node-a", 7)}}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{lifecycleEvent("poison", rpc.EventType_NODE_CRASHED, "node-a", 5)}}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{lifecycleEvent("good-2", rpc.EventType_NODE_RESTARTED, "node-a", 8)}}},
	})
	one, batch := newTestFSM(t), newTestFSM(t)
	want := applyAll(t, one, logs)
	got := append([]any{batch.Apply(logs[0])}, batch.ApplyBatch(logs[1:])...)
	if err, ok := want[2].(error); !ok || !errors.Is(err, eventstore.ErrInvalid) {
		t.Fatalf("poisoned entry applied alone: %v, want a refusal", want[2])
	}
	for i := range want {
		if !sameResponse(want[i], got[i]) {
			t.Errorf("entry %d: batch %v, one by one %v", i+1, got[i], want[i])
		}
	}
	if a, b := one.StateHash(), batch.StateHash(); a.EventsHash != b.EventsHash || a.Events != 67 {
		t.Errorf("event graphs differ or miss events: %v / %v", a, b)
	}
}

// TestStoreFailureStopsApply fills a small tmpfs under the event store: the
// entry that cannot be written calls OnStoreFailure and panics with the
// index and the cause instead of returning; nothing is applied past it.
func TestStoreFailureStopsApply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	var hooked error
	f, err := New(Config{DataDir: dir, OnStoreFailure: func(err error) { hooked = err }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	applyAll(t, f, logOf(t, []entry{{RegisterAgentType, &rpc.AgentRecord{AgentId: "a1", Status: rpc.AgentHealthy}}}))
	detail := strings.Repeat("x", 8000)
	var panicked any
	var index uint64
	for index = 2; index < 10_000 && panicked == nil; index++ {
		ev := lifecycleEvent(fmt.Sprintf("ev-%d", index), rpc.EventType_AGENT_DEGRADED, "a1", int64(index))
		ev.Details = map[string]string{"pad": detail}
		b, err := Encode(AgentStatusBatchType, &rpc.AgentStatusBatch{Changes: []*rpc.AgentStatusCommand{
			{AgentId: "a1", Status: rpc.AgentDegraded, Events: []*rpc.Event{ev}}}})
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() { panicked = recover() }()
			f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b})
		}()
	}
	if panicked == nil {
		t.Fatal("the store never failed on a full 512k tmpfs")
	}
	index--
	msg := fmt.Sprint(panicked)
	if !strings.Contains(msg, fmt.Sprintf("store failure at index %d", index)) || !strings.Contains(msg, "no space left") {
		t.Errorf("panic %q does not name the index %d and the cause", msg, index)
	}
	if hooked == nil || hooked.Error() != msg {
		t.Errorf("OnStoreFailure got %v, want %q", hooked, msg)
	}
	if f.AppliedIndex() >= index {
		t.Errorf("applied index %d: applied past the failed entry %d", f.AppliedIndex(), index)
	}
}
