package bench

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/test/harness"
)

// queryDiag is BenchmarkEventQuery1M's opt-in diagnostics: with
// GRID_BENCH_QUERY_DIAG=<dir> the masters serve /debug/pprof, and the bench
// writes to <dir> a CPU timeline (every 50 ms: each master's, the bench
// process's and the whole machine's busy CPU), every timed query's start,
// duration and what it overlapped (queryCounters), the leader's Go
// execution trace over the entity queries, and the masters' logs (run with GODEBUG=gctrace=1 to get the masters'
// GC lines there). It changes nothing that is measured; `make bench` does
// not set it.
type queryDiag struct {
	dir    string
	t0     time.Time
	pids   map[string]int
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	lines  []string // timeline rows
	qlines []string // query rows
	trace  sync.WaitGroup
}

// queryDiagDir is $GRID_BENCH_QUERY_DIAG ("" = off).
func queryDiagDir() string { return os.Getenv("GRID_BENCH_QUERY_DIAG") }

// startQueryDiag starts the CPU timeline of c's live masters and this
// process; nil when the diagnostics are off.
func startQueryDiag(b *testing.B, c *harness.Cluster) *queryDiag {
	dir := queryDiagDir()
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	d := &queryDiag{dir: dir, t0: time.Now(), pids: map[string]int{"bench": os.Getpid()},
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, m := range c.Live() {
		d.pids[m.ID] = m.PID()
	}
	go d.run()
	return d
}

// mark notes a phase change in the timeline.
func (d *queryDiag) mark(what string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lines = append(d.lines, fmt.Sprintf("# %.3f %s", time.Since(d.t0).Seconds(), what))
}

// queryCounters are the counters the diagnostics read just before and
// just after each timed query (outside its timed interval), to say what a
// slow query overlapped: this process's completed GC cycles, the machine's
// steal time (/proc/stat, 10 ms ticks: the hypervisor ran something else on
// our vCPUs), the queried master's minor and major page faults (a major one
// reads the bbolt file from disk) and run-queue wait summed over its
// threads (/proc/<pid>/task/*/schedstat: runnable, no CPU free in the guest),
// and this process's minor faults.
type queryCounters struct {
	gcs, stealTicks, srvMinflt, srvMajflt, benchMinflt uint64
	srvRunWait                                         time.Duration
}

// counters reads queryCounters for the master with pid srv (zero when
// diagnostics are off).
func (d *queryDiag) counters(srv int) queryCounters {
	if d == nil {
		return queryCounters{}
	}
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	c := queryCounters{gcs: s[0].Value.Uint64()}
	_, steal, _ := machineCPU()
	c.stealTicks = uint64(steal * clockTicks / time.Second)
	c.srvMinflt, c.srvMajflt = pageFaults(srv)
	c.benchMinflt, _ = pageFaults(os.Getpid())
	c.srvRunWait = runQueueWait(srv)
	return c
}

// since is c minus the earlier reading a.
func (c queryCounters) since(a queryCounters) queryCounters {
	return queryCounters{gcs: c.gcs - a.gcs, stealTicks: c.stealTicks - a.stealTicks,
		srvMinflt: c.srvMinflt - a.srvMinflt, srvMajflt: c.srvMajflt - a.srvMajflt,
		benchMinflt: c.benchMinflt - a.benchMinflt, srvRunWait: c.srvRunWait - a.srvRunWait}
}

// pageFaults is a process's minor and major page faults so far (0, 0 when
// unreadable).
func pageFaults(pid int) (minflt, majflt uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3; minflt field 10, majflt 12
	if len(f) < 10 {
		return 0, 0
	}
	minflt, _ = strconv.ParseUint(f[7], 10, 64)
	majflt, _ = strconv.ParseUint(f[9], 10, 64)
	return minflt, majflt
}

// runQueueWait is the time a process's threads have spent runnable but
// waiting for a CPU (second field of each /proc/<pid>/task/<tid>/schedstat;
// threads that exited are not counted).
func runQueueWait(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum uint64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			sum += n
		}
	}
	return time.Duration(sum)
}

// query notes one timed query: its kind, start, duration and what it
// overlapped (queryCounters.since: GC cycles, steal ticks, master's minor
// and major faults, master's run-queue wait in ms, this process's minor
// faults).
func (d *queryDiag) query(kind string, start time.Time, took time.Duration, c queryCounters) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.qlines = append(d.qlines, fmt.Sprintf("%s %.6f %.3f %d %d %d %d %.3f %d", kind, start.Sub(d.t0).Seconds(),
		float64(took.Microseconds())/1000, c.gcs, c.stealTicks, c.srvMinflt, c.srvMajflt,
		float64(c.srvRunWait.Microseconds())/1000, c.benchMinflt))
}

// traceLeader fetches seconds of m's Go execution trace into <dir>/name.
func (d *queryDiag) traceLeader(m *harness.Master, name string, seconds int) {
	if d == nil {
		return
	}
	d.trace.Add(1)
	go func() {
		defer d.trace.Done()
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%d", m.HTTP, seconds))
		if err != nil {
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(d.dir, name))
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	time.Sleep(50 * time.Millisecond) // let the trace start before the queries (a diagnostic, not a wait for a condition)
}

func (d *queryDiag) run() {
	defer close(d.done)
	names := make([]string, 0, len(d.pids))
	for n := range d.pids {
		names = append(names, n)
	}
	d.mu.Lock()
	d.lines = append(d.lines, "# t_s interval_ms machine_busy_ms machine_steal_ms "+strings.Join(names, "_ms ")+"_ms")
	d.mu.Unlock()
	prev := map[string]time.Duration{}
	prevBusy, prevSteal, _ := machineCPU()
	for _, n := range names {
		prev[n], _ = cpuTime(d.pids[n])
	}
	last := time.Now()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		busy, steal, _ := machineCPU()
		row := fmt.Sprintf("%.3f %.1f %.0f %.0f", now.Sub(d.t0).Seconds(), float64(now.Sub(last).Microseconds())/1000,
			float64(busy-prevBusy)/float64(time.Millisecond), float64(steal-prevSteal)/float64(time.Millisecond))
		prevBusy, prevSteal, last = busy, steal, now
		for _, n := range names {
			c, err := cpuTime(d.pids[n])
			if err != nil {
				c = prev[n]
			}
			row += fmt.Sprintf(" %.0f", float64(c-prev[n])/float64(time.Millisecond))
			prev[n] = c
		}
		d.mu.Lock()
		d.lines = append(d.lines, row)
		d.mu.Unlock()
	}
}

// profileQueries runs queries made by mk against m for 6 s (not timed,
// after the timed ones) while it takes a 5 s CPU profile of m
// (<dir>/leader_<kind>_cpu.pprof) and of this process
// (<dir>/bench_<kind>_cpu.pprof, and its allocations before and after).
func (d *queryDiag) profileQueries(b *testing.B, m *harness.Master, kind string, mk func(i int) *rpc.EventFilter) {
	if d == nil {
		return
	}
	d.mark("profiled " + kind + " queries")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=5", m.HTTP))
		if err != nil {
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(d.dir, "leader_"+kind+"_cpu.pprof"))
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	f, err := os.Create(filepath.Join(d.dir, "bench_"+kind+"_cpu.pprof"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	writeAllocs := func(name string) {
		if af, err := os.Create(filepath.Join(d.dir, name)); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(af, 0)
			af.Close()
		}
	}
	writeAllocs("bench_" + kind + "_allocs_before.pprof") // go tool pprof -diff_base before after
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	n := 0
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); n++ {
		ctx, cancel := harness.Ctx(10 * time.Second)
		_, err := m.Client().QueryEvents(ctx, mk(n))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	pprof.StopCPUProfile()
	writeAllocs("bench_" + kind + "_allocs_after.pprof")
	wg.Wait()
	d.mark(fmt.Sprintf("profiled %s queries done: %d", kind, n))
}

// end stops the timeline, waits for the trace and writes every file.
func (d *queryDiag) end(b *testing.B, c *harness.Cluster) {
	if d == nil {
		return
	}
	close(d.stop)
	<-d.done
	d.trace.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	write := func(name string, lines []string) {
		if err := os.WriteFile(filepath.Join(d.dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			b.Error(err)
		}
	}
	write("cpu_timeline.txt", d.lines)
	write("queries.txt", append([]string{"# kind start_s took_ms bench_gcs steal_ticks srv_minflt srv_majflt srv_runwait_ms bench_minflt"}, d.qlines...))
	for _, m := range c.Masters {
		if raw, err := os.ReadFile(m.Proc.Log); err == nil {
			_ = os.WriteFile(filepath.Join(d.dir, m.ID+".log"), raw, 0o644)
		}
	}
	b.Logf("query diagnostics in %s", d.dir)
}

// machineCPU is the whole machine's busy (not idle/iowait) and steal CPU
// time from /proc/stat, summed over cores.
func machineCPU() (busy, steal time.Duration, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	if !s.Scan() {
		return 0, 0, fmt.Errorf("/proc/stat: empty")
	}
	fs := strings.Fields(s.Text()) // cpu user nice system idle iowait irq softirq steal ...
	var v [8]uint64
	for i := 0; i < 8 && i+1 < len(fs); i++ {
		v[i], _ = strconv.ParseUint(fs[i+1], 10, 64)
	}
	tick := func(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return tick(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]), tick(v[7]), nil
}
