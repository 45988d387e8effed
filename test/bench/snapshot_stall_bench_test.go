package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// snapshotStallRounds is how many user snapshots BenchmarkSnapshotStall
// times (their registry-write latencies are pooled: one snapshot of this
// size gives only a few dozen writes).
const snapshotStallRounds = 4

// BenchmarkSnapshotStall loads a few hundred thousand events (a snapshot of
// ~100 MiB; $GRID_SNAPSTALL_EVENTS, default 400,000) into a 3-master cluster
// and times sequential RegisterAgent calls on the leader, first with nothing
// else going on, then while a user snapshot (SaveSnapshot: barrier, FSM
// Snapshot + Persist to raft's file snapshot store) persists. It is the
// quick form of apply_p99_ms_during_snapshot (snapshotFigures, 1M events).
// With $GRID_SNAPSTALL_PROFILE=<dir>, the first round also saves the
// leader's CPU profile and execution trace to dir.
func BenchmarkSnapshotStall(b *testing.B) {
	n := 400_000
	if s := os.Getenv("GRID_SNAPSTALL_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < loadBatch {
			b.Fatalf("GRID_SNAPSTALL_EVENTS=%q: want a number >= %d", s, loadBatch)
		}
		n = v
	}
	c := harness.NewCluster(b, harness.Options{RaftProfile: "default",
		MasterArgs: []string{"--event-max-count", strconv.Itoa(2 * n), "--log-level", "info", "--enable-debug"}})
	leader := c.WaitLeader(30 * time.Second)
	stored, _ := loadEvents(b, c, leader, n, time.Now())
	c.WaitSameState(5 * time.Minute)
	leader = c.WaitLeader(30 * time.Second)
	how := fmt.Sprintf("%d events loaded into a 3-master cluster; sequential RegisterAgent on the leader", stored)

	// Registry writes with no snapshot, for as long as a snapshot takes.
	quiet := make(chan struct{})
	time.AfterFunc(2*time.Second, func() { close(quiet) })
	base := registerUntil(leader, "agent-quiet", quiet)
	if tdir := timelineDir(); tdir != "" {
		quietTimeline(b, c, leader, tdir)
	}
	record("apply_p99_ms_no_snapshot", percentileMS(base, 0.99), "ms", how+fmt.Sprintf(", no snapshot, p99 of %d", len(base)))
	record("apply_p50_ms_no_snapshot", percentileMS(base, 0.5), "ms", "as apply_p99_ms_no_snapshot, p50")

	var during []time.Duration
	var persists []time.Duration
	rounds := snapshotStallRounds
	if v, err := strconv.Atoi(os.Getenv("GRID_SNAPSTALL_ROUNDS")); err == nil && v > 0 {
		rounds = v // more writes pooled (a diagnostic: the figure's method says 4)
	}
	for round := range rounds {
		stop := make(chan struct{})
		var ws []timedWrite
		var wg sync.WaitGroup
		tdir := timelineDir()
		stopStrace := func() {}
		if tdir != "" && round == straceRound() {
			stopStrace = straceMasters(b, c, tdir, "strace-")
		}
		wg.Go(func() { ws = registerTimed(leader, fmt.Sprintf("agent-snap%d", round), stop) })
		if dir := os.Getenv("GRID_SNAPSTALL_PROFILE"); dir != "" && round == 0 {
			wg.Go(func() { saveDebug(b, leader, "/debug/pprof/profile?seconds=3", filepath.Join(dir, "cpu.pprof")) })
			wg.Go(func() { saveDebug(b, leader, "/debug/pprof/trace?seconds=3", filepath.Join(dir, "trace.out")) })
		}
		snapStart := time.Now()
		persist, size := saveSnapshot(b, leader, filepath.Join(b.TempDir(), "stall.snap"), stop)
		wg.Wait()
		stopStrace()
		if tdir != "" {
			writeTimeline(b, tdir, strconv.Itoa(round), ws, snapStart, snapStart.Add(persist))
		}
		ds := make([]time.Duration, len(ws))
		for i, w := range ws {
			ds[i] = w.d
		}
		b.Logf("round %d: snapshot of %d MiB persisted in %v; %d writes, p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			round, size>>20, persist, len(ds), percentileMS(ds, 0.5), percentileMS(ds, 0.99), percentileMS(ds, 1))
		during = append(during, ds...)
		persists = append(persists, persist)
	}
	if tdir := timelineDir(); tdir != "" {
		saveLogs(b, c, tdir)
	}
	b.Logf("registry writes, no snapshot: %d, p50 %.2f p90 %.2f p95 %.2f p99 %.2f ms; during %d snapshots: %d, p50 %.2f p90 %.2f p95 %.2f p99 %.2f ms",
		len(base), percentileMS(base, 0.5), percentileMS(base, 0.9), percentileMS(base, 0.95), percentileMS(base, 0.99),
		rounds, len(during), percentileMS(during, 0.5), percentileMS(during, 0.9), percentileMS(during, 0.95), percentileMS(during, 0.99))
	record("apply_p99_ms_during_snapshot_stall", percentileMS(during, 0.99), "ms", how+fmt.Sprintf(" while a user snapshot persists (%d rounds pooled), p99 of %d", rounds, len(during)))
	record("apply_p50_ms_during_snapshot_stall", percentileMS(during, 0.5), "ms", "as apply_p99_ms_during_snapshot_stall, p50")
	record("snapshot_persist_s_stall", percentileMS(persists, 0.5)/1000, "s", how+"; SaveSnapshot until its first chunk, median of the rounds")
	snapshotCPU(b, leader, how)
}

// snapshotCPU times the leader's CPU (utime+stime, /proc/<pid>/stat) for
// user snapshots with no other writes going on: one registration (so there
// is something new to snapshot), then SaveSnapshot, until its first chunk
// and until its end. The CPU a snapshot takes per MiB is what it takes
// from the apply path on a 2-core machine, whatever the machine's load.
func snapshotCPU(b *testing.B, leader *harness.Master, how string) {
	pid := leader.PID()
	if pid == 0 {
		b.Fatal("the leader is not running")
	}
	register := func(id string) {
		ctx, cancel := harness.Ctx(10 * time.Second)
		defer cancel()
		if _, err := leader.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"}); err != nil {
			b.Fatal(err)
		}
	}
	if dir := os.Getenv("GRID_SNAPSTALL_PROFILE"); dir != "" {
		// The leader's CPU profile over back-to-back quiet snapshots.
		done := make(chan struct{})
		go func() {
			defer close(done)
			saveDebug(b, leader, "/debug/pprof/profile?seconds=5", filepath.Join(dir, "cpu-quiet.pprof"))
		}()
		for i := 0; ; i++ {
			select {
			case <-done:
				goto measure
			default:
			}
			register(fmt.Sprintf("agent-prof%d", i))
			saveSnapshot(b, leader, filepath.Join(b.TempDir(), "prof.snap"), make(chan struct{}))
		}
	}
measure:
	idle0, err := sampleCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	idle1, err := sampleCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("leader CPU with nothing going on: %.3f cores", cores(idle0, idle1))
	var toFirst, total time.Duration
	var mib float64
	if tdir := timelineDir(); tdir != "" {
		defer startPerf(b, pid, filepath.Join(tdir, "perf-quiet.data"))()
	}
	for round := range snapshotStallRounds {
		register(fmt.Sprintf("agent-cpu%d", round))
		c0, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		first := make(chan struct{})
		var c1 time.Duration
		var wg sync.WaitGroup
		wg.Go(func() {
			<-first
			c1, _ = cpuTime(pid)
		})
		_, size := saveSnapshot(b, leader, filepath.Join(b.TempDir(), "cpu.snap"), first)
		wg.Wait()
		c2, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		toFirst += c1 - c0
		total += c2 - c0
		mib += float64(size) / (1 << 20)
	}
	b.Logf("leader CPU for %d quiet snapshots of %.0f MiB in all: %v to the first chunk, %v to the end", snapshotStallRounds, mib, toFirst, total)
	record("snapshot_leader_cpu_ms_per_mib", float64(toFirst.Microseconds())/1000/mib, "ms/MiB", how+fmt.Sprintf("; leader utime+stime per MiB of snapshot, SaveSnapshot with no other writes until its first chunk (barrier, FSM snapshot, persist, open), %d snapshots", snapshotStallRounds))
	record("snapshot_leader_cpu_ms_per_mib_streamed", float64(total.Microseconds())/1000/mib, "ms/MiB", "as snapshot_leader_cpu_ms_per_mib, until the whole file is streamed to the caller")
}

// registerUntil registers agents prefix-<i> on m one at a time until stop
// is closed and returns the latencies of the calls that succeeded.
func registerUntil(m *harness.Master, prefix string, stop <-chan struct{}) []time.Duration {
	ws := registerTimed(m, prefix, stop)
	ds := make([]time.Duration, len(ws))
	for i, w := range ws {
		ds[i] = w.d
	}
	return ds
}

// registerOne registers agent id on m.
func registerOne(m *harness.Master, id string) error {
	ctx, cancel := harness.Ctx(10 * time.Second)
	defer cancel()
	_, err := m.Client().RegisterAgent(ctx, &rpc.AgentInfo{AgentId: id, AgentEndpoint: "127.0.0.1:1"})
	return err
}

// saveDebug saves one /debug endpoint of m's HTTP server (--enable-debug) to path.
func saveDebug(b *testing.B, m *harness.Master, endpoint, path string) {
	resp, err := http.Get("http://" + m.HTTP + endpoint)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		b.Error(err)
	}
}
