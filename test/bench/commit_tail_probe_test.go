package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// BenchmarkCommitTailProbe is a diagnostic, not a figure: it runs only with
// GRID_PROBE=1 and GRID_PROBE_DIR. It loads $GRID_PROBE_EVENTS events
// (default none) into a 3-master cluster run with --enable-debug, then one
// caller registers agents on the leader back to back for 6 s (the load of
// apply_p99_ms_no_snapshot) while each master's Go execution trace is saved
// to GRID_PROBE_DIR/trace-<role>-<name>.out (and its CPU and allocation
// profiles to cpu-<role>-<name>.pprof and allocs-<role>-<name>.pprof). It writes every call's start
// (Unix ns) and duration to writes.txt and the masters' logs beside them
// (run with GODEBUG=gctrace=1 to get the masters' collections there), so
// the slowest writes can be found in the traces. With GRID_PROBE_SNAPSHOT=1
// user snapshots run back to back over the writes (their starts and times
// to the first chunk, i.e. persists, in snapshots.txt).
func BenchmarkCommitTailProbe(b *testing.B) {
	dir := probeDir(b)
	n, _ := strconv.Atoi(os.Getenv("GRID_PROBE_EVENTS"))
	args := []string{"--enable-debug", "--log-level", "info"}
	if n > 0 {
		args = append(args, "--event-max-count", strconv.Itoa(2*n))
	}
	args = append(args, strings.Fields(os.Getenv("GRID_BENCH_MASTER_ARGS"))...)
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default", MasterArgs: args})
	leader := c.WaitLeader(30 * time.Second)
	if n > 0 {
		loadEvents(b, c, leader, n, time.Now())
		c.WaitSameState(5 * time.Minute)
		leader = c.WaitLeader(30 * time.Second)
	}
	// Warm up: the first writes create the registry's buckets and pages.
	warm := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(warm) })
	registerTimed(leader, "agent-warm", warm)

	var wg sync.WaitGroup
	for _, m := range c.Live() {
		role := "f"
		if m == leader {
			role = "L"
		}
		wg.Go(func() {
			saveDebug(b, m, "/debug/pprof/profile?seconds=7", filepath.Join(dir, fmt.Sprintf("cpu-%s-%s.pprof", role, m.Name)))
		})
		wg.Go(func() {
			saveDebug(b, m, "/debug/pprof/allocs?seconds=7", filepath.Join(dir, fmt.Sprintf("allocs-%s-%s.pprof", role, m.Name)))
		})
		wg.Go(func() {
			saveDebug(b, m, "/debug/pprof/trace?seconds=7", filepath.Join(dir, fmt.Sprintf("trace-%s-%s.out", role, m.Name)))
		})
	}
	time.Sleep(500 * time.Millisecond)
	cpu0 := map[string]time.Duration{}
	for _, m := range c.Live() {
		cpu0[m.ID], _ = cpuTime(m.PID())
	}
	stop := make(chan struct{})
	time.AfterFunc(6*time.Second, func() { close(stop) })
	var snaps strings.Builder // with GRID_PROBE_SNAPSHOT=1: user snapshots back to back
	if os.Getenv("GRID_PROBE_SNAPSHOT") == "1" {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				persist, _ := saveSnapshot(b, leader, filepath.Join(b.TempDir(), "probe.snap"), make(chan struct{}))
				fmt.Fprintf(&snaps, "%d %d\n", t0.UnixNano(), persist.Nanoseconds())
			}
		})
	}
	ws := registerTimed(leader, "agent-tail", stop)
	for _, m := range c.Live() {
		c1, _ := cpuTime(m.PID())
		b.Logf("%s (leader %v): %.1f us CPU/write", m.ID, m == leader, float64((c1-cpu0[m.ID]).Microseconds())/float64(len(ws)))
	}
	wg.Wait()
	if err := os.WriteFile(filepath.Join(dir, "snapshots.txt"), []byte(snaps.String()), 0o644); err != nil {
		b.Error(err)
	}
	var sb strings.Builder
	ds := make([]time.Duration, len(ws))
	for i, w := range ws {
		ds[i] = w.d
		fmt.Fprintf(&sb, "%d %d\n", w.start.UnixNano(), w.d.Nanoseconds())
	}
	if err := os.WriteFile(filepath.Join(dir, "writes.txt"), []byte(sb.String()), 0o644); err != nil {
		b.Error(err)
	}
	saveLogs(b, c, dir)
	ld, _ := os.ReadFile("/proc/loadavg")
	b.Logf("sequential writes: %d, p50 %.2f p90 %.2f p99 %.2f max %.2f ms; loadavg %s", len(ds),
		percentileMS(ds, 0.5), percentileMS(ds, 0.9), percentileMS(ds, 0.99), percentileMS(ds, 1), ld)
}
