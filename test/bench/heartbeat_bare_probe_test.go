package bench

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// BenchmarkHeartbeatBareProbe is a diagnostic, not a figure (GRID_PROBE=1):
// BenchmarkHeartbeat10k's load (the same `grid sim-agents` flags, warm-up
// and window) against the leader of a 3-master cluster and against a bare
// gRPC leader (bareLeader: the master's gRPC server options, none of
// Grid's code), alternating which goes first, GRID_PROBE_TRIALS runs each
// (default 3). It logs each run's CPU cores and p99 and the load average:
// the bare leader's cores are what gRPC and the Go runtime cost for the
// same beats, measured in the same minutes as the real leader's.
func BenchmarkHeartbeatBareProbe(b *testing.B) {
	if os.Getenv("GRID_PROBE") != "1" {
		b.Skip("diagnostic: set GRID_PROBE=1")
	}
	c := harness.NewCluster(b, benchOptions())
	leader := c.WaitLeader(30 * time.Second)
	cmd, addr, stop, err := startBareLeader()
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	bare := simTarget{masters: addr, pid: cmd.Process.Pid}
	var leaderCores, bareCores []float64
	for i := range probeTrials(3) {
		runs := []string{"leader", "bare"}
		if i%2 == 1 {
			slices.Reverse(runs)
		}
		for _, which := range runs {
			var run *simRun
			if which == "leader" {
				run, err = runSim(c, leader, 5*time.Second, heartbeat10kSimArgs...)
			} else {
				run, err = runSimOn(bare, 5*time.Second, heartbeat10kSimArgs...)
			}
			if err != nil {
				b.Fatalf("%s run %d: %v", which, i, err)
			}
			ld, _ := os.ReadFile("/proc/loadavg")
			b.Logf("%s run %d: %.3f cores, p99 %.2f ms, %.0f beats/s, %d errors, sim %.3f cores; loadavg %s",
				which, i, run.leaderCores, run.report.P99Ms, run.report.PerSecond, run.report.Errors, run.simCores, ld)
			if which == "leader" {
				leaderCores = append(leaderCores, run.leaderCores)
			} else {
				bareCores = append(bareCores, run.leaderCores)
			}
		}
	}
	b.Logf("median cores over %d runs each: leader %.3f, bare gRPC leader %.3f", len(leaderCores), median(leaderCores), median(bareCores))
}
