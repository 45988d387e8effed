package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

func newTestFSM(t *testing.T) *FSM {
	t.Helper()
	f, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// logOf builds raft log entries from (type, message) pairs.
type entry struct {
	t   MessageType
	msg proto.Message
}

func logOf(t *testing.T, entries []entry) []*raft.Log {
	t.Helper()
	var out []*raft.Log
	for i, e := range entries {
		buf, err := Encode(e.t, e.msg)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: buf})
	}
	return out
}

func sampleLog(t *testing.T) []*raft.Log {
	ev := func(id string, typ rpc.EventType, entity string, ts int64) *rpc.Event {
		return &rpc.Event{Id: id, Type: typ, EntityId: entity, Timestamp: ts, Source: "m1",
			Details: map[string]string{"agent_id": entity}}
	}
	return logOf(t, []entry{
		{RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-001", Hostname: "h1", Status: "healthy", RegisteredAt: 100, LastHeartbeat: 100}},
		{RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-002", Hostname: "h2", Status: "healthy", RegisteredAt: 101, LastHeartbeat: 101}},
		{UpsertNodeType, &rpc.NodeStatus{NodeId: "node-a", AgentId: "agent-001", Status: "running", Pid: 42, DesiredState: "running"}},
		{UpsertNodeType, &rpc.NodeStatus{NodeId: "node-b", AgentId: "agent-001", Status: "pending", DesiredState: "running"}},
		{AgentStatusType, &rpc.AgentStatusCommand{AgentId: "agent-002", Status: "degraded", LastHeartbeat: 120, At: 121_000_000}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{
			ev("e1", rpc.EventType_AGENT_REGISTERED, "agent-001", 1_000_000),
			ev("e2", rpc.EventType_AGENT_REGISTERED, "agent-002", 1_000_001),
		}}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{
			ev("e2", rpc.EventType_AGENT_REGISTERED, "agent-002", 1_000_001), // duplicate
			ev("e3", rpc.EventType_AGENT_DEGRADED, "agent-002", 2_000_000),
		}}},
		{DeleteNodeType, &rpc.NodeId{NodeId: "node-b"}},
		{RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-001", Hostname: "h1-new", Status: "healthy", RegisteredAt: 200, LastHeartbeat: 200}},
	})
}

func applyAll(t *testing.T, f *FSM, logs []*raft.Log) []any {
	var out []any
	for _, l := range logs {
		out = append(out, f.Apply(l))
	}
	return out
}

func TestApplyEachType(t *testing.T) {
	f := newTestFSM(t)
	resps := applyAll(t, f, sampleLog(t))
	for i, r := range resps {
		if err, ok := r.(error); ok {
			t.Fatalf("entry %d: unexpected error %v", i+1, err)
		}
	}
	a1, ok := f.Agent("agent-001")
	if !ok {
		t.Fatal("agent-001 missing")
	}
	// Re-registration replaced the record but kept its nodes and first registration time.
	if a1.Hostname != "h1-new" || a1.RegisteredAt != 100 {
		t.Errorf("agent-001 = %v, want hostname h1-new registered_at 100", a1)
	}
	if len(a1.StorageNodes) != 1 || a1.StorageNodes[0].NodeId != "node-a" || a1.CurrentStorageNodes != 1 {
		t.Errorf("agent-001 nodes = %v, want [node-a]", a1.StorageNodes)
	}
	a2, _ := f.Agent("agent-002")
	if a2.Status != "degraded" || a2.LastHeartbeat != 120 {
		t.Errorf("agent-002 = %v, want degraded with last_heartbeat 120", a2)
	}
	if _, ok := f.Node("node-b"); ok {
		t.Error("node-b should be deleted")
	}
	if got := len(f.Agents()); got != 2 {
		t.Errorf("Agents() has %d, want 2", got)
	}
	// Events: the duplicate e2 is not stored twice.
	resp, ok := resps[6].(*rpc.EmitEventsResponse)
	if !ok || resp.Accepted != 1 || resp.LastSeq != 3 {
		t.Errorf("second append = %v, want accepted 1 last_seq 3", resps[6])
	}
	if f.AppliedIndex() != uint64(len(resps)) {
		t.Errorf("AppliedIndex = %d, want %d", f.AppliedIndex(), len(resps))
	}
	// Prune everything older than the last event.
	prune := logOf(t, []entry{{PruneEventsType, &rpc.PruneEventsCommand{Before: 2_000_000}}})
	prune[0].Index = 100
	if removed, ok := f.Apply(prune[0]).(uint64); !ok || removed != 2 {
		t.Errorf("prune removed %v, want 2", f.Apply(prune[0]))
	}
}

func TestApplyBusinessErrors(t *testing.T) {
	f := newTestFSM(t)
	resps := applyAll(t, f, logOf(t, []entry{
		{AgentStatusType, &rpc.AgentStatusCommand{AgentId: "ghost", Status: "offline"}},
		{UnregisterAgentType, &rpc.AgentId{AgentId: "ghost"}},
		{DeleteNodeType, &rpc.NodeId{NodeId: "ghost"}},
		{UpsertNodeType, &rpc.NodeStatus{}},
		{RegisterAgentType, &rpc.AgentRecord{}},
	}))
	want := []error{ErrNotFound, ErrNotFound, ErrNotFound, ErrInvalid, ErrInvalid}
	for i, r := range resps {
		err, ok := r.(error)
		if !ok || !errors.Is(err, want[i]) {
			t.Errorf("entry %d: got %v, want %v", i+1, r, want[i])
		}
	}
}

func TestUndecodableEntryPanics(t *testing.T) {
	for name, data := range map[string][]byte{
		"garbage body": {byte(RegisterAgentType), 0xff, 0xff, 0xff},
		"unknown type": {200, 1, 2},
		"empty":        {},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTestFSM(t)
			defer func() {
				if recover() == nil {
					t.Error("Apply did not panic")
				}
			}()
			f.Apply(&raft.Log{Index: 1, Data: data})
		})
	}
}

func TestDeterminism(t *testing.T) {
	a, b := newTestFSM(t), newTestFSM(t)
	applyAll(t, a, sampleLog(t))
	applyAll(t, b, sampleLog(t))
	ha, hb := a.StateHash(), b.StateHash()
	if !proto.Equal(ha, hb) {
		t.Fatalf("state hashes differ:\n%v\n%v", ha, hb)
	}
	if ha.Agents != 2 || ha.Nodes != 1 || ha.LastSeq != 3 {
		t.Errorf("hash counts = %v, want 2 agents, 1 node, last_seq 3", ha)
	}
	// A different log gives a different hash.
	c := newTestFSM(t)
	applyAll(t, c, sampleLog(t)[:4])
	if c.StateHash().RegistryHash == ha.RegistryHash {
		t.Error("different registries hash equal")
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestSnapshotRestore(t *testing.T) {
	src := newTestFSM(t)
	applyAll(t, src, sampleLog(t))
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot must not leak into it.
	more := logOf(t, []entry{{RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-late", Status: "healthy"}}})
	more[0].Index = 50
	want := src.StateHash()
	src.Apply(more[0])

	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := newTestFSM(t)
	applyAll(t, dst, logOf(t, []entry{{RegisterAgentType, &rpc.AgentRecord{AgentId: "stale", Status: "healthy"}}}))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	got := dst.StateHash()
	if !proto.Equal(got, want) {
		t.Fatalf("restored hash = %v, want %v", got, want)
	}
	if _, ok := dst.Agent("stale"); ok {
		t.Error("restore kept pre-restore state")
	}
	evs, err := dst.Events().Events(eventstoreFilterAll())
	if err != nil || len(evs) != 3 {
		t.Errorf("restored events = %d (%v), want 3", len(evs), err)
	}
	// The restored FSM keeps applying.
	next := logOf(t, []entry{{RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-003", Status: "healthy"}}})
	next[0].Index = got.AppliedIndex + 1
	if r := dst.Apply(next[0]); r != nil {
		t.Fatalf("apply after restore: %v", r)
	}
}

func TestRestoreRejectsGarbage(t *testing.T) {
	f := newTestFSM(t)
	for i, data := range [][]byte{nil, []byte("not a snapshot"), []byte(snapshotMagic + "\x00\x00")} {
		if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err == nil {
			t.Errorf("case %d: restore of garbage succeeded", i)
		}
	}
	// The FSM still works.
	l := logOf(t, []entry{{RegisterAgentType, &rpc.AgentRecord{AgentId: "a", Status: "healthy"}}})
	if r := f.Apply(l[0]); r != nil {
		t.Fatal(r)
	}
}

func TestNewWipesEventStore(t *testing.T) {
	dir := t.TempDir()
	f, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, f, sampleLog(t))
	f.Close()
	g, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if h := g.StateHash(); h.LastSeq != 0 || h.Agents != 0 {
		t.Errorf("reopened FSM not empty: %v", h)
	}
}

func TestMessageTypeString(t *testing.T) {
	if s := AppendEventsType.String(); s != "append_events" {
		t.Errorf("got %q", s)
	}
	if s := MessageType(99).String(); s != fmt.Sprintf("message_type_%d", 99) {
		t.Errorf("got %q", s)
	}
}
