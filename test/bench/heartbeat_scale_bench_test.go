package bench

import (
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// BenchmarkHeartbeat50k: 50,000 simulated agents heartbeating a 3-master
// cluster at the interval the leader hands back: with the default
// --max-heartbeats-per-second (2,000) that is 25 s, so the leader sees about
// 2,000 heartbeats/s, as with 10,000 agents at 5 s.
func BenchmarkHeartbeat50k(b *testing.B) {
	c := harness.NewCluster(b, benchOptions())
	leader := c.WaitLeader(30 * time.Second)
	run, err := runSim(c, leader, 10*time.Second,
		"--n", "50000", "--interval", "5s", "--duration", "60s", "--conns", "100", "--register-workers", "64")
	if err != nil {
		b.Fatal(err)
	}
	if l, _ := c.LeaderOf(); l != leader {
		b.Fatalf("leadership moved during the run; figures would mix two leaders")
	}
	r := run.report
	b.Logf("sim: %+v, leader window %s, raft writes %.1f/s, leader RSS %.0f MiB", r, run.measured, run.raftWritesPerS, run.leaderRSSMiB)
	if r.Errors > 0 {
		b.Logf("sim saw %d errors, first: %s", r.Errors, r.FirstError)
	}
	const how = "50,000 agents simulated by one `grid sim-agents` process (100 shared gRPC conns), each heartbeating from its registration on at the interval the leader returns (default --max-heartbeats-per-second 2,000: 25 s ±10%), measured over 60 s once all are registered"
	record("heartbeat_p99_ms_50k", r.P99Ms, "ms", how+"; 99th percentile of the Heartbeat round trip, failed calls counted with the time they took to fail (5 s timeout)")
	record("heartbeat_rate_50k", r.PerSecond, "heartbeats/s", how+"; heartbeats answered per second (about 2,000/s expected)")
	record("heartbeat_errors_50k", float64(r.Errors), "calls", how+"; heartbeats that failed")
	record("heartbeat_leader_cores_50k", run.leaderCores, "cores", how+"; leader utime+stime delta from /proc/<pid>/stat over the last 50 s of the window / wall time")
}
