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

// writeThroughAny registers one agent through the first live master that
// accepts it (followers forward), retrying until it is committed.
func writeThroughAny(c *harness.Cluster, id string, deadline time.Time) error {
	var last error
	for time.Now().Before(deadline) {
		for _, m := range c.Live() {
			ctx, cancel := harness.Ctx(2 * time.Second)
			_, err := m.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"})
			cancel()
			if err == nil {
				return nil
			}
			last = err
		}
	}
	return fmt.Errorf("no write committed: %v", last)
}

// failoverTrials kills the leader `trials` times and measures SIGKILL -> next
// committed write, restarting the killed master between trials.
func failoverTrials(b *testing.B, profile string, trials int) []time.Duration {
	c := harness.NewCluster(b, harness.Options{RaftProfile: profile})
	var out []time.Duration
	for i := range trials {
		leader := c.WaitLeader(30 * time.Second)
		c.WaitSameState(30 * time.Second)
		t0 := time.Now()
		if err := leader.Kill(); err != nil {
			b.Fatal(err)
		}
		if err := writeThroughAny(c, fmt.Sprintf("agent-fo-%d", i), time.Now().Add(30*time.Second)); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(t0))
		if err := leader.Start(); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

func BenchmarkFailover(b *testing.B) {
	ds := failoverTrials(b, "default", 12)
	record("failover_ms_p50", percentileMS(ds, 0.5), "ms", "SIGKILL leader -> next RegisterAgent committed via any survivor, 12 trials, default raft profile, 3 masters")
	record("failover_ms_p90", percentileMS(ds, 0.9), "ms", "as failover_ms_p50, 90th percentile")
}

func BenchmarkFailoverFast(b *testing.B) {
	ds := failoverTrials(b, "fast", 12)
	record("failover_fast_ms_p50", percentileMS(ds, 0.5), "ms", "as failover_ms_p50 with --raft-profile fast")
}

// transferTrial waits for a settled leader of c, moves leadership away with
// TransferLeadership and registers agentID on the new leader, retrying
// until it is committed. It returns when the RPC was sent, when it
// answered, when the write committed, and how many register calls it took.
func transferTrial(b *testing.B, c *harness.Cluster, agentID string) (t0, answered, written time.Time, tries int) {
	leader := c.WaitLeader(30 * time.Second)
	c.WaitSameState(30 * time.Second)
	t0 = time.Now()
	ctx, cancel := harness.Ctx(10 * time.Second)
	r, err := leader.Client().TransferLeadership(ctx, &rpc.TransferLeadershipRequest{})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	answered = time.Now()
	next := c.Master(r.NewLeaderId)
	if next == nil {
		b.Fatalf("unknown new leader %q", r.NewLeaderId)
	}
	for {
		tries++
		ctx, cancel := harness.Ctx(2 * time.Second)
		_, err := next.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: agentID, AgentEndpoint: "127.0.0.1:1"})
		cancel()
		if err == nil {
			return t0, answered, time.Now(), tries
		}
	}
}

func BenchmarkTransfer(b *testing.B) {
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
	var ds []time.Duration
	for i := range 10 {
		t0, _, written, _ := transferTrial(b, c, fmt.Sprintf("agent-tr-%d", i))
		ds = append(ds, written.Sub(t0))
	}
	record("transfer_ms_p50", percentileMS(ds, 0.5), "ms", "TransferLeadership RPC -> next RegisterAgent committed on the new leader, 10 trials")
}

func BenchmarkRegistryWrites(b *testing.B) {
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
	leader := c.WaitLeader(30 * time.Second)
	// One caller, sequential, durable.
	var ds []time.Duration
	for i := range 300 {
		t0 := time.Now()
		ctx, cancel := harness.Ctx(5 * time.Second)
		_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-seq-%d", i), AgentEndpoint: "127.0.0.1:1"})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	record("registry_write_ms_p50", percentileMS(ds, 0.5), "ms", "one caller, RegisterAgent on the leader, gRPC round trip incl. Raft commit (fsync) on 2 of 3")
	// 64 concurrent callers for 5 s.
	n, took := registerConcurrently(leader, 64, 5*time.Second)
	record("registry_writes_per_s", float64(n)/took.Seconds(), "writes/s", "64 concurrent callers, RegisterAgent on the leader, 5 s")
}

// heartbeatAgents is how many agents BenchmarkHeartbeat spreads its
// sequential heartbeats over: the leader limits each agent to 20/s (burst
// 40), and one caller sends a few thousand per second.
const heartbeatAgents = 500

func BenchmarkHeartbeat(b *testing.B) {
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
	leader := c.WaitLeader(30 * time.Second)
	for i := range heartbeatAgents {
		ctx, cancel := harness.Ctx(10 * time.Second)
		_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-hb-%d", i), AgentEndpoint: "127.0.0.1:1"})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	var ds []time.Duration
	for i := range 2000 {
		t0 := time.Now()
		ctx, cancel := harness.Ctx(5 * time.Second)
		_, err := leader.Client().Heartbeat(ctx, &rpc.HeartbeatRequest{AgentId: fmt.Sprintf("agent-hb-%d", i%heartbeatAgents)})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	record("heartbeat_us_p50", percentileMS(ds, 0.5)*1000, "us", "one Heartbeat to the leader, gRPC round trip on loopback, 2000 sequential, round robin over 500 registered agents (the leader allows 20/s per agent)")
}

func BenchmarkEventsCommitted(b *testing.B) {
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
	leader := c.WaitLeader(30 * time.Second)
	watch := startLeaderWatch(c, "events_committed")
	var n, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	end := time.Now().Add(5 * time.Second)
	t0 := time.Now()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				batch := make([]*rpc.Event, 500)
				for i := range batch {
					batch[i] = rpc.NewEvent(fmt.Sprintf("bench-%d", w), rpc.EventType_NODE_RESTARTED, fmt.Sprintf("node-%d", i%50), map[string]string{"restart_count": "1"})
				}
				ctx, cancel := harness.Ctx(10 * time.Second)
				// Each producer is its own source: the leader limits calls per source.
				r, err := leader.Client().EmitEvents(ctx, &rpc.EmitEventsRequest{Events: batch, Source: fmt.Sprintf("bench-%d", w)})
				cancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				n.Add(int64(r.Accepted))
			}
		}()
	}
	wg.Wait()
	watch.end(b)
	if f := failed.Load(); f > 0 {
		b.Logf("%d EmitEvents calls failed, first: %v", f, firstErr.Load())
	}
	record("events_committed_per_s", float64(n.Load())/time.Since(t0).Seconds(), "events/s", "8 producers (8 sources) x EmitEvents batches of 500 to the leader, acknowledged after Raft commit, 5 s")
	record("events_emit_errors", float64(failed.Load()), "calls", "EmitEvents calls that failed during events_committed_per_s")
}

// registerConcurrently has callers goroutines register new agents on
// leader back to back for dur; it returns the registrations that
// succeeded and the time they took.
func registerConcurrently(leader *harness.Master, callers int, dur time.Duration) (int64, time.Duration) {
	var n atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(dur)
	t0 := time.Now()
	for w := range callers {
		wg.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				ctx, cancel := harness.Ctx(5 * time.Second)
				_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-c%d-%d", w, i), AgentEndpoint: "127.0.0.1:1"})
				cancel()
				if err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return n.Load(), time.Since(t0)
}
