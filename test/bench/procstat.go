package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is the user+system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat utime: %w", pid, err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat stime: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// cpuSample is a process's CPU time at a wall-clock instant.
type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

func sampleCPU(pid int) (cpuSample, error) {
	c, err := cpuTime(pid)
	return cpuSample{at: time.Now(), cpu: c}, err
}

// cores is the average number of cores used between two samples.
func cores(from, to cpuSample) float64 {
	wall := to.at.Sub(from.at)
	if wall <= 0 {
		return 0
	}
	return float64(to.cpu-from.cpu) / float64(wall)
}

// rssMB is a process's resident set size (VmRSS) in MiB.
func rssMB(pid int) (float64, error) { return statusMB(pid, "VmRSS") }

// rssAnonMB is the anonymous part of the resident set (RssAnon: heap and
// stacks, not mapped file pages such as bbolt's mmap) in MiB.
func rssAnonMB(pid int) (float64, error) { return statusMB(pid, "RssAnon") }

// statusMB reads a "<field>: N kB" line of /proc/<pid>/status, in MiB.
func statusMB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: odd %s line %q", pid, field, line)
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, field, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}
