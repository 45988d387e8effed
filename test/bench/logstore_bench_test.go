package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// BenchmarkLogStore measures raft-boltdb/v2 (--raft-log-store boltdb, the
// default) against hashicorp/raft-wal (--raft-log-store wal) side by side in
// one run, with the same loads as registry_write_ms_p50,
// registry_writes_per_s and events_committed_per_s.
func BenchmarkLogStore(b *testing.B) {
	for _, store := range []string{"boltdb", "wal"} {
		c := harness.NewCluster(b, harness.Options{RaftProfile: "default", MasterArgs: []string{"--raft-log-store", store}})
		leader := c.WaitLeader(30 * time.Second)
		how := fmt.Sprintf(" (--raft-log-store %s, 3 masters, default raft profile)", store)
		p50, perS := logStoreRegistryWrites(b, leader, store)
		record("registry_write_ms_p50_"+store, p50, "ms", "one caller, 300 sequential RegisterAgent on the leader, gRPC round trip incl. Raft commit (fsync) on 2 of 3"+how)
		record("registry_writes_per_s_"+store, perS, "writes/s", "64 concurrent callers, RegisterAgent on the leader, 5 s"+how)
		record("events_committed_per_s_"+store, logStoreEvents(b, leader, store), "events/s",
			"8 producers (8 sources) x EmitEvents batches of 500 to the leader, acknowledged after Raft commit, 5 s"+how)
		for _, m := range c.Masters { // the next store's cluster runs alone
			_ = m.Stop(10 * time.Second)
		}
	}
}

// logStoreRegistryWrites is one caller's median write latency, then the
// write rate of 64 callers for 5 s.
func logStoreRegistryWrites(b *testing.B, leader *harness.Master, tag string) (float64, float64) {
	var ds []time.Duration
	for i := range 300 {
		t0 := time.Now()
		ctx, cancel := harness.Ctx(5 * time.Second)
		_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-%s-seq-%d", tag, i), AgentEndpoint: "127.0.0.1:1"})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(5 * time.Second)
	t0 := time.Now()
	for w := range 64 {
		wg.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				ctx, cancel := harness.Ctx(5 * time.Second)
				_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-%s-c%d-%d", tag, w, i), AgentEndpoint: "127.0.0.1:1"})
				cancel()
				if err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return percentileMS(ds, 0.5), float64(n.Load()) / time.Since(t0).Seconds()
}

// logStoreEvents is the committed event rate of 8 producers for 5 s.
func logStoreEvents(b *testing.B, leader *harness.Master, tag string) float64 {
	var n, failed atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(5 * time.Second)
	t0 := time.Now()
	for w := range 8 {
		wg.Go(func() {
			src := fmt.Sprintf("bench-%s-%d", tag, w)
			for time.Now().Before(end) {
				batch := make([]*rpc.Event, 500)
				for i := range batch {
					batch[i] = rpc.NewEvent(src, rpc.EventType_NODE_RESTARTED, fmt.Sprintf("node-%d", i%50), map[string]string{"restart_count": "1"})
				}
				ctx, cancel := harness.Ctx(10 * time.Second)
				r, err := leader.Client().EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: src})
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				n.Add(int64(r.Accepted))
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Logf("%s: %d EmitEvents calls failed", tag, f)
	}
	return float64(n.Load()) / time.Since(t0).Seconds()
}
