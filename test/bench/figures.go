// Package bench measures Grid on real processes (3 masters on loopback):
// failover, leadership transfer, registry writes, heartbeats, events. `make
// bench` runs it; every figure is printed as `bench: NAME VALUE UNIT` and the
// run writes bench.json at the module root. Figures are measurements, never
// pass/fail assertions.
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// Figure is one measured value.
type Figure struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Method string  `json:"method"`
}

var (
	figMu   sync.Mutex
	figures []Figure
)

// record prints a figure as `bench: NAME VALUE UNIT` and keeps it for bench.json.
func record(name string, value float64, unit, method string) {
	figMu.Lock()
	defer figMu.Unlock()
	figures = append(figures, Figure{Name: name, Value: value, Unit: unit, Method: method})
	fmt.Printf("bench: %s %.3f %s\n", name, value, unit)
}

// startLoad is the 1/5/15-minute load average when the suite started: other
// work on the machine skews every figure, so the report says how busy it was.
var startLoad = loadAverage()

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

// writeReport prints the table and writes bench.json next to go.mod.
func writeReport() error {
	figMu.Lock()
	defer figMu.Unlock()
	if len(figures) == 0 {
		return nil
	}
	fmt.Println()
	fmt.Printf("load average at start %s, at end %s\n", startLoad, loadAverage())
	fmt.Printf("%-34s %14s  %s\n", "figure", "value", "unit")
	for _, f := range figures {
		fmt.Printf("%-34s %14.3f  %s\n", f.Name, f.Value, f.Unit)
	}
	_, file, _, _ := runtime.Caller(0)
	out := filepath.Join(filepath.Dir(file), "..", "..", "bench.json")
	b, err := json.MarshalIndent(map[string]any{
		"when":    time.Now().UTC().Format(time.RFC3339),
		"machine": fmt.Sprintf("%s/%s, %d CPUs, load average at start %s, at end %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), startLoad, loadAverage()),
		"figures": figures,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// percentile of sorted-in-place durations, in milliseconds.
func percentileMS(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	idx := int(float64(len(ds)-1) * p)
	return float64(ds[idx].Microseconds()) / 1000
}
