package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gridctl/grid/agent/sim"
	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// simRun is one sim-agents run and what the leader did meanwhile.
type simRun struct {
	report         sim.Report // what `grid sim-agents --json` printed
	leaderCores    float64    // leader CPU over the measured window
	simCores       float64    // the sim-agents process's CPU over the same window (0: not sampled)
	raftWritesPerS float64    // leader commit index growth over the window
	measured       time.Duration
	ended          time.Time // when the sim logged the end of its heartbeat window
	leaderRSSMiB   float64   // the leader's VmRSS at the window's end
}

// The sim's log lines that mark its heartbeat window.
const (
	simWindowStarted = sim.LogWindowStarted
	simWindowEnded   = sim.LogWindowEnded
)

// runSim runs `grid sim-agents` against c's masters with args and measures
// the leader between warmup after the sim's heartbeat window starts and
// the window's end: CPU time (/proc/<pid>/stat utime+stime) and Raft
// commit index (GetClusterStatus.commit_index); and the sim's own CPU time
// over the same window (it shares the cores).
func runSim(c *harness.Cluster, leader *harness.Master, warmup time.Duration, args ...string) (*simRun, error) {
	return runSimOn(simTarget{
		masters: c.MasterAddrs(),
		pid:     leader.PID(),
		commitIndex: func() (uint64, error) {
			ctx, cancel := harness.Ctx(15 * time.Second)
			defer cancel()
			st, err := leader.Client().GetClusterStatus(ctx, &rpc.Empty{})
			return st.GetCommitIndex(), err
		},
		profile: func(path, what string) { fetchProfile(leader, path, what) },
	}, warmup, args...)
}

// simTarget is the process a sim run measures: a cluster's leader, or the
// bare gRPC leader of BenchmarkHeartbeatBareProbe.
type simTarget struct {
	masters     string                  // the sim's --masters
	pid         int                     // whose CPU time is measured
	commitIndex func() (uint64, error)  // the Raft commit index (nil: no Raft)
	profile     func(path, what string) // fetches /debug/pprof/<what> into path (nil: none)
}

// runSimOn is runSim against t.
func runSimOn(t simTarget, warmup time.Duration, args ...string) (*simRun, error) {
	bin, err := harness.Binary()
	if err != nil {
		return nil, err
	}
	args = append(args, strings.Fields(os.Getenv("GRID_BENCH_SIM_ARGS"))...) // e.g. --unary, for A/B runs
	cmd := exec.Command(bin, append([]string{"sim-agents", "--masters", t.masters, "--json"}, args...)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sim-agents: %w", err)
	}
	started, ended := make(chan struct{}), make(chan struct{})
	var logMu sync.Mutex
	var logTail []string
	// GRID_BENCH_SIM_LOG names a file for the sim's whole log (a
	// diagnostic, e.g. with GODEBUG=gctrace=1).
	var simLog io.Writer = io.Discard
	if path := os.Getenv("GRID_BENCH_SIM_LOG"); path != "" {
		if f, err := os.Create(path); err == nil {
			defer f.Close()
			simLog = f
		}
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		var startOnce, endOnce sync.Once
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(simLog, line)
			logMu.Lock()
			logTail = append(logTail, line)
			if len(logTail) > 20 {
				logTail = logTail[1:]
			}
			logMu.Unlock()
			switch {
			case strings.Contains(line, simWindowStarted):
				startOnce.Do(func() { close(started) })
			case strings.Contains(line, simWindowEnded):
				endOnce.Do(func() { close(ended) })
			}
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-scanned
		exited <- cmd.Wait()
	}()
	fail := func(what string) error {
		_ = cmd.Process.Kill()
		<-exited
		logMu.Lock()
		defer logMu.Unlock()
		return fmt.Errorf("sim-agents: %s; log tail:\n%s", what, strings.Join(logTail, "\n"))
	}
	pid := t.pid
	sample := func() (cpuSample, uint64, error) {
		var idx uint64
		if t.commitIndex != nil {
			var err error
			if idx, err = t.commitIndex(); err != nil {
				return cpuSample{}, 0, err
			}
		}
		s, err := sampleCPU(pid)
		return s, idx, err
	}

	select {
	case <-started:
	case <-time.After(6 * time.Minute): // 50,000 registrations on a busy 2-core machine
		return nil, fail("no heartbeat window within 6m")
	case err := <-exited:
		return nil, fmt.Errorf("sim-agents exited before its heartbeat window: %v\n%s", err, strings.Join(logTail, "\n"))
	}
	select { // the warm-up is part of what is measured out, not a wait for an event
	case <-time.After(warmup):
	case <-ended:
		return nil, fail("window ended within the warm-up")
	}
	cpu0, idx0, err := sample()
	if err != nil {
		return nil, fail(err.Error())
	}
	sim0, simErr := sampleCPU(cmd.Process.Pid)
	if path := os.Getenv("GRID_BENCH_PPROF"); path != "" && t.profile != nil {
		go t.profile(path, "profile?seconds=15") // masters need --enable-debug (benchOptions)
	}
	if path := os.Getenv("GRID_BENCH_TRACE"); path != "" && t.profile != nil {
		go t.profile(path, "trace?seconds=5") // with GRID_BENCH_PPROF set (--enable-debug)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Minute):
		return nil, fail("no end of the heartbeat window")
	}
	endedAt := time.Now()
	sim1, simErr1 := sampleCPU(cmd.Process.Pid) // before it exits: the sim logs the window's end, then reports
	cpu1, idx1, err := sample()
	if err != nil {
		return nil, fail(err.Error())
	}
	if err := <-exited; err != nil {
		logMu.Lock()
		defer logMu.Unlock()
		return nil, fmt.Errorf("sim-agents: %v\n%s", err, strings.Join(logTail, "\n"))
	}
	run := &simRun{measured: cpu1.at.Sub(cpu0.at), leaderCores: cores(cpu0, cpu1), ended: endedAt, leaderRSSMiB: rssMiB(pid)}
	if simErr == nil && simErr1 == nil {
		run.simCores = cores(sim0, sim1)
	}
	run.raftWritesPerS = float64(idx1-idx0) / run.measured.Seconds()
	if err := json.Unmarshal(stdout.Bytes(), &run.report); err != nil {
		return nil, fmt.Errorf("sim-agents output %q: %w", stdout.String(), err)
	}
	return run, nil
}

// benchOptions are the heartbeat benches' cluster options: masters serve
// /debug/pprof when GRID_BENCH_PPROF names a file for the leader's CPU
// profile (runSim takes 15 s of it after the warm-up); GRID_BENCH_MASTERS
// changes the cluster's size for A/B probes on a loaded machine (one master
// cannot lose its leadership to an election the load causes). `make bench`
// sets none of them.
func benchOptions() harness.Options {
	o := harness.Options{RaftProfile: "default"}
	if n, err := strconv.Atoi(os.Getenv("GRID_BENCH_MASTERS")); err == nil && n > 0 {
		o.Masters = n
	}
	if os.Getenv("GRID_BENCH_PPROF") != "" {
		o.MasterArgs = []string{"--enable-debug"}
	}
	// GRID_BENCH_MASTER_ARGS: extra master flags for probes, e.g. long
	// --degraded-after/--offline-after with a sim beating every few minutes
	// (GRID_BENCH_SIM_ARGS="--fixed-interval --interval 5m") measures the
	// leader's cost of 10,000 agents that barely beat.
	o.MasterArgs = append(o.MasterArgs, strings.Fields(os.Getenv("GRID_BENCH_MASTER_ARGS"))...)
	return o
}

// fetchProfile writes m's /debug/pprof/<what> (a 15 s CPU profile, a 5 s
// execution trace) to path (best effort: a diagnostic, not a figure).
func fetchProfile(m *harness.Master, path, what string) {
	resp, err := http.Get("http://" + m.HTTP + "/debug/pprof/" + what)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// rssMiB is pid's VmRSS in MiB (0 when unreadable).
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
