package bench

import (
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// heartbeat10kSimArgs are BenchmarkHeartbeat10k's `grid sim-agents` flags.
var heartbeat10kSimArgs = []string{"--n", "10000", "--interval", "5s", "--duration", "30s", "--conns", "100", "--register-workers", "64"}

// BenchmarkHeartbeat10k: 10,000 simulated agents heartbeating every 5 s to
// a 3-master cluster, from one `grid sim-agents` process.
func BenchmarkHeartbeat10k(b *testing.B) {
	c := harness.NewCluster(b, benchOptions())
	leader := c.WaitLeader(30 * time.Second)
	watch := startLeaderWatch(c, "heartbeat_10k")
	run, err := runSim(c, leader, 5*time.Second, heartbeat10kSimArgs...)
	watch.end(b)
	if err != nil {
		b.Fatal(err)
	}
	if l, _ := c.LeaderOf(); l != leader {
		b.Fatalf("leadership moved during the run; figures would mix two leaders")
	}
	r := run.report
	b.Logf("sim: %+v, leader window %s, leader RSS %.0f MiB", r, run.measured, run.leaderRSSMiB)
	if r.Errors > 0 {
		b.Logf("sim saw %d errors, first: %s", r.Errors, r.FirstError)
	}
	const how = "10,000 agents simulated by one `grid sim-agents` process (100 shared gRPC conns) heartbeating the leader every 5 s (the interval the leader returns, ±10% jitter) for 30 s after registering"
	record("heartbeat_p99_ms_10k", r.P99Ms, "ms", how+"; 99th percentile of the Heartbeat round trip, failed calls counted with the time they took to fail (5 s timeout)")
	record("heartbeat_rate_10k", r.PerSecond, "heartbeats/s", how+"; heartbeats answered per second (2,000/s expected)")
	record("heartbeat_errors_10k", float64(r.Errors), "calls", how+"; heartbeats that failed (mostly the 5 s timeout)")
	record("heartbeat_leader_cores_10k", run.leaderCores, "cores", how+"; leader utime+stime delta from /proc/<pid>/stat over the last 25 s / wall time")
	record("heartbeat_raft_writes_per_s", run.raftWritesPerS, "entries/s", how+"; leader commit_index delta over the last 25 s / seconds")
	if run.simCores > 0 {
		record("heartbeat_sim_cores_10k", run.simCores, "cores", how+"; the sim-agents process's utime+stime over the leader's window / wall time (the load generator shares the 2 cores)")
	}
}

// BenchmarkHeartbeatMax: heartbeats back to back from 64 callers, one
// leader, no pacing.
func BenchmarkHeartbeatMax(b *testing.B) {
	c := harness.NewCluster(b, benchOptions())
	leader := c.WaitLeader(30 * time.Second)
	watch := startLeaderWatch(c, "heartbeat_max")
	run, err := runSim(c, leader, time.Second,
		"--n", "2000", "--unpaced", "--workers", "64", "--conns", "16", "--duration", "10s")
	watch.end(b)
	if err != nil {
		b.Fatal(err)
	}
	r := run.report
	b.Logf("sim: %+v, leader cores %.2f, sim cores %.2f", r, run.leaderCores, run.simCores)
	if r.Errors > 0 {
		b.Logf("sim saw %d errors, first: %s", r.Errors, r.FirstError)
	}
	record("heartbeat_max_errors", float64(r.Errors), "calls", "failed or refused heartbeats during heartbeat_max_per_s")
	const how = "2,000 registered agents (the leader allows each 20/s, so the limiter caps this at 40,000/s), `grid sim-agents --unpaced`: 64 callers over 16 gRPC conns heartbeating the leader back to back for 10 s; the sim shares the 2 cores with the 3 masters"
	record("heartbeat_max_per_s", r.PerSecond, "heartbeats/s", how)
	if run.simCores > 0 && r.PerSecond > 0 {
		record("heartbeat_max_cpu_us_per_beat", (run.leaderCores+run.simCores)/r.PerSecond*1e6, "us",
			how+"; leader and sim CPU (utime+stime) per answered heartbeat over the last 9 s: what one heartbeat costs the machine, less sensitive to other load than the rate")
	}
}
