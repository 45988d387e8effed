package eventstore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkStoreBytesPerEvent stores events shaped like the cluster query
// bench's (1,000 entities, 5 types, two details, a source; $GRID_STORE_EVENTS,
// default 200,000) in batches of 500, then reports the file's bytes per
// event and times entity and type+time queries.
func BenchmarkStoreBytesPerEvent(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("GRID_STORE_EVENTS")); err == nil && v > 0 {
		n = v
	}
	types := []rpc.EventType{rpc.EventType_NODE_CRASHED, rpc.EventType_NODE_RESTARTED, rpc.EventType_SPAWN_SUCCEEDED,
		rpc.EventType_STOP_SUCCEEDED, rpc.EventType_AGENT_DEGRADED}
	path := filepath.Join(b.TempDir(), "bench.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batchSize = 500
	span := int64(time.Hour / time.Microsecond)
	t0 := time.Now()
	for start := 0; start < n; start += batchSize {
		batch := make([]*rpc.Event, 0, batchSize)
		for i := start; i < min(start+batchSize, n); i++ {
			batch = append(batch, &rpc.Event{
				Id: fmt.Sprintf("bench-q-%d", i), Type: types[(i/1000)%len(types)],
				EntityId: fmt.Sprintf("node-bench-%04d", i%1000), Timestamp: base + int64(i)*span/int64(n),
				Details: map[string]string{"restart_count": strconv.Itoa(i % 4), "exit_code": "137"}, Source: "bench",
			})
		}
		if _, err := s.AppendEvents(batch); err != nil {
			b.Fatal(err)
		}
	}
	load := time.Since(t0)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			st := tx.Bucket(name).Stats()
			b.Logf("bucket %-12s keys %8d alloc %6.1f B/event inuse %6.1f B/event", name, st.KeyN,
				float64(st.BranchAlloc+st.LeafAlloc)/float64(n), float64(st.BranchInuse+st.LeafInuse)/float64(n))
		}
		b.Logf("file %d bytes, pages in use %d bytes", st.Size(), tx.Size())
		return nil
	})
	b.ResetTimer()
	var entity, typeTime []time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		if got, err := s.Events(Filter{Entities: []string{fmt.Sprintf("node-bench-%04d", i%1000)}, Limit: 100}); err != nil || len(got) != min(100, n/1000) {
			b.Fatalf("entity query: %d events, %v", len(got), err)
		}
		t1 := time.Now()
		since := base + int64(i*7919%1000)*span*5/6/1000
		if _, err := s.Events(Filter{Types: []rpc.EventType{types[i%len(types)]}, Since: since, Until: since + span/6, Limit: 100}); err != nil {
			b.Fatal(err)
		}
		entity, typeTime = append(entity, t1.Sub(t0)), append(typeTime, time.Since(t1))
		i++
	}
	slices.Sort(entity)
	slices.Sort(typeTime)
	b.ReportMetric(float64(entity[len(entity)*99/100].Microseconds()), "entity_us_p99")
	b.ReportMetric(float64(typeTime[len(typeTime)*99/100].Microseconds()), "type_time_us_p99")
	b.ReportMetric(float64(entity[len(entity)/2].Microseconds()), "entity_us_p50")
	b.ReportMetric(float64(typeTime[len(typeTime)/2].Microseconds()), "type_time_us_p50")
	b.ReportMetric(float64(st.Size())/float64(n), "file_bytes/event")
	b.ReportMetric(float64(n)/load.Seconds(), "load_events/s")
}
