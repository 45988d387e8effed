// Package bench measures Grid on real processes (3 masters on loopback):
// failover, leadership transfer, registry writes, heartbeats, events, and
// the leader changes seen during the loads (leader_watch.go). `make bench`
// runs it; every figure is printed once as `bench: NAME VALUE UNIT` in the
// final report and written to bench.json at the module root. A benchmark
// run several times (`-count 3`, the quick ones) records a figure once per
// run: the report gives the median and lists every run's value. Figures are
// measurements, never pass/fail assertions.
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Figure is one measured value: the median of Values when a benchmark ran
// more than once.
type Figure struct {
	Name   string    `json:"name"`
	Value  float64   `json:"value"`
	Unit   string    `json:"unit"`
	Method string    `json:"method"`
	Values []float64 `json:"values,omitempty"`
}

var (
	figMu   sync.Mutex
	figures []Figure // in first-recorded order, one per name
)

// record keeps one run's value of a figure and prints it as
// `run: NAME VALUE UNIT`; the report prints the figure (the median of its
// runs) as `bench: NAME VALUE UNIT`.
func record(name string, value float64, unit, method string) {
	figMu.Lock()
	defer figMu.Unlock()
	addValue(Figure{Name: name, Unit: unit, Method: method}, value)
	fmt.Printf("run: %s %.3f %s\n", name, value, unit)
}

// addValue appends value to the figure named f.Name (creating it from f).
func addValue(f Figure, value float64) {
	for i := range figures {
		if figures[i].Name == f.Name {
			figures[i].Values = append(figures[i].Values, value)
			return
		}
	}
	f.Values = []float64{value}
	figures = append(figures, f)
}

// median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startLoad is the 1/5/15-minute load average when the suite started: other
// work on the machine skews every figure, so the report says how busy it was.
var startLoad = loadAverage()

// startCPU is /proc/stat's machine-wide CPU times when the suite started.
var startCPU = cpuTimes()

// cpuTimes is /proc/stat's "cpu" line: user, nice, system, idle, iowait,
// irq, softirq and steal, in clock ticks (nil when unreadable).
func cpuTimes() []uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return nil
	}
	out := make([]uint64, 8)
	for i := range out {
		v, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return nil
		}
		out[i] = v
	}
	return out
}

// recordSteal records the share of the machine's CPU time the hypervisor
// took (steal) since the suite started: a virtual machine's neighbours
// skew every figure as a busy machine does, and the load average does
// not show it.
func recordSteal() {
	end := cpuTimes()
	if startCPU == nil || end == nil {
		return
	}
	var total uint64
	for i := range end {
		total += end[i] - startCPU[i]
	}
	if total == 0 {
		return
	}
	pct := 100 * float64(end[7]-startCPU[7]) / float64(total)
	addValue(Figure{Name: "cpu_steal_pct", Unit: "%", Method: "CPU time the hypervisor took from this machine (/proc/stat steal) over each part of the bench, as a share of all its CPU time; one value per part"}, pct)
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// report is bench.json.
type report struct {
	When      string   `json:"when"`
	Machine   string   `json:"machine"`
	LoadStart string   `json:"load_start"`
	Figures   []Figure `json:"figures"`
}

// reportPath is bench.json next to go.mod.
func reportPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "bench.json")
}

// mergePrevious adds the figures of the bench.json an earlier `go test` of
// the same `make bench` wrote (GRID_BENCH_MERGE=1) and returns that run's
// start load average.
func mergePrevious(path string) (string, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var prev report
	if err := json.Unmarshal(b, &prev); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	mine := figures
	figures = nil
	for _, f := range prev.Figures {
		vs := f.Values
		if len(vs) == 0 {
			vs = []float64{f.Value}
		}
		f.Method = baseMethod(f.Method)
		for _, v := range vs {
			addValue(Figure{Name: f.Name, Unit: f.Unit, Method: f.Method}, v)
		}
	}
	for _, f := range mine {
		for _, v := range f.Values {
			addValue(Figure{Name: f.Name, Unit: f.Unit, Method: f.Method}, v)
		}
	}
	return prev.LoadStart, nil
}

// runsNote and sumNote start what writeReport appends to a method with
// several runs.
const (
	runsNote = "; median of "
	sumNote  = "; sum over "
)

// baseMethod strips the note writeReport added.
func baseMethod(m string) string {
	for _, note := range []string{runsNote, sumNote} {
		if i := strings.Index(m, note); i >= 0 {
			m = m[:i]
		}
	}
	return m
}

// writeReport prints every figure (the median of its runs) and writes
// bench.json next to go.mod. With GRID_BENCH_MERGE=1 it first merges the
// figures of the bench.json already there; with GRID_BENCH_SUMMARY=0 it
// writes bench.json without printing (an earlier part of `make bench`).
func writeReport() error {
	figMu.Lock()
	defer figMu.Unlock()
	if len(figures) == 0 {
		return nil
	}
	recordSteal()
	out := reportPath()
	load := startLoad
	if os.Getenv("GRID_BENCH_MERGE") == "1" {
		prev, err := mergePrevious(out)
		if err != nil {
			return err
		}
		if prev != "" {
			load = prev
		}
	}
	endLoad := loadAverage()
	for i := range figures {
		f := &figures[i]
		f.Value = median(f.Values)
		if f.Name == spuriousFigure {
			// One value per watched load: the figure is their sum.
			f.Value = 0
			for _, v := range f.Values {
				f.Value += v
			}
			f.Method = baseMethod(f.Method) + fmt.Sprintf("%s%d watched loads", sumNote, len(f.Values))
			continue
		}
		if len(f.Values) > 1 {
			vs := make([]string, len(f.Values))
			for j, v := range f.Values {
				vs[j] = fmt.Sprintf("%.3f", v)
			}
			f.Method = baseMethod(f.Method) + fmt.Sprintf("%s%d runs (%s)", runsNote, len(f.Values), strings.Join(vs, ", "))
		}
	}
	if os.Getenv("GRID_BENCH_SUMMARY") != "0" {
		fmt.Println()
		fmt.Printf("load average at start %s, at end %s\n", load, endLoad)
		for _, f := range figures {
			fmt.Printf("bench: %s %.3f %s\n", f.Name, f.Value, f.Unit)
		}
		fmt.Println()
		fmt.Printf("%-38s %14s  %-12s %s\n", "figure", "value", "unit", "runs")
		for _, f := range figures {
			runs := ""
			if f.Name == spuriousFigure {
				runs = fmt.Sprintf("sum of %d loads", len(f.Values))
			} else if len(f.Values) > 1 {
				runs = fmt.Sprintf("median of %d", len(f.Values))
			}
			fmt.Printf("%-38s %14.3f  %-12s %s\n", f.Name, f.Value, f.Unit, runs)
		}
	}
	b, err := json.MarshalIndent(report{
		When:      time.Now().UTC().Format(time.RFC3339),
		Machine:   fmt.Sprintf("%s/%s, %d CPUs, load average at start %s, at end %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), load, endLoad),
		LoadStart: load,
		Figures:   figures,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// percentileMS is the p-th percentile of ds in milliseconds (ds is left
// as it was).
func percentileMS(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	// A sorted copy: callers log their samples in order afterwards.
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	idx := int(float64(len(sorted)-1) * p)
	return float64(sorted[idx].Microseconds()) / 1000
}
