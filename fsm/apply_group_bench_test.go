package fsm

import (
	"fmt"
	"testing"

	"github.com/gridctl/grid/rpc"
	"github.com/hashicorp/raft"
)

// BenchmarkApplyBatchRegistry applies batches of 128 RegisterAgentEvents
// entries (what 64+ concurrent registry writers hand the FSM), one
// lifecycle event each: ns/op is per entry.
func BenchmarkApplyBatchRegistry(b *testing.B) {
	f, err := New(Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const per = 128
	idx := uint64(0)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(per, b.N-done)
		logs := make([]*raft.Log, n)
		for i := range logs {
			idx++
			id := fmt.Sprintf("agent-%d", idx%5000)
			buf, err := Encode(RegisterAgentEventsType, &rpc.RegisterAgentCommand{
				Agent:  &rpc.AgentRecord{AgentId: id, Status: rpc.AgentHealthy, RegisteredAt: int64(idx)},
				Events: []*rpc.Event{{Id: fmt.Sprintf("ev-%d", idx), Type: rpc.EventType_AGENT_REGISTERED, EntityId: id, Timestamp: int64(idx), Source: "m1"}},
			})
			if err != nil {
				b.Fatal(err)
			}
			logs[i] = &raft.Log{Index: idx, Type: raft.LogCommand, Data: buf}
		}
		f.ApplyBatch(logs)
		done += n
	}
}
