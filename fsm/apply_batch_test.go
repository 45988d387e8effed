package fsm

import (
	"testing"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
)

// TestApplyBatchMatchesApply applies the same log one entry at a time and as
// one batch (with a configuration entry inside): the state, the event graph
// and every response must be the same.
func TestApplyBatchMatchesApply(t *testing.T) {
	logs := sampleLog(t)
	// Three AppendEvents entries in a row, so the batch path merges them.
	extra := logOf(t, []entry{
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{{Id: "e4", Type: rpc.EventType_NODE_CRASHED, EntityId: "node-a", Timestamp: 3_000_000}}}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{{Id: "e4", Type: rpc.EventType_NODE_CRASHED, EntityId: "node-a", Timestamp: 3_000_000}}}},
		{AppendEventsType, &rpc.EmitEventsRequest{Events: []*rpc.Event{{Id: "e5", Type: rpc.EventType_NODE_CRASHED, EntityId: "node-a", Timestamp: 3_000_000}}}},
	})
	logs = append(logs, &raft.Log{Type: raft.LogConfiguration})
	logs = append(logs, extra...)
	for i, l := range logs {
		l.Index = uint64(i + 1)
	}

	one, batch := newTestFSM(t), newTestFSM(t)
	var want []any
	for _, l := range logs {
		if l.Type == raft.LogCommand {
			want = append(want, one.Apply(l))
		} else {
			want = append(want, nil)
		}
	}
	got := batch.ApplyBatch(logs)
	if len(got) != len(want) {
		t.Fatalf("ApplyBatch returned %d responses for %d entries", len(got), len(logs))
	}
	for i := range want {
		if !sameResponse(want[i], got[i]) {
			t.Errorf("entry %d: batch response %v, one-by-one %v", i+1, got[i], want[i])
		}
	}
	if ha, hb := one.StateHash(), batch.StateHash(); !proto.Equal(ha, hb) {
		t.Fatalf("state hashes differ:\n%v\n%v", ha, hb)
	}
	sa, err := one.Events().Stats()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := batch.Events().Stats()
	if err != nil {
		t.Fatal(err)
	}
	sa.SizeBytes, sb.SizeBytes = 0, 0
	if sa != sb {
		t.Errorf("event graph stats differ: one-by-one %+v, batch %+v", sa, sb)
	}
	if sb.Events != 5 {
		t.Errorf("batch stored %d events, want 5", sb.Events)
	}
	if batch.AppliedIndex() != uint64(len(logs)) {
		t.Errorf("applied index %d, want %d", batch.AppliedIndex(), len(logs))
	}
}

// sameResponse compares two Apply responses: equal messages, equal error
// texts, or equal plain values.
func sameResponse(a, b any) bool {
	if ma, ok := a.(proto.Message); ok {
		mb, ok := b.(proto.Message)
		return ok && proto.Equal(ma, mb)
	}
	ea, aErr := a.(error)
	eb, bErr := b.(error)
	if aErr || bErr {
		return aErr && bErr && ea.Error() == eb.Error()
	}
	return a == b
}
