package bench

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(bareLeaderEnv) != "" { // a process of BenchmarkHeartbeatBareProbe
		if err := serveBareLeader(); err != nil {
			fmt.Fprintln(os.Stderr, "bare leader:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if err := writeReport(); err != nil {
		fmt.Fprintln(os.Stderr, "bench.json:", err)
		code = 1
	}
	os.Exit(code)
}
