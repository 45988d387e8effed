package test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gridctl/grid/test/harness"
)

// A master re-executes itself in place (same pid) with Go's runtime
// monitor polling (GODEBUG schedtrace, cmd/grid/sysmon.go) and leads;
// --sysmon-deep-sleep keeps Go's default.
func TestMasterRunsWithSysmonPolling(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the re-execution is Linux-only")
	}
	for _, deepSleep := range []bool{false, true} {
		opts := harness.Options{Masters: 1}
		if deepSleep {
			opts.MasterArgs = []string{"--sysmon-deep-sleep"}
		}
		c := harness.NewCluster(t, opts)
		m := c.WaitLeader(30 * time.Second)
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", m.PID()))
		if err != nil {
			t.Fatal(err)
		}
		polling := bytes.Contains(env, []byte("schedtrace=2147483647"))
		if polling == deepSleep {
			t.Fatalf("--sysmon-deep-sleep %v: master pid %d runs with schedtrace set: %v", deepSleep, m.PID(), polling)
		}
		register(t, m, fmt.Sprintf("agent-sysmon-%v", deepSleep)) // it serves
	}
}
