package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// fuzzMaxEntries bounds the log entries one fuzz input is split into.
const fuzzMaxEntries = 32

// fuzzDocumentedPanics are the only panic messages Apply may raise (see doc.go:
// an entry that cannot be decoded panics, so that no replica skips it).
var fuzzDocumentedPanics = []string{
	"fsm: empty command at index ",
	"fsm: unknown message type ",
	"fsm: undecodable ",
}

// FuzzApply feeds arbitrary Raft log data to two fresh FSMs. An input is a
// sequence of entries, each a uvarint length then that many bytes. Entries
// that decode (a known MessageType byte and a body that proto-unmarshals)
// must apply without panicking, with the same response on both FSMs; an
// entry that does not decode must panic with a documented message, the same
// on both, and ends the sequence (a real replica stops there). Afterwards the
// two FSMs' StateHash must be equal, and a snapshot of one restored into a
// third FSM must hash equal too.
func FuzzApply(f *testing.F) {
	for _, seed := range fuzzSeedLogs(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := fuzzNewFSM(t), fuzzNewFSM(t)
		for i, entry := range fuzzSplitEntries(data) {
			l := &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: entry}
			respA, panicA := fuzzApplyOne(a, l)
			respB, panicB := fuzzApplyOne(b, l)
			if fuzzDecodable(entry) {
				if panicA != nil || panicB != nil {
					t.Fatalf("entry %d (%x) decodes but Apply panicked: %v / %v", i+1, entry, panicA, panicB)
				}
				fuzzCheckResponse(t, i+1, respA)
				if !fuzzSameResponse(respA, respB) {
					t.Fatalf("entry %d (%x): responses differ: %v / %v", i+1, entry, respA, respB)
				}
				continue
			}
			if panicA == nil {
				t.Fatalf("entry %d (%x) does not decode but Apply returned %v instead of panicking", i+1, entry, respA)
			}
			fuzzCheckPanic(t, i+1, panicA)
			if fmt.Sprint(panicA) != fmt.Sprint(panicB) {
				t.Fatalf("entry %d: panics differ: %v / %v", i+1, panicA, panicB)
			}
			break
		}
		ha, hb := a.StateHash(), b.StateHash()
		if !proto.Equal(ha, hb) {
			t.Fatalf("state hashes differ after the same log:\n%v\n%v", ha, hb)
		}
		c := fuzzNewFSM(t)
		fuzzSnapshotInto(t, a, c)
		if hc := c.StateHash(); !proto.Equal(ha, hc) {
			t.Fatalf("state hash changed by snapshot and restore:\n%v\n%v", ha, hc)
		}
	})
}

// fuzzNewFSM is a fresh FSM in its own directory, closed when t ends.
func fuzzNewFSM(t *testing.T) *FSM {
	t.Helper()
	f, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// fuzzSplitEntries cuts data into entries: a uvarint length then the bytes
// (fewer when data runs out). A malformed length takes the rest as one entry.
func fuzzSplitEntries(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 && len(out) < fuzzMaxEntries {
		n, k := binary.Uvarint(data)
		if k <= 0 {
			return append(out, data)
		}
		data = data[k:]
		if n > uint64(len(data)) {
			n = uint64(len(data))
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// fuzzJoinEntries is the inverse of fuzzSplitEntries, for seeds.
func fuzzJoinEntries(entries ...[]byte) []byte {
	var out []byte
	for _, e := range entries {
		out = binary.AppendUvarint(out, uint64(len(e)))
		out = append(out, e...)
	}
	return out
}

// fuzzBodyOf is the message each MessageType's body decodes into, as
// documented in messages.go; nil for an unknown type.
func fuzzBodyOf(t MessageType) proto.Message {
	switch t {
	case RegisterAgentType:
		return new(rpc.AgentRecord)
	case UnregisterAgentType:
		return new(rpc.AgentId)
	case AgentStatusType:
		return new(rpc.AgentStatusCommand)
	case UpsertNodeType:
		return new(rpc.NodeStatus)
	case DeleteNodeType:
		return new(rpc.NodeId)
	case AppendEventsType:
		return new(rpc.EmitEventsRequest)
	case PruneEventsType:
		return new(rpc.PruneEventsCommand)
	case RegisterAgentEventsType:
		return new(rpc.RegisterAgentCommand)
	case UnregisterAgentEventsType:
		return new(rpc.UnregisterAgentCommand)
	case AgentStatusBatchType:
		return new(rpc.AgentStatusBatch)
	case UpsertNodeEventsType:
		return new(rpc.UpsertNodeCommand)
	case DeleteNodeEventsType:
		return new(rpc.DeleteNodeCommand)
	case VerifyMarkerType:
		return new(rpc.VerifyMarkerCommand)
	case MasterRemovalType:
		return new(rpc.MasterRemovalCommand)
	case RecordRequestType:
		return new(rpc.RequestRecord)
	case ACLBootstrapType, ACLTokenUpsertType:
		return new(rpc.ACLTokenRecord)
	case ACLTokenRevokeType:
		return new(rpc.ACLAccessor)
	case ACLPolicyUpsertType:
		return new(rpc.ACLPolicy)
	case ACLPolicyDeleteType:
		return new(rpc.ACLPolicyName)
	}
	return nil
}

// fuzzDecodable reports whether entry is a known type with a body that
// unmarshals into that type's message.
func fuzzDecodable(entry []byte) bool {
	if len(entry) == 0 {
		return false
	}
	msg := fuzzBodyOf(MessageType(entry[0]))
	return msg != nil && proto.Unmarshal(entry[1:], msg) == nil
}

// fuzzApplyOne applies l, recovering a panic.
func fuzzApplyOne(f *FSM, l *raft.Log) (resp, panicked any) {
	defer func() { panicked = recover() }()
	return f.Apply(l), nil
}

// fuzzCheckPanic fails unless p is one of the documented panic messages.
func fuzzCheckPanic(t *testing.T, index int, p any) {
	t.Helper()
	msg, ok := p.(string)
	if !ok {
		t.Fatalf("entry %d: panic value %T (%v) is not a documented fsm panic", index, p, p)
	}
	for _, prefix := range fuzzDocumentedPanics {
		if strings.HasPrefix(msg, prefix) {
			return
		}
	}
	t.Fatalf("entry %d: undocumented panic %q", index, msg)
}

// fuzzCheckResponse fails unless resp is one of Apply's documented response
// kinds: nil, an ErrInvalid/ErrNotFound or store error, an
// EmitEventsResponse or a prune count.
func fuzzCheckResponse(t *testing.T, index int, resp any) {
	t.Helper()
	switch r := resp.(type) {
	case nil, *rpc.EmitEventsResponse, uint64, *rpc.StateHash:
	case []error:
		for _, err := range r {
			if err != nil {
				fuzzCheckResponse(t, index, err)
			}
		}
	case error:
		if !errors.Is(r, ErrInvalid) && !errors.Is(r, ErrNotFound) && !errors.Is(r, ErrStaleStatus) && !errors.Is(r, ErrDuplicateRequest) &&
			!strings.HasPrefix(r.Error(), "append events: ") && !strings.HasPrefix(r.Error(), "prune events: ") {
			t.Fatalf("entry %d: unexpected error response %v", index, r)
		}
	default:
		t.Fatalf("entry %d: unexpected response %T %v", index, resp, resp)
	}
}

// fuzzSameResponse compares two Apply responses.
func fuzzSameResponse(a, b any) bool {
	switch ra := a.(type) {
	case []error:
		rb, ok := b.([]error)
		return ok && fmt.Sprint(ra) == fmt.Sprint(rb)
	case error:
		rb, ok := b.(error)
		return ok && ra.Error() == rb.Error()
	case proto.Message:
		rb, ok := b.(proto.Message)
		return ok && proto.Equal(ra, rb)
	}
	return a == b
}

// fuzzSink is an in-memory raft.SnapshotSink.
type fuzzSink struct{ bytes.Buffer }

func (s *fuzzSink) ID() string    { return "fuzz" }
func (s *fuzzSink) Cancel() error { return nil }
func (s *fuzzSink) Close() error  { return nil }

// fuzzSnapshotInto snapshots src and restores the stream into dst.
func fuzzSnapshotInto(t *testing.T, src, dst *FSM) {
	t.Helper()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer snap.Release()
	var sink fuzzSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("restore: %v", err)
	}
}

// fuzzSeedLogs are valid logs covering every command, business failures and
// the three undecodable shapes.
func fuzzSeedLogs(f *testing.F) [][]byte {
	enc := func(t MessageType, m proto.Message) []byte {
		b, err := Encode(t, m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	ev := func(id string, typ rpc.EventType, entity string, ts int64) *rpc.Event {
		return &rpc.Event{Id: id, Type: typ, EntityId: entity, Timestamp: ts, Source: "m1",
			Details: map[string]string{"agent_id": "agent-001", "node_id": "node-a"}}
	}
	register := enc(RegisterAgentType, &rpc.AgentRecord{AgentId: "agent-001", Hostname: "h1", Status: "healthy", RegisteredAt: 100, LastHeartbeat: 100})
	upsert := enc(UpsertNodeType, &rpc.NodeStatus{NodeId: "node-a", AgentId: "agent-001", Status: "running", Pid: 42, DesiredState: "running"})
	events := enc(AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{
		ev("e1", rpc.EventType_AGENT_REGISTERED, "agent-001", 1_000_000),
		ev("e2", rpc.EventType_SPAWN_SUCCEEDED, "node-a", 2_000_000),
		ev("e1", rpc.EventType_AGENT_REGISTERED, "agent-001", 1_000_000), // duplicate
		ev("", rpc.EventType_NODE_CRASHED, "node-a", 3_000_000),          // invalid id
		ev("e3", rpc.EventType_EVENT_TYPE_UNSPECIFIED, "node-a", 3_000_000),
		ev("e4", rpc.EventType_NODE_CRASHED, "bad id!", 3_000_000),
	}})
	return [][]byte{
		fuzzJoinEntries(register, upsert, events,
			enc(AgentStatusType, &rpc.AgentStatusCommand{AgentId: "agent-001", Status: "degraded", LastHeartbeat: 120, At: 121}),
			enc(PruneEventsType, &rpc.PruneEventsCommand{Before: 1_500_000}),
			enc(PruneEventsType, &rpc.PruneEventsCommand{KeepMax: 1}),
			enc(DeleteNodeType, &rpc.NodeId{NodeId: "node-a"}),
			enc(UnregisterAgentType, &rpc.AgentId{AgentId: "agent-001"})),
		fuzzJoinEntries(register, register, upsert, upsert, events, events),
		fuzzJoinEntries(
			enc(RegisterAgentEventsType, &rpc.RegisterAgentCommand{Agent: &rpc.AgentRecord{AgentId: "agent-002", Status: "healthy"},
				Events: []*rpc.Event{ev("r1", rpc.EventType_AGENT_REGISTERED, "agent-002", 1_000_000)}}),
			enc(AgentStatusBatchType, &rpc.AgentStatusBatch{Changes: []*rpc.AgentStatusCommand{
				{AgentId: "agent-002", Status: "degraded", ExpectedStatus: "healthy", Events: []*rpc.Event{ev("s1", rpc.EventType_AGENT_DEGRADED, "agent-002", 2_000_000)}},
				{AgentId: "agent-002", Status: "offline", ExpectedStatus: "healthy", Events: []*rpc.Event{ev("s2", rpc.EventType_AGENT_OFFLINE, "agent-002", 2_000_001)}},
				{AgentId: "nobody", Status: "offline"}}}),
			enc(UpsertNodeEventsType, &rpc.UpsertNodeCommand{Node: &rpc.NodeStatus{NodeId: "node-b", AgentId: "agent-002"},
				Events: []*rpc.Event{ev("n1", rpc.EventType_SPAWN_REQUESTED, "node-b", 3_000_000)}}),
			enc(DeleteNodeEventsType, &rpc.DeleteNodeCommand{NodeId: "node-b"}),
			enc(UpsertNodeEventsType, &rpc.UpsertNodeCommand{}),
			enc(UnregisterAgentEventsType, &rpc.UnregisterAgentCommand{AgentId: "agent-002",
				Events: []*rpc.Event{ev("u1", rpc.EventType_AGENT_UNREGISTERED, "agent-002", 4_000_000)}})),
		fuzzJoinEntries(
			enc(RegisterAgentType, &rpc.AgentRecord{}),
			enc(UpsertNodeType, &rpc.NodeStatus{}),
			enc(UnregisterAgentType, &rpc.AgentId{AgentId: "nobody"}),
			enc(AgentStatusType, &rpc.AgentStatusCommand{AgentId: "nobody"}),
			enc(DeleteNodeType, &rpc.NodeId{NodeId: "nothing"}),
			enc(AppendEventsType, &rpc.EmitEventsRequest{}),
			enc(PruneEventsType, &rpc.PruneEventsCommand{})),
		fuzzJoinEntries(register, nil),
		fuzzJoinEntries(register, []byte{0}),
		fuzzJoinEntries(register, []byte{200, 1, 2}),
		fuzzJoinEntries(register, []byte{byte(RegisterAgentType), 0xff, 0xff, 0xff}),
		fuzzJoinEntries(register, []byte{byte(UpsertNodeType), 0x0a, 0x02, 0xc3, 0x28}), // node_id not UTF-8
	}
}
