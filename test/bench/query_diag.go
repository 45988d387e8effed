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
// process's and the whole machine's busy CPU), every timed query's start
// and duration, the leader's Go execution trace over the entity queries,
// and the masters' logs (run with GODEBUG=gctrace=1 to get the masters'
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

// gcCycles is this process's completed GC cycles (0 when diagnostics are
// off); read outside the timed interval.
func (d *queryDiag) gcCycles() uint64 {
	if d == nil {
		return 0
	}
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// query notes one timed query and how many of this process's GC cycles
// completed from just before it to just after.
func (d *queryDiag) query(kind string, start time.Time, took time.Duration, gcs uint64) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.qlines = append(d.qlines, fmt.Sprintf("%s %.6f %.3f %d", kind, start.Sub(d.t0).Seconds(), float64(took.Microseconds())/1000, gcs))
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
	write("queries.txt", d.qlines)
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
