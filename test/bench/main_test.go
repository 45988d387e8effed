package bench

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(floorNodeEnv); spec != "" { // a raft floor node (raft_floor_node.go)
		fmt.Fprintln(os.Stderr, "raft floor node:", runFloorNode(spec))
		os.Exit(1)
	}
	if os.Getenv(floorServeEnv) != "" { // a bare gRPC server (query_floor_probe_test.go)
		serveFloor()
		return
	}
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
