package fsm

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
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

// BenchmarkApplyBatchRegistryNew is BenchmarkApplyBatchRegistry with a new
// agent per entry, named as 64 concurrent callers name theirs (the bench's
// registry_writes_per_s), in batches of 25 (what raft hands the FSM there):
// every entry's event creates its entity.
func BenchmarkApplyBatchRegistryNew(b *testing.B) {
	f, err := New(Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const callers = 64
	per := benchPer()
	idx := uint64(0)
	mk := func(n int) []*raft.Log {
		logs := make([]*raft.Log, n)
		for i := range logs {
			idx++
			id := fmt.Sprintf("agent-c%d-%d", idx%callers, idx/callers)
			buf, err := Encode(RegisterAgentEventsType, &rpc.RegisterAgentCommand{
				Agent:  &rpc.AgentRecord{AgentId: id, Status: rpc.AgentHealthy, RegisteredAt: int64(idx)},
				Events: []*rpc.Event{rpc.NewEvent("m1", rpc.EventType_AGENT_REGISTERED, id, map[string]string{"agent_id": id, "hostname": "", "platform": "", "endpoint": "127.0.0.1:1", "max_storage_nodes": "0", "version": "", "reregistered": "false", "running_nodes": "0"})},
			})
			if err != nil {
				b.Fatal(err)
			}
			logs[i] = &raft.Log{Index: idx, Type: raft.LogCommand, Data: buf}
		}
		return logs
	}
	for range 20000 / per {
		f.ApplyBatch(mk(per))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for done := 0; done < b.N; {
		n := min(per, b.N-done)
		logs := mk(n)
		f.ApplyBatch(logs)
		done += n
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-us/op")
}

func benchPer() int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_PER")); err == nil {
		return v
	}
	return 25
}
