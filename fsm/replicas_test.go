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

// opsLog is sampleLog plus a removal, a recorded unregister and a verify
// marker (the last entry).
func opsLog(t *testing.T) []*raft.Log {
	t.Helper()
	inner, err := Encode(UnregisterAgentType, &rpc.AgentId{AgentId: "agent-002"})
	if err != nil {
		t.Fatal(err)
	}
	var entries []entry
	entries = append(entries,
		entry{MasterRemovalType, &rpc.MasterRemovalCommand{Id: "m3", Incarnation: "inc-1", At: 5}},
		entry{RecordRequestType, &rpc.RequestRecord{RequestId: "req-1", Method: "UnregisterAgent", At: 6, Command: inner}},
		entry{VerifyMarkerType, &rpc.VerifyMarkerCommand{At: 7}},
	)
	out := sampleLog(t)
	for i, l := range logOf(t, entries) {
		l.Index = uint64(len(out) + i + 1)
		out = append(out, l)
	}
	return out
}

func TestVerifyMarkerDigestsAgree(t *testing.T) {
	a, b := newTestFSM(t), newTestFSM(t)
	logs := opsLog(t)
	ra, rb := applyAll(t, a, logs), applyAll(t, b, logs)
	for i := range ra {
		if err, ok := ra[i].(error); ok {
			t.Fatalf("entry %d: %v", i+1, err)
		}
		if err, ok := rb[i].(error); ok {
			t.Fatalf("entry %d: %v", i+1, err)
		}
	}
	idx := logs[len(logs)-1].Index
	da, err := a.DigestAt(idx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.DigestAt(idx)
	if err != nil {
		t.Fatal(err)
	}
	if da.Digest == "" || da.Digest != db.Digest || da.AppliedIndex != idx {
		t.Fatalf("digests at %d: %v vs %v", idx, da, db)
	}
	if da.RemovedMasters != 1 || da.Requests != 1 || da.Agents != 1 {
		t.Errorf("digest counts = %v, want 1 removed, 1 request, 1 agent", da)
	}
	// Later entries do not change the recorded digest.
	more := logOf(t, []entry{{RegisterAgentType, &rpc.AgentRecord{AgentId: "late", Status: "healthy"}}})
	more[0].Index = idx + 1
	a.Apply(more[0])
	if again, _ := a.DigestAt(idx); again.Digest != da.Digest {
		t.Error("recorded digest changed after a later entry")
	}
	if a.StateHash().Digest == da.Digest {
		t.Error("a registry change left the digest unchanged")
	}
	if _, err := a.DigestAt(idx - 1); !errors.Is(err, ErrNoDigest) {
		t.Errorf("digest at a non-marker index: %v, want ErrNoDigest", err)
	}
	// A replica that missed one event entry differs.
	c := newTestFSM(t)
	for i, l := range logs {
		if MessageType(l.Data[0]) == AppendEventsType && i > 0 {
			c.applied.Store(l.Index)
			continue
		}
		c.Apply(l)
	}
	if dc, err := c.DigestAt(idx); err != nil || dc.Digest == da.Digest {
		t.Errorf("replica missing events: digest %v (%v) equals %s", dc, err, da.Digest)
	}
}

func TestMasterRemovalAndUndo(t *testing.T) {
	f := newTestFSM(t)
	logs := logOf(t, []entry{
		{MasterRemovalType, &rpc.MasterRemovalCommand{Id: "m2", Incarnation: "a", At: 1}},
		{MasterRemovalType, &rpc.MasterRemovalCommand{Id: "m3", Incarnation: "b", At: 2}},
		{MasterRemovalType, &rpc.MasterRemovalCommand{Id: "m2", Undo: true, At: 3}},
		{MasterRemovalType, &rpc.MasterRemovalCommand{Id: "m9", Undo: true, At: 4}},
		{MasterRemovalType, &rpc.MasterRemovalCommand{At: 5}},
	})
	out := applyAll(t, f, logs)
	for i, r := range out[:4] {
		if r != nil {
			t.Errorf("entry %d: %v", i+1, r)
		}
	}
	if err, _ := out[4].(error); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty id: %v, want ErrInvalid", out[4])
	}
	if _, ok := f.RemovedMaster("m2"); ok {
		t.Error("undo left m2 removed")
	}
	if r, ok := f.RemovedMaster("m3"); !ok || r.Incarnation != "b" {
		t.Errorf("m3 removal = %v, %v", r, ok)
	}
	if got := f.RemovedMasters(); len(got) != 1 {
		t.Errorf("removed set = %v", got)
	}
}

func TestRecordRequest(t *testing.T) {
	f := newTestFSM(t)
	reg, _ := Encode(RegisterAgentType, &rpc.AgentRecord{AgentId: "a1", Status: "healthy"})
	unreg, _ := Encode(UnregisterAgentType, &rpc.AgentId{AgentId: "a1"})
	unregMissing, _ := Encode(UnregisterAgentType, &rpc.AgentId{AgentId: "nope"})
	resp, _ := proto.Marshal(&rpc.SpawnResponse{Success: true, NodeId: "n1"})
	logs := logOf(t, []entry{
		{RecordRequestType, &rpc.RequestRecord{RequestId: "r1", Method: "RegisterAgent", At: 1_000, Command: reg}},
		{RecordRequestType, &rpc.RequestRecord{RequestId: "r2", Method: "UnregisterAgent", At: 2_000, Command: unreg}},
		// A retry of r2 is not applied again.
		{RecordRequestType, &rpc.RequestRecord{RequestId: "r2", Method: "UnregisterAgent", At: 3_000, Command: unreg}},
		// A failed command leaves no record.
		{RecordRequestType, &rpc.RequestRecord{RequestId: "r3", Method: "UnregisterAgent", At: 4_000, Command: unregMissing}},
		{RecordRequestType, &rpc.RequestRecord{RequestId: "r4", Method: "SpawnStorageNode", At: 5_000, Response: resp}},
	})
	out := applyAll(t, f, logs)
	if out[0] != nil || out[1] != nil {
		t.Fatalf("first records: %v, %v", out[0], out[1])
	}
	if err, _ := out[2].(error); !errors.Is(err, ErrDuplicateRequest) {
		t.Errorf("duplicate record: %v, want ErrDuplicateRequest", out[2])
	}
	if err, _ := out[3].(error); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed command: %v, want ErrNotFound", out[3])
	}
	if _, ok := f.Request("r3"); ok {
		t.Error("a failed command was recorded")
	}
	r4, ok := f.Request("r4")
	if !ok || r4.Method != "SpawnStorageNode" {
		t.Fatalf("r4 = %v, %v", r4, ok)
	}
	var got rpc.SpawnResponse
	if err := proto.Unmarshal(r4.Response, &got); err != nil || got.NodeId != "n1" {
		t.Errorf("r4 response = %v, %v", &got, err)
	}
	if r2, _ := f.Request("r2"); r2 == nil || len(r2.Command) != 0 {
		t.Errorf("r2 record keeps its command: %v", r2)
	}
	// Records older than RequestTTL before a newer record expire.
	late := logOf(t, []entry{{RecordRequestType, &rpc.RequestRecord{RequestId: "r5", Method: "X", At: 2_000 + RequestTTL.Microseconds() + 1}}})
	late[0].Index = 10
	f.Apply(late[0])
	for _, id := range []string{"r1", "r2"} {
		if _, ok := f.Request(id); ok {
			t.Errorf("%s did not expire", id)
		}
	}
	if _, ok := f.Request("r4"); !ok {
		t.Error("r4 expired early")
	}
}

func TestRequestTableBounded(t *testing.T) {
	f := newTestFSM(t)
	for i := 0; i < MaxRequests+10; i++ {
		buf, _ := Encode(RecordRequestType, &rpc.RequestRecord{RequestId: fmt.Sprintf("%c-%d", rune('a'+i%26), i), Method: "X", At: int64(i)})
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: buf})
	}
	if n := f.StateHash().Requests; n != MaxRequests {
		t.Fatalf("table holds %d records, want %d", n, MaxRequests)
	}
	if _, ok := f.Request("a-0"); ok {
		t.Error("the oldest record survived")
	}
}

func TestSnapshotKeepsRemovedAndRequests(t *testing.T) {
	src := newTestFSM(t)
	applyAll(t, src, opsLog(t))
	want := src.StateHash()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	dst := newTestFSM(t)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := dst.StateHash(); !proto.Equal(got, want) {
		t.Fatalf("restored hash = %v, want %v", got, want)
	}
	if _, ok := dst.RemovedMaster("m3"); !ok {
		t.Error("restore lost the removed set")
	}
	if _, ok := dst.Request("req-1"); !ok {
		t.Error("restore lost the request table")
	}
}
