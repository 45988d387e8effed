package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// WaitFor polls cond every 25 ms until it holds or timeout passes, then
// fails the test with what and cond's last explanation.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var why string
	for {
		var ok bool
		ok, why = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(25 * time.Millisecond) // poll interval, not a wait for an event
	}
}

// Eventually is WaitFor that returns false instead of failing.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
	return true
}

// ProcsUnder lists pids of live processes whose command line mentions dir
// (storage nodes spawned by the test's agents).
func ProcsUnder(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	needle := []byte(dir)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, needle) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue // zombie
		}
		out = append(out, pid)
	}
	return out
}

func killStrays(dir string) {
	for _, pid := range ProcsUnder(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
