package main

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// sysmonPollingSetting is the GODEBUG setting a master runs with unless
// --sysmon-deep-sleep: with any schedtrace period Go's sysmon thread never
// enters its deep sleep and polls at most every 10 ms when the process is
// idle. The period is the longest Go accepts (2^31-1 ms, 24.8 days): the
// runtime prints one "SCHED" line to stderr per period, the first at start
// when the host has been up longer than that.
//
// Why: a deep-sleeping sysmon is woken (futex) by the first syscall after
// every moment the whole process was idle, restarts polling at 20 µs, and
// goes back to sleep once it finds the process idle again. A leader
// answering 2,000 heartbeats/s, each on its own, goes idle between nearly
// every two of them: sysmon's wake-ups, sleeps and nanosleeps were about a
// fifth of its CPU (perf, BenchmarkHeartbeat10k; golang/go#18236).
const sysmonPollingSetting = "schedtrace=2147483647"

// sysmonPollingEnv returns env with sysmonPollingSetting added to GODEBUG
// (kept settings first, so an operator's own GODEBUG still applies), and
// false when env's GODEBUG already names schedtrace: the operator chose a
// period, or this process already re-executed itself.
func sysmonPollingEnv(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	godebug := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	for _, s := range strings.Split(godebug, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(s), "="); k == "schedtrace" {
			return env, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+sysmonPollingSetting), true
}

// keepSysmonPolling re-executes this process in place (same pid, arguments
// and binary: /proc/self/exe) with sysmonPollingEnv, on Linux. It returns
// only when it did not: nothing to do (nil), or the exec failed (the master
// then runs with Go's default sysmon).
func keepSysmonPolling() error {
	if runtime.GOOS != "linux" {
		return nil
	}
	env, ok := sysmonPollingEnv(os.Environ())
	if !ok {
		return nil
	}
	return syscall.Exec("/proc/self/exe", os.Args, env)
}

// sysmonPolling reports whether this process runs with sysmonPollingSetting.
func sysmonPolling() bool {
	for _, s := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(s) == sysmonPollingSetting {
			return true
		}
	}
	return false
}
