package sim

import (
	"bufio"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Diagnostics of the load generator, off unless asked for:
// GRID_SIM_CPUPROFILE and GRID_SIM_TRACE name files for a CPU profile and
// a Go execution trace of the heartbeat window (the simulator shares the
// cores with the masters it measures, so its own cost matters);
// GRID_SIM_LATENCY_LOG names a file for every measured beat ("B <end unix
// µs> <round trip µs>") and every ListNodes call the leader made to the
// simulated agents ("L <unix µs>"), to see when slow beats happen.
const (
	envCPUProfile = "GRID_SIM_CPUPROFILE"
	envTrace      = "GRID_SIM_TRACE"
	envLatencyLog = "GRID_SIM_LATENCY_LOG"
)

// calls records when the leader called ListNodes (GRID_SIM_LATENCY_LOG).
var calls = &callLog{on: os.Getenv(envLatencyLog) != ""}

type callLog struct {
	on bool
	mu sync.Mutex
	at []int64
}

func (c *callLog) listed() {
	if !c.on {
		return
	}
	c.mu.Lock()
	c.at = append(c.at, time.Now().UnixMicro())
	c.mu.Unlock()
}

// writeLatencyLog writes GRID_SIM_LATENCY_LOG (before l is sorted).
func writeLatencyLog(l *latencyLog, logger hclog.Logger) {
	path := os.Getenv(envLatencyLog)
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		logger.Warn("latency log", "error", err)
		return
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	l.mu.Lock()
	for i, d := range l.ds {
		fmt.Fprintf(w, "B %d %d\n", l.at[i], d.Microseconds())
	}
	l.mu.Unlock()
	calls.mu.Lock()
	for _, t := range calls.at {
		fmt.Fprintf(w, "L %d\n", t)
	}
	calls.mu.Unlock()
	_ = w.Flush()
}

var profileFiles []*os.File

// profileWindow starts what the environment asks for.
func profileWindow(logger hclog.Logger) {
	if path := os.Getenv(envCPUProfile); path != "" {
		if f, err := os.Create(path); err != nil {
			logger.Warn("cpu profile", "error", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			logger.Warn("cpu profile", "error", err)
			f.Close()
		} else {
			profileFiles = append(profileFiles, f)
		}
	}
	if path := os.Getenv(envTrace); path != "" {
		if f, err := os.Create(path); err != nil {
			logger.Warn("trace", "error", err)
		} else if err := trace.Start(f); err != nil {
			logger.Warn("trace", "error", err)
			f.Close()
		} else {
			profileFiles = append(profileFiles, f)
		}
	}
}

// stopProfile ends and writes what profileWindow started.
func stopProfile() {
	if len(profileFiles) == 0 {
		return
	}
	if os.Getenv(envCPUProfile) != "" {
		pprof.StopCPUProfile()
	}
	if os.Getenv(envTrace) != "" {
		trace.Stop()
	}
	for _, f := range profileFiles {
		f.Close()
	}
	profileFiles = nil
}
