package eventstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gridctl/grid/rpc"
)

func BenchmarkAppend(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		batch := make([]*rpc.Event, 64)
		for i := range batch {
			batch[i] = ev(fmt.Sprintf("e%d", n), rpc.EventType_NODE_CRASHED, fmt.Sprintf("node-%d", n%100), base+int64(n), map[string]string{"agent_id": "agent-001"})
			n++
		}
		if _, err := s.AppendEvents(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkQueryEntity builds 1M events (skipped with -short), then queries
// one entity's newest 100 events.
func BenchmarkQueryEntity(b *testing.B) {
	if testing.Short() {
		b.Skip("builds 1M events")
	}
	const total, batchSize = 1_000_000, 10_000
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for start := 0; start < total; start += batchSize {
		batch := make([]*rpc.Event, batchSize)
		for i := range batch {
			n := start + i
			batch[i] = ev(fmt.Sprintf("e%d", n), rpc.EventType(30+n%3), fmt.Sprintf("node-%d", n%1000), base+int64(n)*1000, nil)
		}
		if _, err := s.AppendEvents(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		got, err := s.Events(Filter{Entities: []string{fmt.Sprintf("node-%d", i%1000)}, Limit: 100})
		if err != nil || len(got) != 100 {
			b.Fatalf("got %d events, %v", len(got), err)
		}
		i++
	}
}

// BenchmarkAppendLive mirrors the cluster's event path: batches of 500
// events (one Raft entry each) with producer-made ids, 50 entities and
// timestamps close to now, as events_committed_per_s sends them.
func BenchmarkAppendLive(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batchSize = 500
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		batch := make([]*rpc.Event, batchSize)
		for i := range batch {
			batch[i] = rpc.NewEvent(fmt.Sprintf("bench-%d", n%8), rpc.EventType_NODE_RESTARTED, fmt.Sprintf("node-%d", i%50), map[string]string{"restart_count": "1"})
			n++
		}
		if _, err := s.AppendEvents(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "events/s")
}
