package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// abClusters starts two 3-master clusters (default raft profile) and
// restarts every master of the first on $GRID_PROBE_BIN_A and of the second
// on $GRID_PROBE_BIN_B (data kept), for paired comparisons of two builds
// on the same machine at the same moment.
func abClusters(b *testing.B) (a, bb *harness.Cluster) {
	binA, binB := os.Getenv("GRID_PROBE_BIN_A"), os.Getenv("GRID_PROBE_BIN_B")
	if os.Getenv("GRID_PROBE") != "1" || binA == "" || binB == "" {
		b.Skip("diagnostic: set GRID_PROBE=1, GRID_PROBE_BIN_A and GRID_PROBE_BIN_B")
	}
	var cs [2]*harness.Cluster
	for i, bin := range []string{binA, binB} {
		c := harness.NewCluster(b, harness.Options{RaftProfile: "default"})
		c.WaitLeader(30 * time.Second)
		for _, m := range c.Masters {
			if err := m.Stop(10 * time.Second); err != nil {
				b.Fatal(err)
			}
		}
		for _, m := range c.Masters {
			m.Bin = bin
			if err := m.Start(); err != nil {
				b.Fatal(err)
			}
		}
		c.WaitLeader(30 * time.Second)
		cs[i] = c
	}
	return cs[0], cs[1]
}

// BenchmarkTransferAB is a diagnostic (see abClusters): BenchmarkTransfer's
// trial, alternating between the two builds, GRID_PROBE_TRIALS each
// (default 30), so both see the same load.
func BenchmarkTransferAB(b *testing.B) {
	a, bb := abClusters(b)
	trials := probeTrials(30)
	var ds [2][]time.Duration
	for i := range trials {
		for k, c := range []*harness.Cluster{a, bb} {
			t0, _, written, _ := transferTrial(b, c, fmt.Sprintf("agent-ab-%d", i))
			ds[k] = append(ds[k], written.Sub(t0))
		}
	}
	ld, _ := os.ReadFile("/proc/loadavg")
	b.Logf("transfer A/B, %d trials each: A p50 %.2f ms p90 %.2f; B p50 %.2f ms p90 %.2f; loadavg %s", trials,
		percentileMS(ds[0], 0.5), percentileMS(ds[0], 0.9), percentileMS(ds[1], 0.5), percentileMS(ds[1], 0.9), ld)
}

// BenchmarkRegistryWritesAB is a diagnostic (see abClusters): sequential
// RegisterAgent calls on each leader, in alternating rounds of 20, 300
// (GRID_PROBE_TRIALS) per build; it logs each build's p50 and the CPU time
// per write of its three masters.
func BenchmarkRegistryWritesAB(b *testing.B) {
	a, bb := abClusters(b)
	n := probeTrials(300)
	cs := []*harness.Cluster{a, bb}
	var ds [2][]time.Duration
	var cpu [2]time.Duration
	for round := 0; round*20 < n; round++ {
		for k, c := range cs {
			leader := c.WaitLeader(30 * time.Second)
			before := clusterCPU(c)
			for i := range 20 {
				t0 := time.Now()
				ctx, cancel := harness.Ctx(5 * time.Second)
				_, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: fmt.Sprintf("agent-ab-%d-%d", round, i), AgentEndpoint: "127.0.0.1:1"})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				ds[k] = append(ds[k], time.Since(t0))
			}
			cpu[k] += clusterCPU(c) - before
		}
	}
	ld, _ := os.ReadFile("/proc/loadavg")
	per := func(k int) float64 { return float64(cpu[k].Microseconds()) / float64(len(ds[k])) }
	b.Logf("registry writes A/B, %d each: A p50 %.3f ms p90 %.3f, %.0f us CPU/write (3 masters); B p50 %.3f ms p90 %.3f, %.0f us CPU/write; loadavg %s",
		len(ds[0]), percentileMS(ds[0], 0.5), percentileMS(ds[0], 0.9), per(0), percentileMS(ds[1], 0.5), percentileMS(ds[1], 0.9), per(1), ld)
}

// clusterCPU is the CPU time (user + system) of c's live masters.
func clusterCPU(c *harness.Cluster) time.Duration {
	var t time.Duration
	for _, m := range c.Live() {
		d, _ := cpuTime(m.PID())
		t += d
	}
	return t
}
