package eventstore

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

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

// BenchmarkQueryEntity builds 1M events (skipped with -short), with two
// details each, then queries one entity's newest 100 events.
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
			batch[i] = ev(fmt.Sprintf("e%d", n), rpc.EventType(30+n%3), fmt.Sprintf("node-%d", n%1000), base+int64(n)*1000,
				map[string]string{"restart_count": strconv.Itoa(n % 4), "exit_code": "137"}) // as test/bench loads them
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

// BenchmarkAppendBulk mirrors the FSM's apply of the cluster's events load:
// each call stores 8 batches of 500 events (8 sources, producer-made ids,
// 50 entities, several events per microsecond) in one transaction, on a
// store already holding $GRID_BULK_EVENTS events (default 1,000,000).
func BenchmarkAppendBulk(b *testing.B) {
	prefill := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GRID_BULK_EVENTS")); err == nil && v >= 0 {
		prefill = v
	}
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const sources, perBatch = 8, 500
	n := 0
	call := func() [][]*rpc.Event {
		batches := make([][]*rpc.Event, sources)
		for w := range batches {
			batch := make([]*rpc.Event, perBatch)
			for i := range batch {
				src := fmt.Sprintf("bench-%d", w)
				batch[i] = &rpc.Event{
					Id: fmt.Sprintf("%s-%d-%016x", src, base+int64(n/3), uint64(n)*0x9e3779b97f4a7c15), Type: rpc.EventType_NODE_RESTARTED,
					EntityId: fmt.Sprintf("node-%d", i%50), Timestamp: base + int64(n/3),
					Details: map[string]string{"restart_count": "1"}, Source: src,
				}
				n++
			}
			batches[w] = batch
		}
		return batches
	}
	for n < prefill {
		if _, err := s.AppendEventBatches(call()); err != nil {
			b.Fatal(err)
		}
	}
	calls := make([][][]*rpc.Event, b.N)
	for i := range calls {
		calls[i] = call()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := s.AppendEventBatches(calls[i]); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	events := float64(b.N * sources * perBatch)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	// CPU time (user + system, every thread) per event: steadier than wall
	// time on a shared machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu_ns/event")
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReopen stores $GRID_BULK_EVENTS events (default 1,000,000)
// shaped like BenchmarkAppendBulk's, then reopens the store: the index
// rebuild's time and the heap the indexes hold, per event.
func BenchmarkReopen(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GRID_BULK_EVENTS")); err == nil && v > 0 {
		total = v
	}
	path := filepath.Join(b.TempDir(), "bench.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	for n := 0; n < total; {
		batch := make([]*rpc.Event, 4000)
		for i := range batch {
			batch[i] = &rpc.Event{Id: fmt.Sprintf("bench-%d-%016x", n, uint64(n)*0x9e3779b97f4a7c15), Type: rpc.EventType(30 + n%3),
				EntityId: fmt.Sprintf("node-%d", n%1000), Timestamp: base + int64(n/3), Details: map[string]string{"restart_count": "1"}, Source: "bench"}
			n++
		}
		if _, err := s.AppendEvents(batch); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	var heap uint64
	b.ResetTimer()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := Open(path, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(s)
		s.Close()
	}
	b.ReportMetric(float64(heap)/float64(total), "index_heap_bytes/event")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "reopen_s")
}
